"""Requantization with arbitrary scales as the accelerator computes it: fixed point on the ALU.

ONNX's rule for a quantized conv/matmul output is ``y = saturate(round_half_to_even(acc *
M) + zy)`` with ``M = x_scale * w_scale / y_scale`` (one per output channel when the weight
scales are per channel).  The ALU has 32-bit lanes, MIN/MAX/ADD/SHR and -- as an opt-in
extension (``VTAConfig.ALU_MUL``) -- a wrapping 32-bit MUL, so the kit computes, per output
channel ``c``, these ALU instructions on the int32 sum ``acc`` (every step wraps modulo
2**32 like the hardware; :func:`vta.compiler.int8_reference.requantize_channels` is the
numpy reference)::

    t = acc + bias                        ADD  (the int32 bias, offsets folded in)
    t = t >> pre_shift                    SHR  (0: absent)
    t = min(max(t, acc_lo), acc_hi)       MAX, MIN  (absent unless there is a multiplier)
    t = t * multiplier                    MUL  (1: absent)
    t = t + post_offset                   ADD  (0: absent)
    t = t >> shift                        SHR  (in steps of at most 15 bits)
    y = min(max(t, lo), hi)               MAX, MIN

A :class:`Requant` holds those values, one per channel or one for all.  Two ways to choose
them from real scales:

* :func:`power_of_two` -- ``M = 2**-shift`` exactly (the kit's own quantizer; exporters that
  use power-of-two scales): ``bias += 2**(shift-1) + zy * 2**shift`` and ``y = clip((acc +
  bias) >> shift)``, i.e. ``floor(acc * M + 0.5) + zy``.  Shifts and clips only: every
  configuration runs it, per channel too (the shift amounts are a tensor operand).
* :func:`fixed_point` -- any ``M``: ``multiplier / 2**(pre_shift + shift)`` approximates
  ``M`` with the most bits that cannot overflow 32 bits (:func:`fixed_point` explains the
  choice); the clamp before the multiply bounds ``t`` to the values that do not saturate,
  so the product never wraps and the final clip is redundant (the accelerator skips it).
  Needs ``ALU_MUL``.

Where the result can differ from ONNX's rule: it rounds half up (towards +inf), not half to
even, at exact ties (``acc * M`` exactly ``k + 0.5``: frequent only for power-of-two
``M``); and the fixed-point ``M`` is within ``2**-(pre_shift + shift + 1)`` of the real one,
so values within :meth:`Requant.error_bound` of a rounding boundary can round the other way
(by one step).  docs/quantization.md has the measured figures.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import OperatorError

__all__ = ["Requant", "power_of_two", "fixed_point", "fixed_point_layer",
           "with_offsets", "power_of_two_exponents", "fold_bias", "MAX_SHR_STEP", "REQUANT_ATTRS"]

MAX_SHR_STEP = 15
"""Largest right shift one SHR instruction makes (its amount is 5 bits, signed)."""

_INT32 = (-(1 << 31), (1 << 31) - 1)
REQUANT_ATTRS = ("shift", "pre_shift", "acc_lo", "acc_hi", "multiplier", "post_offset",
                 "lo", "hi")
"""Node attributes of a requantizing op (qconv2d, qdense) that :class:`Requant` reads."""


def _ints(name: str, value: Any, lo: int, hi: int) -> tuple[int, ...]:
    """``value`` (an int or a sequence of ints) as a non-empty tuple within ``[lo, hi]``."""
    items = value if isinstance(value, (tuple, list, np.ndarray)) else (value,)
    out = []
    for v in items:
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not lo <= v <= hi:
            raise OperatorError(f"requantization {name} must be integers in [{lo}, {hi}], "
                                f"not {v!r}")
        out.append(int(v))
    if not out:
        raise OperatorError(f"requantization {name} is empty")
    return tuple(out)


@dataclass(frozen=True)
class Requant:
    """The fixed-point requantization of int32 accumulators (see the module docstring).

    Every field but ``lo``/``hi`` is a tuple of one value (all channels) or one per
    output channel.

    Parameters
    ----------
    shift:
        Right shift after the multiply, ``[0, 62]`` (several SHR instructions).
    lo, hi:
        Output range, ``-128 <= lo <= hi <= 127`` (int8; uint8 tensors are int8 with their
        zero point moved by -128).
    pre_shift:
        Right shift before the clamp, ``[0, 31]``.
    acc_lo, acc_hi:
        The clamp before the multiply (int32), or None for none.
    multiplier:
        ``[1, 2**31 - 1]``; 1 means no multiply.
    post_offset:
        int32 added after the multiply.

    Raises
    ------
    OperatorError
        for a value out of its range, channel counts that disagree, or a multiplier
        without a clamp (the product could wrap).
    """

    shift: tuple[int, ...] = (0,)
    lo: int = -128
    hi: int = 127
    pre_shift: tuple[int, ...] = (0,)
    acc_lo: tuple[int, ...] | None = None
    acc_hi: tuple[int, ...] | None = None
    multiplier: tuple[int, ...] = (1,)
    post_offset: tuple[int, ...] = (0,)

    def __post_init__(self) -> None:
        object.__setattr__(self, "shift", _ints("shift", self.shift, 0, 62))
        object.__setattr__(self, "pre_shift", _ints("pre_shift", self.pre_shift, 0, 31))
        object.__setattr__(self, "multiplier",
                           _ints("multiplier", self.multiplier, 1, _INT32[1]))
        object.__setattr__(self, "post_offset",
                           _ints("post_offset", self.post_offset, *_INT32))
        if (self.acc_lo is None) != (self.acc_hi is None):
            raise OperatorError("requantization acc_lo and acc_hi come together")
        if self.acc_lo is not None:
            object.__setattr__(self, "acc_lo", _ints("acc_lo", self.acc_lo, *_INT32))
            object.__setattr__(self, "acc_hi", _ints("acc_hi", self.acc_hi, *_INT32))
        lo, hi = _ints("lo", self.lo, -128, 127)[0], _ints("hi", self.hi, -128, 127)[0]
        if lo > hi:
            raise OperatorError(f"requantization bounds must satisfy lo <= hi, not "
                                f"({lo}, {hi})")
        object.__setattr__(self, "lo", lo)
        object.__setattr__(self, "hi", hi)
        counts = {len(v) for v in self._vectors().values()} - {1}
        if len(counts) > 1:
            raise OperatorError(f"requantization values have different channel counts "
                                f"{sorted(counts)}")
        if self.uses_multiplier and self.acc_lo is None:
            raise OperatorError("a requantization multiplier needs the clamp acc_lo/acc_hi "
                                "(without it the 32-bit product can wrap)")

    def _vectors(self) -> dict[str, tuple[int, ...]]:
        vec = {"shift": self.shift, "pre_shift": self.pre_shift,
               "multiplier": self.multiplier, "post_offset": self.post_offset}
        if self.acc_lo is not None:
            vec["acc_lo"], vec["acc_hi"] = self.acc_lo, self.acc_hi
        return vec

    # ------------------------------------------------------------------ queries
    @property
    def channels(self) -> int:
        """Values per field: 1 (per tensor) or the output channel count."""
        return max(len(v) for v in self._vectors().values())

    @property
    def uses_multiplier(self) -> bool:
        """True if some channel multiplies (the ALU MUL extension is needed)."""
        return any(m != 1 for m in self.multiplier)

    @property
    def is_per_channel(self) -> bool:
        """True if some value differs between channels."""
        return any(len(set(v)) > 1 for v in self._vectors().values())

    def vector(self, name: str, channels: int) -> np.ndarray:
        """Field ``name`` as an int64 vector of ``channels`` values.

        Raises
        ------
        OperatorError
            when the field has another number of channels.
        """
        v = getattr(self, name)
        if v is None:
            raise OperatorError(f"requantization has no {name}")
        if len(v) not in (1, channels):
            raise OperatorError(f"requantization {name} has {len(v)} values, expected 1 or "
                                f"one per output channel ({channels})")
        return np.broadcast_to(np.asarray(v, np.int64), (channels,)).copy()

    def clip_is_redundant(self) -> bool:
        """True if the clamp already keeps every result within ``[lo, hi]`` (checked
        exactly: the steps after the clamp are monotone in ``t``), so the accelerator
        leaves the final MAX/MIN out."""
        if self.acc_lo is None:
            return False
        n = self.channels
        ends = [self._after_clamp(self.vector(b, n), n) for b in ("acc_lo", "acc_hi")]
        return bool(ends[0].min() >= self.lo and ends[1].max() <= self.hi)

    def _after_clamp(self, t: np.ndarray, n: int) -> np.ndarray:
        v = _wrap32(t * self.vector("multiplier", n) + self.vector("post_offset", n))
        return v >> self.vector("shift", n)

    def error_bound(self, scale: Sequence[float] | float, zero_point: int = 0) -> float:
        """The largest distance, in output steps, between ``acc * scale + zero_point``
        before rounding and what these steps compute before their final floor (ignoring
        the bias rounding folded in by the choice functions): ``|t| * |multiplier / 2**(
        pre_shift + shift) - scale|`` over the clamp plus half a pre-shift step."""
        n = self.channels if np.ndim(scale) == 0 else len(scale)
        m = np.asarray(scale, np.float64) * np.ones(n)
        total = self.vector("pre_shift", n) + self.vector("shift", n)
        approx = self.vector("multiplier", n) * np.ldexp(1.0, -total)
        if self.acc_lo is None:
            reach = np.full(n, 256.0) / np.maximum(m, 1e-30)
        else:
            reach = np.maximum(np.abs(self.vector("acc_lo", n)), np.abs(
                self.vector("acc_hi", n))) * np.ldexp(1.0, self.vector("pre_shift", n))
        half_step = np.where(self.vector("pre_shift", n) > 0, approx * np.ldexp(
            1.0, self.vector("pre_shift", n)) / 2, 0.0)
        return float((reach * np.abs(approx - m) + half_step).max())

    # ------------------------------------------------------------------ node attributes
    def attrs(self) -> dict[str, Any]:
        """The node attributes (:data:`REQUANT_ATTRS`) that :meth:`from_attrs` reads back;
        defaults are left out, one-value tuples become ints."""
        out: dict[str, Any] = {"shift": _flat(self.shift), "lo": self.lo, "hi": self.hi}
        if any(self.pre_shift):
            out["pre_shift"] = _flat(self.pre_shift)
        if self.acc_lo is not None:
            out["acc_lo"], out["acc_hi"] = _flat(self.acc_lo), _flat(self.acc_hi)
        if self.uses_multiplier:
            out["multiplier"] = _flat(self.multiplier)
        if any(self.post_offset):
            out["post_offset"] = _flat(self.post_offset)
        return out

    @classmethod
    def from_attrs(cls, attrs: Mapping[str, Any]) -> Requant:
        """The requantization a node's attributes describe (absent ones take defaults)."""
        get = attrs.get
        return cls(shift=get("shift", 0), lo=get("lo", -128), hi=get("hi", 127),
                   pre_shift=get("pre_shift", 0), acc_lo=get("acc_lo"), acc_hi=get("acc_hi"),
                   multiplier=get("multiplier", 1), post_offset=get("post_offset", 0))


