"""ONNX import of every op family beyond the CNN basics, checked against onnx's reference
evaluator; shape subgraphs folded at import; the problem report of ``import_report``."""

import numpy as np
import pytest
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh
from onnx.reference import ReferenceEvaluator
from vta.compiler.frontend.interpreter import run
from vta.compiler.frontend.onnx_import import import_onnx, import_report

RNG = np.random.default_rng(3)


def _f32(*shape, scale=1.0):
    return (RNG.normal(size=shape) * scale).astype(np.float32)


def _onnxruntime(model, inputs):
    import onnxruntime as ort

    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, inputs)


def _check(nodes, inputs, inits, opset=17, rtol=1e-4, atol=1e-5, outputs=("y",),
           peer="reference"):
    """Import and run the model; compare with onnx's reference evaluator (or onnxruntime,
    where the reference is wrong: grouped ConvTranspose, Softmax before opset 13)."""
    graph = h.make_graph(
        nodes, "m",
        [h.make_tensor_value_info(n, T.INT64 if v.dtype == np.int64 else T.FLOAT,
                                  list(v.shape)) for n, v in inputs.items()],
        [h.make_tensor_value_info(o, T.FLOAT, None) for o in outputs],
        [nh.from_array(v, k) for k, v in inits.items()])
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", opset)])
    expected = ReferenceEvaluator(model).run(None, inputs) if peer == "reference" else \
        _onnxruntime(model, inputs)
    g = import_onnx(model)
    got = run(g, inputs)
    for name, exp in zip(outputs, expected, strict=True):
        assert got[name].shape == exp.shape, name
        np.testing.assert_allclose(got[name].astype(np.float64), exp.astype(np.float64),
                                   rtol=rtol, atol=atol)
    return g


X4 = {"x": _f32(1, 4, 6, 6)}


@pytest.mark.parametrize("op, attrs", [
    ("Sigmoid", {}), ("Tanh", {}), ("Erf", {}), ("Exp", {}), ("Neg", {}), ("Abs", {}),
    ("Softplus", {}), ("HardSwish", {}), ("HardSigmoid", {"alpha": 0.25, "beta": 0.4}),
    ("LeakyRelu", {"alpha": 0.1}), ("Elu", {"alpha": 0.7}), ("Selu", {}),
])
def test_unary_activations(op, attrs):
    _check([h.make_node(op, ["x"], ["y"], **attrs)], X4, {})


def test_gelu_prelu_sqrt_pow_div_sub():
    nodes = [h.make_node("Gelu", ["x"], ["g"]),
             h.make_node("PRelu", ["x", "slope"], ["p"]),
             h.make_node("Abs", ["x"], ["a"]), h.make_node("Sqrt", ["a"], ["s"]),
             h.make_node("Pow", ["x", "two"], ["pw"]), h.make_node("Div", ["pw", "s1"], ["d"]),
             h.make_node("Sub", ["g", "p"], ["e"]), h.make_node("Add", ["e", "d"], ["f"]),
             h.make_node("Sub", ["f", "s"], ["y"])]
    inits = {"slope": _f32(4, 1, 1), "two": np.float32(2), "s1": np.float32(3)}
    _check(nodes, X4, inits, opset=20)


def test_grouped_dilated_asymmetric_conv_and_depthwise():
    nodes = [h.make_node("Conv", ["x", "w1"], ["c1"], group=2, dilations=[2, 1],
                         pads=[1, 0, 2, 1]),
             h.make_node("Conv", ["c1", "w2", "b2"], ["y"], group=6, pads=[1, 1, 1, 1],
                         strides=[2, 2])]
    inits = {"w1": _f32(6, 2, 3, 3), "w2": _f32(6, 1, 3, 3), "b2": _f32(6)}
    g = _check(nodes, X4, inits)
    assert [n.attr("groups") for n in g.nodes] == [2, 6]


