"""The fused epilogue: what it computes, the ALU instructions that compute it, and those
instructions as micro-kernels over an ACC tile.

After the GEMMs of an output tile the int32 accumulators go through an :class:`Epilogue`, in
the order the compute module performs it:

1. ``+ bias`` (int32, per output channel, wraps), and at the image border ``+`` the input
   zero point's correction of padded taps (``pad_correction``, see
   :mod:`vta.compiler.zero_point`),
2. the fixed-point requantization of :mod:`vta.compiler.requant` when it has per-channel
   values or a multiplier (``requant``, a :class:`ChannelRequant`: SHR, MAX/MIN clamp,
   MUL, ADD, SHR with immediates or with per-channel values as a tensor operand -- one
   constant row per output-channel block), then ``>> shift`` (arithmetic, one immediate),
3. clip to ``[clip_lo, clip_hi]`` (ALU MAX then MIN),
4. the residual add, ResNet's rescaled ``qadd``: ``(x << lshift) + (residual <<
   residual_lshift) + residual_offset`` (``residual`` a second int8 tensor, sign-extended;
   int32 wrap-around), then ``>> residual_shift`` (arithmetic),
5. clip to ``residual_clip`` (optional),
6. cast to int8 by truncation (the OUT buffer keeps the low 8 bits, no saturation).

:meth:`Epilogue.alu_steps` is the ALU instruction sequence that computes exactly this (the
lowering, the cost model and the tiling search all read it); :func:`epilogue_kernels` turns
it into one ALU micro-kernel per step over a tile: ADD bias rows (loaded into ACC beside the
tile), the requantization's steps reading constant rows (loaded beside them), SHR by
immediates, MAX/MIN with immediates, SHR by negative immediates (left shifts)
of the output or the residual rows (loaded with ``LOAD ACC_8BIT``), ADD of the residual
rows, ADD of the offset immediates.  Every ALU write-back also narrows into the OUT buffer,
so the store after the last step writes the truncated int8 result.
:func:`vta.compiler.int8_reference.apply_epilogue` computes the same in numpy.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from vta.hw.isa import AluOp

from .errors import OperatorError
from .requant import MAX_SHR_STEP, Requant
from .tile_program import Kernel

__all__ = ["Epilogue", "NO_EPILOGUE", "AluStep", "ChannelRequant", "channel_requant",
           "shift_immediates", "add_immediates", "MAX_OFFSET_IMMEDIATES", "epilogue_kernels",
           "alu_kernel"]

MAX_SHIFT_RIGHT = 15
"""Largest right shift of one SHR immediate (its low 5 bits read as signed: -16..15)."""
MAX_SHIFT_LEFT = 16
"""Largest left shift of one SHR immediate (-16)."""
MAX_OFFSET_IMMEDIATES = 4
"""An epilogue adds its residual offset in at most this many int16 ALU immediates."""


class AluStep(NamedTuple):
    """One ALU instruction of an epilogue over an output tile.

    Members
    -------
    op:
        The ALU opcode (:class:`~vta.hw.isa.AluOp`).
    rows:
        ``"out"`` (the tile's accumulator rows) or ``"residual"`` (its residual rows).
    src:
        An int immediate, or ``"bias"`` / ``"residual"``: the tensor rows added, ``"pads"``:
        the zero-point corrections of the border rows (only those rows), or the name of a
        constant row of :meth:`Epilogue.const_rows` (one per output-channel block).
    """

    op: AluOp
    rows: str
    src: int | str


def shift_immediates(amount: int, left: bool = False) -> tuple[int, ...]:
    """SHR immediates shifting by ``amount`` (>= 0) bits: right in steps of at most 15, left
    (negative immediates) in steps of at most 16.  Arithmetic right shifts compose exactly,
    and so do left shifts modulo 2**32."""
    if amount < 0:
        raise OperatorError(f"a shift amount must be >= 0, not {amount}")
    step = MAX_SHIFT_LEFT if left else MAX_SHIFT_RIGHT
    out = [step] * (amount // step) + ([amount % step] if amount % step else [])
    return tuple(-v for v in out) if left else tuple(out)


def _shr_steps(rows: str, amount: int, left: bool = False) -> list[AluStep]:
    return [AluStep(AluOp.SHR, rows, imm) for imm in shift_immediates(amount, left)]


def add_immediates(value: int) -> tuple[int, ...]:
    """int16 immediates whose sum is ``value`` (fewest of them; ADD wraps modulo 2**32, so
    adding them one by one equals one wrapped add of ``value``)."""
    step = 32767 if value > 0 else -32768
    n = -(-value // step) if value else 0
    out = [step] * (n - 1) + [value - step * (n - 1)] if n else []
    return tuple(out)


_IMM = (-(1 << 15), (1 << 15) - 1)
"""The ALU immediate's range (16 bits, sign-extended)."""


@dataclass(frozen=True)
class ChannelRequant:
    """How the fixed-point steps of a :class:`~vta.compiler.requant.Requant` run on the
    ALU: each value is an immediate (one for all channels, within the 16-bit immediate) or
    None -- a constant row per output-channel block, read as a tensor operand (one value
    per lane).

    Parameters
    ----------
    pre_shifts, shifts:
        SHR instructions before the clamp and after the multiply (amounts ``0..15``).
    clamp:
        MAX then MIN with the rows ``lo``, ``hi`` (int32 bounds: always rows).
    multiplier:
        MUL operand; 1 means no MUL.
    post_offset:
        ADD operand after the MUL; 0 means none.
    """

    pre_shifts: tuple[int | None, ...] = ()
    clamp: bool = False
    multiplier: int | None = 1
    post_offset: int | None = 0
    shifts: tuple[int | None, ...] = ()

    def __post_init__(self) -> None:
        for name in ("pre_shifts", "shifts"):
            for v in getattr(self, name):
                if v is not None:
                    _check_int(name, v, 0, MAX_SHR_STEP)
        for name in ("multiplier", "post_offset"):
            v = getattr(self, name)
            if v is not None:
                _check_int(name, v, *_IMM, " (an ALU immediate)")

    def steps(self) -> list[AluStep]:
        """The ALU steps (row operands by name)."""
        out = [AluStep(AluOp.SHR, "out", f"pre{i}" if v is None else v)
               for i, v in enumerate(self.pre_shifts)]
        if self.clamp:
            out += [AluStep(AluOp.MAX, "out", "lo"), AluStep(AluOp.MIN, "out", "hi")]
        if self.multiplier != 1:
            out.append(AluStep(AluOp.MUL, "out", "mul" if self.multiplier is None
                               else self.multiplier))
        if self.post_offset != 0:
            out.append(AluStep(AluOp.ADD, "out", "post" if self.post_offset is None
                               else self.post_offset))
        out += [AluStep(AluOp.SHR, "out", f"shr{i}" if v is None else v)
                for i, v in enumerate(self.shifts)]
        return out

    def row_names(self) -> tuple[str, ...]:
        """The constant rows the steps read, in their order in ACC."""
        return tuple(s.src for s in self.steps() if isinstance(s.src, str))

    @property
    def multiplies(self) -> bool:
        return self.multiplier != 1


def _shift_passes(shifts: np.ndarray) -> list[np.ndarray]:
    """Per-channel right shifts as SHR amounts of at most 15 per pass (same pass count for
    every channel: arithmetic right shifts compose exactly)."""
    passes = []
    rest = shifts.astype(np.int64)
    while rest.max(initial=0) > 0:
        step = np.minimum(rest, MAX_SHR_STEP)
        passes.append(step)
        rest = rest - step
    return passes


def channel_requant(requant: Requant, channels: int
                    ) -> tuple[ChannelRequant | None, int, dict[str, np.ndarray]]:
    """How ``requant`` runs on the ALU for ``channels`` output channels.

    Returns ``(structure, shift, rows)``: ``structure`` None when one uniform right shift
    suffices (then ``shift`` is it, the :class:`Epilogue`'s own ``shift``), else the
    :class:`ChannelRequant` with ``shift`` 0; ``rows`` maps each row name to its int32
    values per channel.  A value the same for all channels and within an immediate's range
    is an immediate; per-channel values and the int32 clamp bounds are rows.
    """
    rows: dict[str, np.ndarray] = {}

    def operand(name: str, values: np.ndarray) -> int | None:
        if np.all(values == values[0]) and _IMM[0] <= values[0] <= _IMM[1]:
            return int(values[0])
        rows[name] = values
        return None

    shift = requant.vector("shift", channels)
    pre = requant.vector("pre_shift", channels)
    simple = (not requant.uses_multiplier and requant.acc_lo is None
              and not any(requant.post_offset) and not pre.any())
    if simple and np.all(shift == shift[0]) and shift[0] <= 31:
        return None, int(shift[0]), {}

    def passes(prefix: str, values: np.ndarray) -> tuple[int | None, ...]:
        out: list[int | None] = []
        for i, step in enumerate(_shift_passes(values)):
            out.append(operand(f"{prefix}{i}", step))
        return tuple(out)

    pre_shifts = passes("pre", pre)
    clamp = requant.acc_lo is not None
    if clamp:
        rows["lo"] = requant.vector("acc_lo", channels)
        rows["hi"] = requant.vector("acc_hi", channels)
    mult = operand("mul", requant.vector("multiplier", channels))
    post = operand("post", requant.vector("post_offset", channels))
    structure = ChannelRequant(pre_shifts, clamp, mult, post, passes("shr", shift))
    order = structure.row_names()
    return structure, 0, {name: rows[name].astype(np.int32) for name in order}


def _check_int(name: str, value: object, lo: int, hi: int, why: str = "") -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) \
            or not lo <= value <= hi:
        raise OperatorError(f"{name} must be an integer in [{lo}, {hi}]{why}, not {value!r}")
    return int(value)