def _flat(v: tuple[int, ...]) -> int | tuple[int, ...]:
    return v[0] if len(set(v)) == 1 else v


def _wrap32(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, np.int64).astype(np.int32).astype(np.int64)


# ------------------------------------------------------------------------------ choices
def power_of_two_exponents(scale: Sequence[float] | float) -> np.ndarray | None:
    """``k`` with ``scale == 2**-k`` for every value (``0 <= k <= 62``), else None."""
    s = np.atleast_1d(np.asarray(scale, np.float64))
    if not np.all(np.isfinite(s)) or np.any(s <= 0):
        return None
    mant, exp = np.frexp(s)
    if not np.all(mant == 0.5):
        return None
    k = 1 - exp
    return k.astype(np.int64) if np.all((k >= 0) & (k <= 62)) else None


def _zero_point_range(zero_point: int, lo: int, hi: int) -> tuple[int, int]:
    if not -128 <= lo <= hi <= 127 or not -128 <= zero_point <= 127:
        raise OperatorError(f"output range ({lo}, {hi}) and zero point {zero_point} must lie "
                            "in [-128, 127]")
    return lo, hi


def power_of_two(shift: Sequence[int] | int, zero_point: int = 0, lo: int = -128,
                 hi: int = 127) -> tuple[Requant, np.ndarray]:
    """``y = clip(floor(acc * 2**-shift + 0.5) + zero_point, lo, hi)`` with shifts only.

    Returns the :class:`Requant` and the offset to add to the int32 bias per channel
    (``2**(shift-1) + zero_point * 2**shift``: rounding and the zero point folded in -- a
    multiple of ``2**shift`` added before an arithmetic shift is the same as adding its
    quotient after).
    """
    lo, hi = _zero_point_range(zero_point, lo, hi)
    s = np.atleast_1d(np.asarray(shift, np.int64))
    offset = np.where(s > 0, np.left_shift(1, np.maximum(s - 1, 0)), 0) + \
        np.int64(zero_point) * np.left_shift(1, s)
    return Requant(shift=tuple(int(v) for v in s), lo=lo, hi=hi), offset


