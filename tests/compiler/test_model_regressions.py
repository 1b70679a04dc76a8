"""Regressions of whole-model compiles found by trying models as a new user would."""

import numpy as np
from onnx import TensorProto as T
from onnx import helper as h
from vta.compiler import compile as compile_model


def test_float_model_of_pooling_and_softmax_only_is_quantized_and_matches():
    # Once taken for an already-quantized graph (no float compute op) and never quantized:
    # "no CPU kernel for avg_pool on float32".
    nodes = [h.make_node("AveragePool", ["x"], ["a"], kernel_shape=[2, 2], strides=[2, 2]),
             h.make_node("GlobalAveragePool", ["a"], ["g"]),
             h.make_node("Softmax", ["a"], ["y"], axis=1)]
    graph = h.make_graph(nodes, "pools", [h.make_tensor_value_info("x", T.FLOAT, [1, 4, 8, 8])],
                         [h.make_tensor_value_info("y", T.FLOAT, None),
                          h.make_tensor_value_info("g", T.FLOAT, None)])
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", 17)])
    x = np.random.default_rng(0).normal(size=(1, 4, 8, 8)).astype(np.float32)
    with compile_model(model, calibration=[x]) as exe:
        assert "quantize" in exe.graph.op_counts()
        out, want = exe(x), exe.reference(x)
        for name in ("y", "g"):
            np.testing.assert_array_equal(out[name], want[name])
        np.testing.assert_allclose(out["y"].sum(axis=1), 1.0, rtol=1e-5)
