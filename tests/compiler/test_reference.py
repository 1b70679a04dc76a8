"""The int8 numpy reference (vta.compiler.int8_reference): exact int32 sums with wrap-around,
the requantization, the rescaled add and the accelerator's epilogue, each against an
independent naive computation."""

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from vta.compiler import int8_reference as ref
from vta.compiler.epilogue import Epilogue
from vta.compiler.errors import OperatorError

EXAMPLES = int(os.environ.get("VTA_HYPOTHESIS_EXAMPLES", 200))


def naive_conv(x, w, stride, pad):
    """NCHW x OIHW with int64 loops (no wrap-around)."""
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


def test_conv2d_matches_naive_loops():
    rng = np.random.default_rng(0)
    x = rng.integers(-128, 128, (2, 5, 9, 7), dtype=np.int8)
    w = rng.integers(-128, 128, (6, 5, 3, 3), dtype=np.int8)
    for s, p in ((1, 0), (2, 1), (3, 2)):
        got = ref.conv2d(x, w, s, p)
        assert got.dtype == np.int32 and np.array_equal(got, naive_conv(x, w, s, p))
    # Asymmetric padding (top, left, bottom, right) is the padded input's convolution.
    xp = np.pad(x, ((0, 0), (0, 0), (1, 0), (0, 2)))
    assert np.array_equal(ref.conv2d(x, w, 1, (1, 0, 0, 2)), naive_conv(xp, w, 1, 0))


def test_sums_wrap_like_int32():
    x = np.full((1, 4096 * 64), 127, np.int8)    # 127*127*262144 overflows int32
    w = np.full((1, 4096 * 64), 127, np.int8)
    want = np.int64(127 * 127 * 4096 * 64)
    assert ref.dense(x, w)[0, 0] == np.int32(((want + 2**31) % 2**32) - 2**31)


def test_bad_operands_fail_with_one_line():
    x = np.zeros((1, 4, 5, 5), np.int8)
    with pytest.raises(OperatorError, match="data must have dtype int8, not float32"):
        ref.conv2d(x.astype(np.float32), np.zeros((4, 4, 3, 3), np.int8))
    with pytest.raises(OperatorError, match="weight has 3 input channels, data has 4"):
        ref.conv2d(x, np.zeros((4, 3, 3, 3), np.int8))
    with pytest.raises(OperatorError, match="stride must be an integer >= 1"):
        ref.conv2d(x, np.zeros((4, 4, 3, 3), np.int8), stride=0)
    with pytest.raises(OperatorError, match="larger than the padded input"):
        ref.conv2d(x, np.zeros((4, 4, 7, 7), np.int8))
    with pytest.raises(OperatorError, match="dense: data has 4 features, weight expects 5"):
        ref.dense(np.zeros((1, 4), np.int8), np.zeros((2, 5), np.int8))


def test_requantize_wraps_shifts_and_clips_like_the_alu():
    acc = np.array([[2 ** 31 - 10, -(2 ** 31), 1000, -1000, 7, -7]], np.int32)
    out = ref.requantize(acc, np.int64(20), 3, -128, 127)
    # emulate VTA: int32 ADD (wraps), SHR (arithmetic), MAX, MIN, truncate
    a = (acc.astype(np.int64) + 20 + 2 ** 31) % 2 ** 32 - 2 ** 31
    a = np.minimum(np.maximum(a >> 3, -128), 127)
    np.testing.assert_array_equal(out, a.astype(np.int8))
    assert out[0, 0] == -128  # 2**31 - 10 + 20 wrapped negative
    per_channel = ref.requantize(np.full((1, 3, 1, 1), 64, np.int32), np.zeros(3, np.int32),
                                 (0, 3, 6), -128, 127)
    assert per_channel.ravel().tolist() == [64, 8, 1]


def test_qadd_aligns_scales():
    a, b = np.int8([10, -10, 127]), np.int8([3, 3, 127])
    # a at 2**-4, b at 2**-2, output at 2**-3: (a + (b << 2) + 1) >> 1
    assert ref.qadd(a, b, 0, 2, 1, 1, -128, 127).tolist() == [11, 1, 127]
    assert ref.qrescale(np.int8([5, -5]), 2, 1, 1, -128, 127).tolist() == [10, -10]


def test_epilogue_order_bias_shift_clip_residual_clip_truncate():
    acc = np.array([[1000, -1000, 300000, 5]], np.int32).reshape(1, 4, 1, 1)
    bias = np.array([24, 8, 0, -5], np.int32)
    res = np.array([100, 100, -100, 127], np.int8).reshape(1, 4, 1, 1)
    ep = Epilogue(bias=True, shift=3, clip=(-50, 120), residual=True)
    # (1024>>3=128 ->120) +100 = 220 -> int8 -36; (-992>>3=-124 -> -50) + 100 = 50;
    # 300000>>3 = 37500 -> 120, -100 -> 20; 0 -> 0 + 127 = 127.
    assert ref.apply_epilogue(acc, ep, bias, res).reshape(-1).tolist() == [-36, 50, 20, 127]
    ep2 = Epilogue(bias=True, shift=3, clip=(-50, 120), residual=True, residual_clip=(0, 127))
    assert ref.apply_epilogue(acc, ep2, bias, res).reshape(-1).tolist() == [127, 50, 20, 127]
    with pytest.raises(OperatorError, match="adds a bias but none was given"):
        ref.apply_epilogue(acc, ep)


_SHIFT = st.one_of(st.sampled_from([0, 1, 15, 16, 31]), st.integers(0, 31))


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fields=st.tuples(_SHIFT, _SHIFT, st.one_of(st.integers(-40, 40),
                                                  st.integers(-131072, 131068)), _SHIFT),
       conv_first=st.booleans(), seed=st.integers(0, 2**16),
       bounds=st.tuples(st.integers(-128, 127), st.integers(-128, 127)))
def test_rescaled_residual_is_the_qadd(fields, conv_first, seed, bounds):
    """The epilogue's residual add equals qadd of the conv's int8 output and the residual,
    whichever operand the conv is."""
    lshift, rlshift, offset, rshift = fields
    lo, hi = min(bounds), max(bounds)
    rng = np.random.default_rng(seed)
    acc = rng.integers(-2**31, 2**31, (1, 3, 4, 5), dtype=np.int64).astype(np.int32)
    acc.reshape(-1)[:4] = [-2**31, 2**31 - 1, 0, -1]
    res = rng.integers(-128, 128, acc.shape, dtype=np.int8)
    res.reshape(-1)[:2] = [-128, 127]
    y = np.clip(acc, -128, 127).astype(np.int8)        # the conv's int8 output
    ep = Epilogue(clip=(-128, 127), residual=True, residual_clip=(lo, hi), lshift=lshift,
                  residual_lshift=rlshift, residual_offset=offset, residual_shift=rshift)
    got = ref.apply_epilogue(acc, ep, residual=res)
    if conv_first:
        want = ref.qadd(y, res, lshift, rlshift, offset, rshift, lo, hi)
    else:
        want = ref.qadd(res, y, rlshift, lshift, offset, rshift, lo, hi)
    assert np.array_equal(got, want)
