"""ONNX import: an ``onnx.ModelProto`` (or a file) -> the float :class:`~.graph.Graph`.

Supported ONNX ops (default domain) are the keys of :data:`SUPPORTED_OPS`; each handler
below documents the attributes it accepts.  Highlights: Conv (groups, dilations,
asymmetric pads, ``auto_pad``), ConvTranspose (strides, pads, ``output_padding``,
``output_shape``), Gemm (``transA``/``transB``/``alpha``/``beta``), MatMul (a constant right
operand: a dense layer over the last axis; two runtime operands: a batched matmul), the
element-wise activations (Sigmoid, HardSigmoid, HardSwish, Tanh, LeakyRelu, PRelu, Elu,
Selu, Gelu, Erf, ...), Sub/Div/Pow, Transpose, Pad, Resize/Upsample, Slice, Split,
Squeeze/Unsqueeze, Gather, ReduceMean/ReduceMax, LayerNormalization, Softmax / Concat /
Flatten on any axis, pooling with ``ceil_mode`` / ``count_include_pad`` / ``dilations``, and
quantized models in QDQ and QOperator form with their own scales and zero points
(QuantizeLinear, DequantizeLinear, QLinearConv, QLinearMatMul, ConvInteger, MatMulInteger
and onnxruntime's ``com.microsoft`` QGemm, QLinearAdd, ... : :mod:`.onnx_quantized`).

Shape subgraphs are folded at import: ``Shape`` of a tensor (all shapes are static here) is
a constant, and any node whose inputs are all constants (Gather, Unsqueeze, Concat,
ConstantOfShape, Range, Cast, arithmetic, ...) is evaluated then, so
``Shape -> Gather -> Unsqueeze -> Concat -> Reshape`` becomes a Reshape to a constant shape.

Anything else -- an op, an attribute value or a computed operand where a constant is needed
-- raises :class:`~.errors.ModelError` with one line naming the node, the op, the attribute
and the supported values.  :func:`import_report` collects every such problem of a model at
once instead of stopping at the first.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ModelError
from .graph import Graph, GraphBuilder
from .onnx_quantized import MICROSOFT_OPS, QUANTIZED_OPS, QuantizedImport
from .passes import simplify

__all__ = ["import_onnx", "import_report", "ImportReport", "SUPPORTED_OPS", "FOLDABLE_OPS",
           "ATTRIBUTE_LIMITS"]

ATTRIBUTE_LIMITS: Mapping[str, str] = {
    "Conv": "2-D; any group, dilations, pads, auto_pad; constant weight",
    "ConvTranspose": "2-D; strides, pads, output_padding, output_shape, dilations, group, "
                     "auto_pad; constant weight",
    "Gemm": "transA, transB, alpha, beta (C broadcast per output)",
    "MatMul": "constant right operand (dense over the last axis) or two runtime operands",
    "MaxPool": "2-D; ceil_mode, dilations, pads; storage_order 0; one output",
    "AveragePool": "2-D; ceil_mode, count_include_pad, dilations, pads",
    "Resize": "modes nearest and linear; coordinate modes half_pixel, pytorch_half_pixel, "
              "align_corners, asymmetric, tf_half_pixel_for_nn; spatial axes of NCHW",
    "Pad": "modes constant, reflect, edge; constant pads",
    "Softmax": "any axis", "Concat": "any axis", "Flatten": "any axis",
    "Pow": "a constant exponent", "Gather": "any axis; constant or runtime indices",
    "LayerNormalization": "any axis; one output",
    "Cast": "to float32 (constants: any type)",
    "QuantizeLinear": "int8/uint8, per-tensor (per-axis on constants); no blocks",
    "DequantizeLinear": "int8/uint8 (int32 constants), per-tensor (per-axis on constants)",
    "QLinearConv": "as Conv; int8/uint8, per-channel weights, int32 bias",
    "QLinearMatMul": "constant 2-D B (per-column scales)", "QGemm": "transB, alpha; y_scale",
    "ConvInteger": "as Conv; per-channel weight zero points; a runtime x zero point",
    "MatMulInteger": "constant 2-D B; a runtime A zero point",
    "DynamicQuantizeLinear": "float32 input (uint8 output, as ONNX defines it)",
    "QLinearAveragePool": "as AveragePool; NCHW",
    "QLinearGlobalAveragePool": "NCHW", "QLinearLeakyRelu": "alpha",
}
"""What each op accepts beyond the defaults (the support table of docs/models.md)."""


def _attr_text(value: Any) -> Any:
    return value.decode() if isinstance(value, bytes) else value


@dataclass
class ImportReport:
    """What :func:`import_report` found for every ONNX node.

    Members
    -------
    graph:
        The imported graph (None if any node failed).
    status:
        ONNX node name -> ``(op_type, kind, detail)``: kind ``"ok"`` (detail: the IR nodes
        it became, space-separated), ``"folded"`` (a constant computed at import),
        ``"error"`` (detail: the one-line reason) or ``"skipped"`` (an input comes from a
        node that failed).
    order:
        ONNX node names in graph order.
    """

    graph: Graph | None
    status: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)

    @property
    def problems(self) -> list[tuple[str, str, str]]:
        """``(node, op_type, reason)`` of every node that cannot be imported."""
        return [(n, *self.status[n][::2]) for n in self.order
                if self.status[n][1] == "error"]


class _Importer:
    def __init__(self, model: Any, input_shapes: Mapping[str, Sequence[int]] | None) -> None:
        import onnx
        from onnx import numpy_helper

        self.onnx = onnx
        self.numpy_helper = numpy_helper
        self.model = model
        g = model.graph
        self.opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")),
                          13)
        self.b = GraphBuilder(g.name or "onnx_model")
        self.names: dict[str, str] = {}          # ONNX tensor name -> IR tensor name
        self.consts: dict[str, np.ndarray] = {}  # ONNX constant name -> value
        for init in g.initializer:
            self.consts[init.name] = numpy_helper.to_array(init)
        self.quant = QuantizedImport(self)
        for vi in g.input:
            if vi.name in self.consts:
                continue
            self._add_input(vi, (input_shapes or {}).get(vi.name))

    # ------------------------------------------------------------------ helpers
    def _add_input(self, vi: Any, override: Sequence[int] | None) -> None:
        tt = vi.type.tensor_type
        dtype = self.onnx.helper.tensor_dtype_to_np_dtype(tt.elem_type).name
        if dtype not in ("float32", "int8", "uint8", "int64", "int32"):
            raise ModelError(f"ONNX input {vi.name!r} has element type {dtype}; expected "
                             "float32, int8, uint8, int32 or int64")
        if override is not None:
            shape = tuple(int(d) for d in override)
            if any(d <= 0 for d in shape):
                raise ModelError(f"input_shapes gives {vi.name!r} the shape {list(shape)}; "
                                 f"every dimension must be at least 1")
        else:
            shape = []
            for i, d in enumerate(tt.shape.dim):
                if d.HasField("dim_value") and d.dim_value <= 0:
                    raise ModelError(f"ONNX input {vi.name!r} has a zero-size dimension {i} "
                                     f"({d.dim_value}); every dimension must be at least 1")
                if d.HasField("dim_value"):
                    shape.append(d.dim_value)
                elif i == 0:
                    shape.append(1)  # a symbolic batch dimension: batch 1
                else:
                    raise ModelError(f"ONNX input {vi.name!r} has a symbolic dimension "
                                     f"{i} ({d.dim_param or '?'}); pass input_shapes="
                                     f"{{{vi.name!r}: (...)}}")
            shape = tuple(shape)
        self.names[vi.name] = self.quant.input_tensor(
            vi.name, self.b.input(_ir_name(vi.name), shape, dtype))

    def value(self, name: str, node: Any) -> str:
        """The IR tensor for an ONNX input name (constants become params on first use)."""
        if name in self.names:
            return self.names[name]
        if name in self.consts:
            ir = self.b.param(_ir_name(name) if not self.b.has(_ir_name(name)) else None,
                              _param_value(self.consts[name]))
            self.names[name] = ir
            return ir
        ir = self.quant.float_value(name)   # a dequantized tensor a float op reads
        if ir is not None:
            return ir
        raise ModelError(f"ONNX {node.op_type} node {node.name!r}: input {name!r} is not "
                         "defined")

    def shape(self, name: str, node: Any) -> tuple[int, ...]:
        """The static shape of an ONNX tensor (runtime or constant)."""
        if name in self.consts:
            return tuple(self.consts[name].shape)
        return self.b.type_of(self.value(name, node)).shape

    def const(self, name: str, node: Any, what: str) -> np.ndarray:
        """The value of a constant input; ModelError if it is computed at run time."""
        if name in self.consts:
            return self.consts[name]
        if name in self.names:
            value = self.b.param_value(self.names[name])
            if value is not None:
                return value
        raise ModelError(f"ONNX {node.op_type} node {node.name!r}: {what} ({name!r}) must "
                         "be a constant initializer (or computed from constants and shapes)")

    def origin(self, node: Any, role: str, value: np.ndarray | None,
               index: int | None = None) -> str:
        """How a constant a handler derived from ``node``'s inputs is named in messages:
        ``"weight 'w2' of ONNX Conv node 'conv2'"``.  The ONNX input is input ``index``, or
        else the constant input whose value is ``value`` itself."""
        names = [node.input[index]] if index is not None and len(node.input) > index else \
            [i for i in node.input if i in self.consts and self.consts[i] is value]
        return f"{role} {names[0]!r} of {_where(node)}" if names else f"{role} of {_where(node)}"

    def optional_const(self, node: Any, index: int, what: str) -> np.ndarray | None:
        if len(node.input) > index and node.input[index]:
            return self.const(node.input[index], node, what)
        return None

    def conv_attrs(self, node: Any, a: dict[str, Any], x_shape: tuple[int, ...],
                   w_shape: tuple[int, ...]) -> dict[str, Any]:
        """A Conv node's strides, pads, dilations and groups as IR attributes (checked
        against the input and weight shapes)."""
        return _conv_attributes(self, node, a, x_shape, w_shape)

    def window(self, node: Any, a: dict[str, Any], in_shape: tuple[int, ...],
               kernel: Sequence[int]) -> tuple[tuple[int, int], tuple[int, int, int, int],
                                               tuple[int, int]]:
        """Strides, pads and dilations of a Conv or pooling node."""
        return _window_attrs(self, node, a, in_shape, kernel)

    def run_handler(self, node: Any, a: dict[str, Any]) -> None:
        """Import ``node`` with the float importer's handler."""
        _HANDLERS[node.op_type](self, node, a)

    def attrs(self, node: Any) -> dict[str, Any]:
        return {a.name: _attr_text(self.onnx.helper.get_attribute_value(a))
                for a in node.attribute}

    def bind(self, node: Any, ir: str, index: int = 0) -> None:
        self.names[node.output[index]] = ir

    # ------------------------------------------------------------------ folding
    def foldable(self, node: Any) -> bool:
        """True if ``node`` computes a constant: every input is one, or it reads only the
        (static) shape of a tensor."""
        ins = [i for i in node.input if i]
        if node.op_type in ("Shape", "Size"):
            return True
        if node.op_type in _NOT_FOLDED or not ins:
            return False
        return all(i in self.consts for i in ins)

    def fold(self, node: Any, a: dict[str, Any]) -> None:
        """Evaluate a constant node now (numpy for shapes, onnx's reference otherwise)."""
        if node.op_type in ("Shape", "Size"):
            shape = np.array(self.shape(node.input[0], node), np.int64)
            if node.op_type == "Size":
                self.consts[node.output[0]] = np.array(int(np.prod(shape)), np.int64)
                return
            start, end = a.get("start", 0), a.get("end", None)
            self.consts[node.output[0]] = shape[start:end]
            return
        from onnx import helper
        from onnx.reference import ReferenceEvaluator

        ins = [i for i in node.input if i]
        values = {i: self.consts[i] for i in ins}
        graph = helper.make_graph(
            [node], "fold",
            [helper.make_tensor_value_info(i, helper.np_dtype_to_tensor_dtype(v.dtype),
                                           list(v.shape)) for i, v in values.items()],
            [helper.make_tensor_value_info(o, 0, None) for o in node.output if o])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", self.opset)])
        try:
            outs = ReferenceEvaluator(model).run(None, values)
        except Exception as e:  # noqa: BLE001 - the reference raises anything on bad input
            raise ModelError(f"ONNX {node.op_type} node {node.name!r}: cannot evaluate this "
                             f"constant subgraph: {type(e).__name__}: {e}") from None
        for name, value in zip([o for o in node.output if o], outs, strict=False):
            self.consts[name] = np.asarray(value)

    # ------------------------------------------------------------------ driver
    def run(self, report: ImportReport | None = None) -> Graph | None:
        g = self.model.graph
        poisoned: set[str] = set()
        for i, node in enumerate(g.node):     # names first: a layer may fuse later nodes
            if not node.name:
                node.name = f"{node.op_type}_{i}"
        for node in g.node:
            if report is not None:
                report.order.append(node.name)
                bad = [x for x in node.input if x in poisoned]
                if bad:
                    report.status[node.name] = (node.op_type, "skipped",
                                                f"reads {bad[0]!r} of a node that failed")
                    poisoned.update(o for o in node.output if o)
                    continue
            before = len(self.b._nodes)
            try:
                kind = self.import_node(node)
            except ModelError as e:
                if report is None:
                    raise
                report.status[node.name] = (node.op_type, "error", str(e))
                poisoned.update(o for o in node.output if o)
                continue
            if report is not None:
                made = " ".join(n.name for n in self.b._nodes[before:])
                report.status[node.name] = (node.op_type, kind, made)
        if poisoned:
            return None
        rename = {}
        for out in g.output:
            if out.name not in self.names and self.quant.float_value(out.name) is None:
                if out.name in self.consts:
                    raise ModelError(f"ONNX output {out.name!r} is a constant")
                raise ModelError(f"ONNX output {out.name!r} is not computed by any node")
            ir = self.quant.output_tensor(out.name, self.names[out.name])
            self.b.output(ir)
            if ir != out.name and ir not in rename:
                rename[ir] = out.name
        graph = self.b.build()
        try:
            return graph.renamed(rename)
        except ModelError:
            return graph  # an output name clashes with an internal one: keep IR names

    def import_node(self, node: Any) -> str:
        """Import one node; returns ``"ok"``, ``"folded"``, ``"fused"`` (computed by an
        earlier quantized layer) or ``"float"`` (a QDQ layer run in float)."""
        if self.quant.wants(node):
            return self.quant.import_node(node, self.attrs(node))
        handler = _HANDLERS.get(node.op_type)
        if node.domain not in ("", "ai.onnx") or (handler is None
                                                  and node.op_type not in FOLDABLE_OPS):
            raise ModelError(
                f"unsupported ONNX op {node.op_type!r} in node {node.name!r} "
                f"(supported: {', '.join(sorted(SUPPORTED_OPS))})")
        a = self.attrs(node)
        if self.foldable(node):
            self.fold(node, a)
            return "folded"
        if handler is None:
            raise ModelError(f"ONNX {node.op_type} node {node.name!r}: supported only on "
                             "constants and shapes (folded at import), not on a tensor "
                             "computed at run time")
        used = [o for o in node.output[1:] if o]
        if used and node.op_type not in _MULTI_OUTPUT:
            raise ModelError(f"ONNX {node.op_type} node {node.name!r}: extra outputs "
                             f"{used} are not supported (inference graphs only)")
        handler(self, node, a)
        return "ok"


