"""ONNX import: real models built with onnx.helper, checked against onnx's reference."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh
from onnx.reference import ReferenceEvaluator
from vta.compiler.frontend.errors import ModelError
from vta.compiler.frontend.interpreter import run
from vta.compiler.frontend.models import resnet18_onnx
from vta.compiler.frontend.onnx_import import import_onnx

RNG = np.random.default_rng(0)


def _model(nodes, inputs, outputs, inits, opset=17):
    graph = h.make_graph(nodes, "m", [h.make_tensor_value_info(n, t, s) for n, t, s in inputs],
                         [h.make_tensor_value_info(n, t, s) for n, t, s in outputs],
                         [nh.from_array(v, k) for k, v in inits.items()])
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", opset)])
    onnx.checker.check_model(model)
    return model


def _f32(*shape, scale=1.0):
    return (RNG.normal(size=shape) * scale).astype(np.float32)


def _compare(model, feeds, rtol=1e-4, atol=1e-5):
    expected = ReferenceEvaluator(model).run(None, feeds)
    graph = import_onnx(model)
    got = run(graph, feeds)
    for out, exp in zip(model.graph.output, expected, strict=True):
        assert got[out.name].shape == exp.shape
        np.testing.assert_allclose(got[out.name].astype(np.float64), exp.astype(np.float64),
                                   rtol=rtol, atol=atol)
    return graph


def test_cnn_with_batch_norm_residual_pooling_and_softmax():
    nodes = [
        h.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1], strides=[2, 2]),
        h.make_node("BatchNormalization", ["c1", "g", "be", "m", "v"], ["bn"], epsilon=1e-3),
        h.make_node("Relu", ["bn"], ["r1"]),
        h.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[3, 3], strides=[2, 2],
                    pads=[1, 1, 1, 1]),
        h.make_node("Conv", ["p1", "w2"], ["c2"], pads=[1, 1, 1, 1]),
        h.make_node("Add", ["c2", "p1"], ["a"]),
        h.make_node("Clip", ["a", "lo", "hi"], ["cl"]),
        h.make_node("AveragePool", ["cl"], ["ap"], kernel_shape=[2, 2], pads=[0, 0, 1, 1]),
        h.make_node("GlobalAveragePool", ["ap"], ["g1"]),
        h.make_node("Flatten", ["g1"], ["f"]),
        h.make_node("Gemm", ["f", "wd", "bd"], ["d"], transB=1, alpha=0.5),
        h.make_node("Softmax", ["d"], ["y"], axis=1)]
    inits = {"w1": _f32(8, 3, 3, 3), "b1": _f32(8), "g": RNG.uniform(.5, 1, 8).astype(np.float32),
             "be": _f32(8), "m": _f32(8), "v": RNG.uniform(.5, 2, 8).astype(np.float32),
             "w2": _f32(8, 8, 3, 3, scale=0.2), "wd": _f32(10, 8), "bd": _f32(10),
             "lo": np.float32(-1.0), "hi": np.float32(2.5)}
    model = _model(nodes, [("x", T.FLOAT, [1, 3, 15, 15])], [("y", T.FLOAT, [1, 10])], inits)
    graph = _compare(model, {"x": _f32(1, 3, 15, 15)})
    assert "batch_norm" not in graph.op_counts()  # folded into the conv
    assert graph.type_of("y").shape == (1, 10)


def test_matmul_add_concat_reshape_same_padding():
    nodes = [
        h.make_node("Conv", ["x", "w"], ["c"], auto_pad="SAME_UPPER", strides=[2, 2]),
        h.make_node("Relu", ["x"], ["rx"]),
        h.make_node("MaxPool", ["rx"], ["px"], kernel_shape=[2, 2], strides=[2, 2],
                    auto_pad="SAME_UPPER"),
        h.make_node("Concat", ["c", "px"], ["cat"], axis=1),
        h.make_node("Reshape", ["cat", "shape"], ["r"]),
        h.make_node("MatMul", ["r", "wm"], ["mm"]),
        h.make_node("Add", ["mm", "bm"], ["y"])]
    inits = {"w": _f32(4, 3, 3, 3), "shape": np.int64([1, -1]), "wm": _f32(7 * 4 * 4, 5),
             "bm": _f32(5)}
    model = _model(nodes, [("x", T.FLOAT, [1, 3, 7, 7])], [("y", T.FLOAT, [1, 5])], inits)
    graph = _compare(model, {"x": _f32(1, 3, 7, 7)})
    assert graph.op_counts()["dense"] == 1 and "add" not in graph.op_counts()  # bias folded


def _qparams(scale, zp, dtype=np.uint8):
    return np.float32(scale), np.array(zp, dtype)


def test_quantized_qlinear_conv_and_matmul():
    xs, xz = _qparams(0.05, 128)
    ys, yz = _qparams(0.2, 100)
    w = RNG.integers(-60, 60, (6, 3, 3, 3)).astype(np.int8)
    ws = RNG.uniform(0.01, 0.02, 6).astype(np.float32)
    nodes = [
        h.make_node("QuantizeLinear", ["x", "xs", "xz"], ["xq"]),
        h.make_node("QLinearConv", ["xq", "xs", "xz", "w", "ws", "wz", "ys", "yz", "b"], ["cq"],
                    pads=[1, 1, 1, 1]),
        h.make_node("DequantizeLinear", ["cq", "ys", "yz"], ["cf"]),
        h.make_node("Flatten", ["cf"], ["f"]),
        h.make_node("QuantizeLinear", ["f", "ys", "yz"], ["fq"]),
        h.make_node("QLinearMatMul", ["fq", "ys", "yz", "wm", "wms", "wmz", "os", "oz"], ["mq"]),
        h.make_node("DequantizeLinear", ["mq", "os", "oz"], ["y"])]
    inits = {"xs": xs, "xz": xz, "ys": ys, "yz": yz, "w": w, "ws": ws,
             "wz": np.zeros(6, np.int8), "b": RNG.integers(-500, 500, 6).astype(np.int32),
             "wm": RNG.integers(-100, 100, (6 * 5 * 5, 4)).astype(np.int8),
             "wms": np.float32(0.01), "wmz": np.int8(0), "os": np.float32(0.5),
             "oz": np.uint8(128)}
    model = _model(nodes, [("x", T.FLOAT, [1, 3, 5, 5])], [("y", T.FLOAT, [1, 4])], inits,
                   opset=21)
    x = RNG.uniform(-3, 3, (1, 3, 5, 5)).astype(np.float32)
    graph = _compare(model, {"x": x}, rtol=0, atol=0.5 + 1e-6)  # at most one step of 0.5
    # Imported as integer layers with the model's own scales (never re-quantized).
    assert {"quantize", "qconv2d", "qdense", "dequantize"} <= set(graph.op_counts())
    assert not {"conv2d", "dense", "quantize_linear"} & set(graph.op_counts())


def test_conv_integer_matmul_integer():
    nodes = [
        h.make_node("ConvInteger", ["x", "w", "xz"], ["ci"]),
        h.make_node("Cast", ["ci"], ["cf"], to=T.FLOAT),
        h.make_node("Mul", ["cf", "s"], ["y1"]),
        h.make_node("Flatten", ["x"], ["xf"]),
        h.make_node("MatMulInteger", ["xf", "wm", "xz"], ["y2"])]
    x = RNG.integers(0, 255, (1, 2, 4, 4)).astype(np.uint8)
    inits = {"w": RNG.integers(-20, 20, (3, 2, 3, 3)).astype(np.int8), "xz": np.uint8(120),
             "s": np.float32(0.25), "wm": RNG.integers(-20, 20, (32, 3)).astype(np.int8)}
    model = _model(nodes, [("x", T.UINT8, [1, 2, 4, 4])],
                   [("y1", T.FLOAT, [1, 3, 2, 2]), ("y2", T.INT32, [1, 3])], inits)
    expected = ReferenceEvaluator(model).run(None, {"x": x})
    graph = import_onnx(model)
    got = run(graph, {"x": x})
    np.testing.assert_allclose(got["y1"], expected[0], rtol=1e-6)
    np.testing.assert_array_equal(got["y2"], expected[1])
    assert got["y2"].dtype == np.int32                  # integer outputs stay integers
    assert graph.op_counts()["qconv2d"] == 1 and graph.op_counts()["qdense"] == 1


@pytest.mark.parametrize("node, message", [
    (h.make_node("NonMaxSuppression", ["x"], ["y"], name="n"),
     "unsupported ONNX op 'NonMaxSuppression' in node 'n'"),
    (h.make_node("Conv", ["x", "w"], ["y"], name="c", group=2), "node 'c': attribute group=2 "
                                                                "is not supported"),
    (h.make_node("MaxPool", ["x"], ["y"], name="p", kernel_shape=[2, 2], storage_order=1),
     "storage_order=1"),
    (h.make_node("Conv", ["x", "x"], ["y"], name="e"), "must be a constant"),
    (h.make_node("Resize", ["x", "", "sc"], ["y"], name="r", mode="cubic"), "mode=cubic"),
    (h.make_node("Pad", ["x", "pd"], ["y"], name="q", mode="wrap"), "mode=wrap"),
    (h.make_node("Cast", ["x"], ["y"], name="k", to=T.INT32), "attribute to=int32"),
    (h.make_node("Where", ["x", "x", "x"], ["y"], name="wh"),
     "supported only on constants and shapes"),
    (h.make_node("LayerNormalization", ["x", "g"], ["y", "mean"], name="ln"), "extra outputs"),
    (h.make_node("Gather", ["x", "fi"], ["y"], name="ga"), "indices must be int32 or int64"),
    (h.make_node("AveragePool", ["x"], ["y"], name="ap", kernel_shape=[2, 2],
                 auto_pad="SAME"), "auto_pad=SAME"),
])
def test_unsupported_ops_and_attributes_are_clear_errors(node, message):
    inits = {"w": _f32(3, 3, 3, 3) if "group" not in str(node) else _f32(4, 3, 3, 3),
             "sc": np.float32([1, 1, 2, 2]), "pd": np.int64([0, 0, 1, 1, 0, 0, 1, 1]),
             "g": _f32(6), "fi": np.float32([0])}
    graph = h.make_graph([node], "m", [h.make_tensor_value_info("x", T.FLOAT, [1, 3, 6, 6])],
                         [h.make_tensor_value_info("y", T.FLOAT, None)],
                         [nh.from_array(v, k) for k, v in inits.items()])
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", 17)])
    with pytest.raises(ModelError, match=message):
        import_onnx(model)


def test_unreadable_file(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(ModelError, match="cannot read ONNX model"):
        import_onnx(bad)


def test_resnet18_imports_with_batch_norm_folded():
    model = resnet18_onnx(0, image_size=32, num_classes=10)
    graph = import_onnx(model)
    assert graph.op_counts() == {"conv2d": 20, "relu": 17, "max_pool": 1, "add": 8,
                                 "global_avg_pool": 1, "flatten": 1, "dense": 1}
    x = _f32(1, 3, 32, 32)
    expected = ReferenceEvaluator(model).run(None, {"data": x})[0]
    np.testing.assert_allclose(run(graph, x)["logits"], expected, rtol=1e-3, atol=1e-3)
    full = import_onnx(resnet18_onnx(0))
    assert full.type_of("logits").shape == (1, 1000)
    assert full.type_of(full.nodes[0].output).shape == (1, 64, 112, 112)
