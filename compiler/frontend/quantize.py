"""Post-training int8 quantization with calibration on sample inputs.

:func:`quantize` turns a float :class:`~.graph.Graph` into an integer graph whose ops are
defined bit for bit in :mod:`.interpreter` (the exact expected output of every backend):

- every activation tensor gets a power-of-two scale ``2**-f`` (``f`` fractional bits), the
  finest that holds its calibrated range (:mod:`.calibration`: ``max``, ``percentile`` or
  ``entropy``): symmetric (``f = floor(log2(127 / amax))``, zero point 0) by default, or
  with ``asymmetric=True`` the range ``[lo, hi]`` in 255 steps with a zero point (a ReLU
  output then uses all 256 codes: one more bit);
- weights are symmetric int8 (``[-127, 127]``) with a power-of-two scale per tensor, or
  per output channel with ``per_channel=True`` (finer; the requantize shift becomes one
  value per channel: an SHR reading a row of per-lane amounts on the accelerator);
- conv/dense accumulate ``(x - zx) * w`` in int32 at scale ``2**-(f_x + f_w)``; the int32
  bias is at that scale with the rounding constant ``1 << (shift - 1)`` and the output zero
  point ``zy << shift`` folded in (:func:`vta.compiler.requant.power_of_two`), so
  requantization is ``(acc + bias) >> shift`` then a clip (``[zy, 127]`` when a ReLU is
  fused, the clip bounds of a fused Clip) -- the ALU sequence ADD, SHR, MAX, MIN on the
  accelerator;
- a residual add shifts both int8 operands left to the finer scale, adds in int32 with the
  zero points and rounding folded into one offset, shifts right to the output scale and
  clips (``qadd``);
- pooling, reductions and layout ops (flatten, reshape, transpose, pad, slice, resize,
  gather) keep the input's scale and zero point; concat rescales to the coarsest input;
- a chain of element-wise ops computed from one tensor (an activation such as Sigmoid,
  LeakyRelu, HardSwish, Erf-based Gelu, ``x * sigmoid(x)``, a scale by a constant) becomes
  one ``qlut``: the chain evaluated in float on the 256 values of its int8 input and
  quantized to its output's scale;
- a matmul of two activations (attention) is an int8 ``qmatmul`` rounded and shifted to
  its output's scale;
- softmax, layer norm and any other float-only op run in float32 between ``dequantize``
  and ``quantize``;
  graph inputs are quantized and outputs dequantized, so the quantized graph maps the same
  float inputs to float outputs (same tensor names) as the float graph.

Integer tensors are named ``<float name>:q``; nodes keep their names so per-layer results
can be matched.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from .. import windows
from ..requant import power_of_two
from .calibration import CALIBRATIONS, TensorRange, calibrate
from .errors import ModelError
from .graph import BINARY_OPS, UNARY_OPS, Graph, GraphBuilder, Node
from .interpreter import OP_IMPLS
from .passes import simplify
from .tensor_checks import check_scale_range

__all__ = ["quantize", "calibrate", "frac_bits", "quantize_weights", "CALIBRATIONS"]

_ACT = ("relu", "clip")
_LINEAR = ("conv2d", "conv_transpose2d", "dense")
_SAME_SCALE = ("max_pool", "avg_pool", "global_avg_pool", "global_max_pool", "reduce_mean",
               "reduce_max", "flatten", "reshape", "transpose", "slice", "resize")
_ELEMENTWISE = frozenset(UNARY_OPS) | BINARY_OPS | set(_ACT)


def frac_bits(value_range: float, limit: int = 127) -> int:
    """Fractional bits ``f`` of the finest scale ``2**-f`` with ``range * 2**f <= limit``."""
    if not value_range > 0 or not math.isfinite(value_range):
        return 0 if value_range == 0 else -31
    return max(-31, min(31, math.floor(math.log2(limit / value_range))))


def quantize_weights(w: np.ndarray, per_channel: bool) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 weights and their fractional bits (one, or one per output channel)."""
    w = np.asarray(w, dtype=np.float64)
    if per_channel:
        rng = np.abs(w.reshape(w.shape[0], -1)).max(axis=1)
        f = np.array([frac_bits(r) for r in rng], dtype=np.int64)
        scale = np.ldexp(1.0, f).reshape((-1,) + (1,) * (w.ndim - 1))
    else:
        f = np.array([frac_bits(float(np.abs(w).max()))], dtype=np.int64)
        scale = np.ldexp(1.0, int(f[0]))
    return np.clip(np.rint(w * scale), -127, 127).astype(np.int8), f