@dataclass(frozen=True)
class Epilogue:
    """The fused element-wise tail of a conv2d/dense, applied to the int32 accumulator.

    Parameters
    ----------
    bias:
        True if a per-output-channel int32 bias is added first.
    shift:
        Arithmetic right shift in ``[0, 31]`` (0: none).
    clip:
        ``(lo, hi)`` int16 bounds applied after the shift, or None.
    residual:
        True if a second int8 tensor of the output's shape is added after the clip.
    residual_clip:
        ``(lo, hi)`` applied after the residual add (e.g. ReLU after a ResNet skip), or None.
    lshift, residual_lshift:
        Left shifts in ``[0, 31]`` of the clipped value and of the residual before they are
        added (the frontend ``qadd``'s ``lshift_a`` / ``lshift_b``), modulo 2**32.
    residual_offset:
        int32 added to the sum (``qadd``'s rounding ``offset``), at most
        :data:`MAX_OFFSET_IMMEDIATES` int16 ALU immediates (``|offset| <= 131068``).
    residual_shift:
        Arithmetic right shift in ``[0, 31]`` after the offset (``qadd``'s ``shift``).
    requant:
        The fixed-point requantization steps after the bias add (a
        :class:`ChannelRequant`), or None; ``shift`` must then be 0.
    pad_correction:
        Add the input zero point's correction to the rows whose window reaches into the
        padding (:mod:`vta.compiler.zero_point`), right after the bias.

    Raises
    ------
    OperatorError
        for a shift, bound or offset out of range, or residual parameters without
        ``residual=True``.
    """

    bias: bool = False
    shift: int = 0
    clip: tuple[int, int] | None = None
    residual: bool = False
    residual_clip: tuple[int, int] | None = None
    lshift: int = 0
    residual_lshift: int = 0
    residual_offset: int = 0
    residual_shift: int = 0
    requant: ChannelRequant | None = None
    pad_correction: bool = False

    def __post_init__(self) -> None:
        for name in ("shift", "lshift", "residual_lshift", "residual_shift"):
            object.__setattr__(self, name, _check_int(name, getattr(self, name), 0, 31))
        limit = 32767 * MAX_OFFSET_IMMEDIATES
        offset = _check_int("residual_offset", self.residual_offset,
                            -32768 * MAX_OFFSET_IMMEDIATES, limit,
                            f" ({MAX_OFFSET_IMMEDIATES} ALU immediates)")
        object.__setattr__(self, "residual_offset", offset)
        for name in ("clip", "residual_clip"):
            bounds = getattr(self, name)
            if bounds is None:
                continue
            if len(bounds) != 2 or not all(isinstance(b, (int, np.integer)) for b in bounds) \
                    or not -(1 << 15) <= bounds[0] <= bounds[1] < (1 << 15):
                raise OperatorError(f"{name} must be (lo, hi) integers with "
                                    f"-32768 <= lo <= hi <= 32767, not {bounds!r}")
            object.__setattr__(self, name, (int(bounds[0]), int(bounds[1])))
        if self.residual_clip is not None and not self.residual:
            raise OperatorError("residual_clip needs residual=True")
        if not self.residual and (self.lshift or self.residual_lshift or offset
                                  or self.residual_shift):
            raise OperatorError("lshift, residual_lshift, residual_offset and residual_shift "
                                "need residual=True")
        if self.requant is not None and not isinstance(self.requant, ChannelRequant):
            raise OperatorError(f"requant must be a ChannelRequant, not "
                                f"{type(self.requant).__name__}")
        if self.requant is not None and self.shift:
            raise OperatorError("an epilogue with requant steps takes its shifts from them "
                                f"(shift must be 0, not {self.shift})")
        object.__setattr__(self, "pad_correction", bool(self.pad_correction))

    @property
    def const_rows(self) -> tuple[str, ...]:
        """Names of the constant rows per output-channel block the steps read (the
        requantization's per-channel values), in their order in ACC."""
        return self.requant.row_names() if self.requant is not None else ()

    @property
    def multiplies(self) -> bool:
        """True if the epilogue uses the ALU MUL extension."""
        return self.requant is not None and self.requant.multiplies

    @property
    def rescaled(self) -> bool:
        """True if the residual add shifts or offsets (a rescaling ``qadd``)."""
        return bool(self.lshift or self.residual_lshift or self.residual_offset
                    or self.residual_shift)

    def alu_steps(self) -> tuple[AluStep, ...]:
        """The ALU instructions, in order, that compute this epilogue exactly on a tile
        (cached: the tiling search asks for them per candidate).

        The residual add ``((x << a) + (r << b) + off) >> s`` is lowered one of two ways:

        * in general, with ``m = min(a, b)``: ``(x << a) + (r << b) == ((x << a-m) +
          (r << b-m)) << m`` modulo 2**32, so at most one operand needs its own shift;
        * when ``b >= s`` and the clip bounds ``x`` so that nothing can wrap
          (``|x| 2**a + 128 2**b + |off| < 2**31``): ``r << b`` is a multiple of ``2**s``,
          so the result is ``((x << a) + off) >> s + (r << b-s)`` exactly -- for ResNet's
          ``b == s`` skip adds no shift of the residual rows at all.  Chosen when it takes
          fewer instructions.
        """
        return _alu_steps(self)

    def _build_alu_steps(self) -> tuple[AluStep, ...]:
        steps: list[AluStep] = []

        def clip(bounds: tuple[int, int] | None) -> None:
            if bounds is not None:
                steps.extend((AluStep(AluOp.MAX, "out", bounds[0]),
                              AluStep(AluOp.MIN, "out", bounds[1])))

        if self.bias:
            steps.append(AluStep(AluOp.ADD, "out", "bias"))
        if self.pad_correction:
            steps.append(AluStep(AluOp.ADD, "out", "pads"))
        if self.requant is not None:
            steps += self.requant.steps()
        steps += _shr_steps("out", self.shift)
        clip(self.clip)
        if self.residual:
            a, b, s = self.lshift, self.residual_lshift, self.residual_shift
            offset = [AluStep(AluOp.ADD, "out", imm)
                      for imm in add_immediates(self.residual_offset)]
            add = [AluStep(AluOp.ADD, "out", "residual")]
            m = min(a, b)
            general = (_shr_steps("out", a - m, True) + _shr_steps("residual", b - m, True)
                       + add + _shr_steps("out", m, True) + offset + _shr_steps("out", s))
            plan = general
            if b >= s and self._no_wrap():
                folded = (_shr_steps("out", a, True) + offset + _shr_steps("out", s)
                          + _shr_steps("residual", b - s, True) + add)
                plan = min(general, folded, key=len)
            steps += plan
        clip(self.residual_clip)
        return tuple(steps)

    def _no_wrap(self) -> bool:
        """True if the residual add cannot wrap: the clip bounds the value it reads."""
        if self.clip is None:
            return False
        x = max(abs(self.clip[0]), abs(self.clip[1]))
        return (x << self.lshift) + (128 << self.residual_lshift) \
            + abs(self.residual_offset) < 1 << 31

    @property
    def alu_passes(self) -> int:
        """ALU instructions per output tile that run one uop per output row (the border
        rows' zero-point correction is counted apart)."""
        return sum(1 for s in self.alu_steps() if s.src != "pads")


