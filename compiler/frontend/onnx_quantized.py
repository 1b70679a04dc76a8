"""Quantized ONNX models imported as they are: QDQ and QOperator, with their own scales and
zero points (never re-quantized).

The importer (:mod:`.onnx_import`) hands this module every quantized node.  Integer tensors
are int8 in the graph IR: an ONNX uint8 tensor is held as int8 ``q - 128`` with its zero
point moved by -128 (``qcast`` at graph inputs and outputs), so one int8 datapath serves
both.

QOperator ops map one to one: QLinearConv, QLinearMatMul and com.microsoft QGemm become
``qconv2d`` / ``qdense`` with the requantization of :mod:`vta.compiler.requant` (shifts
only for power-of-two scale ratios, else a fixed-point multiplier); ConvInteger and
MatMulInteger become ``qconv2d`` / ``qdense`` with an int32 output; QLinearLeakyRelu and
QLinearSigmoid become a ``qlut`` (the op evaluated on its 256 input codes, exactly ONNX's
rule); QLinearAdd, QLinearMul, QLinearConcat, QLinearAveragePool,
QLinearGlobalAveragePool and QLinearSoftmax run as their float definition between
``dequantize`` and ``quantize`` (on the CPU).

QDQ graphs (QuantizeLinear / DequantizeLinear around float ops, as onnxruntime's
``quantize_static`` and exporters write them):

* DequantizeLinear of a constant keeps the integer weight, its scale(s), zero point(s) and
  axis beside the float value; of a runtime integer tensor it is *lazy*: the float tensor is
  ``dequantize(q)``, made only if a float op reads it;
* Conv, Gemm and MatMul (constant right operand) reading a dequantized input and weight,
  whose output goes (through a Relu or Clip) to one QuantizeLinear, become one ``qconv2d`` /
  ``qdense`` computing that QuantizeLinear's integers directly; the bias must be at
  ``x_scale * w_scale``;
* MaxPool, Flatten, Reshape, Transpose, Squeeze, Unsqueeze, Slice, Gather, Concat (one
  scale) and Identity on a dequantized tensor run on its integers (they commute with
  dequantization exactly);
* a DequantizeLinear -> QuantizeLinear pair with another scale or zero point becomes a
  ``qlut`` (exact), with the same ones nothing;
* every other op runs in float32 between ``dequantize`` and ``quantize``: ONNX's definition
  of a QDQ graph.

Bad input -- a scale that is zero, negative, NaN or infinite, a zero point outside its type,
scale and zero-point shapes that do not fit the axis, a bias not at ``x_scale * w_scale``,
an integer type other than int8/uint8 (int4, int16, float8, ...), a per-axis scale on an
activation -- is one :class:`~.errors.ModelError` line naming the node and the value.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import OperatorError
from ..requant import (
    fixed_point_layer,
    power_of_two,
    power_of_two_exponents,
    with_offsets,
)
from ..windows import pads as canonical_pads
from ..windows import pair
from .errors import ModelError
from .graph import DYNAMIC_QUANTIZE_PARTS

__all__ = ["QuantizedImport", "QUANTIZED_OPS", "MICROSOFT_OPS", "QValue", "QConst"]

MICROSOFT_OPS = frozenset({"QGemm", "QLinearAdd", "QLinearMul", "QLinearConcat",
                           "QLinearAveragePool", "QLinearGlobalAveragePool",
                           "QLinearLeakyRelu", "QLinearSigmoid", "QLinearSoftmax"})
"""onnxruntime's ``com.microsoft`` quantized ops the importer accepts."""
QUANTIZED_OPS = frozenset({"QuantizeLinear", "DequantizeLinear", "QLinearConv",
                           "QLinearMatMul", "ConvInteger", "MatMulInteger",
                           "DynamicQuantizeLinear"})
"""Default-domain quantized ops (handled here rather than by the float importer)."""

_COMMUTING = frozenset({"MaxPool", "Flatten", "Reshape", "Transpose", "Squeeze",
                        "Unsqueeze", "Slice", "Gather", "Identity", "GlobalMaxPool"})
_LINEAR = frozenset({"Conv", "Gemm", "MatMul"})
_INT_TYPES = {"int8": (-128, 127), "uint8": (0, 255)}


@dataclass(frozen=True)
class QValue:
    """A quantized runtime tensor: its int8 IR tensor (uint8 held as ``q - 128``), scale,
    zero point in the int8 codes, and the ONNX element type it has."""

    ir: str
    scale: float
    zero_point: int
    dtype: str


@dataclass(frozen=True)
class QConst:
    """A dequantized constant: integers, scale(s), zero point(s) and the axis of the
    per-axis values (None: one each)."""

    q: np.ndarray
    scale: np.ndarray
    zero_point: np.ndarray
    axis: int | None


def _fail(node: Any, text: str) -> ModelError:
    return ModelError(f"ONNX {node.op_type} node {node.name!r}: {text}")