def _param_value(v: np.ndarray) -> np.ndarray:
    """A constant as a param: float64 -> float32, bool -> int64 (the IR's dtypes)."""
    v = np.asarray(v)
    if v.dtype == np.float64 or v.dtype == np.float16:
        return v.astype(np.float32)
    if v.dtype == np.bool_ or v.dtype.kind in "iu" and v.dtype.name not in (
            "int8", "uint8", "int32", "int64"):
        return v.astype(np.int64)
    return v


def _ir_name(name: str) -> str:
    return name or "unnamed"


def _where(node: Any) -> str:
    return f"ONNX {node.op_type} node {node.name!r}"


def _reject(node: Any, attr: str, value: Any, expected: str) -> ModelError:
    return ModelError(f"{_where(node)}: attribute {attr}={value} is not supported "
                      f"(expected {expected})")


def _axis(node: Any, axis: int, rank: int) -> int:
    if not -rank <= axis < rank:
        raise ModelError(f"{_where(node)}: axis {axis} is out of range for rank {rank}")
    return axis % rank


def _window_attrs(imp: _Importer, node: Any, a: dict[str, Any], in_shape: tuple[int, ...],
                  kernel: Sequence[int]) -> tuple[tuple[int, int], tuple[int, int, int, int],
                                                  tuple[int, int]]:
    """Strides, (top, left, bottom, right) pads and dilations of Conv / pooling nodes."""
    if len(in_shape) != 4 or len(kernel) != 2:
        raise ModelError(f"{_where(node)}: only 2-D NCHW windows are supported, not input "
                         f"shape {list(in_shape)} with kernel {list(kernel)}")
    dil = tuple(a.get("dilations", (1, 1)))
    strides = tuple(a.get("strides", (1, 1)))
    if len(dil) != 2 or len(strides) != 2 or min(dil + strides) < 1:
        raise _reject(node, "strides/dilations", [list(strides), list(dil)],
                      "two positive values each")
    auto_pad = a.get("auto_pad", "NOTSET")
    if auto_pad in ("NOTSET", "VALID"):
        p = tuple(a.get("pads", (0, 0, 0, 0))) if auto_pad == "NOTSET" else (0, 0, 0, 0)
        if len(p) != 4 or min(p) < 0:
            raise _reject(node, "pads", list(p), "four non-negative values")
        pads = (p[0], p[1], p[2], p[3])
    elif auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        pads_hw = []
        for size, k, s, d in zip(in_shape[2:], kernel, strides, dil, strict=True):
            out = -(-size // s)
            total = max(0, (out - 1) * s + (k - 1) * d + 1 - size)
            small, big = total // 2, total - total // 2
            pads_hw.append((small, big) if auto_pad == "SAME_UPPER" else (big, small))
        pads = (pads_hw[0][0], pads_hw[1][0], pads_hw[0][1], pads_hw[1][1])
    else:
        raise _reject(node, "auto_pad", auto_pad, "NOTSET, VALID, SAME_UPPER or SAME_LOWER")
    return (strides[0], strides[1]), pads, (dil[0], dil[1])  # type: ignore[return-value]


# ---------------------------------------------------------------------- linear layers
def _conv_attributes(imp: _Importer, node: Any, a: dict[str, Any], x_shape: tuple[int, ...],
                     w_shape: tuple[int, ...]) -> dict[str, Any]:
    """A Conv node's strides, pads, dilations and groups, checked against the shapes."""
    if len(w_shape) != 4:
        raise ModelError(f"{_where(node)}: only 2-D convolutions are supported (weight "
                         f"shape {list(w_shape)})")
    groups = int(a.get("group", 1))
    c = x_shape[1]
    if groups < 1 or c % groups or w_shape[0] % groups or w_shape[1] * groups != c:
        raise _reject(node, "group", groups, f"a divisor of the {c} input and {w_shape[0]} "
                      f"output channels with weight {list(w_shape)}")
    kernel = tuple(a.get("kernel_shape", w_shape[2:]))
    if kernel != tuple(w_shape[2:]):
        raise _reject(node, "kernel_shape", list(kernel), f"the weight's {list(w_shape[2:])}")
    strides, pads, dil = _window_attrs(imp, node, a, x_shape, kernel)
    return {"strides": strides, "pads": pads, "dilations": dil, "groups": groups}


def _conv(imp: _Importer, node: Any, a: dict[str, Any], x: str, w: np.ndarray,
          bias: np.ndarray | None) -> str:
    attrs = _conv_attributes(imp, node, a, imp.b.type_of(x).shape, w.shape)
    wname = imp.b.param(None, w.astype(np.float32), origin=imp.origin(node, "weight", w))
    bname = imp.b.param(None, bias.astype(np.float32), origin=imp.origin(
        node, "bias", bias)) if bias is not None else None
    return imp.b.conv2d(x, wname, bname, name=node.name, **attrs)


def _on_conv(imp: _Importer, node: Any, a: dict[str, Any]) -> None:
    x = imp.value(node.input[0], node)
    w = imp.const(node.input[1], node, "the weight")
    b = imp.optional_const(node, 2, "the bias")
    imp.bind(node, _conv(imp, node, a, x, w, b))


def _on_conv_transpose(imp: _Importer, node: Any, a: dict[str, Any]) -> None:
    x = imp.value(node.input[0], node)
    w = imp.const(node.input[1], node, "the weight")
    b = imp.optional_const(node, 2, "the bias")
    shape = imp.b.type_of(x).shape
    if w.ndim != 4 or len(shape) != 4:
        raise ModelError(f"{_where(node)}: only 2-D transposed convolutions are supported")
    groups = int(a.get("group", 1))
    if groups < 1 or shape[1] % groups or w.shape[0] != shape[1]:
        raise _reject(node, "group", groups, f"a divisor of the {shape[1]} input channels "
                      f"with weight {list(w.shape)}")
    kernel = tuple(a.get("kernel_shape", w.shape[2:]))
    if kernel != tuple(w.shape[2:]):
        raise _reject(node, "kernel_shape", list(kernel), f"the weight's {list(w.shape[2:])}")
    strides = tuple(a.get("strides", (1, 1)))
    dil = tuple(a.get("dilations", (1, 1)))
    out_pad = tuple(a.get("output_padding", (0, 0)))
    auto_pad = a.get("auto_pad", "NOTSET")
    pads = tuple(a.get("pads", (0, 0, 0, 0)))
    target = a.get("output_shape")
    if auto_pad in ("SAME_UPPER", "SAME_LOWER") and target is None:
        target = [s * st for s, st in zip(shape[2:], strides, strict=True)]
    elif auto_pad not in ("NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER"):
        raise _reject(node, "auto_pad", auto_pad, "NOTSET, VALID, SAME_UPPER or SAME_LOWER")
    if target is not None:
        target = list(target)[-2:]
        begins, ends = [], []
        for size, k, s, d, op, t in zip(shape[2:], kernel, strides, dil, out_pad, target,
                                        strict=True):
            total = s * (size - 1) + op + (k - 1) * d + 1 - t
            if total < 0:
                raise _reject(node, "output_shape", target, "at most the unpadded output "
                              "size")
            small, big = total // 2, total - total // 2
            upper = auto_pad == "SAME_UPPER"
            begins.append(small if upper else big)
            ends.append(big if upper else small)
        pads = (begins[0], begins[1], ends[0], ends[1])
    elif auto_pad == "VALID":
        pads = (0, 0, 0, 0)
    wname = imp.b.param(None, w.astype(np.float32), origin=imp.origin(node, "weight", w))
    ins = [x, wname] + ([imp.b.param(None, b.astype(np.float32), origin=imp.origin(
        node, "bias", b))] if b is not None else [])
    imp.bind(node, imp.b.node("conv_transpose2d", ins, node.name, strides=strides,
                              pads=pads, dilations=dil, output_padding=out_pad,
                              groups=groups))


def _dense(imp: _Importer, node: Any, x: str, w_mk: np.ndarray, bias: np.ndarray | None
           ) -> str:
    if len(imp.b.type_of(x).shape) < 2:
        raise ModelError(f"{_where(node)}: input must have at least 2 dimensions, not "
                         f"{list(imp.b.type_of(x).shape)}")
    wname = imp.b.param(None, np.ascontiguousarray(w_mk, dtype=np.float32),
                        origin=imp.origin(node, "weight", None, 1))
    bname = imp.b.param(None, bias.astype(np.float32), origin=imp.origin(
        node, "bias", None, 2)) if bias is not None else None
    return imp.b.dense(x, wname, bname, name=node.name)


def _transposed(imp: _Importer, node: Any, x: str, tag: str) -> str:
    rank = len(imp.b.type_of(x).shape)
    perm = tuple(range(rank - 2)) + (rank - 1, rank - 2)
    return imp.b.node("transpose", [x], f"{node.name}.{tag}", perm=perm)


def _on_gemm(imp: _Importer, node: Any, a: dict[str, Any]) -> None:
    alpha, beta = float(a.get("alpha", 1.0)), float(a.get("beta", 1.0))
    x = imp.value(node.input[0], node)
    if a.get("transA", 0):
        x = _transposed(imp, node, x, "transA")
    c = imp.optional_const(node, 2, "operand C") if len(node.input) > 2 and \
        node.input[2] in imp.consts else None
    if node.input[1] in imp.consts:
        w = imp.const(node.input[1], node, "operand B").astype(np.float64)
        w = (w if a.get("transB", 0) else w.T) * alpha
        bias = None
        if c is not None:
            try:
                bias = np.broadcast_to(c.astype(np.float64) * beta,
                                       (1, w.shape[0])).reshape(w.shape[0])
            except ValueError:
                c = c  # a full [N, M] C: added below
            else:
                c = None
        y = _dense(imp, node, x, w, bias)
    else:   # B computed at run time: a matmul
        bw = imp.value(node.input[1], node)
        if a.get("transB", 0):
            bw = _transposed(imp, node, bw, "transB")
        y = imp.b.node("matmul", [x, bw], node.name)
        if alpha != 1.0:
            y = imp.b.node("mul", [y, imp.b.param(None, np.float32([alpha]))],
                           f"{node.name}.alpha")
    if len(node.input) > 2 and node.input[2] and (c is not None or
                                                  node.input[2] not in imp.consts):
        cv = imp.b.param(None, (c * beta).astype(np.float32),
                         origin=imp.origin(node, "operand C", None, 2)) if c is not None else \
            imp.value(node.input[2], node)
        if c is None and beta != 1.0:
            cv = imp.b.node("mul", [cv, imp.b.param(None, np.float32([beta]))],
                            f"{node.name}.beta")
        y = imp.b.node("add", [y, cv], f"{node.name}.c")
    imp.bind(node, y)


def _on_matmul(imp: _Importer, node: Any, a: dict[str, Any]) -> None:
    if node.input[1] in imp.consts and node.input[0] not in imp.consts:
        w = imp.const(node.input[1], node, "the right operand")
        if w.ndim == 2:
            imp.bind(node, _dense(imp, node, imp.value(node.input[0], node), w.T, None))
            return
    xs = [imp.value(i, node) for i in node.input]
    for i, t in enumerate(xs):
        if len(imp.b.type_of(t).shape) < 2:
            raise ModelError(f"{_where(node)}: operand {i} must have at least 2 dimensions, "
                             f"not {list(imp.b.type_of(t).shape)}")
    imp.bind(node, imp.b.node("matmul", xs, node.name))


# ---------------------------------------------------------------------- element-wise
def _on_unary(op: str, defaults: Mapping[str, Any] | None = None
              ) -> Callable[[_Importer, Any, dict[str, Any]], None]:
    names = {"alpha": "alpha", "beta": "beta", "gamma": "gamma", "approximate": "approximate"}

    def handler(imp: _Importer, node: Any, a: dict[str, Any]) -> None:
        attrs = {names[k]: v for k, v in {**(defaults or {}), **a}.items() if k in names}
        imp.bind(node, imp.b.node(op, [imp.value(node.input[0], node)], node.name, **attrs))
    return handler


def _on_alias(imp: _Importer, node: Any, a: dict[str, Any]) -> None:
    if node.op_type == "Dropout" and len(node.input) > 2 and node.input[2]:
        if bool(imp.const(node.input[2], node, "training_mode")):
            raise _reject(node, "training_mode", True, "False")
    imp.bind(node, imp.value(node.input[0], node))


def _on_cast(imp: _Importer, node: Any, a: dict[str, Any]) -> None:
    to = imp.onnx.helper.tensor_dtype_to_np_dtype(a["to"]).name
    x = imp.value(node.input[0], node)
    src = imp.b.type_of(x).dtype
    if to != "float32":
        raise _reject(node, "to", to, "float32 for a tensor computed at run time (casts of "
                      "constants and shapes are folded)")
    imp.bind(node, x if src == "float32" else imp.b.node("cast", [x], node.name,
                                                         to="float32"))


def _on_clip(imp: _Importer, node: Any, a: dict[str, Any]) -> None:
    lo, hi = a.get("min", -np.inf), a.get("max", np.inf)
    if len(node.input) > 1 and node.input[1]:
        lo = float(imp.const(node.input[1], node, "min"))
    if len(node.input) > 2 and node.input[2]:
        hi = float(imp.const(node.input[2], node, "max"))
    x = imp.value(node.input[0], node)
    if lo == 0 and hi == np.inf:
        imp.bind(node, imp.b.relu(x, name=node.name))
    else:
        imp.bind(node, imp.b.clip(x, lo, hi, name=node.name))


def _on_binary(op: str) -> Callable[[_Importer, Any, dict[str, Any]], None]:
    def handler(imp: _Importer, node: Any, a: dict[str, Any]) -> None:
        if op == "pow":
            imp.const(node.input[1], node, "the exponent")
        ins = [imp.value(i, node) for i in node.input]
        imp.bind(node, imp.b.node(op, ins, node.name))
    return handler


def _on_prelu(imp: _Importer, node: Any, a: dict[str, Any]) -> None:
    x = imp.value(node.input[0], node)
    imp.const(node.input[1], node, "the slope")
    imp.bind(node, imp.b.node("prelu", [x, imp.value(node.input[1], node)], node.name))


# ---------------------------------------------------------------------- pooling, reductions
def _on_pool(imp: _Importer, node: Any, a: dict[str, Any]) -> None:
    x = imp.value(node.input[0], node)
    if a.get("storage_order", 0):
        raise _reject(node, "storage_order", a["storage_order"], "0")
    kernel = tuple(a["kernel_shape"])
    strides, pads, dil = _window_attrs(imp, node, a, imp.b.type_of(x).shape, kernel)
    op = "max_pool" if node.op_type == "MaxPool" else "avg_pool"
    extra: dict[str, Any] = {"ceil_mode": bool(a.get("ceil_mode", 0))}
    if dil != (1, 1):
        extra["dilations"] = dil
    if op == "avg_pool":
        extra["count_include_pad"] = bool(a.get("count_include_pad", 0))
    imp.bind(node, imp.b.node(op, [x], node.name, kernel=kernel, strides=strides, pads=pads,
                              **extra))


def _axes_input(imp: _Importer, node: Any, a: dict[str, Any], index: int) -> list[int] | None:
    """Axes from the ``axes`` attribute (older opsets) or the input at ``index``."""
    if "axes" in a:
        return [int(v) for v in a["axes"]]
    v = imp.optional_const(node, index, "the axes")
    return None if v is None else [int(x) for x in np.asarray(v).reshape(-1)]


def _on_reduce(imp: _Importer, node: Any, a: dict[str, Any]) -> None:
    x = imp.value(node.input[0], node)
    rank = len(imp.b.type_of(x).shape)
    axes = _axes_input(imp, node, a, 1)
    keep = bool(a.get("keepdims", 1))
    if not axes:
        if a.get("noop_with_empty_axes", 0):
            imp.bind(node, x)
            return
        axes = list(range(rank))
    axes = sorted({_axis(node, ax, rank) for ax in axes})
    op = "reduce_mean" if node.op_type == "ReduceMean" else "reduce_max"
    if keep and rank == 4 and axes == [2, 3]:   # tf2onnx's global pooling
        gop = "global_avg_pool" if op == "reduce_mean" else "global_max_pool"
        imp.bind(node, imp.b.node(gop, [x], node.name))
        return
    imp.bind(node, imp.b.node(op, [x], node.name, axes=tuple(axes), keepdims=keep))


def _on_layer_norm(imp: _Importer, node: Any, a: dict[str, Any]) -> None:
    x = imp.value(node.input[0], node)
    ins = [x, imp.value(node.input[1], node)]
    imp.const(node.input[1], node, "the scale")
    if len(node.input) > 2 and node.input[2]:
        imp.const(node.input[2], node, "the bias")
        ins.append(imp.value(node.input[2], node))
    rank = len(imp.b.type_of(x).shape)
    imp.bind(node, imp.b.node("layer_norm", ins, node.name,
                              axis=_axis(node, int(a.get("axis", -1)), rank),
                              epsilon=float(a.get("epsilon", 1e-5))))


def _on_softmax(imp: _Importer, node: Any, a: dict[str, Any]) -> None:
    x = imp.value(node.input[0], node)
    shape = imp.b.type_of(x).shape
    rank = len(shape)
    axis = _axis(node, int(a.get("axis", -1 if imp.opset >= 13 else 1)), rank)
    if imp.opset < 13 and axis != rank - 1:
        # Before opset 13 the input is flattened to 2-D at ``axis``.
        flat = imp.b.reshape(x, (math.prod(shape[:axis]), math.prod(shape[axis:])),
                             name=f"{node.name}.flatten")
        y = imp.b.softmax(flat, -1, name=f"{node.name}.softmax")
        imp.bind(node, imp.b.reshape(y, shape, name=node.name))
        return
    imp.bind(node, imp.b.softmax(x, axis, name=node.name))


# ---------------------------------------------------------------------- layout
def _on_flatten(imp: _Importer, node: Any, a: dict[str, Any]) -> None:
    x = imp.value(node.input[0], node)
    rank = len(imp.b.type_of(x).shape)
    axis = int(a.get("axis", 1))
    if not -rank <= axis <= rank:
        raise _reject(node, "axis", axis, f"in [{-rank}, {rank}]")
    imp.bind(node, imp.b.flatten(x, axis + rank if axis < 0 else axis, name=node.name))


def _on_reshape(imp: _Importer, node: Any, a: dict[str, Any]) -> None:
    x = imp.value(node.input[0], node)
    shape = [int(d) for d in imp.const(node.input[1], node, "the shape")]
    src = imp.b.type_of(x).shape
    if not a.get("allowzero", 0):
        shape = [src[i] if d == 0 else d for i, d in enumerate(shape)]
    imp.bind(node, imp.b.reshape(x, _resolve_shape(node, src, shape), name=node.name))


def _resolve_shape(node: Any, src: tuple[int, ...], shape: list[int]) -> list[int]:
    if shape.count(-1) > 1:
        raise ModelError(f"{_where(node)}: more than one -1 in {shape}")
    if -1 in shape:
        known = int(np.prod([d for d in shape if d != -1]))
        total = int(np.prod(src))
        if known == 0 or total % known:
            raise ModelError(f"{_where(node)}: cannot reshape {list(src)} to {shape}")
        shape[shape.index(-1)] = total // known
    return shape


def _on_squeeze(imp: _Importer, node: Any, a: dict[str, Any]) -> None:
    x = imp.value(node.input[0], node)
    src = imp.b.type_of(x).shape
    axes = _axes_input(imp, node, a, 1)
    if axes is None:
        axes = [i for i, d in enumerate(src) if d == 1]
    axes = [_axis(node, ax, len(src)) for ax in axes]
    for ax in axes:
        if src[ax] != 1:
            raise ModelError(f"{_where(node)}: cannot squeeze axis {ax} of size {src[ax]}")
    shape = [d for i, d in enumerate(src) if i not in axes] or [1]
    imp.bind(node, imp.b.reshape(x, shape, name=node.name))


def _on_unsqueeze(imp: _Importer, node: Any, a: dict[str, Any]) -> None:
    x = imp.value(node.input[0], node)
    src = list(imp.b.type_of(x).shape)
    axes = _axes_input(imp, node, a, 1) or []
    rank = len(src) + len(axes)
    shape = list(src)
    for ax in sorted(_axis(node, v, rank) for v in axes):
        shape.insert(ax, 1)
    imp.bind(node, imp.b.reshape(x, shape, name=node.name))


def _on_transpose(imp: _Importer, node: Any, a: dict[str, Any]) -> None:
    x = imp.value(node.input[0], node)
    rank = len(imp.b.type_of(x).shape)
    perm = tuple(a.get("perm", tuple(reversed(range(rank)))))
    imp.bind(node, imp.b.node("transpose", [x], node.name, perm=perm))


def _on_concat(imp: _Importer, node: Any, a: dict[str, Any]) -> None:
    xs = [imp.value(i, node) for i in node.input if i]
    rank = len(imp.b.type_of(xs[0]).shape)
    imp.bind(node, imp.b.concat(xs, _axis(node, int(a["axis"]), rank), name=node.name))


def _on_pad(imp: _Importer, node: Any, a: dict[str, Any]) -> None:
    x = imp.value(node.input[0], node)
    rank = len(imp.b.type_of(x).shape)
    mode = a.get("mode", "constant")
    if mode not in ("constant", "reflect", "edge"):
        raise _reject(node, "mode", mode, "constant, reflect or edge")
    if imp.opset < 11:
        pads, value = list(a["pads"]), float(a.get("value", 0.0))
    else:
        pads = [int(v) for v in imp.const(node.input[1], node, "the pads").reshape(-1)]
        cv = imp.optional_const(node, 2, "the constant value")
        value = 0.0 if cv is None or cv.size == 0 else float(cv.reshape(-1)[0])
        axes = imp.optional_const(node, 3, "the axes")
        if axes is not None:
            full = [0] * (2 * rank)
            ax = [_axis(node, int(v), rank) for v in axes.reshape(-1)]
            for k, axis in enumerate(ax):
                full[axis], full[axis + rank] = pads[k], pads[k + len(ax)]
            pads = full
    if len(pads) != 2 * rank or min(pads) < 0:
        raise _reject(node, "pads", pads, f"{2 * rank} non-negative values")
    imp.bind(node, imp.b.node("pad", [x], node.name, pads=tuple(pads), mode=mode,
                              value=value))


def _on_slice(imp: _Importer, node: Any, a: dict[str, Any]) -> None:
    x = imp.value(node.input[0], node)
    shape = imp.b.type_of(x).shape
    rank = len(shape)
    if imp.opset < 10:
        starts, ends = list(a["starts"]), list(a["ends"])
        axes, steps = a.get("axes"), None
    else:
        starts = [int(v) for v in imp.const(node.input[1], node, "starts").reshape(-1)]
        ends = [int(v) for v in imp.const(node.input[2], node, "ends").reshape(-1)]
        axes = imp.optional_const(node, 3, "axes")
        steps = imp.optional_const(node, 4, "steps")
    axes = list(range(len(starts))) if axes is None else [int(v) for v in
                                                          np.asarray(axes).reshape(-1)]
    steps = [1] * len(starts) if steps is None else [int(v) for v in
                                                     np.asarray(steps).reshape(-1)]
    st, en, sp = [0] * rank, list(shape), [1] * rank
    for ax, s0, e0, step in zip(axes, starts, ends, steps, strict=True):
        ax = _axis(node, ax, rank)
        st[ax], en[ax], sp[ax] = s0, e0, step
        if step == 0:
            raise _reject(node, "steps", steps, "non-zero steps")
    imp.bind(node, imp.b.node("slice", [x], node.name, starts=tuple(st), ends=tuple(en),
                              steps=tuple(sp)))


def _on_split(imp: _Importer, node: Any, a: dict[str, Any]) -> None:
    x = imp.value(node.input[0], node)
    shape = imp.b.type_of(x).shape
    axis = _axis(node, int(a.get("axis", 0)), len(shape))
    outs = [o for o in node.output]
    if "split" in a:
        sizes = [int(v) for v in a["split"]]
    elif len(node.input) > 1 and node.input[1]:
        sizes = [int(v) for v in imp.const(node.input[1], node, "split").reshape(-1)]
    else:
        n = int(a.get("num_outputs", len(outs)))
        step = -(-shape[axis] // n)
        sizes = [min(step, shape[axis] - k * step) for k in range(n)]
    if sum(sizes) != shape[axis] or len(sizes) != len(outs) or min(sizes) <= 0:
        raise _reject(node, "split", sizes, f"{len(outs)} positive sizes summing to "
                      f"{shape[axis]}")
    start = 0
    for k, (out, size) in enumerate(zip(outs, sizes, strict=True)):
        st, en = [0] * len(shape), list(shape)
        st[axis], en[axis] = start, start + size
        start += size
        if out:
            imp.bind(node, imp.b.node("slice", [x], f"{node.name}:{k}", starts=tuple(st),
                                      ends=tuple(en), steps=(1,) * len(shape)), k)


def _on_gather(imp: _Importer, node: Any, a: dict[str, Any]) -> None:
    data = imp.value(node.input[0], node)
    rank = len(imp.b.type_of(data).shape)
    axis = _axis(node, int(a.get("axis", 0)), rank)
    scalar = node.input[1] in imp.consts and imp.consts[node.input[1]].ndim == 0
    idx = imp.value(node.input[1], node)
    if imp.b.type_of(idx).dtype not in ("int64", "int32"):
        raise ModelError(f"{_where(node)}: indices must be int32 or int64, not "
                         f"{imp.b.type_of(idx).dtype}")
    extra = {"scalar_index": True} if scalar else {}
    imp.bind(node, imp.b.node("gather", [data, idx], node.name, axis=axis, **extra))


def _on_resize(imp: _Importer, node: Any, a: dict[str, Any]) -> None:
    x = imp.value(node.input[0], node)
    shape = imp.b.type_of(x).shape
    if len(shape) != 4:
        raise ModelError(f"{_where(node)}: only NCHW (rank 4) inputs are supported, not "
                         f"{list(shape)}")
    mode = a.get("mode", "nearest")
    if mode == "bilinear":
        mode = "linear"
    if mode not in ("nearest", "linear"):
        raise _reject(node, "mode", mode, "nearest or linear")
    for key, ok in (("exclude_outside", 0), ("antialias", 0)):
        if a.get(key, ok) != ok:
            raise _reject(node, key, a[key], str(ok))
    if a.get("keep_aspect_ratio_policy", "stretch") != "stretch":
        raise _reject(node, "keep_aspect_ratio_policy", a["keep_aspect_ratio_policy"],
                      "stretch")
    if node.op_type == "Upsample" or imp.opset < 11:
        scales = a.get("scales")
        if scales is None:
            scales = imp.const(node.input[1], node, "the scales")
        sizes = None
        ctm = "asymmetric"
        nearest = "floor" if node.op_type == "Upsample" or imp.opset < 11 else \
            "round_prefer_floor"
    else:
        scales = imp.optional_const(node, 2, "the scales")
        sizes = imp.optional_const(node, 3, "the sizes")
        ctm = a.get("coordinate_transformation_mode", "half_pixel")
        nearest = a.get("nearest_mode", "round_prefer_floor")
    if ctm == "tf_crop_and_resize":
        raise _reject(node, "coordinate_transformation_mode", ctm, "not tf_crop_and_resize")
    axes = a.get("axes")
    if axes is not None:   # opset 18: scales / sizes for these axes only
        full_s, full_z = [1.0] * 4, list(shape)
        for k, ax in enumerate(axes):
            ax = _axis(node, int(ax), 4)
            if scales is not None and np.asarray(scales).size:
                full_s[ax] = float(np.asarray(scales).reshape(-1)[k])
            if sizes is not None and np.asarray(sizes).size:
                full_z[ax] = int(np.asarray(sizes).reshape(-1)[k])
        scales = full_s if scales is not None and np.asarray(scales).size else None
        sizes = full_z if sizes is not None and np.asarray(sizes).size else None
    if sizes is not None and np.asarray(sizes).size:
        out = tuple(int(v) for v in np.asarray(sizes).reshape(-1))
        factors = tuple(o / i for o, i in zip(out, shape, strict=True))
    elif scales is not None and np.asarray(scales).size:
        factors = tuple(float(v) for v in np.asarray(scales).reshape(-1))
        if len(factors) != 4:
            raise _reject(node, "scales", list(factors), "four values (N, C, H, W)")
        out = tuple(int(math.floor(d * f)) for d, f in zip(shape, factors, strict=True))
    else:
        raise ModelError(f"{_where(node)}: needs constant scales or sizes")
    imp.bind(node, imp.b.node("resize", [x], node.name, sizes=out, scales=factors, mode=mode,
                              coordinate_transformation_mode=ctm, nearest_mode=nearest))


def _on_batch_norm(imp: _Importer, node: Any, a: dict[str, Any]) -> None:
    if a.get("training_mode", 0):
        raise _reject(node, "training_mode", 1, "0")
    ins = [imp.value(node.input[0], node)]
    ins += [imp.value(i, node) for i in node.input[1:5]]
    for i, what in zip(node.input[1:5], ("scale", "B", "mean", "var"), strict=False):
        imp.const(i, node, what)
    imp.bind(node, imp.b.batch_norm(*ins, epsilon=a.get("epsilon", 1e-5), name=node.name))


def _on_constant(imp: _Importer, node: Any, a: dict[str, Any]) -> None:
    if "value" in a:
        value = imp.numpy_helper.to_array(a["value"])
    elif "value_float" in a or "value_int" in a:
        value = np.array(a.get("value_float", a.get("value_int")),
                         np.float32 if "value_float" in a else np.int64)
    elif "value_floats" in a or "value_ints" in a:
        value = np.array(a.get("value_floats", a.get("value_ints")),
                         np.float32 if "value_floats" in a else np.int64)
    else:
        raise _reject(node, "/".join(a), "...", "a tensor, float(s) or int(s) 'value'")
    imp.consts[node.output[0]] = value


_HANDLERS: dict[str, Callable[[_Importer, Any, dict[str, Any]], None]] = {
    "Conv": _on_conv, "ConvTranspose": _on_conv_transpose, "Gemm": _on_gemm,
    "MatMul": _on_matmul,
    "Relu": _on_unary("relu"), "Clip": _on_clip,
    "Sigmoid": _on_unary("sigmoid"), "Tanh": _on_unary("tanh"), "Exp": _on_unary("exp"),
    "Log": _on_unary("log"), "Erf": _on_unary("erf"), "Sqrt": _on_unary("sqrt"),
    "Reciprocal": _on_unary("reciprocal"), "Neg": _on_unary("neg"), "Abs": _on_unary("abs"),
    "Softplus": _on_unary("softplus"), "Mish": _on_unary("mish"),
    "HardSigmoid": _on_unary("hard_sigmoid", {"alpha": 0.2, "beta": 0.5}),
    "HardSwish": _on_unary("hard_swish"),
    "LeakyRelu": _on_unary("leaky_relu", {"alpha": 0.01}),
    "Elu": _on_unary("elu", {"alpha": 1.0}),
    "Selu": _on_unary("selu", {"alpha": 1.67326319217681884765625,
                               "gamma": 1.05070102214813232421875}),
    "Gelu": _on_unary("gelu", {"approximate": "none"}),
    "PRelu": _on_prelu,
    "Add": _on_binary("add"), "Sub": _on_binary("sub"), "Mul": _on_binary("mul"),
    "Div": _on_binary("div"), "Pow": _on_binary("pow"),
    "MaxPool": _on_pool, "AveragePool": _on_pool,
    "GlobalAveragePool": _on_unary("global_avg_pool"),
    "GlobalMaxPool": _on_unary("global_max_pool"),
    "ReduceMean": _on_reduce, "ReduceMax": _on_reduce,
    "Flatten": _on_flatten, "Reshape": _on_reshape, "Squeeze": _on_squeeze,
    "Unsqueeze": _on_unsqueeze, "Transpose": _on_transpose, "Pad": _on_pad,
    "Slice": _on_slice, "Split": _on_split, "Gather": _on_gather,
    "Resize": _on_resize, "Upsample": _on_resize,
    "BatchNormalization": _on_batch_norm, "LayerNormalization": _on_layer_norm,
    "Softmax": _on_softmax, "Concat": _on_concat,
    "Identity": _on_alias, "Dropout": _on_alias, "Cast": _on_cast, "Constant": _on_constant,
}
FOLDABLE_OPS = frozenset({"Shape", "Size", "ConstantOfShape", "Range", "Equal", "Where",
                          "Expand", "Not", "Less", "Greater", "Floor", "Ceil", "Min", "Max",
                          "ReduceProd", "ReduceSum", "NonZero", "Tile", "CumSum"})
"""Ops supported on constants and shapes only (evaluated at import)."""
SUPPORTED_OPS = frozenset(_HANDLERS) | FOLDABLE_OPS | QUANTIZED_OPS | MICROSOFT_OPS
"""ONNX op types :func:`import_onnx` accepts (the quantized ones:
:mod:`.onnx_quantized`; ``com.microsoft`` ones: :data:`.onnx_quantized.MICROSOFT_OPS`)."""
_NOT_FOLDED = frozenset({"Constant", "DequantizeLinear"})
_MULTI_OUTPUT = frozenset({"Dropout", "Split"})


def _load(model: Any) -> Any:
    import onnx

    if isinstance(model, (str, Path)):
        try:
            model = onnx.load(str(model))
        except (OSError, onnx.onnx_cpp2py_export.checker.ValidationError) as e:
            raise ModelError(f"cannot read ONNX model {model}: {e}") from None
        except Exception as e:  # noqa: BLE001 - protobuf decode errors have no common base
            raise ModelError(f"cannot read ONNX model {model}: {type(e).__name__}") from None
    if not isinstance(model, onnx.ModelProto):
        raise ModelError(f"expected an onnx.ModelProto or a path, not {type(model).__name__}")
    copy = onnx.ModelProto()
    copy.CopyFrom(model)  # node names may be filled in
    return copy


def import_onnx(model: Any, input_shapes: Mapping[str, Sequence[int]] | None = None, *,
                optimize: bool = True) -> Graph:
    """Import an ONNX model into the float graph IR.

    Parameters
    ----------
    model:
        An ``onnx.ModelProto``, or the path of an ``.onnx`` file.
    input_shapes:
        Concrete shapes for inputs with symbolic dimensions (a symbolic leading batch
        dimension defaults to 1).
    optimize:
        Fold constants, batch norms and per-channel scales/biases (:func:`.passes.simplify`).

    Raises
    ------
    ModelError
        for a file that cannot be read, an unsupported op or attribute (naming op and
        node), or shapes that do not fit.
    """
    graph = _Importer(_load(model), input_shapes).run()
    assert graph is not None
    return simplify(graph) if optimize else graph


def import_report(model: Any, input_shapes: Mapping[str, Sequence[int]] | None = None
                  ) -> ImportReport:
    """Import what can be imported and report every node: what it became, or why it
    cannot be imported (all problems at once; see :class:`ImportReport`).

    Raises
    ------
    ModelError
        only for a file that cannot be read or a graph input that cannot be declared.
    """
    report = ImportReport(None)
    graph = _Importer(_load(model), input_shapes).run(report)
    report.graph = simplify(graph) if graph is not None else None
    return report