# Design constants of :func:`fixed_point` (docs/quantization.md measures them).
_PRE_SHIFT_TARGET = -12
"""The pre-shift (one more SHR) brings ``M * 2**pre_shift`` to at least ``2**-12``: below
that a coarser ``t`` costs less precision than a shorter multiplier; above it the
multiplier alone keeps more than 99.5% of the results identical to ONNX's rule."""
_POST_OFFSET_ABOVE = 2.0 ** -8
"""Above this ``M`` the rounding offset is added after the multiply (one more ADD): folded
into the bias it would be off by up to ``M / 2`` steps."""


def fixed_point(scale: Sequence[float] | float, zero_point: int = 0, lo: int = -128,
                hi: int = 127, max_shift: int = 62, *, post_offset: bool = False
                ) -> tuple[Requant, np.ndarray]:
    """``y ~= clip(round(acc * scale) + zero_point, lo, hi)`` for any positive ``scale``
    (one, or one per channel), with a multiplier.

    Per channel: ``pre_shift = max(0, ceil(-12 - log2 M))``; then the largest ``shift``
    for which ``multiplier = round(M * 2**(pre_shift + shift))`` times every clamped ``t``
    (plus the offset) stays below ``2**31`` in magnitude; the clamp ``[acc_lo, acc_hi]`` is
    exactly the ``t`` whose result lies in ``[lo, hi]`` (so the product cannot wrap and
    saturation is exact); the rounding ``+0.5`` and the zero point go into the bias
    (``M <= 2**-8``, unless ``post_offset``) or into ``post_offset``; a pre-shift's own
    rounding (half a step) into the bias.  ``post_offset=True`` rounds after the multiply
    for every channel: exact rounding, and an ADD the bias can fold into
    (:func:`fixed_point_layer`).

    Returns the :class:`Requant` and the int64 offsets to add to the int32 bias.

    Raises
    ------
    OperatorError
        for a scale that is not positive and finite, or so small or large that no 32-bit
        multiplier represents it.
    """
    lo, hi = _zero_point_range(zero_point, lo, hi)
    ms = np.atleast_1d(np.asarray(scale, np.float64))
    if not np.all(np.isfinite(ms)) or np.any(ms <= 0):
        raise OperatorError(f"requantization scale must be positive and finite, not "
                            f"{float(ms[~(np.isfinite(ms) & (ms > 0))][0])!r}")
    fields: dict[str, list[int]] = {k: [] for k in (
        "pre_shift", "shift", "multiplier", "acc_lo", "acc_hi", "post_offset")}
    offsets = []
    for m in ms:
        chosen = _fixed_point_channel(float(m), zero_point, lo, hi, max_shift, post_offset)
        if chosen is None:
            raise OperatorError(f"requantization scale {float(m)!r} has no 32-bit fixed-point form "
                                "(expected between 2**-40 and 2**30)")
        for key, value in chosen[0].items():
            fields[key].append(value)
        offsets.append(chosen[1])
    req = Requant(shift=tuple(fields["shift"]), lo=lo, hi=hi,
                  pre_shift=tuple(fields["pre_shift"]), acc_lo=tuple(fields["acc_lo"]),
                  acc_hi=tuple(fields["acc_hi"]), multiplier=tuple(fields["multiplier"]),
                  post_offset=tuple(fields["post_offset"]))
    return req, np.asarray(offsets, np.int64)


