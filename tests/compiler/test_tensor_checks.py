"""Numbers entering a model are checked: NaN/inf, complex, strings and objects are errors
at the boundary (inputs, calibration, weights), never an all-zero output called MATCH."""

from __future__ import annotations

import numpy as np
import pytest
from vta.compiler import compile as compile_model
from vta.compiler.commands import demo_graph
from vta.compiler.frontend import GraphBuilder, ModelError, quantize
from vta.compiler.frontend.tensor_checks import (
    MAX_QUANTIZABLE,
    check_scale_range,
    check_tensor,
    saturate_nonfinite,
)

RNG = np.random.default_rng(0)


def _tiny_net(w: np.ndarray | None = None):
    b = GraphBuilder("tiny")
    x = b.input("x", (1, 16))
    w = RNG.normal(0, 0.3, (16, 16)) if w is None else w
    y = b.dense(x, b.param("fc.weight", w), b.param("fc.bias", np.zeros(16)), name="fc")
    b.output(b.relu(y, name="relu"))
    return b.build()


@pytest.mark.parametrize("value,words", [
    (np.ones(3, np.complex64), "is complex"),
    (np.array(["a", "b"]), "holds strings"),
    (np.array([1, "x"], dtype=object), "holds Python objects"),
    (np.array(["2020-01-01"], dtype="datetime64[D]"), "holds dates"),
])
def test_non_numeric_arrays_are_refused(value, words):
    with pytest.raises(ModelError, match=f"input 'x' {words}"):
        check_tensor("input 'x'", value)


def test_nonfinite_values_are_named_with_their_first_index():
    a = np.zeros((2, 3, 4), np.float32)
    a[1, 2, 0] = np.inf
    a[1, 2, 3] = np.nan
    with pytest.raises(ModelError, match=r"input 'x' has 2 non-finite value\(s\), the first "
                                         r"inf at index \(1, 2, 0\)"):
        check_tensor("input 'x'", a)
    with pytest.raises(ModelError, match=r"the first nan at index 4"):
        check_tensor("input 'x'", np.array([0, 1, 2, 3, np.nan]))
    assert check_tensor("x", np.arange(4)).dtype.kind == "i"      # integers pass as they are
    s = check_tensor("input 'x'", a, nonfinite="saturate")
    assert s[1, 2, 3] == 0 and s[1, 2, 0] == np.finfo(np.float32).max
    assert np.isnan(a[1, 2, 3])                                   # the caller's array is kept
    with pytest.raises(ModelError, match="nonfinite must be one of"):
        check_tensor("x", a, nonfinite="ignore")
    assert saturate_nonfinite(np.array([-np.inf]))[0] == np.finfo(np.float64).min


def test_nan_input_is_an_error_not_a_zero_output():
    """One NaN among the inputs used to make every output 0, for later clean inputs too."""
    exe = compile_model(_tiny_net(), "tiny", calibration="random")
    x = RNG.standard_normal((1, 16)).astype(np.float32)
    good = exe(x)
    bad = x.copy()
    bad[0, 5] = np.nan
    with pytest.raises(ModelError, match=r"input 'x' has 1 non-finite value\(s\), the first "
                                         r"nan at index \(0, 5\)"):
        exe(bad)
    assert np.array_equal(exe(x)["relu"], good["relu"])          # nothing stuck
    saturated = exe(bad, nonfinite="saturate")
    assert np.array_equal(saturated["relu"], exe.reference(bad, nonfinite="saturate")["relu"])
    exe.close()


def test_nan_calibration_data_is_an_error():
    samples = RNG.standard_normal((4, 1, 16)).astype(np.float32)
    samples[2, 0, 7] = np.nan
    with pytest.raises(ModelError, match=r"calibration sample 2 for input 'x' has 1 "
                                         r"non-finite value\(s\), the first nan at index "
                                         r"\(0, 7\)"):
        quantize(_tiny_net(), samples)


def test_calibration_of_the_wrong_shape_says_calibration():
    with pytest.raises(ModelError, match=r"calibration sample 0 for input 'x' has shape "
                                         r"\[16\], expected \[1, 16\]"):
        quantize(_tiny_net(), [np.zeros(16, np.float32)])


@pytest.mark.parametrize("fill", [np.nan, np.inf])
def test_nonfinite_weights_are_an_error(fill):
    w = RNG.normal(0, 0.3, (16, 16))
    w[RNG.random(w.shape) < 0.1] = fill          # 10% bad weights
    with pytest.raises(ModelError, match=r"weight 'fc.weight' has \d+ non-finite"):
        _tiny_net(w)


