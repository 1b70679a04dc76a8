"""Dynamically quantized ONNX models: DynamicQuantizeLinear (scale and zero point computed at
run time) followed by MatMulInteger / ConvInteger whose input zero point is that runtime
tensor, as onnxruntime's ``quantize_dynamic`` writes them.  Every integer result is exact
(ONNX's reference evaluator and onnxruntime); bad input is one line."""

from __future__ import annotations

import logging

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import vta.compiler
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper
from onnx.reference import ReferenceEvaluator
from vta.compiler import zoo
from vta.compiler.frontend import ModelError

RNG = np.random.default_rng(11)
DQL_OUTPUTS = ["xq", "xs", "xz"]
DQL_TYPED = list(zip(DQL_OUTPUTS, (T.UINT8, T.FLOAT, T.UINT8), [None] * 3, strict=True))


def _model(nodes, inputs, outputs, inits):
    graph = h.make_graph(nodes, "m", [h.make_tensor_value_info(n, t, s) for n, t, s in inputs],
                         [h.make_tensor_value_info(n, t, s) for n, t, s in outputs],
                         [numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()])
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", 19)])
    model.ir_version = 9
    return model


def _compiled(model, feeds):
    with vta.compiler.compile(model, "default", "fsim") as exe:
        return exe(feeds)


def _assert_exact(model, feeds):
    """The kit's outputs equal ONNX's reference evaluator's, value and type."""
    want = ReferenceEvaluator(model).run(None, feeds)
    got = _compiled(model, feeds)
    for out, w in zip(model.graph.output, want, strict=True):
        g = np.asarray(got[out.name])
        assert g.dtype == w.dtype, (out.name, g.dtype, w.dtype)
        np.testing.assert_array_equal(g, w, err_msg=out.name)


@pytest.mark.parametrize("low, high", [(-3.0, 5.0), (0.5, 2.0), (-4.0, -1.0)])
@pytest.mark.parametrize("w_dtype, w_zp", [(np.int8, 0), (np.uint8, 131)])
def test_dynamic_quantize_then_matmul_integer_is_exact(low, high, w_dtype, w_zp):
    # Three rows of a (2, 3, 40) input: the matrix rows of a batched activation.
    x = RNG.uniform(low, high, (2, 3, 40)).astype(np.float32)
    info = np.iinfo(w_dtype)
    w = RNG.integers(info.min, info.max + 1, (40, 24)).astype(w_dtype)
    model = _model([h.make_node("DynamicQuantizeLinear", ["x"], DQL_OUTPUTS),
                    h.make_node("MatMulInteger", ["xq", "w", "xz", "wz"], ["y"])],
                   [("x", T.FLOAT, x.shape)],
                   [("y", T.INT32, None)] + DQL_TYPED,
                   {"w": w, "wz": np.asarray(w_zp, w_dtype)})
    _assert_exact(model, {"x": x})


