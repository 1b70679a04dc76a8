"""A small seeded ONNX writer for the zoo: ``onnx.helper`` nodes with the names, node order
and idioms exporters write, and weights drawn from one seeded generator.

Weights follow He initialisation; batch norms get random statistics; a residual branch's
last batch norm (or folded conv) is scaled down so activations stay in range through deep
residual stacks, as trained networks' are.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["OnnxBuilder"]


class OnnxBuilder:
    """Accumulates nodes and initializers; :meth:`model` returns the ``ModelProto``.

    Parameters
    ----------
    name:
        The graph's name.
    seed:
        Seed of every weight.
    opset:
        The default-domain opset the model declares.
    """

    def __init__(self, name: str, seed: int, opset: int = 13) -> None:
        self.name = name
        self.rng = np.random.default_rng(seed)
        self.opset = opset
        self.nodes: list[Any] = []
        self.inits: list[Any] = []
        self.inputs: list[Any] = []
        self.outputs: list[Any] = []
        self._names: set[str] = set()

    # ------------------------------------------------------------------ graph pieces
    def fresh(self, base: str) -> str:
        name, k = base, 0
        while name in self._names:
            k += 1
            name = f"{base}_{k}"
        self._names.add(name)
        return name

    def const(self, value: Any, name: str, dtype: Any = np.float32) -> str:
        from onnx import numpy_helper

        name = self.fresh(name)
        self.inits.append(numpy_helper.from_array(np.asarray(value, dtype), name))
        return name

    def input(self, name: str, shape: Sequence[int], dtype: str = "float32") -> str:
        from onnx import helper

        elem = helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
        self.inputs.append(helper.make_tensor_value_info(name, elem, list(shape)))
        self._names.add(name)
        return name

    def output(self, name: str, shape: Sequence[int] | None = None) -> None:
        from onnx import TensorProto, helper

        self.outputs.append(helper.make_tensor_value_info(
            name, TensorProto.FLOAT, list(shape) if shape is not None else None))

    def node(self, op: str, inputs: Sequence[str], name: str, outputs: int = 1,
             **attrs: Any) -> Any:
        """Add ``op``; returns its output name (a list when ``outputs`` > 1)."""
        from onnx import helper

        name = self.fresh(name)
        outs = [f"{name}_output_{k}" if outputs > 1 else f"{name}_output_0"
                for k in range(outputs)]
        self.nodes.append(helper.make_node(op, list(inputs), outs, name=name, **attrs))
        return outs if outputs > 1 else outs[0]

    def model(self) -> Any:
        from onnx import helper

        graph = helper.make_graph(self.nodes, self.name, self.inputs, self.outputs, self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", self.opset)],
                                  producer_name="vta-kit zoo")
        model.ir_version = 8
        return model

    # ------------------------------------------------------------------ layers
    def he(self, shape: Sequence[int], fan_in: int, gain: float = 2.0) -> np.ndarray:
        return self.rng.normal(0.0, np.sqrt(gain / fan_in), tuple(shape))

    def conv(self, x: str, cin: int, cout: int, k: int | tuple[int, int], name: str, *,
             stride: int | tuple[int, int] = 1, pads: Sequence[int] | None = None,
             group: int = 1, bias: bool = True, gain: float = 2.0,
             folded_bn: bool = False) -> str:
        """A Conv; ``folded_bn`` scales it as a conv with a batch norm folded in (what
        torch.onnx.export writes in eval mode)."""
        kh, kw = (k, k) if isinstance(k, int) else k
        sh, sw = (stride, stride) if isinstance(stride, int) else stride
        if pads is None:
            pads = [kh // 2, kw // 2, kh // 2, kw // 2]
        w = self.he((cout, cin // group, kh, kw), cin // group * kh * kw, gain)
        ins = [x, self.const(w, f"{name}.weight")]
        if bias or folded_bn:
            ins.append(self.const(self.rng.normal(0.0, 0.05, cout), f"{name}.bias"))
        return self.node("Conv", ins, name, kernel_shape=[kh, kw], strides=[sh, sw],
                         pads=list(pads), group=group, dilations=[1, 1])

    def batch_norm(self, x: str, c: int, name: str, gamma: float = 1.0) -> str:
        params = [self.const(v, f"{name}.{p}") for p, v in (
            ("weight", self.rng.uniform(0.5, 1.0, c) * gamma),
            ("bias", self.rng.normal(0.0, 0.1, c)),
            ("running_mean", self.rng.normal(0.0, 0.1, c)),
            ("running_var", self.rng.uniform(0.5, 1.5, c)))]
        return self.node("BatchNormalization", [x, *params], name, epsilon=1e-5)

    def relu(self, x: str, name: str) -> str:
        return self.node("Relu", [x], name)

    def clip6(self, x: str, name: str) -> str:
        """ReLU6 as torch exports it at opset >= 11: Clip with min/max inputs."""
        lo = self.const(0.0, f"{name}.min")
        hi = self.const(6.0, f"{name}.max")
        return self.node("Clip", [x, lo, hi], name)

    def matmul_add(self, x: str, k: int, m: int, name: str, gain: float = 2.0) -> str:
        """A linear layer as exporters write it for N-D inputs: MatMul then Add."""
        y = self.node("MatMul", [x, self.const(self.he((k, m), k, gain), f"{name}.weight")],
                      f"{name}/MatMul")
        return self.node("Add", [y, self.const(self.rng.normal(0, 0.02, m), f"{name}.bias")],
                         f"{name}/Add")

    def gemm(self, x: str, k: int, m: int, name: str, gain: float = 1.0) -> str:
        """torch's Linear on a 2-D input: Gemm with transB."""
        w = self.const(self.he((m, k), k, gain), f"{name}.weight")
        b = self.const(self.rng.normal(0, 0.01, m), f"{name}.bias")
        return self.node("Gemm", [x, w, b], name, alpha=1.0, beta=1.0, transB=1)

    def nhwc_to_nchw(self, x: str, name: str) -> str:
        """tf2onnx's entry Transpose from a Keras NHWC input."""
        return self.node("Transpose", [x], name, perm=[0, 3, 1, 2])

    def keras_flatten(self, x: str, features: int, name: str) -> str:
        """Keras Flatten of an NCHW tensor as tf2onnx writes it: back to NHWC, reshape."""
        t = self.node("Transpose", [x], f"{name}/transpose", perm=[0, 2, 3, 1])
        shape = self.const(np.array([-1, features], np.int64), f"{name}/shape", np.int64)
        return self.node("Reshape", [t, shape], name)