def _check_constant(graph: Graph, name: str) -> None:
    """Refuse float constant ``name`` (quantized to int8) when no power-of-two scale holds
    it (:func:`~.tensor_checks.check_scale_range`)."""
    value = graph.params[name]
    if value.dtype.kind == "f":
        readers = graph.consumers(name)
        reader = f" (read by node {readers[0].name!r})" if readers else ""
        check_scale_range(f"weight {name!r}{reader}", float(np.abs(value).max(initial=0)))


def _zero_point(lo: float, f: int) -> int:
    """The int8 zero point that puts ``lo`` (``<= 0``) at code -128 at scale ``2**-f``."""
    return int(np.clip(-128 - round(lo * 2.0 ** f), -128, 127))


class _Quantizer:
    def __init__(self, graph: Graph, ranges: Mapping[str, TensorRange], per_channel: bool,
                 asymmetric: bool) -> None:
        self.g = graph
        self.ranges = ranges
        self.per_channel = per_channel
        self.asymmetric = asymmetric
        self.b = GraphBuilder(graph.name)
        self.ints: dict[str, str] = {}     # float tensor -> int8 tensor in the new graph
        self.floats: dict[str, str] = {}   # float tensor -> float tensor in the new graph
        self.qp: dict[str, tuple[int, int]] = {}    # int8 tensor -> (frac bits, zero point)
        self.hint: dict[str, tuple[int, int]] = {}  # float tensor -> (f, zp) from ONNX Q/DQ
        uses: dict[str, list[Node]] = {}
        for n in graph.nodes:
            for i in n.inputs:
                uses.setdefault(i, []).append(n)
        self.uses = uses
        # conv/dense/add followed by their only consumer relu/clip: fuse the activation
        self.fused: dict[str, Node] = {}
        for n in graph.nodes:
            if n.op in (*_LINEAR, "add") and n.output not in graph.outputs:
                c = uses.get(n.output, [])
                if len(c) == 1 and c[0].op in _ACT:
                    self.fused[n.name] = c[0]
        self.skipped = {a.name for a in self.fused.values()}
        self.regions = _lut_regions(graph, self.skipped)

    # ------------------------------------------------------------------ tensors
    def _range(self, tensor: str) -> TensorRange:
        """The calibrated range of a tensor that gets an int8 form (refused when no
        power-of-two scale holds it)."""
        if tensor not in self.ranges:
            raise ModelError(f"tensor {tensor!r} was not seen during calibration")
        r = self.ranges[tensor]
        check_scale_range(f"tensor {tensor!r} (over the calibration samples)", r.amax)
        return r

    def f_of(self, tensor: str) -> int:
        """Fractional bits of a symmetric int8 form of ``tensor``."""
        if tensor in self.hint and self.hint[tensor][1] == 0:
            return self.hint[tensor][0]
        return frac_bits(self._range(tensor).amax)

    def params_of(self, tensor: str, max_f: int | None = None) -> tuple[int, int]:
        """(fractional bits, zero point) of ``tensor``'s int8 form, no finer than ``max_f``:
        symmetric, or with ``asymmetric`` its range ``[lo, hi]`` in 255 steps."""
        if tensor in self.hint:
            f, zp = self.hint[tensor]
            if max_f is None or f <= max_f:
                return f, zp
        if not self.asymmetric:
            f = self.f_of(tensor)
            return (f if max_f is None else min(f, max_f)), 0
        r = self._range(tensor)
        lo, hi = min(r.lo, 0.0), max(r.hi, 0.0)
        f = frac_bits(hi - lo, 255)
        f = f if max_f is None else min(f, max_f)
        return f, _zero_point(lo, f)

    def as_int(self, tensor: str, node: Node) -> str:
        if tensor in self.ints:
            return self.ints[tensor]
        if tensor in self.g.params:
            raise ModelError(f"{node.describe()}: constant input {tensor!r} is only "
                             "supported as a conv/dense weight or bias")
        f, zp = self.params_of(tensor)
        q = self.b.node("quantize", [self.floats[tensor]], f"{tensor}.quantize",
                        output=f"{tensor}:q", scale=2.0 ** -f, zero_point=zp, lo=-128,
                        hi=127)
        self.ints[tensor], self.qp[q] = q, (f, zp)
        return q

    def as_float(self, tensor: str) -> str:
        if tensor in self.floats:
            return self.floats[tensor]
        q = self.ints[tensor]
        name = tensor if tensor in self.g.outputs else f"{tensor}:f"
        f, zp = self.qp[q]
        out = self.b.node("dequantize", [q], f"{tensor}.dequantize", output=name,
                          scale=2.0 ** -f, zero_point=zp)
        self.floats[tensor] = out
        return out

    def define_int(self, tensor: str, op: str, inputs: list[str], node: Node,
                   qp: tuple[int, int], **attrs: Any) -> None:
        if qp[1]:
            attrs["out_zero_point"] = qp[1]
        out = self.b.node(op, inputs, node.name, output=f"{tensor}:q",
                          out_scale=2.0 ** -qp[0], **attrs)
        self.ints[tensor], self.qp[out] = out, qp

    @staticmethod
    def clip_bounds(act: Node | None, f: int, zp: int = 0) -> tuple[int, int]:
        """An activation's bounds in the int8 codes of scale ``2**-f``, zero point ``zp``
        (ONNX Clip returns ``max`` everywhere when ``min > max``)."""
        if act is None:
            return -128, 127
        if act.op == "relu":
            return max(-128, zp), 127
        lo_r, hi_r = act.attr("lo"), act.attr("hi")
        hi = min(127, zp + math.floor(hi_r * 2.0 ** f)) if math.isfinite(hi_r) else 127
        lo = max(-128, zp + math.ceil(lo_r * 2.0 ** f)) if math.isfinite(lo_r) else -128
        hi = max(-128, hi)
        return min(lo, hi), hi

    # ------------------------------------------------------------------ ops
    def linear(self, node: Node) -> None:
        x, wname = node.inputs[0], node.inputs[1]
        for name, what in ((wname, "weight"), *((n, "bias") for n in node.inputs[2:])):
            if name not in self.g.params:
                raise ModelError(f"{node.describe()}: the {what} must be a constant")
        xq = self.as_int(x, node)
        fx, zx = self.qp[xq]
        if zx and node.op == "conv_transpose2d":   # no zero points in qconv_transpose2d
            act = self.fused.get(node.name)
            self.float_op(node)
            if act is not None:
                self.float_op(act)
            return
        w = self.g.params[wname]
        if node.op == "conv_transpose2d":   # output channels on axis 1: one weight scale
            wq, fw = quantize_weights(w, False)
        else:
            wq, fw = quantize_weights(w, self.per_channel)
        act = self.fused.get(node.name)
        out = act.output if act else node.output
        f_acc = fx + fw
        fy, zy = (min(self.f_of(out), int(f_acc.min())), 0) if node.op == "conv_transpose2d" \
            else self.params_of(out, int(f_acc.min()))
        shift = f_acc - fy
        if shift.max() > 31:
            raise ModelError(f"{node.describe()}: requantize shift {int(shift.max())} is too "
                             "large (weights or activations out of range)")
        channels = self.g.types[node.output].shape[-1 if node.op == "dense" else 1]
        shift_c = np.broadcast_to(shift, (channels,)).astype(np.int64)
        bias = (self.g.params[node.inputs[2]].astype(np.float64) if len(node.inputs) > 2
                else np.zeros(channels))
        bq = np.rint(bias * np.ldexp(1.0, np.broadcast_to(f_acc, (channels,))))
        lo, hi = self.clip_bounds(act, fy, zy)
        per_channel = len(set(shift_c.tolist())) > 1 \
            or self.per_channel and node.op != "conv_transpose2d"
        requant, offset = power_of_two(shift_c if per_channel else shift_c[:1], zy, lo, hi)
        bq = bq + offset
        if np.abs(bq).max(initial=0) >= 2 ** 31:
            raise ModelError(f"{node.describe()}: the quantized bias does not fit int32")
        wp = self.b.param(f"{node.name}.weight:q", wq, scale=None)
        bp = self.b.param(f"{node.name}.bias:q", bq.astype(np.int32))
        attrs = requant.attrs()
        if per_channel and not isinstance(attrs["shift"], tuple):
            attrs["shift"] = (attrs["shift"],) * channels
        op = "q" + node.op
        extra = {k: node.attrs[k] for k in ("strides", "pads", "dilations", "groups",
                                            "output_padding") if k in node.attrs}
        if zx:
            extra["x_zero_point"] = zx
        self.define_int(out, op, [xq, wp, bp], node, (fy, zy), **attrs, **extra)

    def add(self, node: Node) -> None:
        a, b = node.inputs
        ta, tb = self.g.types[a], self.g.types[b]
        if ta.shape != tb.shape or a in self.g.params or b in self.g.params:
            act = self.fused.get(node.name)
            self.float_op(node)
            if act is not None:    # the fused activation runs on the float sum
                self.float_op(act)
            return
        aq, bq = self.as_int(a, node), self.as_int(b, node)
        (fa, za), (fb, zb) = self.qp[aq], self.qp[bq]
        act = self.fused.get(node.name)
        out = act.output if act else node.output
        fm = max(fa, fb)
        fy, zy = self.params_of(out, fm)
        shift = fm - fy
        lo, hi = self.clip_bounds(act, fy, zy)
        # The zero points and the rounding in one offset (multiples of 2**shift added
        # before the shift are the zero point added after it).
        offset = ((1 << (shift - 1)) if shift else 0) - (za << (fm - fa)) \
            - (zb << (fm - fb)) + (zy << shift)
        self.define_int(out, "qadd", [aq, bq], node, (fy, zy), lshift_a=fm - fa,
                        lshift_b=fm - fb, offset=offset, shift=shift, lo=lo, hi=hi)

    def rescale(self, tensor: str, xq: str, node: Node, qp: tuple[int, int],
                lo: int = -128, hi: int = 127, name: str | None = None) -> str:
        (fx, zx), (fy, zy) = self.qp[xq], qp
        shift, lshift = max(0, fx - fy), max(0, fy - fx)
        offset = ((1 << (shift - 1)) if shift else 0) - (zx << lshift) + (zy << shift)
        attrs = {"out_zero_point": zy} if zy else {}
        out = self.b.node("qrescale", [xq], name or node.name, output=f"{tensor}:q",
                          lshift=lshift, offset=offset, shift=shift, lo=lo, hi=hi,
                          out_scale=2.0 ** -fy, **attrs)
        self.qp[out] = qp
        return out

    def const_int(self, tensor: str, f: int | None = None) -> str:
        """An int8 param holding constant ``tensor`` at fractional bits ``f`` (default: the
        finest that holds its values)."""
        key = f"{tensor}:q{'' if f is None else f}"
        if key in self.ints:
            return self.ints[key]
        _check_constant(self.g, tensor)
        v = self.g.params[tensor].astype(np.float64)
        f = frac_bits(float(np.abs(v).max(initial=0))) if f is None else f
        q = np.clip(np.rint(v * 2.0 ** f), -128, 127).astype(np.int8)
        name = self.b.param(key, q)
        self.ints[key], self.qp[name] = name, (f, 0)
        return name

    def int_operand(self, tensor: str, node: Node) -> str:
        return self.const_int(tensor) if tensor in self.g.params else self.as_int(tensor, node)

    def float_operand(self, tensor: str) -> str:
        if tensor in self.g.params:
            if tensor not in self.floats:
                self.floats[tensor] = self.b.param(tensor, self.g.params[tensor])
            return self.floats[tensor]
        if self.g.types[tensor].dtype != "float32" and tensor not in self.ints:
            return self.floats[tensor]       # an integer input (token ids)
        return self.as_float(tensor)

    def float_op(self, node: Node) -> None:
        """``node`` in float32 between dequantize and quantize."""
        ins = [self.float_operand(i) for i in node.inputs]
        self.floats[node.output] = self.b.node(node.op, ins, node.name, output=node.output,
                                               **node.attrs)

    def same_scale(self, node: Node) -> None:
        """A pooling, reduction or layout op on the int8 tensor, keeping its scale."""
        xq = self.as_int(node.inputs[0], node)
        f, zp = self.qp[xq]
        attrs = dict(node.attrs)
        if node.op == "pad" and attrs.get("mode", "constant") == "constant":
            attrs["value"] = int(np.clip(np.rint(attrs.get("value", 0.0) * 2.0 ** f) + zp,
                                         -128, 127))
        if zp and node.op == "avg_pool" and attrs.get("count_include_pad") \
                and any(windows.pads(attrs.get("pads", 0))):
            raise ModelError(f"{node.describe()}: an int8 average pool counting its padding "
                             "needs a symmetric input (quantize with asymmetric=False)")
        extra = [self.float_operand(i) if self.g.types[i].dtype != "float32" else
                 self.int_operand(i, node) for i in node.inputs[1:]]
        out = self.b.node(node.op, [xq, *extra], node.name, output=f"{node.output}:q",
                          **attrs)
        self.ints[node.output], self.qp[out] = out, (f, zp)

    def gather(self, node: Node) -> None:
        data, idx = node.inputs
        if data not in self.g.params:
            self.same_scale(node)
            return
        f = self.f_of(node.output)          # an embedding table: quantize it to the output
        ids = self.float_operand(idx) if idx not in self.g.params else \
            self.b.param(idx, self.g.params[idx])
        out = self.b.node("gather", [self.const_int(data, f), ids], node.name,
                          output=f"{node.output}:q", **node.attrs)
        self.ints[node.output], self.qp[out] = out, (f, 0)

    def matmul(self, node: Node) -> None:
        aq, bq = (self.int_operand(i, node) for i in node.inputs)
        (fa, za), (fb, zb) = self.qp[aq], self.qp[bq]
        if za or zb:                 # qmatmul has no zero points: in float
            self.float_op(node)
            return
        fy = min(self.f_of(node.output), fa + fb)
        shift = fa + fb - fy
        if shift > 31:
            raise ModelError(f"{node.describe()}: requantize shift {shift} is too large")
        self.define_int(node.output, "qmatmul", [aq, bq], node, (fy, 0), shift=shift,
                        offset=(1 << (shift - 1)) if shift else 0, lo=-128, hi=127)

    def lut(self, node: Node) -> None:
        """The exit of an element-wise region: a table over its root's 256 values."""
        root, members = self.regions[node.output]
        xq = self.as_int(root, node)
        (fx, zx), (fy, zy) = self.qp[xq], self.params_of(node.output)
        values = {root: (np.arange(-128, 128) - zx).astype(np.float32)
                  * np.float32(2.0 ** -fx)}
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            for member in members:
                args = [values[i] if i in values else self.g.params[i].reshape(-1)
                        for i in member.inputs]
                values[member.output] = np.asarray(OP_IMPLS[member.op](member, *args),
                                                   np.float32).reshape(256)
        real = values[node.output].astype(np.float64)
        with np.errstate(invalid="ignore"):
            table = np.clip(np.rint(np.nan_to_num(real * 2.0 ** fy)) + zy, -128, 127)
        tp = self.b.param(f"{node.name}.table:q", table.astype(np.int8))
        self.define_int(node.output, "qlut", [xq, tp], node, (fy, zy))

    def node(self, node: Node) -> None:
        op = node.op
        if node.name in self.skipped:
            return
        if node.output in self.regions:
            self.lut(node)
        elif any(node.output == m.output for _, ms in self.regions.values() for m in ms):
            return                           # inside a region: never materialized
        elif op in _LINEAR:
            self.linear(node)
        elif op == "add":
            self.add(node)
        elif (op in _SAME_SCALE or op == "pad") and \
                self.g.types[node.inputs[0]].dtype != "float32":
            self.float_op(node)              # integer data (token ids, masks) as they are
        elif op in _SAME_SCALE or op == "pad":
            self.same_scale(node)
        elif op == "gather":
            self.gather(node)
        elif op == "matmul":
            self.matmul(node)
        elif op == "concat":
            xs = [self.int_operand(i, node) for i in node.inputs]
            qp = self.params_of(node.output, min(self.qp[x][0] for x in xs))
            xs = [x if self.qp[x] == qp else
                  self.rescale(f"{x}.{node.name}", x, node, qp, name=f"{node.name}.{x}")
                  for x in xs]
            out = self.b.node(op, xs, node.name, output=f"{node.output}:q", **node.attrs)
            self.ints[node.output], self.qp[out] = out, qp
        elif op == "quantize_linear" and all(u.op == "dequantize_linear"
                                             for u in self.uses.get(node.output, [])):
            self.alias(node)  # a fake-quantization pair: the kit's own scales take over
        elif op == "dequantize_linear" and node.inputs[0] in self.aliased:
            self.alias(node)
            scale, zp = node.attr("scale"), node.attr("zero_point", 0)
            f = -math.log2(scale)
            if zp == 0 and f == int(f) and node.output not in self.ints:
                self.hint[node.output] = (int(f), 0)
        elif op in ("quantize_linear", "dequantize_linear"):
            ins = [self.as_float(i) if self.g.types[i].dtype == "float32"
                   else self.floats[i] for i in node.inputs]
            self.floats[node.output] = self.b.node(op, ins, node.name, output=node.output,
                                                   **node.attrs)
        else:
            self.float_op(node)

    aliased: set[str]

    def alias(self, node: Node) -> None:
        src = node.inputs[0]
        if src in self.ints:
            self.ints[node.output] = self.ints[src]
        if src in self.floats:
            self.floats[node.output] = self.floats[src]
        self.aliased.add(node.output)

    def run(self) -> Graph:
        self.aliased = set()
        for name in self.g.inputs:
            t = self.g.types[name]
            self.floats[name] = self.b.input(name, t.shape, t.dtype)
        for node in self.g.nodes:
            self.node(node)
        for out in self.g.outputs:
            if self.g.types[out].dtype == "float32":
                name = self.as_float(out)
            else:
                name = self.floats.get(out) or self.ints[out]
            self.b.output(name)
        graph = self.b.build()
        if graph.outputs != self.g.outputs:  # an output aliased to another tensor
            return graph
        return graph