class QuantizedImport:
    """The quantized half of one import (state and handlers); see the module docstring.

    Parameters
    ----------
    imp:
        The importer (:class:`~.onnx_import._Importer`): its graph builder ``b``, the
        ``names`` and ``consts`` maps and ``value``/``const``/``attrs``/``conv_attrs``.
    """

    def __init__(self, imp: Any) -> None:
        self.imp = imp
        self.deq: dict[str, QValue] = {}        # float ONNX tensor = dequantize(QValue)
        self.ints: dict[str, QValue] = {}       # integer ONNX tensor -> its QValue
        self.qconst: dict[str, QConst] = {}     # dequantized constants
        self.skip: set[str] = set()             # nodes computed by an earlier one
        self.int8_of: dict[str, str] = {}       # uint8 IR tensor -> its int8 form
        self.dtypes: dict[str, str] = {}        # integer ONNX graph input -> its type
        self._consumers: dict[str, list[Any]] | None = None

    # ------------------------------------------------------------------ graph lookups
    def consumers(self, tensor: str) -> list[Any]:
        if self._consumers is None:
            uses: dict[str, list[Any]] = {}
            for n in self.imp.model.graph.node:
                for i in n.input:
                    if i:
                        uses.setdefault(i, []).append(n)
            self._consumers = uses
        return self._consumers.get(tensor, [])

    def _graph_output(self, tensor: str) -> bool:
        return any(o.name == tensor for o in self.imp.model.graph.output)

    def _only_consumer(self, tensor: str) -> Any | None:
        users = self.consumers(tensor)
        if len(users) != 1 or self._graph_output(tensor):
            return None
        return users[0]

    # ------------------------------------------------------------------ importer hooks
    def wants(self, node: Any) -> bool:
        """True if this module imports ``node`` (rather than the float importer)."""
        if node.name in self.skip:
            return True
        if node.domain == "com.microsoft":
            return node.op_type in MICROSOFT_OPS
        if node.op_type in QUANTIZED_OPS:
            return True
        data = node.input[0] if node.input else ""
        return data in self.deq and (node.op_type in _COMMUTING or node.op_type in _LINEAR)

    def import_node(self, node: Any, a: dict[str, Any]) -> str:
        """Import ``node``; returns ``"fused"`` for a node an earlier one computed."""
        if node.name in self.skip:
            return "fused"
        if node.domain == "com.microsoft":
            _MICROSOFT[node.op_type](self, node, a)
        elif node.op_type in QUANTIZED_OPS:
            _DEFAULT[node.op_type](self, node, a)
        elif node.op_type in _LINEAR:
            if not self._qdq_linear(node, a):
                self.imp.run_handler(node, a)      # in float on the dequantized input
                return "float"
        else:
            self._commuting(node, a)
        return "ok"

    def float_value(self, tensor: str) -> str | None:
        """The float IR tensor of a dequantized ONNX tensor (made on first use), or None
        if ``tensor`` is not one."""
        v = self.deq.get(tensor)
        if v is None:
            return None
        out = self.imp.b.node("dequantize", [v.ir], f"{_safe(tensor)}.dequantize",
                              scale=v.scale, zero_point=v.zero_point)
        self.imp.names[tensor] = out
        return out

    def input_tensor(self, onnx_name: str, ir: str) -> str:
        """The tensor ONNX input ``ir`` stands for inside the graph: uint8 inputs become
        int8 (``q - 128``)."""
        dtype = self.imp.b.type_of(ir).dtype
        if dtype in _INT_TYPES:
            self.dtypes[onnx_name] = dtype
        if dtype != "uint8":
            return ir
        out = self.imp.b.node("qcast", [ir], f"{ir}.int8", dtype="int8")
        self.int8_of[ir] = out
        return out

    def output_tensor(self, onnx_name: str, ir: str) -> str:
        """The IR tensor for ONNX output ``onnx_name``: an int8 tensor the model declares
        (or computes) as uint8 is cast back."""
        t = self.imp.b.type_of(ir)
        declared = next((o for o in self.imp.model.graph.output if o.name == onnx_name), None)
        want = None
        if declared is not None and declared.type.tensor_type.elem_type:
            from onnx import helper
            want = helper.tensor_dtype_to_np_dtype(declared.type.tensor_type.elem_type).name
        v = self.ints.get(onnx_name)
        if want is None and v is not None:
            want = v.dtype
        if t.dtype == "int8" and want == "uint8":
            return self.imp.b.node("qcast", [ir], f"{_safe(onnx_name)}.uint8", dtype="uint8")
        return ir

    def onnx_dtype(self, name: str) -> str | None:
        """The ONNX element type of an integer tensor when known (graph inputs and the
        outputs of quantized ops)."""
        if name in self.ints:
            return self.ints[name].dtype
        return self.dtypes.get(name)

    # ------------------------------------------------------------------ operands
    def int_tensor(self, name: str, node: Any) -> str:
        """The int8 IR tensor of an integer ONNX tensor (uint8 inputs cast once)."""
        ir = self.imp.value(name, node)
        t = self.imp.b.type_of(ir)
        if t.dtype == "uint8":
            if ir not in self.int8_of:
                self.int8_of[ir] = self.imp.b.node("qcast", [ir], f"{ir}.int8", dtype="int8")
            return self.int8_of[ir]
        if t.dtype != "int8":
            raise _fail(node, f"input {name!r} is {t.dtype}; expected an int8 or uint8 tensor")
        return ir

    def scale(self, node: Any, index: int, what: str, per_axis: bool = False) -> np.ndarray:
        """A scale input: float values, all positive and finite."""
        v = self.imp.const(node.input[index], node, what)
        if v.dtype.kind != "f":
            raise _fail(node, f"{what} must be a float tensor, not {v.dtype}")
        v = np.asarray(v, np.float64).reshape(-1)
        bad = v[~(np.isfinite(v) & (v > 0))]
        if bad.size:
            raise _fail(node, f"{what} {float(bad[0])!r} is not a positive finite number")
        if v.size != 1 and not per_axis:
            raise _fail(node, f"{what} has {v.size} values: a per-axis scale is supported for "
                        "constant weights only")
        return v

    def zero_point(self, node: Any, index: int, what: str, default_dtype: str = "uint8",
                   per_axis: bool = False) -> tuple[np.ndarray, str]:
        """A zero-point input (int8/uint8 values, default 0 of ``default_dtype``)."""
        if len(node.input) <= index or not node.input[index]:
            return np.zeros(1, np.int64), default_dtype
        v = self.imp.const(node.input[index], node, what)
        dtype = _int_dtype(node, v.dtype, what)
        v = np.asarray(v, np.int64).reshape(-1)
        lo, hi = _INT_TYPES[dtype]
        if v.size and (v.min() < lo or v.max() > hi):
            raise _fail(node, f"{what} {int(v[(v < lo) | (v > hi)][0])} is outside {dtype}")
        if v.size != 1 and not per_axis:
            raise _fail(node, f"{what} has {v.size} values: a per-axis zero point is "
                        "supported for constant weights only")
        return v, dtype

    def activation(self, node: Any, data: int, scale: int, zp: int, what: str) -> QValue:
        """A QOperator op's quantized runtime input: int8 tensor, scale, int8 zero point."""
        s = self.scale(node, scale, f"{what} scale")
        z, dtype = self.zero_point(node, zp, f"{what} zero point")
        ir = self.int_tensor(node.input[data], node)
        return QValue(ir, float(s[0]), _int8_code(int(z[0]), dtype), dtype)

    def weights(self, node: Any, data: int, scale: int, zp: int, axis: int, what: str
                ) -> QConst:
        """A QOperator op's constant integer weights with per-tensor or per-``axis``
        scales and zero points."""
        q = self.imp.const(node.input[data], node, what)
        _int_dtype(node, q.dtype, what)
        s = self.scale(node, scale, f"{what} scale", per_axis=True)
        z, _ = self.zero_point(node, zp, f"{what} zero point", q.dtype.name, per_axis=True)
        _check_axis(node, q, s, z, axis, what)
        return QConst(np.asarray(q, np.int64), s, z, axis if max(s.size, z.size) > 1 else None)

    # ------------------------------------------------------------------ the linear ops
    def linear(self, node: Any, x: QValue, w: QConst, bias: np.ndarray | None,
               out_scale: float | None, out_zp: int, clip: tuple[int, int],
               conv: bool, a: dict[str, Any], out_dtype: str = "int8") -> str:
        """``qconv2d`` / ``qdense`` of ``x`` by ``w`` (output channels first), the int32
        ``bias`` at ``x.scale * w.scale``, requantized to ``out_scale`` / ``out_zp`` (int8
        codes) within ``clip``, or the int32 sums when ``out_scale`` is None."""
        o = w.q.shape[0]
        wq = _centered(w)
        wdtype = np.int8 if wq.min(initial=0) >= -128 and wq.max(initial=0) <= 127 else np.int16
        if wq.min(initial=0) < -32768 or wq.max(initial=0) > 32767:
            raise _fail(node, "weights minus their zero point do not fit 16 bits")
        b = self.imp.b
        wp = b.param(None, wq.astype(wdtype))
        attrs: dict[str, Any] = {}
        if x.zero_point:
            attrs["x_zero_point"] = x.zero_point
        if conv:
            attrs.update(self.imp.conv_attrs(node, a, b.type_of(x.ir).shape, wq.shape))
        ins = [x.ir, wp]
        if out_scale is None:
            if bias is not None:
                ins.append(b.param(None, bias.astype(np.int32)))
            return b.node("qconv2d" if conv else "qdense", ins, node.name, out_dtype="int32",
                          **attrs)
        scale = x.scale * np.broadcast_to(w.scale, (o,)) / out_scale
        exponents = power_of_two_exponents(scale)
        # |acc| = |sum((x - zx) * w)| <= (128 + |zx|) * sum(|w|) per channel: the bias
        # can fold into the clamp and post-offset (one ALU instruction less, same results).
        bound = (128 + abs(int(x.zero_point))) * np.abs(wq).reshape(o, -1).sum(axis=1)
        try:
            if exponents is not None and exponents.max() <= 31:
                req, offset = power_of_two(exponents, out_zp, *clip)
                total = with_offsets(bias, np.broadcast_to(offset, (o,)))
            else:
                req, total = fixed_point_layer(scale, out_zp, *clip, bias, bound)
        except OperatorError as e:
            raise _fail(node, str(e)) from None
        if total is not None:
            ins.append(b.param(None, total.astype(np.int32)))
        attrs.update(req.attrs())
        return b.node("qconv2d" if conv else "qdense", ins, node.name, out_scale=out_scale,
                      out_zero_point=out_zp, **attrs)

    def bind_int(self, onnx_name: str, ir: str, scale: float, zp: int, dtype: str) -> None:
        self.imp.names[onnx_name] = ir
        self.ints[onnx_name] = QValue(ir, scale, zp, dtype)

    def _qdq_linear(self, node: Any, a: dict[str, Any]) -> bool:
        """A QDQ Conv / Gemm / MatMul as one integer layer, if its pattern fits (else the
        float importer runs it on the dequantized input: False)."""
        x = self.deq[node.input[0]]
        w = self.qconst.get(node.input[1]) if len(node.input) > 1 else None
        if w is None:
            return False
        # The output's path to one QuantizeLinear, through at most one Relu / Clip.
        out, act = node.output[0], None
        user = self._only_consumer(out)
        if user is not None and user.op_type in ("Relu", "Clip") and user.domain in ("", "ai.onnx"):
            act, user = user, self._only_consumer(user.output[0])
        if user is None or user.op_type != "QuantizeLinear" or user.domain not in ("", "ai.onnx"):
            return False
        ys = self.scale(user, 1, "y scale")
        yz, ydtype = self.zero_point(user, 2, "y zero point")
        wq = _weights_out_first(node, w, self.imp.attrs(node))
        if wq is None:
            return False
        w2, a2 = wq
        bias = None
        if node.op_type in ("Conv", "Gemm") and len(node.input) > 2 and node.input[2]:
            bias = self._bias(node, node.input[2], x.scale, w2.scale, w2.q.shape[0])
            if bias is None:
                return False
        zy = _int8_code(int(yz[0]), ydtype)
        clip = _clip_codes(self.imp, act, float(ys[0]), zy, node) if act else (-128, 127)
        ir = self.linear(node, x, w2, bias, float(ys[0]), zy, clip, node.op_type == "Conv", a2)
        self.bind_int(user.output[0], ir, float(ys[0]), zy, ydtype)
        self.skip.update({user.name} | ({act.name} if act else set()))
        return True

    def _bias(self, node: Any, name: str, xs: float, ws: np.ndarray, o: int
              ) -> np.ndarray | None:
        """A QDQ layer's int32 bias: a dequantized int32 constant at ``x_scale * w_scale``
        (checked), or a float constant rounded to that scale."""
        want = xs * np.broadcast_to(ws, (o,))
        c = self.qconst.get(name)
        if c is not None:
            got = np.broadcast_to(c.scale, (o,))
            if not np.allclose(got, want, rtol=1e-5, atol=0):
                k = int(np.argmax(np.abs(got - want) / want))
                raise _fail(node, f"bias scale {got[k]!r} of channel {k} is not x_scale * "
                            f"w_scale = {want[k]!r}")
            if np.any(c.zero_point != 0):
                raise _fail(node, "the bias has a nonzero zero point")
            return np.broadcast_to(c.q.reshape(-1), (o,)).astype(np.int64)
        if name in self.imp.consts:
            return np.rint(np.asarray(self.imp.consts[name], np.float64).reshape(-1) / want
                           ).astype(np.int64)
        return None

    def _commuting(self, node: Any, a: dict[str, Any]) -> None:
        """A layout op or max pool on a dequantized tensor: the float importer's op on its
        integers, the output dequantized the same way."""
        x = self.deq[node.input[0]]
        saved = self.imp.names.get(node.input[0])
        self.imp.names[node.input[0]] = x.ir
        try:
            self.imp.run_handler(node, a)
        finally:
            if saved is None:
                del self.imp.names[node.input[0]]
            else:
                self.imp.names[node.input[0]] = saved
        for out in (o for o in node.output if o):
            self.deq[out] = QValue(self.imp.names.pop(out), x.scale, x.zero_point, x.dtype)

    def float_island(self, node: Any, inputs: list[QValue | str], op: str, ys: float,
                     yz: int, ydtype: str, **attrs: Any) -> None:
        """``op`` in float32 on the dequantized ``inputs`` (or float tensors), quantized to
        ``ys`` / ``yz``: a quantized op run as its float definition."""
        b = self.imp.b
        floats = [v if isinstance(v, str) else
                  b.node("dequantize", [v.ir], f"{node.name}.dequantize{i}", scale=v.scale,
                         zero_point=v.zero_point) for i, v in enumerate(inputs)]
        y = b.node(op, floats, f"{node.name}.float", **attrs)
        q = b.node("quantize", [y], node.name, scale=ys, zero_point=yz, lo=-128, hi=127)
        self.bind_int(node.output[0], q, ys, yz, ydtype)

    # ------------------------------------------------------------------ helpers
    def lut(self, node: Any, x: QValue, fn: Callable[[np.ndarray], np.ndarray],
            ys: float, yz: int, name: str | None = None) -> str:
        """A ``qlut``: ``fn`` (float32 in, float32 out) on the 256 codes of ``x``, quantized
        to ``ys`` / ``yz`` (int8 codes) with ONNX's rule."""
        codes = np.arange(-128, 128)
        real = (codes - x.zero_point).astype(np.float32) * np.float32(x.scale)
        with np.errstate(all="ignore"):
            y = np.asarray(fn(real), np.float32)
            q = np.clip(np.rint(y / np.float32(ys)) + yz, -128, 127)
        table = self.imp.b.param(None, np.nan_to_num(q).astype(np.int8))
        return self.imp.b.node("qlut", [x.ir, table], name or node.name, out_scale=ys,
                               out_zero_point=yz)


