"""The graph interpreter: the meaning of the non-GEMM ops (pooling, (de)quantization,
softmax) and its input checks."""

import numpy as np
import pytest
from vta.compiler.frontend import interpreter as ref
from vta.compiler.frontend.errors import ModelError
from vta.compiler.frontend.graph import GraphBuilder


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


def test_executor_checks_inputs():
    b = GraphBuilder("g")
    b.output(b.relu(b.input("x", (1, 4))))
    g = b.build()
    assert ref.run(g, np.float32([[-1, 2, -3, 4]]))[g.outputs[0]].tolist() == [[0, 2, 0, 4]]
    with pytest.raises(ModelError, match="shape"):
        ref.run(g, np.zeros((2, 4), np.float32))
    with pytest.raises(ModelError, match="no input 'y'"):
        ref.run(g, {"y": np.zeros((1, 4))})
