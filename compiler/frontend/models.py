"""Model builders for tests, examples and benchmarks.

- :func:`resnet18_onnx`: ResNet-18 (v1, as in TVM's VTA benchmark) as an ONNX
  ``ModelProto`` with seeded random weights and real BatchNormalization nodes (so import
  exercises batch-norm folding); input ``1x3x224x224`` by default.
- :func:`digits_cnn_graph`: the small CNN of :mod:`.digits` as a kit graph, from trained
  parameters; :func:`digits_cnn_onnx`: the same network as an ONNX model (what a user
  would export), for onnxruntime's quantization.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .graph import Graph, GraphBuilder

__all__ = ["resnet18_onnx", "digits_cnn_graph", "digits_cnn_onnx", "RESNET18_STAGES"]

RESNET18_STAGES = ((64, 1), (128, 2), (256, 2), (512, 2))
"""(channels, first stride) of the four stages, two basic blocks each."""


def resnet18_onnx(seed: int = 0, *, image_size: int = 224, num_classes: int = 1000,
                  softmax: bool = False, batch: int = 1) -> Any:
    """ResNet-18 as an ``onnx.ModelProto`` (opset 17) with seeded random weights.

    Convolutions have He-normal weights and no bias, each followed by BatchNormalization
    with random statistics; the classifier is a Gemm. Input ``data``
    (``batch x 3 x image_size x image_size``), output ``logits`` (or ``prob`` with
    ``softmax=True``).
    """
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    nodes: list[Any] = []
    inits: list[Any] = []

    def const(name: str, value: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.asarray(value, np.float32), name))
        return name

    def conv_bn(x: str, name: str, cin: int, cout: int, k: int, stride: int, pad: int,
                relu: bool, gamma: float = 1.0) -> str:
        w = rng.normal(0.0, np.sqrt(2.0 / (cin * k * k)), (cout, cin, k, k))
        nodes.append(helper.make_node("Conv", [x, const(f"{name}.weight", w)], [f"{name}.conv"],
                                      name=f"{name}.conv", kernel_shape=[k, k],
                                      strides=[stride, stride], pads=[pad] * 4))
        bn = [const(f"{name}.bn.{p}", v) for p, v in (
            ("scale", rng.uniform(0.5, 1.0, cout) * gamma),
            ("bias", rng.normal(0.0, 0.1, cout)),
            ("mean", rng.normal(0.0, 0.1, cout)),
            ("var", rng.uniform(0.5, 1.5, cout)))]
        out = f"{name}.bn"
        nodes.append(helper.make_node("BatchNormalization", [f"{name}.conv", *bn], [out],
                                      name=out, epsilon=1e-5))
        if relu:
            nodes.append(helper.make_node("Relu", [out], [f"{name}.relu"], name=f"{name}.relu"))
            out = f"{name}.relu"
        return out

    x = conv_bn("data", "conv1", 3, 64, 7, 2, 3, relu=True)
    nodes.append(helper.make_node("MaxPool", [x], ["pool1"], name="pool1", kernel_shape=[3, 3],
                                  strides=[2, 2], pads=[1, 1, 1, 1]))
    x, cin = "pool1", 64
    for si, (cout, stride) in enumerate(RESNET18_STAGES, start=1):
        for bi in range(2):
            s = stride if bi == 0 else 1
            name = f"layer{si}.{bi}"
            y = conv_bn(x, f"{name}.conv1", cin, cout, 3, s, 1, relu=True)
            y = conv_bn(y, f"{name}.conv2", cout, cout, 3, 1, 1, relu=False, gamma=0.5)
            shortcut = x
            if s != 1 or cin != cout:
                shortcut = conv_bn(x, f"{name}.downsample", cin, cout, 1, s, 0, relu=False)
            nodes.append(helper.make_node("Add", [y, shortcut], [f"{name}.add"],
                                          name=f"{name}.add"))
            nodes.append(helper.make_node("Relu", [f"{name}.add"], [f"{name}.out"],
                                          name=f"{name}.out"))
            x, cin = f"{name}.out", cout
    nodes.append(helper.make_node("GlobalAveragePool", [x], ["gap"], name="gap"))
    nodes.append(helper.make_node("Flatten", ["gap"], ["flat"], name="flatten", axis=1))
    w = rng.normal(0.0, np.sqrt(1.0 / 512), (num_classes, 512))
    nodes.append(helper.make_node("Gemm", ["flat", const("fc.weight", w),
                                           const("fc.bias", rng.normal(0, 0.01, num_classes))],
                                  ["logits"], name="fc", transB=1))
    out = "logits"
    if softmax:
        nodes.append(helper.make_node("Softmax", ["logits"], ["prob"], name="softmax", axis=1))
        out = "prob"
    graph = helper.make_graph(
        nodes, "resnet18",
        [helper.make_tensor_value_info("data", TensorProto.FLOAT,
                                       [batch, 3, image_size, image_size])],
        [helper.make_tensor_value_info(out, TensorProto.FLOAT, [batch, num_classes])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name="vta-kit")
    model.ir_version = 8
    return model


def digits_cnn_graph(params: Mapping[str, np.ndarray], batch: int = 1) -> Graph:
    """The digits CNN (see :mod:`.digits`) as a float graph on ``batch x 1 x 8 x 8``.

    conv 3x3 (1->16) + ReLU, conv 3x3 (16->32) + ReLU, 2x2 max pool, flatten,
    dense (512->10); output ``logits``.
    """
    b = GraphBuilder("digits_cnn")
    x = b.input("image", (batch, 1, 8, 8))
    y = b.relu(b.conv2d(x, b.param("conv1.weight", params["w1"]),
                        b.param("conv1.bias", params["b1"]), pads=1, name="conv1"),
               name="relu1")
    y = b.relu(b.conv2d(y, b.param("conv2.weight", params["w2"]),
                        b.param("conv2.bias", params["b2"]), pads=1, name="conv2"),
               name="relu2")
    y = b.flatten(b.max_pool(y, 2, name="pool"), name="flatten")
    y = b.dense(y, b.param("fc.weight", params["w3"]), b.param("fc.bias", params["b3"]),
                name="logits")
    b.output(y)
    return b.build()


def digits_cnn_onnx(params: Mapping[str, np.ndarray], batch: int = 1) -> Any:
    """The digits CNN as an ``onnx.ModelProto`` (opset 17): Conv, Relu, Conv, Relu,
    MaxPool, Flatten, Gemm; input ``image`` (``batch x 1 x 8 x 8``), output ``logits``."""
    from onnx import TensorProto, helper, numpy_helper

    inits = [numpy_helper.from_array(np.asarray(params[k], np.float32), k)
             for k in ("w1", "b1", "w2", "b2", "w3", "b3")]
    nodes = [
        helper.make_node("Conv", ["image", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1],
                         name="conv1"),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1], name="conv2"),
        helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
        helper.make_node("MaxPool", ["r2"], ["p"], kernel_shape=[2, 2], strides=[2, 2],
                         name="pool"),
        helper.make_node("Flatten", ["p"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "w3", "b3"], ["logits"], transB=1, name="fc")]
    graph = helper.make_graph(
        nodes, "digits_cnn",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [batch, 1, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch, 10])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name="vta-kit")
    model.ir_version = 8
    return model