def _centered(w: QConst) -> np.ndarray:
    """Weights (output channels first) minus their zero point(s), int64."""
    z = w.zero_point.reshape((-1,) + (1,) * (w.q.ndim - 1)) if w.zero_point.size > 1 \
        else w.zero_point.reshape(())
    return w.q - z


def _safe(name: str) -> str:
    return name or "unnamed"


def _int_dtype(node: Any, dtype: np.dtype, what: str) -> str:
    name = np.dtype(dtype).name
    if name not in _INT_TYPES:
        raise _fail(node, f"{what} is {name}; the kit imports int8 and uint8 quantization "
                    "(not int4, int16, float8 or others)")
    return name


def _int8_code(zp: int, dtype: str) -> int:
    """A zero point of ``dtype`` in the int8 codes the graph holds."""
    return zp - 128 if dtype == "uint8" else zp


def _check_axis(node: Any, q: np.ndarray, s: np.ndarray, z: np.ndarray, axis: int,
                what: str) -> None:
    n = max(s.size, z.size)
    if n == 1:
        return
    if not -q.ndim <= axis < q.ndim:
        raise _fail(node, f"{what} axis {axis} is out of range for shape {list(q.shape)}")
    d = q.shape[axis]
    for v, kind in ((s, "scale"), (z, "zero point")):
        if v.size not in (1, d):
            raise _fail(node, f"{what} {kind} has {v.size} values; axis {axis} of "
                        f"{list(q.shape)} needs 1 or {d}")