def _fixed_point_channel(m: float, zp: int, lo: int, hi: int, max_shift: int,
                         post_offset: bool) -> tuple[dict[str, int], int] | None:
    pre = max(0, math.ceil(_PRE_SHIFT_TARGET - math.log2(m)))
    if pre > 31:
        return None
    post_used = post_offset or m > _POST_OFFSET_ABOVE
    for s in range(min(max_shift, 62), -1, -1):
        mult = round(m * 2.0 ** (s + pre))
        if not 1 <= mult <= _INT32[1]:
            continue
        # y = floor((t*mult + post) / 2**s) ~ acc*m + zp + 0.5 with t = (acc + b) >> pre
        half_pre = (1 << (pre - 1)) if pre else 0
        if post_used:
            post = round((zp + 0.5) * 2.0 ** s)
            bias = half_pre
        else:
            post = 0
            bias = round((zp + 0.5) * 2.0 ** (s + pre) / mult) + half_pre
        if abs(post) > _INT32[1]:
            continue
        t_lo = -((-(lo * (1 << s) - post)) // mult)               # ceil
        t_hi = ((hi + 1) * (1 << s) - 1 - post) // mult            # floor
        if mult > 1 << s:
            # M > 1: results skip values, so the clamp lets one step past each end
            # through and the final clip saturates.
            t_lo, t_hi = t_lo - 1, t_hi + 1
        ends = (t_lo * mult + post, t_hi * mult + post)
        if t_lo > t_hi or max(abs(e) for e in ends) > _INT32[1] \
                or not _INT32[0] <= t_lo <= t_hi <= _INT32[1]:
            continue
        return ({"pre_shift": pre, "shift": s, "multiplier": mult, "acc_lo": t_lo,
                 "acc_hi": t_hi, "post_offset": post}, bias)
    return None


def with_offsets(bias: np.ndarray | None, offset: np.ndarray) -> np.ndarray:
    """The int32 ``bias`` (None: zeros) plus a requantization's ``offset`` (int64).

    Raises
    ------
    OperatorError
        when the sum does not fit int32.
    """
    total = np.asarray(offset, np.int64) + (0 if bias is None
                                            else np.asarray(bias).astype(np.int64))
    if np.abs(total).max(initial=0) > _INT32[1]:
        raise OperatorError("the bias with the requantization offsets does not fit int32")
    return total


def fixed_point_layer(scale: Sequence[float] | float, zero_point: int, lo: int, hi: int,
                      bias: np.ndarray | None, acc_bound: np.ndarray | int | None
                      ) -> tuple[Requant, np.ndarray | None]:
    """:func:`fixed_point` for a layer whose int32 sums get ``bias`` (per output channel,
    or None) added first: the requantization, and the int64 bias to add (rounding offsets
    included; None when it folded away).

    With ``acc_bound`` (a bound of ``|acc|`` per channel, see :func:`fold_bias`; None when
    there is none) the rounding goes after the multiply for
    every channel and the bias folds into the clamp and that post-offset: the same ALU
    instructions as rounding inside the bias, and exact rounding (the bias holds it only to
    integer precision, off by up to ``M / 2`` steps).  Where the fold does not apply, the
    default form of :func:`fixed_point`, folded when it can be.

    Raises
    ------
    OperatorError
        as :func:`fixed_point`, or when the bias with the rounding offsets does not fit int32.
    """
    if acc_bound is not None:
        req, offset = fixed_point(scale, zero_point, lo, hi, post_offset=True)
        try:
            folded = fold_bias(req, with_offsets(bias, offset), acc_bound)
        except OperatorError:
            folded = None
        if folded is not None:
            return folded, None
    req, offset = fixed_point(scale, zero_point, lo, hi)
    total = with_offsets(bias, offset)
    folded = None if acc_bound is None else fold_bias(req, total, acc_bound)
    return (folded, None) if folded is not None else (req, total)


def fold_bias(requant: Requant, bias: Sequence[int] | np.ndarray,
              acc_bound: Sequence[int] | np.ndarray | int) -> Requant | None:
    """The same requantization with the int32 ``bias`` add taken out (one ALU instruction
    less), or None when that does not apply or would not save an instruction.

    With no pre-shift and a clamp, ``acc + bias`` clamped to ``[acc_lo, acc_hi]``, times
    ``multiplier``, plus ``post_offset`` is ``min(max(acc, acc_lo - bias), acc_hi - bias) *
    multiplier + (bias * multiplier + post_offset)``: the clamp moves by ``-bias`` and the
    bias, multiplied, joins the post-multiply offset.  The two agree modulo 2**32 (MUL and
    ADD wrap), and the original's value lies in int32, so they are equal -- provided ``acc
    + bias`` does not wrap, which ``|acc| <= acc_bound`` (per channel, e.g. ``128 *
    sum(|w|)`` over a channel's weights for int8 inputs) with ``acc_bound + |bias| <
    2**31`` guarantees.  The results are bit for bit those of ``requant`` after the add.

    Applies when every channel's pre-shift is 0 (the bias must come before a shift), the
    clamp is there, and some channel already adds a post-offset (else the bias ADD would
    only become a post-offset ADD); the new clamp bounds must lie in int32.
    """
    b = np.atleast_1d(np.asarray(bias, np.int64))
    n = max(requant.channels, b.size)
    if requant.acc_lo is None or any(requant.pre_shift) or not any(requant.post_offset) \
            or b.size not in (1, n):
        return None
    b = np.broadcast_to(b, (n,))
    bound = np.broadcast_to(np.asarray(acc_bound, np.int64), (n,))
    if np.any(bound < 0) or np.any(bound + np.abs(b) > _INT32[1]):
        return None
    lo, hi = requant.vector("acc_lo", n) - b, requant.vector("acc_hi", n) - b
    if lo.min() < _INT32[0] or hi.max() > _INT32[1]:
        return None
    post = _wrap32(b * requant.vector("multiplier", n) + requant.vector("post_offset", n))
    return Requant(shift=requant.shift, lo=requant.lo, hi=requant.hi, pre_shift=(0,),
                   acc_lo=tuple(int(v) for v in lo), acc_hi=tuple(int(v) for v in hi),
                   multiplier=requant.multiplier, post_offset=tuple(int(v) for v in post))