@pytest.mark.parametrize("attrs", [
    {"pads": [1, 1, 1, 1]},
    {"pads": [2, 0, 1, 3], "strides": [2, 1]},
    {"pads": [1, 2, 1, 2], "dilations": [2, 2]},
    {"pads": [1, 1, 1, 1], "group": 2},
])
def test_dynamic_quantize_then_conv_integer_is_exact_at_the_border(attrs):
    # The padding stands for the runtime zero point (a real 0): the border outputs add up
    # fewer weights than the inner ones.
    x = RNG.uniform(-1.0, 3.0, (1, 4, 7, 6)).astype(np.float32)
    w = RNG.integers(0, 256, (6, 4 // attrs.get("group", 1), 3, 3)).astype(np.uint8)
    model = _model([h.make_node("DynamicQuantizeLinear", ["x"], DQL_OUTPUTS),
                    h.make_node("ConvInteger", ["xq", "w", "xz", "wz"], ["y"],
                                kernel_shape=[3, 3], **attrs)],
                   [("x", T.FLOAT, x.shape)], [("y", T.INT32, None)],
                   {"w": w, "wz": np.asarray(120, np.uint8)})
    _assert_exact(model, {"x": x})
    if "group" not in attrs:     # onnxruntime's ConvInteger has no groups
        got = _compiled(model, {"x": x})["y"]
        ref = ort.InferenceSession(model.SerializeToString(),
                                   providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
        np.testing.assert_array_equal(got, ref)


def test_a_constant_input_is_dynamically_quantized_at_run_time_all_the_same():
    # max(x) == min(x) == 0: ONNX's scale is 1/255 then, and every code the zero point 0.
    x = np.zeros((2, 5), np.float32)
    model = _model([h.make_node("DynamicQuantizeLinear", ["x"], DQL_OUTPUTS)],
                   [("x", T.FLOAT, x.shape)],
                   DQL_TYPED, {})
    _assert_exact(model, {"x": x})


def test_a_runtime_zero_point_of_another_type_than_its_input_is_refused():
    # An int8 input with DynamicQuantizeLinear's uint8 zero point (ONNX wants one type).
    model = _model([h.make_node("DynamicQuantizeLinear", ["x"], DQL_OUTPUTS),
                    h.make_node("MatMulInteger", ["a", "w", "xz"], ["y"])],
                   [("x", T.FLOAT, (1, 8)), ("a", T.INT8, (1, 8))], [("y", T.INT32, None)],
                   {"w": np.ones((8, 4), np.int8)})
    with pytest.raises(ModelError) as info:
        vta.compiler.compile(model, "default", "fsim")
    message = str(info.value)
    assert "\n" not in message and "MatMulInteger" in message and "uint8" in message


def test_a_dynamically_quantized_right_operand_is_one_line():
    # Two activations quantized at run time (attention's matmuls): B must be a constant.
    model = _model([h.make_node("DynamicQuantizeLinear", ["a"], ["aq", "as", "az"]),
                    h.make_node("DynamicQuantizeLinear", ["b"], ["bq", "bs", "bz"]),
                    h.make_node("MatMulInteger", ["aq", "bq", "az", "bz"], ["y"])],
                   [("a", T.FLOAT, (4, 8)), ("b", T.FLOAT, (8, 4))], [("y", T.INT32, None)], {})
    with pytest.raises(ModelError) as info:
        vta.compiler.compile(model, "default", "fsim")
    message = str(info.value)
    assert "\n" not in message and "MatMulInteger" in message and "constant" in message


@pytest.fixture(scope="module")
def dynamic_autoencoder(tmp_path_factory):
    """The zoo's dense autoencoder quantized by onnxruntime's ``quantize_dynamic`` (int8
    weights), with every integer tensor and the output as graph outputs."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    logging.getLogger().setLevel(logging.ERROR)
    d = tmp_path_factory.mktemp("dynamic")
    onnx.save(zoo.load("autoencoder"), d / "float.onnx")
    quantize_dynamic(d / "float.onnx", d / "dynamic.onnx", weight_type=QuantType.QInt8)
    model = onnx.load(d / "dynamic.onnx")
    ints = [o for n in model.graph.node if n.op_type in ("DynamicQuantizeLinear",
                                                          "MatMulInteger")
            for k, o in enumerate(n.output) if n.op_type == "MatMulInteger" or k != 1]
    for name in ints:
        model.graph.output.append(h.make_empty_tensor_value_info(name))
    return model, ints


def test_onnxruntime_quantize_dynamic_model_equals_onnxruntime(dynamic_autoencoder):
    model, ints = dynamic_autoencoder
    assert {n.op_type for n in model.graph.node} >= {"DynamicQuantizeLinear", "MatMulInteger"}
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    with vta.compiler.compile(model, "default", "fsim") as exe:
        for seed in range(3):
            feeds = zoo.sample_inputs("autoencoder", seed)
            ref = dict(zip(names, sess.run(None, feeds), strict=True))
            got = exe(feeds)
            for name in ints:      # every integer tensor of all ten layers: identical
                assert got[name].dtype == ref[name].dtype, name
                np.testing.assert_array_equal(got[name], ref[name], err_msg=name)
            out = model.graph.output[0].name
            # The float steps between the layers (Cast, Mul by the scales, the bias Add,
            # BatchNormalization in onnxruntime's order, Relu) round as onnxruntime's.
            np.testing.assert_array_equal(got[out], ref[out])