def _weights_out_first(node: Any, w: QConst, a: dict[str, Any]
                       ) -> tuple[QConst, dict[str, Any]] | None:
    """The weight with output channels on axis 0 (a Gemm's or MatMul's is transposed), its
    per-channel values along that axis; None when the layout does not fit."""
    q, s, z, axis = w.q, w.scale, w.zero_point, w.axis
    if node.op_type == "Conv":
        if axis not in (None, 0):
            return None
        return w, a
    if q.ndim != 2:
        return None
    if node.op_type == "MatMul" or not a.get("transB", 0):
        q, axis = q.T, None if axis is None else 1 - axis
    if node.op_type == "Gemm" and (a.get("transA", 0) or a.get("alpha", 1.0) != 1.0
                                   or a.get("beta", 1.0) != 1.0):
        return None
    if axis not in (None, 0):
        return None
    return QConst(np.ascontiguousarray(q), s, z, axis), a


def _clip_codes(imp: Any, act: Any, ys: float, zy: int, node: Any) -> tuple[int, int]:
    """A fused Relu / Clip as int8 code bounds (QuantizeLinear is monotone: it maps the
    clip bounds to code bounds; ONNX Clip returns max when min > max)."""
    lo, hi = -128, 127
    if act.op_type == "Relu":
        return max(lo, zy), hi
    a = imp.attrs(act)
    lo_r, hi_r = a.get("min", -np.inf), a.get("max", np.inf)
    if len(act.input) > 1 and act.input[1]:
        lo_r = float(np.asarray(imp.const(act.input[1], act, "min")).reshape(()))
    if len(act.input) > 2 and act.input[2]:
        hi_r = float(np.asarray(imp.const(act.input[2], act, "max")).reshape(()))

    def code(v: float) -> int:
        if not np.isfinite(v):
            return -128 if v < 0 else 127
        return int(np.clip(np.rint(np.float32(v) / np.float32(ys)) + zy, -128, 127))
    hi_c = code(hi_r)
    return min(code(lo_r), hi_c), hi_c