@pytest.mark.parametrize("attrs, shape", [
    ({"strides": [2, 2], "pads": [1, 1, 1, 1]}, (1, 4, 5, 5)),
    ({"strides": [2, 2], "pads": [1, 1, 1, 1], "output_padding": [1, 1]}, (1, 4, 5, 5)),
    ({"strides": [3, 2], "pads": [0, 1, 2, 0], "dilations": [1, 2]}, (1, 4, 4, 3)),
    ({"strides": [2, 2], "output_shape": [10, 10], "auto_pad": "SAME_UPPER"}, (1, 4, 5, 5)),
    ({"strides": [1, 1]}, (1, 4, 1, 1)),
])
def test_conv_transpose(attrs, shape):
    nodes = [h.make_node("ConvTranspose", ["x", "w", "b"], ["y"], **attrs)]
    inits = {"w": _f32(4, 3, 4, 4), "b": _f32(3)}
    _check(nodes, {"x": _f32(*shape)}, inits)


def test_conv_transpose_grouped_with_batch_norm_folded():
    nodes = [h.make_node("ConvTranspose", ["x", "w"], ["c"], strides=[2, 2], pads=[1, 1, 1, 1],
                         group=2),
             h.make_node("BatchNormalization", ["c", "g", "b", "m", "v"], ["y"])]
    inits = {"w": _f32(4, 3, 4, 4), "g": _f32(6), "b": _f32(6), "m": _f32(6),
             "v": RNG.uniform(0.5, 2, 6).astype(np.float32)}
    g = _check(nodes, X4, inits, rtol=1e-3, atol=1e-4, peer="onnxruntime")
    assert "batch_norm" not in g.op_counts()


def test_layout_ops():
    nodes = [h.make_node("Transpose", ["x"], ["t"], perm=[0, 2, 3, 1]),
             h.make_node("Pad", ["t", "pads", "val"], ["p"], mode="constant"),
             h.make_node("Pad", ["x", "pads2"], ["r"], mode="reflect"),
             h.make_node("Pad", ["x", "pads2"], ["e"], mode="edge"),
             h.make_node("Slice", ["p", "st", "en", "ax", "sp"], ["s"]),
             h.make_node("Split", ["r", "split"], ["r0", "r1"], axis=1),
             h.make_node("Concat", ["r1", "e", "r0"], ["cat"], axis=-3),
             h.make_node("Squeeze", ["s", "sq"], ["sq1"]),
             h.make_node("Unsqueeze", ["sq1", "uq"], ["u"]),
             h.make_node("Flatten", ["u"], ["f"], axis=-1),
             h.make_node("ReduceMax", ["cat", "rax"], ["m"], keepdims=0),
             h.make_node("ReduceMean", ["cat", "rax2"], ["mm"], keepdims=1),
             h.make_node("GlobalMaxPool", ["x"], ["gm"])]
    inits = {"pads": np.int64([0, 1, 0, 0, 0, 2, 1, 0]), "val": np.float32(0.5),
             "pads2": np.int64([0, 0, 1, 2, 0, 0, 2, 1]), "st": np.int64([5, 0]),
             "en": np.int64([-100, 10]), "ax": np.int64([1, -1]), "sp": np.int64([-2, 3]),
             "split": np.int64([1, 3]), "sq": np.int64([0]), "uq": np.int64([1]),
             "rax": np.int64([2, -1]), "rax2": np.int64([1])}
    _check(nodes, X4, inits, opset=18, outputs=("f", "m", "mm", "gm"))


def test_flatten_negative_axis_regression():
    # axis -1 of a rank-4 tensor is 3: [2, 3, 4, 5] -> [24, 5] (not [120, 1])
    g = _check([h.make_node("Flatten", ["x"], ["y"], axis=-1)], {"x": _f32(2, 3, 4, 5)}, {})
    assert g.type_of("y").shape == (24, 5)


@pytest.mark.parametrize("attrs", [
    {"mode": "nearest"},
    {"mode": "nearest", "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"},
    {"mode": "linear"},
    {"mode": "linear", "coordinate_transformation_mode": "align_corners"},
    {"mode": "linear", "coordinate_transformation_mode": "pytorch_half_pixel"},
])
def test_resize(attrs):
    nodes = [h.make_node("Resize", ["x", "", "scales"], ["y"], **attrs)]
    _check(nodes, X4, {"scales": np.float32([1, 1, 2, 1.5])})


