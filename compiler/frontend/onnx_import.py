"""ONNX import: an ``onnx.ModelProto`` (or a file) -> the float :class:`~.graph.Graph`.

Supported ONNX ops (default domain, 2-D images): Conv, Gemm, MatMul (constant 2-D right
operand), Relu, Clip, Add, Mul (by a per-channel constant after Conv/Gemm, folded),
MaxPool, AveragePool, GlobalAveragePool, Flatten, Reshape, BatchNormalization (folded into
the conv before it), Softmax, Concat, Identity, Dropout (inference), Cast to float, and the
quantized forms QuantizeLinear, DequantizeLinear, QLinearConv, QLinearMatMul, ConvInteger,
MatMulInteger. Quantized ops become float ops between ``dequantize_linear`` /
``quantize_linear`` (fake quantization) with the weights dequantized at import, so the
graph computes what the ONNX model computes and the kit's own quantizer takes over.

Anything else -- an op, an attribute value (dilations, groups, ceil_mode, ...) or a
non-constant weight -- raises :class:`~.errors.ModelError` naming the op and the node.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ModelError
from .graph import Graph, GraphBuilder
from .passes import simplify

__all__ = ["import_onnx", "SUPPORTED_OPS"]


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
        for vi in g.input:
            if vi.name in self.consts:
                continue
            self._add_input(vi, (input_shapes or {}).get(vi.name))

    # ------------------------------------------------------------------ helpers
    def _add_input(self, vi: Any, override: Sequence[int] | None) -> None:
        tt = vi.type.tensor_type
        dtype = self.onnx.helper.tensor_dtype_to_np_dtype(tt.elem_type).name
        if dtype not in ("float32", "int8", "uint8"):
            raise ModelError(f"ONNX input {vi.name!r} has element type {dtype}; expected "
                             "float32, int8 or uint8")
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
        self.names[vi.name] = self.b.input(_ir_name(vi.name), shape, dtype)

    def value(self, name: str, node: Any) -> str:
        """The IR tensor for an ONNX input name (constants become params on first use)."""
        if name in self.names:
            return self.names[name]
        if name in self.consts:
            ir = self.b.param(_ir_name(name) if not self.b.has(_ir_name(name)) else None,
                              self.consts[name])
            self.names[name] = ir
            return ir
        raise ModelError(f"ONNX {node.op_type} node {node.name!r}: input {name!r} is not "
                         "defined")

    def const(self, name: str, node: Any, what: str) -> np.ndarray:
        """The value of a constant input; ModelError if it is computed at run time."""
        if name in self.consts:
            return self.consts[name]
        if name in self.names:
            value = self.b.param_value(self.names[name])
            if value is not None:
                return value
        raise ModelError(f"ONNX {node.op_type} node {node.name!r}: {what} ({name!r}) must "
                         "be a constant initializer")

    def attrs(self, node: Any) -> dict[str, Any]:
        return {a.name: self.onnx.helper.get_attribute_value(a) for a in node.attribute}

    def bind(self, node: Any, ir: str, index: int = 0) -> None:
        self.names[node.output[index]] = ir

    # ------------------------------------------------------------------ driver
    def run(self) -> Graph:
        g = self.model.graph
        for i, node in enumerate(g.node):
            if not node.name:
                node.name = f"{node.op_type}_{i}"
            handler = _HANDLERS.get(node.op_type)
            if node.domain not in ("", "ai.onnx") or handler is None:
                raise ModelError(
                    f"unsupported ONNX op {node.op_type!r} in node {node.name!r} "
                    f"(supported: {', '.join(sorted(_HANDLERS))})")
            used = [o for o in node.output[1:] if o]
            if used and node.op_type not in ("Dropout",):
                raise ModelError(f"ONNX {node.op_type} node {node.name!r}: extra outputs "
                                 f"{used} are not supported (inference graphs only)")
            handler(self, node, self.attrs(node))
        rename = {}
        for out in g.output:
            if out.name not in self.names:
                if out.name in self.consts:
                    raise ModelError(f"ONNX output {out.name!r} is a constant")
                raise ModelError(f"ONNX output {out.name!r} is not computed by any node")
            self.b.output(self.names[out.name])
            if self.names[out.name] != out.name and self.names[out.name] not in rename:
                rename[self.names[out.name]] = out.name
        graph = self.b.build()
        try:
            return graph.renamed(rename)
        except ModelError:
            return graph  # an output name clashes with an internal one: keep IR names


def _ir_name(name: str) -> str:
    return name or "unnamed"


def _reject(node: Any, attr: str, value: Any, expected: str) -> ModelError:
    return ModelError(f"ONNX {node.op_type} node {node.name!r}: attribute {attr}={value} is "
                      f"not supported (expected {expected})")


def _window_attrs(imp: _Importer, node: Any, a: dict[str, Any], in_shape: tuple[int, ...],
                  kernel: Sequence[int]) -> tuple[tuple[int, int], tuple[int, int, int, int]]:
    """Strides and (top, left, bottom, right) pads of Conv / pooling nodes."""
    if len(in_shape) != 4 or len(kernel) != 2:
        raise ModelError(f"ONNX {node.op_type} node {node.name!r}: only 2-D NCHW windows "
                         f"are supported, not input shape {list(in_shape)}")
    if any(d != 1 for d in a.get("dilations", (1, 1))):
        raise _reject(node, "dilations", list(a["dilations"]), "all 1")
    strides = tuple(a.get("strides", (1, 1)))
    auto_pad = a.get("auto_pad", b"NOTSET")
    auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else auto_pad
    if auto_pad in ("NOTSET", "VALID"):
        p = tuple(a.get("pads", (0, 0, 0, 0))) if auto_pad == "NOTSET" else (0, 0, 0, 0)
        pads = (p[0], p[1], p[2], p[3])
    elif auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        pads_hw = []
        for size, k, s in zip(in_shape[2:], kernel, strides, strict=True):
            out = -(-size // s)
            total = max(0, (out - 1) * s + k - size)
            small, big = total // 2, total - total // 2
            pads_hw.append((small, big) if auto_pad == "SAME_UPPER" else (big, small))
        pads = (pads_hw[0][0], pads_hw[1][0], pads_hw[0][1], pads_hw[1][1])
    else:
        raise _reject(node, "auto_pad", auto_pad, "NOTSET, VALID, SAME_UPPER or SAME_LOWER")
    return (strides[0], strides[1]), pads  # type: ignore[return-value]


def _conv(imp: _Importer, node: Any, a: dict[str, Any], x: str, w: np.ndarray,
          bias: np.ndarray | None) -> str:
    if a.get("group", 1) != 1:
        raise _reject(node, "group", a["group"], "1")
    kernel = tuple(a.get("kernel_shape", w.shape[2:]))
    if kernel != tuple(w.shape[2:]):
        raise _reject(node, "kernel_shape", list(kernel), f"the weight's {list(w.shape[2:])}")
    strides, pads = _window_attrs(imp, node, a, imp.b.type_of(x).shape, kernel)
    wname = imp.b.param(None, w.astype(np.float32))
    bname = imp.b.param(None, bias.astype(np.float32)) if bias is not None else None
    return imp.b.conv2d(x, wname, bname, strides=strides, pads=pads, name=node.name)


def _on_conv(imp: _Importer, node: Any, a: dict[str, Any]) -> None:
    x = imp.value(node.input[0], node)
    w = imp.const(node.input[1], node, "the weight")
    b = imp.const(node.input[2], node, "the bias") if len(node.input) > 2 and node.input[2] \
        else None
    imp.bind(node, _conv(imp, node, a, x, w, b))


def _dense(imp: _Importer, node: Any, x: str, w_mk: np.ndarray, bias: np.ndarray | None
           ) -> str:
    if len(imp.b.type_of(x).shape) != 2:
        raise ModelError(f"ONNX {node.op_type} node {node.name!r}: input must be 2-D, not "
                         f"{list(imp.b.type_of(x).shape)} (add a Flatten)")
    wname = imp.b.param(None, np.ascontiguousarray(w_mk, dtype=np.float32))
    bname = imp.b.param(None, bias.astype(np.float32)) if bias is not None else None
    return imp.b.dense(x, wname, bname, name=node.name)


def _on_gemm(imp: _Importer, node: Any, a: dict[str, Any]) -> None:
    if a.get("transA", 0):
        raise _reject(node, "transA", a["transA"], "0")
    x = imp.value(node.input[0], node)
    w = imp.const(node.input[1], node, "operand B").astype(np.float64)
    w = (w if a.get("transB", 0) else w.T) * a.get("alpha", 1.0)
    bias = None
    if len(node.input) > 2 and node.input[2]:
        c = imp.const(node.input[2], node, "operand C").astype(np.float64) * a.get("beta", 1.0)
        try:
            bias = np.broadcast_to(c, (1, w.shape[0])).reshape(w.shape[0])
        except ValueError:
            raise ModelError(f"ONNX Gemm node {node.name!r}: operand C of shape "
                             f"{list(c.shape)} is not a per-output bias") from None
    imp.bind(node, _dense(imp, node, x, w, bias))


def _on_matmul(imp: _Importer, node: Any, a: dict[str, Any]) -> None:
    x = imp.value(node.input[0], node)
    w = imp.const(node.input[1], node, "the right operand")
    if w.ndim != 2:
        raise ModelError(f"ONNX MatMul node {node.name!r}: right operand must be 2-D")
    imp.bind(node, _dense(imp, node, x, w.T, None))


def _on_unary(op: str) -> Callable[[_Importer, Any, dict[str, Any]], None]:
    def handler(imp: _Importer, node: Any, a: dict[str, Any]) -> None:
        imp.bind(node, imp.b.node(op, [imp.value(node.input[0], node)], node.name))
    return handler


def _on_alias(imp: _Importer, node: Any, a: dict[str, Any]) -> None:
    if node.op_type == "Dropout" and len(node.input) > 2 and node.input[2]:
        if bool(imp.const(node.input[2], node, "training_mode")):
            raise _reject(node, "training_mode", True, "False")
    if node.op_type == "Cast":
        to = imp.onnx.helper.tensor_dtype_to_np_dtype(a["to"]).name
        src = imp.b.type_of(imp.value(node.input[0], node)).dtype
        if to != "float32" or src != "float32":
            raise _reject(node, "to", to, "a cast to float of a float tensor (after "
                          "ConvInteger / MatMulInteger)")
    imp.bind(node, imp.value(node.input[0], node))


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
        ins = [imp.value(i, node) for i in node.input]
        imp.bind(node, imp.b.node(op, ins, node.name))
    return handler


def _on_pool(imp: _Importer, node: Any, a: dict[str, Any]) -> None:
    x = imp.value(node.input[0], node)
    if a.get("ceil_mode", 0):
        raise _reject(node, "ceil_mode", a["ceil_mode"], "0")
    if a.get("storage_order", 0):
        raise _reject(node, "storage_order", a["storage_order"], "0")
    kernel = tuple(a["kernel_shape"])
    strides, pads = _window_attrs(imp, node, a, imp.b.type_of(x).shape, kernel)
    if node.op_type == "MaxPool":
        out = imp.b.max_pool(x, kernel, strides, pads, name=node.name)
    else:
        out = imp.b.avg_pool(x, kernel, strides, pads, name=node.name,
                             count_include_pad=bool(a.get("count_include_pad", 0)))
    imp.bind(node, out)


def _on_flatten(imp: _Importer, node: Any, a: dict[str, Any]) -> None:
    imp.bind(node, imp.b.flatten(imp.value(node.input[0], node), a.get("axis", 1),
                                 name=node.name))


def _on_reshape(imp: _Importer, node: Any, a: dict[str, Any]) -> None:
    x = imp.value(node.input[0], node)
    shape = [int(d) for d in imp.const(node.input[1], node, "the shape")]
    src = imp.b.type_of(x).shape
    if not a.get("allowzero", 0):
        shape = [src[i] if d == 0 else d for i, d in enumerate(shape)]
    if shape.count(-1) > 1:
        raise ModelError(f"ONNX Reshape node {node.name!r}: more than one -1 in {shape}")
    if -1 in shape:
        known = int(np.prod([d for d in shape if d != -1]))
        total = int(np.prod(src))
        if known == 0 or total % known:
            raise ModelError(f"ONNX Reshape node {node.name!r}: cannot reshape "
                             f"{list(src)} to {shape}")
        shape[shape.index(-1)] = total // known
    imp.bind(node, imp.b.reshape(x, shape, name=node.name))


def _on_batch_norm(imp: _Importer, node: Any, a: dict[str, Any]) -> None:
    if a.get("training_mode", 0):
        raise _reject(node, "training_mode", 1, "0")
    ins = [imp.value(node.input[0], node)]
    ins += [imp.value(i, node) for i in node.input[1:5]]
    for i, what in zip(node.input[1:5], ("scale", "B", "mean", "var"), strict=False):
        imp.const(i, node, what)
    imp.bind(node, imp.b.batch_norm(*ins, epsilon=a.get("epsilon", 1e-5), name=node.name))


def _on_softmax(imp: _Importer, node: Any, a: dict[str, Any]) -> None:
    x = imp.value(node.input[0], node)
    rank = len(imp.b.type_of(x).shape)
    axis = a.get("axis", -1 if imp.opset >= 13 else 1)
    if imp.opset < 13 and axis % rank != rank - 1:
        raise _reject(node, "axis", axis, f"the last axis ({rank - 1}) before opset 13")
    imp.bind(node, imp.b.softmax(x, axis, name=node.name))


def _on_concat(imp: _Importer, node: Any, a: dict[str, Any]) -> None:
    xs = [imp.value(i, node) for i in node.input]
    imp.bind(node, imp.b.concat(xs, a["axis"], name=node.name))


# ---------------------------------------------------------------------- quantized ops
def _scalar(imp: _Importer, node: Any, index: int, what: str, default: Any = None) -> Any:
    if len(node.input) <= index or not node.input[index]:
        return default
    v = imp.const(node.input[index], node, what)
    if v.size != 1:
        raise ModelError(f"ONNX {node.op_type} node {node.name!r}: per-axis {what} is "
                         "supported for constant weights only")
    return v.reshape(()).item()


def _zp_dtype(imp: _Importer, node: Any, index: int) -> str:
    if len(node.input) > index and node.input[index]:
        return imp.const(node.input[index], node, "the zero point").dtype.name
    return "uint8"


def _dequant_const(imp: _Importer, node: Any, q: np.ndarray, scale: np.ndarray,
                   zp: np.ndarray | None, axis: int = 0) -> np.ndarray:
    """(q - zp) * scale with per-tensor or per-axis scale, in float64."""
    scale = np.asarray(scale, dtype=np.float64)
    zp = np.zeros(1) if zp is None else np.asarray(zp, dtype=np.float64)
    shape = [1] * q.ndim
    if scale.size > 1 or zp.size > 1:
        shape[axis] = -1
    return (q.astype(np.float64) - zp.reshape(shape if zp.size > 1 else ())) * \
        scale.reshape(shape if scale.size > 1 else ())


def _dequant_value(imp: _Importer, node: Any, x: str, scale: float, zp: int) -> str:
    return imp.b.node("dequantize_linear", [x], f"{node.name}.dequantize",
                      scale=float(scale), zero_point=int(zp))


def _quant_value(imp: _Importer, node: Any, x: str, scale: float, zp: int, dtype: str,
                 name: str | None = None) -> str:
    return imp.b.node("quantize_linear", [x], name or f"{node.name}.quantize",
                      scale=float(scale), zero_point=int(zp), dtype=dtype)


def _on_quantize_linear(imp: _Importer, node: Any, a: dict[str, Any]) -> None:
    x = imp.value(node.input[0], node)
    scale = _scalar(imp, node, 1, "scale")
    zp = _scalar(imp, node, 2, "zero point", 0)
    imp.bind(node, _quant_value(imp, node, x, scale, zp, _zp_dtype(imp, node, 2), node.name))


def _on_dequantize_linear(imp: _Importer, node: Any, a: dict[str, Any]) -> None:
    name = node.input[0]
    if name in imp.consts:  # a weight: dequantize now, per axis if need be
        zp = imp.consts.get(node.input[2]) if len(node.input) > 2 and node.input[2] else None
        value = _dequant_const(imp, node, imp.consts[name],
                               imp.const(node.input[1], node, "scale"), zp, a.get("axis", 1))
        imp.consts[node.output[0]] = value.astype(np.float32)
        return
    x = imp.value(name, node)
    scale = _scalar(imp, node, 1, "scale")
    zp = _scalar(imp, node, 2, "zero point", 0)
    out = imp.b.node("dequantize_linear", [x], node.name, scale=float(scale),
                     zero_point=int(zp))
    imp.bind(node, out)


def _qlinear_weights(imp: _Importer, node: Any, wi: int) -> np.ndarray:
    w = imp.const(node.input[wi], node, "the weight")
    ws = imp.const(node.input[wi + 1], node, "the weight scale")
    wz = imp.const(node.input[wi + 2], node, "the weight zero point") \
        if node.input[wi + 2] else None
    return _dequant_const(imp, node, w, ws, wz, 0)


def _on_qlinear_conv(imp: _Importer, node: Any, a: dict[str, Any]) -> None:
    x = imp.value(node.input[0], node)
    xs, xz = _scalar(imp, node, 1, "x scale"), _scalar(imp, node, 2, "x zero point", 0)
    w = _qlinear_weights(imp, node, 3)
    ws = np.asarray(imp.const(node.input[4], node, "weight scale"), np.float64).reshape(-1)
    ys, yz = _scalar(imp, node, 6, "y scale"), _scalar(imp, node, 7, "y zero point", 0)
    bias = None
    if len(node.input) > 8 and node.input[8]:
        bias = imp.const(node.input[8], node, "the bias").astype(np.float64) * xs * ws
    xf = _dequant_value(imp, node, x, xs, xz)
    y = _conv(imp, node, a, xf, w, bias)
    imp.bind(node, _quant_value(imp, node, y, ys, yz, _zp_dtype(imp, node, 7)))


def _on_qlinear_matmul(imp: _Importer, node: Any, a: dict[str, Any]) -> None:
    x = imp.value(node.input[0], node)
    xs, xz = _scalar(imp, node, 1, "a scale"), _scalar(imp, node, 2, "a zero point", 0)
    w = imp.const(node.input[3], node, "operand b")
    ws = imp.const(node.input[4], node, "b scale")
    wz = imp.const(node.input[5], node, "b zero point") if node.input[5] else None
    wf = _dequant_const(imp, node, w, ws, wz, 1)
    ys, yz = _scalar(imp, node, 6, "y scale"), _scalar(imp, node, 7, "y zero point", 0)
    y = _dense(imp, node, _dequant_value(imp, node, x, xs, xz), wf.T, None)
    imp.bind(node, _quant_value(imp, node, y, ys, yz, _zp_dtype(imp, node, 7)))


def _integer_operands(imp: _Importer, node: Any, names: tuple[str, str, str, str],
                      axis: int) -> tuple[str, np.ndarray]:
    """ConvInteger / MatMulInteger inputs ``(x, w, x zero point, w zero point)`` (named
    ``names`` in messages) as the float value of ``x`` and the float weights
    (zero points per ``axis``)."""
    x = imp.value(node.input[0], node)
    xz = _scalar(imp, node, 2, names[2], 0)
    w = imp.const(node.input[1], node, names[1])
    wz = imp.const(node.input[3], node, names[3]) if len(node.input) > 3 and \
        node.input[3] else None
    wf = _dequant_const(imp, node, w, np.ones(1), wz, axis)
    return _dequant_value(imp, node, x, 1.0, xz), wf


def _on_conv_integer(imp: _Importer, node: Any, a: dict[str, Any]) -> None:
    xf, wf = _integer_operands(imp, node, ("x", "the weight", "x zero point",
                                           "w zero point"), 0)
    imp.bind(node, _conv(imp, node, a, xf, wf, None))


def _on_matmul_integer(imp: _Importer, node: Any, a: dict[str, Any]) -> None:
    xf, wf = _integer_operands(imp, node, ("a", "operand b", "a zero point",
                                           "b zero point"), 1)
    imp.bind(node, _dense(imp, node, xf, wf.T, None))


def _on_constant(imp: _Importer, node: Any, a: dict[str, Any]) -> None:
    if "value" not in a:
        raise _reject(node, "/".join(a), "...", "a tensor 'value'")
    imp.consts[node.output[0]] = imp.numpy_helper.to_array(a["value"])


_HANDLERS: dict[str, Callable[[_Importer, Any, dict[str, Any]], None]] = {
    "Conv": _on_conv, "Gemm": _on_gemm, "MatMul": _on_matmul,
    "Relu": _on_unary("relu"), "Clip": _on_clip,
    "Add": _on_binary("add"), "Mul": _on_binary("mul"),
    "MaxPool": _on_pool, "AveragePool": _on_pool,
    "GlobalAveragePool": _on_unary("global_avg_pool"),
    "Flatten": _on_flatten, "Reshape": _on_reshape,
    "BatchNormalization": _on_batch_norm, "Softmax": _on_softmax, "Concat": _on_concat,
    "Identity": _on_alias, "Dropout": _on_alias, "Cast": _on_alias, "Constant": _on_constant,
    "QuantizeLinear": _on_quantize_linear, "DequantizeLinear": _on_dequantize_linear,
    "QLinearConv": _on_qlinear_conv, "QLinearMatMul": _on_qlinear_matmul,
    "ConvInteger": _on_conv_integer, "MatMulInteger": _on_matmul_integer,
}
SUPPORTED_OPS = frozenset(_HANDLERS)
"""ONNX op types :func:`import_onnx` accepts."""


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
    graph = _Importer(copy, input_shapes).run()
    return simplify(graph) if optimize else graph