# ---------------------------------------------------------------------- default domain
def _no_blocks(node: Any, a: dict[str, Any]) -> None:
    if a.get("block_size", 0):
        raise _fail(node, f"blocked quantization (block_size={a['block_size']}) is not "
                    "supported")


def _on_quantize_linear(qi: QuantizedImport, node: Any, a: dict[str, Any]) -> None:
    """QuantizeLinear: of a float tensor a ``quantize``; of a dequantized one nothing (the
    same scale and zero point) or a ``qlut`` (another one); of a constant, folded."""
    _no_blocks(node, a)
    imp = qi.imp
    name = node.input[0]
    out_dtype = a.get("output_dtype")
    default = "uint8"
    if out_dtype:
        from onnx import helper
        default = helper.tensor_dtype_to_np_dtype(out_dtype).name
    z, dtype = qi.zero_point(node, 2, "y zero point", default, per_axis=True)
    _int_dtype(node, np.dtype(dtype), "the output type")
    if name in imp.consts:
        s = qi.scale(node, 1, "y scale", per_axis=True)
        x = np.asarray(imp.consts[name], np.float32)
        axis = a.get("axis", 1)
        shape = [1] * x.ndim
        if max(s.size, z.size) > 1:
            shape[axis] = -1
        lo, hi = _INT_TYPES[dtype]
        y = np.rint(x / s.astype(np.float32).reshape(shape if s.size > 1 else ())) \
            + z.reshape(shape if z.size > 1 else ())
        imp.consts[node.output[0]] = np.clip(y, lo, hi).astype(dtype)
        return
    s = qi.scale(node, 1, "y scale")
    ys, zy = float(s[0]), _int8_code(int(z[0]), dtype)
    if name in qi.deq:
        x = qi.deq[name]
        if np.float32(x.scale) == np.float32(ys) and x.zero_point == zy:
            qi.bind_int(node.output[0], x.ir, ys, zy, dtype)
        else:
            qi.bind_int(node.output[0], qi.lut(node, x, lambda v: v, ys, zy), ys, zy, dtype)
        return
    xf = imp.value(name, node)
    if imp.b.type_of(xf).dtype != "float32":
        raise _fail(node, f"input {name!r} is {imp.b.type_of(xf).dtype}; expected float32")
    q = imp.b.node("quantize", [xf], node.name, scale=ys, zero_point=zy, lo=-128, hi=127)
    qi.bind_int(node.output[0], q, ys, zy, dtype)


def _on_dequantize_linear(qi: QuantizedImport, node: Any, a: dict[str, Any]) -> None:
    """DequantizeLinear: of a constant, the float value with the integers kept beside it;
    of a runtime int8/uint8 tensor, a lazy ``dequantize``."""
    _no_blocks(node, a)
    imp = qi.imp
    name = node.input[0]
    if name in imp.consts:
        q = np.asarray(imp.consts[name])
        if q.dtype.name != "int32":
            _int_dtype(node, q.dtype, "the input")
        s = qi.scale(node, 1, "x scale", per_axis=True)
        z, _ = qi.zero_point(node, 2, "x zero point", q.dtype.name, per_axis=True) \
            if q.dtype.name != "int32" else (_int32_zero_point(qi, node), "int32")
        axis = a.get("axis", 1)
        _check_axis(node, q, s, z, axis, "the input")
        shape = [1] * q.ndim
        if max(s.size, z.size) > 1:
            shape[axis % q.ndim] = -1
        value = (q.astype(np.int64) - z.reshape(shape if z.size > 1 else ())).astype(
            np.float32) * s.astype(np.float32).reshape(shape if s.size > 1 else ())
        imp.consts[node.output[0]] = value.astype(np.float32)
        qi.qconst[node.output[0]] = QConst(q.astype(np.int64), s, z,
                                           (axis % max(q.ndim, 1))
                                           if max(s.size, z.size) > 1 else None)
        return
    ir = imp.value(name, node)
    dtype = imp.b.type_of(ir).dtype
    s = qi.scale(node, 1, "x scale")
    if dtype == "int32":
        z = _int32_zero_point(qi, node)
        imp.bind(node, imp.b.node("dequantize", [ir], node.name, scale=float(s[0]),
                                  zero_point=int(z[0])))
        return
    known = qi.onnx_dtype(name)
    z, zdtype = qi.zero_point(node, 2, "x zero point", known or "uint8")
    if known is not None and zdtype != known:
        raise _fail(node, f"zero point type {zdtype} does not match the input's {known}")
    v = QValue(qi.int_tensor(name, node), float(s[0]), _int8_code(int(z[0]), zdtype), zdtype)
    qi.deq[node.output[0]] = v