def _lut_regions(graph: Graph, skipped: set[str]) -> dict[str, tuple[str, list[Node]]]:
    """Element-wise regions computed from one runtime tensor: exit tensor -> (root tensor,
    the region's nodes in order up to the exit).

    A node joins a region when its op is element-wise (:data:`_ELEMENTWISE`), every
    constant operand is a single value and every runtime operand is the root or comes from
    the root's region; an exit is a region tensor read outside it (or a graph output).
    """
    root: dict[str, str] = {}
    members: dict[str, list[Node]] = {}
    for n in graph.nodes:
        if n.name in skipped or n.op not in _ELEMENTWISE:
            continue
        if graph.types[n.output].dtype != "float32":
            continue
        runtime = [i for i in n.inputs if i not in graph.params]
        consts = [i for i in n.inputs if i in graph.params]
        if not runtime or any(graph.params[c].size != 1 for c in consts):
            continue
        roots = {root.get(i, i) for i in runtime}
        if len(roots) != 1:
            continue
        r = roots.pop()
        if graph.types[r].dtype != "float32" or graph.types[r].shape != \
                graph.types[n.output].shape:
            continue
        root[n.output] = r
        members.setdefault(r, []).append(n)
    uses: dict[str, set[str]] = {}
    for n in graph.nodes:
        for i in n.inputs:
            uses.setdefault(i, set()).add(n.name)
    regions: dict[str, tuple[str, list[Node]]] = {}
    for r, nodes in members.items():
        names = {m.name for m in nodes}
        for k, m in enumerate(nodes):
            if m.output in graph.outputs or uses.get(m.output, set()) - names:
                regions[m.output] = (r, [x for x in nodes[:k + 1]])
    return regions