def test_resize_with_sizes_from_a_shape_subgraph_and_upsample():
    # What torch.onnx.export writes for nn.Upsample(scale_factor=2) with dynamic shapes.
    nodes = [h.make_node("Shape", ["x"], ["sh"]),
             h.make_node("Gather", ["sh", "i2"], ["hh"], axis=0),
             h.make_node("Cast", ["hh"], ["hf"], to=T.FLOAT),
             h.make_node("Mul", ["hf", "two"], ["h2"]),
             h.make_node("Cast", ["h2"], ["hi"], to=T.INT64),
             h.make_node("Unsqueeze", ["hi", "zero"], ["hu"]),
             h.make_node("Slice", ["sh", "zero", "i2"], ["nc"]),
             h.make_node("Concat", ["nc", "hu", "hu"], ["size"], axis=0),
             h.make_node("Resize", ["x", "", "", "size"], ["y"], mode="nearest",
                         coordinate_transformation_mode="asymmetric", nearest_mode="floor")]
    inits = {"i2": np.int64([2]), "two": np.float32(2), "zero": np.int64([0])}
    inits["i2"] = np.array(2, np.int64)
    inits["i2s"] = np.int64([2])
    nodes[6] = h.make_node("Slice", ["sh", "zero", "i2s"], ["nc"])
    g = _check(nodes, X4, inits)
    assert g.op_counts() == {"resize": 1}
    up = [h.make_node("Upsample", ["x", "scales"], ["y"], mode="nearest")]
    _check(up, X4, {"scales": np.float32([1, 1, 2, 2])}, opset=9)