def _int32_zero_point(qi: QuantizedImport, node: Any) -> np.ndarray:
    if len(node.input) > 2 and node.input[2]:
        return np.asarray(qi.imp.const(node.input[2], node, "x zero point"),
                          np.int64).reshape(-1)
    return np.zeros(1, np.int64)


def _bias_input(qi: QuantizedImport, node: Any, index: int) -> np.ndarray | None:
    if len(node.input) <= index or not node.input[index]:
        return None
    b = qi.imp.const(node.input[index], node, "the bias")
    if b.dtype != np.int32:
        raise _fail(node, f"the bias must be int32 (at x_scale * w_scale), not {b.dtype}")
    return np.asarray(b, np.int64).reshape(-1)


def _on_qlinear_conv(qi: QuantizedImport, node: Any, a: dict[str, Any]) -> None:
    x = qi.activation(node, 0, 1, 2, "x")
    w = qi.weights(node, 3, 4, 5, 0, "w")
    ys = float(qi.scale(node, 6, "y scale")[0])
    yz, ydtype = qi.zero_point(node, 7, "y zero point", x.dtype)
    zy = _int8_code(int(yz[0]), ydtype)
    ir = qi.linear(node, x, w, _bias_input(qi, node, 8), ys, zy, (-128, 127), True, a)
    qi.bind_int(node.output[0], ir, ys, zy, ydtype)


def _matrix_weights(qi: QuantizedImport, node: Any, w: QConst, trans: bool) -> QConst:
    """A MatMul/Gemm constant ``B`` as ``(N, K)`` with per-output values on axis 0."""
    if w.q.ndim != 2:
        raise _fail(node, f"operand B must be a 2-D constant, not shape {list(w.q.shape)} "
                    "(a batched B is not supported)")
    if trans:
        return w
    axis = None if w.axis is None else 1 - w.axis
    return QConst(np.ascontiguousarray(w.q.T), w.scale, w.zero_point, axis)


def _on_qlinear_matmul(qi: QuantizedImport, node: Any, a: dict[str, Any]) -> None:
    x = qi.activation(node, 0, 1, 2, "a")
    w = _matrix_weights(qi, node, qi.weights(node, 3, 4, 5, 1, "b"), False)
    ys = float(qi.scale(node, 6, "y scale")[0])
    yz, ydtype = qi.zero_point(node, 7, "y zero point", x.dtype)
    zy = _int8_code(int(yz[0]), ydtype)
    ir = qi.linear(node, x, w, None, ys, zy, (-128, 127), False, a)
    qi.bind_int(node.output[0], ir, ys, zy, ydtype)


def _integer_input(qi: QuantizedImport, node: Any, zp: int, what: str) -> QValue:
    z, dtype = qi.zero_point(node, zp, f"{what} zero point",
                             qi.onnx_dtype(node.input[0]) or "uint8")
    ir = qi.int_tensor(node.input[0], node)
    return QValue(ir, 1.0, _int8_code(int(z[0]), dtype), dtype)


def _runtime_zero_point(qi: QuantizedImport, node: Any, index: int) -> str | None:
    """The int8 IR tensor of input ``index`` when it is a zero point computed at run time
    (DynamicQuantizeLinear's), else None (absent or constant)."""
    if len(node.input) <= index or not node.input[index]:
        return None
    name = node.input[index]
    if name in qi.imp.consts or (name in qi.imp.names
                                 and qi.imp.b.param_value(qi.imp.names[name]) is not None):
        return None
    zdtype, xdtype = qi.onnx_dtype(name), qi.onnx_dtype(node.input[0])
    if zdtype is not None and xdtype is not None and zdtype != xdtype:
        raise _fail(node, f"the input zero point is {zdtype}; expected the input's {xdtype}")
    z = qi.int_tensor(name, node)
    if qi.imp.b.type_of(z).size != 1:
        raise _fail(node, f"the input zero point {name!r} has {qi.imp.b.type_of(z).size} "
                    "values; expected one")
    return z


def _integer_linear(qi: QuantizedImport, node: Any, w: QConst, conv: bool,
                    a: dict[str, Any]) -> None:
    """ConvInteger / MatMulInteger: the int32 sums, with the input zero point a constant
    (``x_zero_point``) or a runtime tensor: then the sums of the raw codes minus ``zero_point
    * (the sums of the weights each output adds up)`` (``sub_zero_point``), which is exact:
    ``sum((x - z) * w) = sum(x * w) - z * sum(w)`` over the taps inside the input (the
    padding stands for ``z``, a real 0, as ONNX pads ``x - z`` with 0)."""
    zr = _runtime_zero_point(qi, node, 2)
    if zr is None:
        x = _integer_input(qi, node, 2, "a" if not conv else "x")
        qi.imp.bind(node, qi.linear(node, x, w, None, None, 0, (-128, 127), conv, a))
        return
    x = QValue(qi.int_tensor(node.input[0], node), 1.0, 0,
               qi.onnx_dtype(node.input[0]) or "uint8")
    acc = qi.linear(node, x, w, None, None, 0, (-128, 127), conv, a)
    b = qi.imp.b
    wq = _centered(w)
    if conv:
        attrs = qi.imp.conv_attrs(node, a, b.type_of(x.ir).shape, wq.shape)
        sums = _window_weight_sums(wq, attrs, b.type_of(x.ir).shape, b.type_of(acc).shape)
    else:
        sums = wq.sum(axis=tuple(range(1, wq.ndim)))
    sp = b.param(None, sums.astype(np.int64).astype(np.int32))
    qi.imp.bind(node, b.node("sub_zero_point", [acc, zr, sp], f"{node.name}.zero_point"))