def test_weights_beyond_int8_scales_are_an_error():
    """Weights of 1e30 used to quantize to outputs 1e20 times too small, called MATCH."""
    graph = _tiny_net(np.full((16, 16), 1e30))
    with pytest.raises(ModelError, match=r"weight 'fc.weight' \(read by node 'fc'\) "
                                         r"reaches magnitude 1e\+30"):
        quantize(graph, [RNG.standard_normal((1, 16)).astype(np.float32)])
    check_scale_range("t", MAX_QUANTIZABLE)
    with pytest.raises(ModelError, match="beyond what int8"):
        check_scale_range("t", float("inf"))


def test_float_only_constants_may_exceed_int8_scales():
    """BERT's attention mask (``(1 - mask) * finfo(float32).min`` added to the scores)
    stays float: only constants and tensors that become int8 must fit a scale."""
    b = GraphBuilder("masked")
    x = b.input("x", (1, 16))
    y = b.dense(x, b.param("fc.weight", RNG.normal(0, 0.3, (16, 16))), name="fc")
    mask = b.param("mask", np.where(np.arange(16) < 12, 0.0, np.finfo(np.float32).min)
                   .reshape(1, 1, 16).astype(np.float32))
    b.output(b.softmax(b.node("add", [y, mask], name="masked"), name="prob"))
    graph = b.build()
    sample = RNG.standard_normal((1, 16)).astype(np.float32)
    q = quantize(graph, [sample])
    exe = compile_model(q, "tiny", cpu_only=True)
    assert np.array_equal(exe(sample)["prob"], exe.reference(sample)["prob"])
    exe.close()
    with pytest.raises(ModelError, match=r"tensor 'x' \(over the calibration samples\) "
                                         r"reaches magnitude 1e\+30"):
        quantize(graph, [np.full((1, 16), 1e30, np.float32)])


def test_demo_graph_still_compiles_and_matches():
    exe = compile_model(demo_graph(), "tiny", calibration="random")
    x = RNG.standard_normal((1, 3, 32, 32)).astype(np.float32)
    out = exe(x)
    assert np.array_equal(out["prob"], exe.reference(x)["prob"])
    exe.close()


def test_zero_size_onnx_dimension_is_called_so(tmp_path):
    from onnx import TensorProto, helper
    from vta.compiler.frontend import import_onnx

    node = helper.make_node("Relu", ["x"], ["y"], name="relu")
    graph = helper.make_graph([node], "z", [helper.make_tensor_value_info(
        "x", TensorProto.FLOAT, [1, 0, 4])], [helper.make_tensor_value_info(
            "y", TensorProto.FLOAT, [1, 0, 4])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    with pytest.raises(ModelError, match="zero-size dimension 1"):
        import_onnx(model)


def _onnx_conv_gemm(w_conv: np.ndarray, w_fc: np.ndarray):
    """Conv (weight 'wc') -> Flatten -> Gemm (B 'wf', C 'bf') as an ONNX model."""
    from onnx import TensorProto, helper, numpy_helper

    nodes = [helper.make_node("Conv", ["x", "wc"], ["c"], name="conv", kernel_shape=[1, 1]),
             helper.make_node("Flatten", ["c"], ["f"], name="flat"),
             helper.make_node("Gemm", ["f", "wf", "bf"], ["y"], name="fc", transB=1)]
    inits = [numpy_helper.from_array(w_conv.astype(np.float32), "wc"),
             numpy_helper.from_array(w_fc.astype(np.float32), "wf"),
             numpy_helper.from_array(np.zeros(4, np.float32), "bf")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(
        "x", TensorProto.FLOAT, [1, 4, 2, 2])], [helper.make_tensor_value_info(
            "y", TensorProto.FLOAT, [1, 4])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_onnx_weight_errors_name_the_initializer_and_node():
    """An imported weight is named as the user wrote it (initializer and node), not as an
    anonymous constant, in the NaN/inf and the magnitude checks."""
    from vta.compiler.frontend import import_onnx

    wc, wf = RNG.normal(0, 0.3, (4, 4, 1, 1)), RNG.normal(0, 0.3, (4, 16))
    bad = wc.copy()
    bad[1, 2, 0, 0] = np.nan
    with pytest.raises(ModelError, match=r"^weight 'wc' of ONNX Conv node 'conv' has 1 "
                                         r"non-finite value\(s\), the first nan at index "
                                         r"\(1, 2, 0, 0\)"):
        import_onnx(_onnx_conv_gemm(bad, wf))
    bad = wf.copy()
    bad[3, 0] = -np.inf
    with pytest.raises(ModelError, match=r"^weight 'wf' of ONNX Gemm node 'fc' has 1 "
                                         r"non-finite value\(s\), the first -?inf"):
        import_onnx(_onnx_conv_gemm(wc, bad))
    graph = import_onnx(_onnx_conv_gemm(np.full((4, 4, 1, 1), 1e30), wf))
    with pytest.raises(ModelError, match=r"\(read by node 'conv'\) reaches magnitude 1e\+30"):
        quantize(graph, [RNG.standard_normal((1, 4, 2, 2)).astype(np.float32)])