def quantize(graph: Graph, samples: Iterable[Any], *, per_channel: bool = False,
             calibration: str = "max", percentile: float = 99.99,
             asymmetric: bool = False) -> Graph:
    """Quantize a float graph to int8 with power-of-two scales.

    Parameters
    ----------
    graph:
        A float graph (from :func:`~.onnx_import.import_onnx` or the builder); batch norms
        and constant scales are folded first.
    samples:
        Calibration inputs (see :func:`calibrate`); a few representative inputs.
    per_channel:
        Per-output-channel weight scales (finer; one requantize shift per channel).
    calibration, percentile:
        Range estimate per tensor (:func:`~.calibration.calibrate`: ``max``,
        ``percentile`` or ``entropy``).
    asymmetric:
        Activations with a zero point (their calibrated ``[lo, hi]`` in 255 steps)
        instead of symmetric ones.

    Returns
    -------
    Graph
        The integer graph: float inputs and outputs with the float graph's names, integer
        ops in between; run it with :func:`.interpreter.run` for the exact expected output.

    Raises
    ------
    ModelError
        naming the node for an op that cannot be quantized, a constant that does not fit,
        or a tensor never reached by calibration.
    """
    graph = simplify(graph)
    # Only the constants that become int8 must fit an int8 scale: a float-only constant
    # (BERT's attention mask of finfo(float32).min) stays float.
    for node in graph.nodes:
        if node.op in _LINEAR and node.inputs[1] in graph.params:
            _check_constant(graph, node.inputs[1])
    ranges = calibrate(graph, samples, calibration, percentile,
                       levels=256 if asymmetric else 128)
    return _Quantizer(graph, ranges, per_channel, asymmetric).run()