@functools.lru_cache(maxsize=256)
def _alu_steps(epilogue: Epilogue) -> tuple[AluStep, ...]:
    return epilogue._build_alu_steps()


NO_EPILOGUE = Epilogue()
"""The empty epilogue: the int32 sums truncated to int8."""


# ------------------------------------------------------------------------------ kernels
def alu_kernel(loops: tuple[tuple[int, int, int], ...], uops: tuple[tuple[int, int], ...],
               opcode: int, imm: int | None = None) -> Kernel:
    """An ALU kernel: ``loops`` of ``(extent, dst_factor, src_factor)``, ``uops`` of
    ``(dst, src)``; ``imm`` given means ``use_imm`` (src then mirrors dst)."""
    return Kernel("alu", tuple((e, d, s, 0) for e, d, s in loops),
                  tuple((d, s, 0) for d, s in uops), alu_opcode=int(opcode),
                  use_imm=imm is not None, imm=0 if imm is None else int(imm))


def epilogue_kernels(epilogue: Epilogue, loops: tuple[tuple[int, int, int], ...],
                     uops: tuple[tuple[int, int], ...], residual_delta: int = 0,
                     consts: tuple[int, int, int] | None = None,
                     pads: tuple[Kernel, ...] = ()) -> tuple[Kernel, ...]:
    """ALU kernels applying ``epilogue`` to an ACC tile (one per ``epilogue.alu_steps()``).

    Parameters
    ----------
    loops:
        ``(extent, dst_factor, bias_factor)`` hardware loops over the tile, outer first.
    uops:
        ``(dst, bias)`` absolute ACC indices of the loop body: an output row and the bias
        row for its channel block.
    residual_delta:
        ACC index distance from an output row to its residual row (same tile layout).
    consts:
        ``(bias_base, consts_base, stride)``: where the bias row of the tile's first
        channel block would be, where its constant rows start, and the rows per channel
        block (needed iff ``epilogue.const_rows``).
    pads:
        The border rows' zero-point correction kernels (empty for a tile without border
        rows), placed at the epilogue's ``"pads"`` step.
    """
    imm_loops = tuple((e, d, d) for e, d, _ in loops)
    rows = {"out": 0, "residual": residual_delta}
    const_index = {name: i for i, name in enumerate(epilogue.const_rows)}
    if const_index and consts is None:
        raise OperatorError("the epilogue reads constant rows: pass consts=(bias_base, "
                            "consts_base, stride)")
    out: list[Kernel] = []
    for step in epilogue.alu_steps():
        delta = rows[step.rows]
        if step.src == "bias":
            out.append(alu_kernel(loops, uops, step.op))
        elif step.src == "residual":
            out.append(alu_kernel(imm_loops, tuple((d, d + residual_delta) for d, _ in uops),
                                  step.op))
        elif step.src == "pads":
            out.extend(pads)
        elif isinstance(step.src, str):
            bias_base, consts_base, stride = consts  # type: ignore[misc]
            k = const_index[step.src]
            out.append(alu_kernel(tuple((e, d, b * stride) for e, d, b in loops),
                                  tuple((d, consts_base + k + (b - bias_base) * stride)
                                        for d, b in uops), step.op))
        else:
            out.append(alu_kernel(imm_loops, tuple((d + delta, d + delta) for d, _ in uops),
                                  step.op, step.src))
    return tuple(out)