def test_transformer_pieces_with_shape_subgraph():
    # Multi-head attention as exporters write it: MatMul+Add projections, the head split
    # through Shape -> Gather -> Unsqueeze -> Concat -> Reshape, Transpose, batched MatMul,
    # Div, Softmax, LayerNormalization, Erf-based Gelu.
    s, d, heads = 8, 16, 2
    nodes = [h.make_node("MatMul", ["x", "wq"], ["q0"]), h.make_node("Add", ["q0", "bq"], ["q"]),
             h.make_node("Shape", ["q"], ["shp"]),
             h.make_node("Gather", ["shp", "c0"], ["b"], axis=0),
             h.make_node("Gather", ["shp", "c1"], ["sl"], axis=0),
             h.make_node("Unsqueeze", ["b", "ax0"], ["bu"]),
             h.make_node("Unsqueeze", ["sl", "ax0"], ["su"]),
             h.make_node("Concat", ["bu", "su", "nh", "hd"], ["newshape"], axis=0),
             h.make_node("Reshape", ["q", "newshape"], ["qr"]),
             h.make_node("Transpose", ["qr"], ["qt"], perm=[0, 2, 1, 3]),
             h.make_node("Transpose", ["qr"], ["kt"], perm=[0, 2, 3, 1]),
             h.make_node("MatMul", ["qt", "kt"], ["sc"]),
             h.make_node("Div", ["sc", "sqrtd"], ["scd"]),
             h.make_node("Softmax", ["scd"], ["p"], axis=-1),
             h.make_node("MatMul", ["p", "qt"], ["ctx"]),
             h.make_node("Transpose", ["ctx"], ["ct"], perm=[0, 2, 1, 3]),
             h.make_node("Reshape", ["ct", "back"], ["cr"]),
             h.make_node("LayerNormalization", ["cr", "g", "be"], ["ln"], axis=-1,
                         epsilon=1e-12),
             h.make_node("Div", ["ln", "sqrt2"], ["g1"]), h.make_node("Erf", ["g1"], ["g2"]),
             h.make_node("Add", ["g2", "one"], ["g3"]), h.make_node("Mul", ["ln", "g3"], ["g4"]),
             h.make_node("Mul", ["g4", "half"], ["y"])]
    inits = {"wq": _f32(d, d, scale=0.3), "bq": _f32(d), "c0": np.array(0, np.int64),
             "c1": np.array(1, np.int64), "ax0": np.int64([0]), "nh": np.int64([heads]),
             "hd": np.int64([d // heads]), "sqrtd": np.float32(np.sqrt(d // heads)),
             "back": np.int64([1, s, d]), "g": _f32(d), "be": _f32(d),
             "sqrt2": np.float32(np.sqrt(2)), "one": np.float32(1), "half": np.float32(0.5)}
    g = _check(nodes, {"x": _f32(1, s, d)}, inits, rtol=1e-3, atol=1e-4)
    assert g.op_counts()["dense"] == 1 and g.op_counts()["matmul"] == 2
    assert "gather" not in g.op_counts()  # the shape arithmetic was folded


def test_embedding_gather_and_gemm_variants():
    nodes = [h.make_node("Gather", ["table", "ids"], ["emb"], axis=0),
             h.make_node("ReduceMean", ["emb"], ["m"], axes=[1], keepdims=0),
             h.make_node("Gemm", ["m", "w", "c"], ["g1"], transB=0, alpha=0.5, beta=2.0),
             h.make_node("Gemm", ["wt", "m2"], ["g2"], transA=1, transB=1),
             h.make_node("Gather", ["emb", "one"], ["first"], axis=1),
             h.make_node("Concat", ["g1", "first"], ["y"], axis=1)]
    inits = {"table": _f32(20, 6), "ax": np.int64([1]), "w": _f32(6, 5), "c": _f32(5),
             "wt": _f32(6, 1), "one": np.array(0, np.int64)}
    ids = RNG.integers(0, 20, (1, 7)).astype(np.int64)
    _check(nodes, {"ids": ids, "m2": _f32(3, 6)}, inits, outputs=("y", "g2"))


def test_pooling_ceil_mode_dilations_count_include_pad():
    nodes = [h.make_node("MaxPool", ["x"], ["a"], kernel_shape=[3, 3], strides=[2, 2],
                         ceil_mode=1),
             h.make_node("MaxPool", ["x"], ["b"], kernel_shape=[2, 2], strides=[1, 1],
                         dilations=[2, 2], pads=[1, 1, 0, 0]),
             h.make_node("AveragePool", ["x"], ["c"], kernel_shape=[3, 3], strides=[2, 2],
                         pads=[1, 1, 1, 1], ceil_mode=1, count_include_pad=1),
             h.make_node("AveragePool", ["x"], ["d"], kernel_shape=[2, 2], strides=[2, 2],
                         ceil_mode=1)]
    _check(nodes, {"x": _f32(1, 2, 7, 7)}, {}, opset=19, outputs=("a", "b", "c", "d"))


def test_softmax_on_a_non_last_axis_all_opsets():
    for opset in (11, 13):
        _check([h.make_node("Softmax", ["x"], ["y"], axis=1)], X4, {}, opset=opset,
               peer="onnxruntime")


def test_import_report_lists_every_problem():
    nodes = [h.make_node("Conv", ["x", "w"], ["c"], name="conv"),
             h.make_node("NonZero", ["c"], ["nz"], name="nz"),
             h.make_node("Relu", ["nz"], ["r"], name="after"),
             h.make_node("Resize", ["x", "", "sc"], ["y"], name="rs", mode="cubic")]
    graph = h.make_graph(nodes, "m", [h.make_tensor_value_info("x", T.FLOAT, [1, 3, 6, 6])],
                         [h.make_tensor_value_info("r", T.FLOAT, None),
                          h.make_tensor_value_info("y", T.FLOAT, None)],
                         [nh.from_array(_f32(3, 3, 1, 1), "w"),
                          nh.from_array(np.float32([1, 1, 2, 2]), "sc")])
    report = import_report(h.make_model(graph, opset_imports=[h.make_opsetid("", 17)]))
    assert report.graph is None
    assert [p[0] for p in report.problems] == ["nz", "rs"]
    assert report.status["after"][1] == "skipped"
    assert report.status["conv"][1] == "ok"


def test_decomposed_layer_norm_is_fused():
    # torch.onnx.export before LayerNormalization existed (opset < 17).
    nodes = [h.make_node("ReduceMean", ["x"], ["m"], axes=[-1]),
             h.make_node("Sub", ["x", "m"], ["d"]),
             h.make_node("Pow", ["d", "two"], ["p"]),
             h.make_node("ReduceMean", ["p"], ["v"], axes=[-1]),
             h.make_node("Add", ["v", "eps"], ["ve"]),
             h.make_node("Sqrt", ["ve"], ["s"]),
             h.make_node("Div", ["d", "s"], ["n"]),
             h.make_node("Mul", ["n", "g"], ["ng"]),
             h.make_node("Add", ["ng", "b"], ["y"])]
    inits = {"two": np.float32(2), "eps": np.float32(1e-5), "g": _f32(16), "b": _f32(16)}
    g = _check(nodes, {"x": _f32(1, 5, 16)}, inits, opset=13, rtol=1e-4, atol=1e-4)
    assert g.op_counts() == {"layer_norm": 1}