def _window_weight_sums(wq: np.ndarray, attrs: dict[str, Any], x_shape: tuple[int, ...],
                        out_shape: tuple[int, ...]) -> np.ndarray:
    """Per output channel and position, the sum of the weights whose taps fall inside the
    input: ``(O, OH, OW)`` int64 (a convolution of an all-ones input, zero padded)."""
    _, _, h, wdt = x_shape
    _, o, oh, ow = out_shape
    sh, sw = pair(attrs.get("strides", 1))
    dh, dw = pair(attrs.get("dilations", 1))
    top, left, _, _ = canonical_pads(attrs.get("pads", 0))
    tap_sums = wq.sum(axis=1)                           # (O, KH, KW): over input channels
    out = np.zeros((o, oh, ow), np.int64)
    rows, cols = np.arange(oh) * sh - top, np.arange(ow) * sw - left
    for kh in range(wq.shape[2]):
        inside_h = (rows + kh * dh >= 0) & (rows + kh * dh < h)
        for kw in range(wq.shape[3]):
            inside_w = (cols + kw * dw >= 0) & (cols + kw * dw < wdt)
            mask = np.outer(inside_h, inside_w)
            out += tap_sums[:, kh, kw, None, None] * mask
    return out


def _on_conv_integer(qi: QuantizedImport, node: Any, a: dict[str, Any]) -> None:
    w = qi.imp.const(node.input[1], node, "the weight")
    _int_dtype(node, w.dtype, "the weight")
    z, _ = qi.zero_point(node, 3, "w zero point", w.dtype.name, per_axis=True)
    wc = QConst(np.asarray(w, np.int64), np.ones(1), z, 0 if z.size > 1 else None)
    _check_axis(node, w, np.ones(1), z, 0, "the weight")
    _integer_linear(qi, node, wc, True, a)


def _on_matmul_integer(qi: QuantizedImport, node: Any, a: dict[str, Any]) -> None:
    w = qi.imp.const(node.input[1], node, "operand B")
    _int_dtype(node, w.dtype, "operand B")
    z, _ = qi.zero_point(node, 3, "b zero point", w.dtype.name, per_axis=True)
    _check_axis(node, w, np.ones(1), z, 1 if w.ndim == 2 else 0, "operand B")
    wc = _matrix_weights(qi, node, QConst(np.asarray(w, np.int64), np.ones(1), z,
                                          1 if z.size > 1 else None), False)
    _integer_linear(qi, node, wc, False, a)


def _on_dynamic_quantize_linear(qi: QuantizedImport, node: Any, a: dict[str, Any]) -> None:
    """DynamicQuantizeLinear: uint8 with a scale and zero point computed from the input at
    run time: three ``dynamic_quantize`` nodes (y, scale, zero point) on the CPU."""
    imp = qi.imp
    x = imp.value(node.input[0], node)
    if imp.b.type_of(x).dtype != "float32":
        raise _fail(node, f"input {node.input[0]!r} is {imp.b.type_of(x).dtype}; expected "
                    "float32")
    for index, part in enumerate(DYNAMIC_QUANTIZE_PARTS):
        if len(node.output) > index and node.output[index]:
            imp.bind(node, imp.b.node("dynamic_quantize", [x], f"{node.name}.{part}",
                                      part=part), index)
            if part != "scale":
                qi.dtypes[node.output[index]] = "uint8"
                qi.int_tensor(node.output[index], node)    # its int8 form, made here


_DEFAULT: dict[str, Callable[[QuantizedImport, Any, dict[str, Any]], None]] = {
    "QuantizeLinear": _on_quantize_linear, "DequantizeLinear": _on_dequantize_linear,
    "QLinearConv": _on_qlinear_conv, "QLinearMatMul": _on_qlinear_matmul,
    "ConvInteger": _on_conv_integer, "MatMulInteger": _on_matmul_integer,
    "DynamicQuantizeLinear": _on_dynamic_quantize_linear,
}


# ---------------------------------------------------------------------- com.microsoft
def _out(qi: QuantizedImport, node: Any, scale: int, zp: int, like: str
         ) -> tuple[float, int, str]:
    ys = float(qi.scale(node, scale, "y scale")[0])
    z, dtype = qi.zero_point(node, zp, "y zero point", like)
    return ys, _int8_code(int(z[0]), dtype), dtype


def _on_qgemm(qi: QuantizedImport, node: Any, a: dict[str, Any]) -> None:
    if len(node.input) < 8 or not node.input[7]:
        raise _fail(node, "a QGemm without y_scale (float output) is not supported")
    if a.get("transA", 0):
        raise _fail(node, "transA=1 is not supported")
    x = qi.activation(node, 0, 1, 2, "A")
    w = _matrix_weights(qi, node, qi.weights(node, 3, 4, 5, 0 if a.get("transB", 0) else 1,
                                             "B"), bool(a.get("transB", 0)))
    alpha = float(a.get("alpha", 1.0))
    if alpha <= 0:
        raise _fail(node, f"alpha {alpha} must be positive")
    w = QConst(w.q, w.scale * alpha, w.zero_point, w.axis)
    bias = _bias_input(qi, node, 6)
    ys, zy, ydtype = _out(qi, node, 7, 8, x.dtype)
    ir = qi.linear(node, x, w, bias, ys, zy, (-128, 127), False, a)
    qi.bind_int(node.output[0], ir, ys, zy, ydtype)


