"""The kit's quantized graph written back as a standard QDQ ONNX model.

:func:`export_qdq` turns a graph made by :func:`~.quantize.quantize` (power-of-two scales,
per-tensor or per-channel weights, symmetric or asymmetric activations) into the form
onnxruntime's ``quantize_static`` writes, so users can run the kit's quantization in their
own tools:

* graph inputs are float, then ``QuantizeLinear`` with the kit's scale and zero point;
* every ``qconv2d`` / ``qdense`` is ``DequantizeLinear`` of its input, ``Conv`` / ``Gemm``
  with ``DequantizeLinear`` weights (int8, one scale per output channel: ``w_scale =
  2**-shift * y_scale / x_scale``) and an int32 bias at ``x_scale * w_scale`` (the kit's
  bias minus the rounding and zero-point offsets it folded in), a ``Clip`` for its bounds
  when they are narrower than int8, then ``QuantizeLinear``;
* ``qadd`` / ``qrescale`` are ``DequantizeLinear`` -> ``Add`` (or nothing) -> ``Clip`` ->
  ``QuantizeLinear``; max pooling, flatten, reshape and concat run on the int8 tensors;
  average pooling and the float ops between ``dequantize`` and ``quantize`` are the same
  ONNX ops on floats.

onnxruntime rounds half to even where the kit rounds half up (exact ties only), so a few
outputs may differ by one step (docs/quantization.md).  Graphs the kit's quantizer did not
make (fixed-point multipliers of an imported model, ``qlut`` tables) raise one ModelError
line naming the node.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..requant import Requant, power_of_two
from .errors import ModelError
from .graph import Graph, Node

__all__ = ["export_qdq"]

_LAYOUT = {"max_pool": "MaxPool", "flatten": "Flatten", "reshape": "Reshape",
           "concat": "Concat", "transpose": "Transpose"}
_FLOAT = {"softmax": "Softmax", "relu": "Relu", "global_avg_pool": "GlobalAveragePool",
          "avg_pool": "AveragePool", "max_pool": "MaxPool", "flatten": "Flatten",
          "reshape": "Reshape", "add": "Add", "mul": "Mul", "concat": "Concat",
          "sigmoid": "Sigmoid", "tanh": "Tanh", "transpose": "Transpose"}


class _Writer:
    def __init__(self, graph: Graph) -> None:
        from onnx import TensorProto, helper, numpy_helper

        self.helper, self.numpy_helper, self.T = helper, numpy_helper, TensorProto
        self.g = graph
        self.nodes: list[Any] = []
        self.inits: list[Any] = []
        self.float_of: dict[str, str] = {}     # int8 IR tensor -> its dequantized ONNX name
        self.count = 0

    def fresh(self, base: str) -> str:
        self.count += 1
        return f"{base}_{self.count}"

    def const(self, value: np.ndarray, base: str) -> str:
        name = self.fresh(base)
        self.inits.append(self.numpy_helper.from_array(np.asarray(value), name))
        return name

    def add(self, op: str, ins: list[str], out: str, name: str, **attrs: Any) -> str:
        self.nodes.append(self.helper.make_node(op, ins, [out], name=name, **attrs))
        return out

    def qparams(self, tensor: str) -> tuple[str, str]:
        t = self.g.type_of(tensor)
        if t.scale is None:
            raise ModelError(f"tensor {tensor!r} has no scale: not a quantized tensor")
        return (self.const(np.float32(t.scale), f"{_safe(tensor)}_scale"),
                self.const(np.int8(t.zero_point), f"{_safe(tensor)}_zero_point"))

    def dequantized(self, tensor: str) -> str:
        """The float ONNX tensor of an int8 graph tensor (one DequantizeLinear each)."""
        if tensor not in self.float_of:
            s, z = self.qparams(tensor)
            out = self.fresh(f"{_safe(tensor)}_dq")
            self.float_of[tensor] = self.add("DequantizeLinear", [_safe(tensor), s, z], out,
                                             f"{_safe(tensor)}_DequantizeLinear")
        return self.float_of[tensor]

    def quantized(self, value: str, tensor: str, node: Node, lo: int = -128, hi: int = 127
                  ) -> None:
        """QuantizeLinear of float ``value`` into int8 graph tensor ``tensor`` (a Clip
        first when ``[lo, hi]`` is narrower than int8)."""
        t = self.g.type_of(tensor)
        if (lo, hi) != (-128, 127):
            cmin = self.const(np.float32((lo - t.zero_point) * t.scale), "clip_min")
            cmax = self.const(np.float32((hi - t.zero_point) * t.scale), "clip_max")
            value = self.add("Clip", [value, cmin, cmax], self.fresh(f"{node.name}_clip"),
                             f"{node.name}_Clip")
        s, z = self.qparams(tensor)
        self.add("QuantizeLinear", [value, s, z], _safe(tensor), f"{node.name}_QuantizeLinear")

    # ------------------------------------------------------------------ ops
    def linear(self, node: Node) -> None:
        g = self.g
        r = Requant.from_attrs(node.attrs)
        if r.uses_multiplier or any(r.pre_shift) or any(r.post_offset):
            raise ModelError(f"{node.describe()}: a fixed-point requantization (an imported "
                             "model's scales) has no QDQ export; export the kit's own "
                             "power-of-two quantization")
        x, w = node.inputs[0], node.inputs[1]
        wq = np.asarray(g.params[w])
        if wq.dtype != np.int8:
            raise ModelError(f"{node.describe()}: only int8 weights are exported")
        o = wq.shape[0]
        tx, ty = g.type_of(x), g.type_of(node.output)
        shift = r.vector("shift", o)
        w_scale = (np.ldexp(1.0, -shift) * ty.scale / tx.scale).astype(np.float32)
        _, offset = power_of_two(shift, ty.zero_point, r.lo, r.hi)
        bias = (g.params[node.inputs[2]].astype(np.int64) if len(node.inputs) > 2
                else np.zeros(o, np.int64)) - np.broadcast_to(offset, (o,))
        # The kit's input zero point is part of the sum: (x - zx) * w.
        xf = self.dequantized(x)
        wname = self.const(wq, f"{node.name}_weight_quantized")
        wdq = self.add("DequantizeLinear", [wname, self.const(w_scale, f"{node.name}_w_scale"),
                                            self.const(np.zeros(o, np.int8), f"{node.name}_w_zp")],
                       self.fresh(f"{node.name}_weight"), f"{node.name}_weight_dq", axis=0)
        b_scale = (np.float32(tx.scale) * w_scale).astype(np.float32)
        bdq = self.add("DequantizeLinear", [self.const(bias.astype(np.int32),
                                                       f"{node.name}_bias_quantized"),
                                            self.const(b_scale, f"{node.name}_b_scale"),
                                            self.const(np.zeros(o, np.int32),
                                                       f"{node.name}_b_zp")],
                       self.fresh(f"{node.name}_bias"), f"{node.name}_bias_dq", axis=0)
        out = self.fresh(f"{node.name}_out")
        if node.op == "qconv2d":
            a = node.attrs
            pt, pl, pb, pr = a.get("pads", (0, 0, 0, 0)) if isinstance(a.get("pads"), tuple) \
                and len(a.get("pads")) == 4 else _pads4(a.get("pads", 0))
            self.add("Conv", [xf, wdq, bdq], out, node.name, pads=[pt, pl, pb, pr],
                     strides=list(_pair(a.get("strides", 1))),
                     dilations=list(_pair(a.get("dilations", 1))), group=a.get("groups", 1))
        else:
            if len(tx.shape) != 2:
                raise ModelError(f"{node.describe()}: only 2-D dense layers are exported")
            self.add("Gemm", [xf, wdq, bdq], out, node.name, transB=1)
        self.quantized(out, node.output, node, r.lo, r.hi)

    def qadd(self, node: Node) -> None:
        a, b = (self.dequantized(i) for i in node.inputs)
        out = self.add("Add", [a, b], self.fresh(f"{node.name}_sum"), node.name)
        self.quantized(out, node.output, node, node.attr("lo", -128), node.attr("hi", 127))

    def qrescale(self, node: Node) -> None:
        self.quantized(self.dequantized(node.inputs[0]), node.output, node,
                       node.attr("lo", -128), node.attr("hi", 127))

    def layout(self, node: Node) -> None:
        a = dict(node.attrs)
        ins = [_safe(i) for i in node.inputs]
        if node.op == "reshape":
            ins.append(self.const(np.array(a.pop("shape"), np.int64), f"{node.name}_shape"))
        self.add(_LAYOUT[node.op], ins, _safe(node.output), node.name, **_onnx_attrs(node))

    def float_op(self, node: Node) -> None:
        if node.op not in _FLOAT:
            raise ModelError(f"{node.describe()}: no QDQ export for op {node.op!r}")
        ins = [self.dequantized(i) if self.g.type_of(i).dtype == "int8" else _safe(i)
               for i in node.inputs]
        if node.op == "reshape":
            ins.append(self.const(np.array(node.attr("shape"), np.int64), "shape"))
        if node.op in ("global_avg_pool", "avg_pool") and self.g.type_of(node.output).dtype \
                == "int8":
            out = self.add(_FLOAT[node.op], ins, self.fresh(f"{node.name}_avg"), node.name,
                           **_onnx_attrs(node))
            self.quantized(out, node.output, node)
            return
        self.add(_FLOAT[node.op], ins, _safe(node.output), node.name, **_onnx_attrs(node))

    def node(self, node: Node) -> None:
        op = node.op
        if op == "quantize":
            self.quantized(_safe(node.inputs[0]), node.output, node, node.attr("lo", -128),
                           node.attr("hi", 127))
        elif op == "dequantize":
            s, z = self.qparams(node.inputs[0])
            self.add("DequantizeLinear", [_safe(node.inputs[0]), s, z], _safe(node.output),
                     node.name)
        elif op in ("qconv2d", "qdense"):
            self.linear(node)
        elif op == "qadd":
            self.qadd(node)
        elif op == "qrescale":
            self.qrescale(node)
        elif op in _LAYOUT and self.g.type_of(node.inputs[0]).dtype == "int8":
            self.layout(node)
        else:
            self.float_op(node)

    def model(self) -> Any:
        h, T = self.helper, self.T
        for n in self.g.nodes:
            self.node(n)
        ins = [h.make_tensor_value_info(_safe(i), _onnx_type(self.g.type_of(i).dtype, T),
                                        list(self.g.type_of(i).shape)) for i in self.g.inputs]
        outs = [h.make_tensor_value_info(_safe(o), _onnx_type(self.g.type_of(o).dtype, T),
                                         list(self.g.type_of(o).shape)) for o in self.g.outputs]
        graph = h.make_graph(self.nodes, self.g.name, ins, outs, self.inits)
        model = h.make_model(graph, opset_imports=[h.make_opsetid("", 17)],
                             producer_name="vta-kit")
        model.ir_version = 8
        return model


def _safe(name: str) -> str:
    return name.replace(":", "_")


def _pair(v: Any) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else tuple(v)  # type: ignore[return-value]


def _pads4(v: Any) -> tuple[int, int, int, int]:
    if isinstance(v, int):
        return v, v, v, v
    if len(v) == 2:
        return v[0], v[1], v[0], v[1]
    return tuple(v)  # type: ignore[return-value]


def _onnx_attrs(node: Node) -> dict[str, Any]:
    a = node.attrs
    if node.op in ("max_pool", "avg_pool"):
        out = {"kernel_shape": list(_pair(a["kernel"])),
               "strides": list(_pair(a.get("strides") or a["kernel"])),
               "pads": list(_pads4(a.get("pads", 0)))}
        if node.op == "avg_pool":
            out["count_include_pad"] = int(bool(a.get("count_include_pad", False)))
        return out
    if node.op in ("flatten", "concat", "softmax"):
        return {"axis": a.get("axis", 1 if node.op != "softmax" else -1)}
    if node.op == "transpose":
        return {"perm": list(a["perm"])} if "perm" in a else {}
    return {}


def _onnx_type(dtype: str, T: Any) -> int:
    return {"float32": T.FLOAT, "int8": T.INT8, "uint8": T.UINT8, "int32": T.INT32,
            "int64": T.INT64}[dtype]


def export_qdq(graph: Graph) -> Any:
    """``graph`` (from :func:`~.quantize.quantize`) as a QDQ ``onnx.ModelProto``.

    Raises
    ------
    ModelError
        for a node with no QDQ form (fixed-point multipliers, lookup tables, ops outside
        the list of the module docstring), naming it.
    """
    return _Writer(graph).model()
