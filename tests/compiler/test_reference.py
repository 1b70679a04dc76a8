"""The numpy reference semantics of the integer ops (the exact expected outputs)."""

import numpy as np
import pytest
from vta.compiler.frontend import reference as ref
from vta.compiler.frontend.errors import ModelError
from vta.compiler.frontend.graph import GraphBuilder


def _naive_conv(x, w, stride, pad):
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    xp = np.pad(x.astype(np.int64), ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh, ow = (h + 2 * pad - kh) // stride + 1, (wd + 2 * pad - kw) // stride + 1
    out = np.zeros((n, o, oh, ow), np.int64)
    for y in range(oh):
        for xx in range(ow):
            patch = xp[:, :, y * stride:y * stride + kh, xx * stride:xx * stride + kw]
            out[:, :, y, xx] = np.einsum("nchw,ochw->no", patch, w.astype(np.int64))
    return out


def test_conv2d_int_matches_naive_loops():
    rng = np.random.default_rng(0)
    x = rng.integers(-128, 128, (2, 5, 9, 8)).astype(np.int8)
    w = rng.integers(-128, 128, (7, 5, 3, 3)).astype(np.int8)
    np.testing.assert_array_equal(ref.conv2d_int(x, w, 2, 1), _naive_conv(x, w, 2, 1))


def test_requantize_wraps_shifts_and_clips_like_the_alu():
    acc = np.array([[2 ** 31 - 10, -(2 ** 31), 1000, -1000, 7, -7]], np.int32)
    bias = np.int64(20)
    out = ref.requantize(acc, bias, 3, -128, 127)
    # emulate VTA: int32 ADD (wraps), SHR (arithmetic), MAX, MIN, truncate
    a = (acc.astype(np.int64) + 20 + 2 ** 31) % 2 ** 32 - 2 ** 31
    a = np.minimum(np.maximum(a >> 3, -128), 127)
    np.testing.assert_array_equal(out, a.astype(np.int8))
    assert out[0, 0] == -128  # 2**31 - 10 + 20 wrapped negative
    per_channel = ref.requantize(np.full((1, 3, 1, 1), 64, np.int32), np.zeros(3, np.int32),
                               (0, 3, 6), -128, 127)
    assert per_channel.ravel().tolist() == [64, 8, 1]


def test_int8_pooling_rounds_half_up_and_ignores_padding():
    x = np.array([[[[-3, -2], [-2, -2]]]], np.int8)   # sum -9 / 4 = -2.25 -> -2
    assert ref.avg_pool(x, 2, 2).item() == -2
    x = np.array([[[[-3, -3], [-2, -2]]]], np.int8)   # -10 / 4 = -2.5 -> -2 (half up)
    assert ref.global_avg_pool(x).item() == -2
    x = np.full((1, 1, 2, 2), -100, np.int8)
    assert ref.max_pool(x, 3, 1, 1).min() == -100       # padding never wins
    assert ref.avg_pool(x, 3, 1, 1, count_include_pad=True)[0, 0, 0, 0] == -44  # -400/9
    assert ref.avg_pool(x, 3, 1, 1)[0, 0, 0, 0] == -100


def test_quantize_rounds_half_to_even_and_clips():
    x = np.array([0.5, 1.5, 2.5, -0.5, 1000, -1000], np.float32)
    assert ref.quantize(x, 1.0).tolist() == [0, 2, 2, 0, 127, -128]
    assert ref.quantize(x, 1.0, 0, 100).tolist() == [0, 2, 2, 0, 100, 0]
    assert ref.dequantize(np.int8([-4, 3]), 0.25).tolist() == [-1.0, 0.75]


def test_exp_and_softmax_are_accurate():
    x = np.linspace(-90, 0, 20001, dtype=np.float32)
    e = ref.exp_f32(x)
    ok = x >= ref.EXP_MIN
    rel = np.abs(e[ok] - np.exp(x[ok].astype(np.float64))) / np.exp(x[ok].astype(np.float64))
    assert rel.max() < 5e-7 and (e[~ok] == 0).all()
    logits = np.random.default_rng(1).normal(size=(4, 100)).astype(np.float32) * 8
    s = ref.softmax(logits)
    want = np.exp(logits - logits.max(1, keepdims=True))
    want /= want.sum(1, keepdims=True)
    np.testing.assert_allclose(s, want, rtol=2e-6, atol=1e-9)


def test_qadd_aligns_scales():
    a, b = np.int8([10, -10, 127]), np.int8([3, 3, 127])
    # a at 2**-4, b at 2**-2, output at 2**-3: (a + (b << 2) + 1) >> 1
    out = ref.qadd(a, b, 0, 2, 1, 1, -128, 127)
    assert out.tolist() == [11, 1, 127]


def test_executor_checks_inputs():
    b = GraphBuilder("g")
    b.output(b.relu(b.input("x", (1, 4))))
    g = b.build()
    assert ref.run(g, np.float32([[-1, 2, -3, 4]]))[g.outputs[0]].tolist() == [[0, 2, 0, 4]]
    with pytest.raises(ModelError, match="shape"):
        ref.run(g, np.zeros((2, 4), np.float32))
    with pytest.raises(ModelError, match="no input 'y'"):
        ref.run(g, {"y": np.zeros((1, 4))})