def _binary(op: str) -> Callable[[QuantizedImport, Any, dict[str, Any]], None]:
    def handler(qi: QuantizedImport, node: Any, a: dict[str, Any]) -> None:
        ins: list[QValue | str] = []
        for d, s, z, what in ((0, 1, 2, "A"), (3, 4, 5, "B")):
            if node.input[d] in qi.imp.consts:
                c = qi.weights(node, d, s, z, 0, what)
                value = (c.q - c.zero_point.reshape(())) * c.scale.reshape(()) \
                    if c.axis is None else None
                if value is None:
                    raise _fail(node, f"a per-axis constant {what} is not supported")
                ins.append(qi.imp.b.param(None, value.astype(np.float32)))
            else:
                ins.append(qi.activation(node, d, s, z, what))
        first = next((v for v in ins if isinstance(v, QValue)), None)
        ys, zy, ydtype = _out(qi, node, 6, 7, first.dtype if first else "uint8")
        qi.float_island(node, ins, op, ys, zy, ydtype)
    return handler


def _on_qlinear_concat(qi: QuantizedImport, node: Any, a: dict[str, Any]) -> None:
    ys = float(qi.scale(node, 0, "y scale")[0])
    z, ydtype = qi.zero_point(node, 1, "y zero point", "uint8")
    zy = _int8_code(int(z[0]), ydtype)
    parts = []
    for k in range(2, len(node.input), 3):
        x = qi.activation(node, k, k + 1, k + 2, f"input {k // 3}")
        if np.float32(x.scale) != np.float32(ys) or x.zero_point != zy:
            x = QValue(qi.lut(node, x, lambda v: v, ys, zy, f"{node.name}.requant{k // 3}"),
                       ys, zy, ydtype)
        parts.append(x.ir)
    qi.bind_int(node.output[0], qi.imp.b.concat(parts, a.get("axis", 1), name=node.name), ys,
                zy, ydtype)


def _channels_first(node: Any, a: dict[str, Any]) -> None:
    if a.get("channels_last", 0):
        raise _fail(node, "channels_last=1 is not supported")


def _on_qlinear_avg_pool(qi: QuantizedImport, node: Any, a: dict[str, Any]) -> None:
    _channels_first(node, a)
    x = qi.activation(node, 0, 1, 2, "x")
    ys, zy, ydtype = _out(qi, node, 3, 4, x.dtype)
    kernel = tuple(a["kernel_shape"])
    strides, pads, dil = qi.imp.window(node, a, qi.imp.b.type_of(x.ir).shape, kernel)
    qi.float_island(node, [x], "avg_pool", ys, zy, ydtype, kernel=kernel, strides=strides,
                    pads=pads, dilations=dil, ceil_mode=bool(a.get("ceil_mode", 0)),
                    count_include_pad=bool(a.get("count_include_pad", 0)))


def _on_qlinear_global_avg_pool(qi: QuantizedImport, node: Any, a: dict[str, Any]) -> None:
    _channels_first(node, a)
    x = qi.activation(node, 0, 1, 2, "x")
    ys, zy, ydtype = _out(qi, node, 3, 4, x.dtype)
    qi.float_island(node, [x], "global_avg_pool", ys, zy, ydtype)


def _on_qlinear_softmax(qi: QuantizedImport, node: Any, a: dict[str, Any]) -> None:
    x = qi.activation(node, 0, 1, 2, "x")
    ys, zy, ydtype = _out(qi, node, 3, 4, x.dtype)
    rank = len(qi.imp.b.type_of(x.ir).shape)
    axis = a.get("axis", -1 if a.get("opset", 13) >= 13 else 1) % rank
    if a.get("opset", 13) < 13 and axis != rank - 1:
        raise _fail(node, f"axis {axis} before opset 13 coerces to 2-D; only the last axis "
                    "is supported")
    qi.float_island(node, [x], "softmax", ys, zy, ydtype, axis=axis)


def _unary_lut(fn: Callable[[np.ndarray, dict[str, Any]], np.ndarray]
               ) -> Callable[[QuantizedImport, Any, dict[str, Any]], None]:
    def handler(qi: QuantizedImport, node: Any, a: dict[str, Any]) -> None:
        x = qi.activation(node, 0, 1, 2, "x")
        ys, zy, ydtype = _out(qi, node, 3, 4, x.dtype)
        qi.bind_int(node.output[0], qi.lut(node, x, lambda v: fn(v, a), ys, zy), ys, zy,
                    ydtype)
    return handler


def _leaky_relu(v: np.ndarray, a: dict[str, Any]) -> np.ndarray:
    return np.where(v >= 0, v, np.float32(a.get("alpha", 0.01)) * v)


def _sigmoid(v: np.ndarray, a: dict[str, Any]) -> np.ndarray:
    return np.float32(1) / (np.float32(1) + np.exp(-v))


_MICROSOFT: dict[str, Callable[[QuantizedImport, Any, dict[str, Any]], None]] = {
    "QGemm": _on_qgemm, "QLinearAdd": _binary("add"), "QLinearMul": _binary("mul"),
    "QLinearConcat": _on_qlinear_concat, "QLinearAveragePool": _on_qlinear_avg_pool,
    "QLinearGlobalAveragePool": _on_qlinear_global_avg_pool,
    "QLinearLeakyRelu": _unary_lut(_leaky_relu), "QLinearSigmoid": _unary_lut(_sigmoid),
    "QLinearSoftmax": _on_qlinear_softmax,
}
