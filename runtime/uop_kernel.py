"""Micro-kernels: a uop sequence inside at most two nested loops, recorded once.

A :class:`KernelBuilder` records a kernel the way TVM's ``UopKernel`` does: loops are
declared first (``loop_begin`` before any uop, at most two), then uops are pushed; every
uop of a kernel shares the mode (GEMM or ALU), the reset flag and, for ALU, the opcode and
immediate.  :meth:`KernelBuilder.finish` checks the whole loop nest against the SRAM depths
and freezes the result into a :class:`UopKernel` whose uops are already encoded.

Loop mapping onto the instruction (as TVM): GEMM puts the first loop outside and the
second inside; an ALU kernel with a single loop uses it as the *inner* loop.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from vta.hw import isa
from vta.hw.config import VTAConfig

from .errors import CommandError

__all__ = ["GEMM_MODE", "ALU_MODE", "Loop", "UopKernel", "KernelBuilder"]

GEMM_MODE = 0
ALU_MODE = 1
_MODE_NAMES = {GEMM_MODE: "GEMM", ALU_MODE: "ALU"}
_MAX_EXTENT = (1 << isa.LOOP_ITER_BITS) - 1


@dataclass(frozen=True)
class Loop:
    """One loop level: ``extent`` iterations adding the factors to the uop indices."""

    extent: int
    dst_factor: int
    src_factor: int
    wgt_factor: int


@dataclass(frozen=True, eq=False)
class UopKernel:
    """A recorded micro-kernel (compared by identity; the queue caches it by ``key``).

    Members
    -------
    key:
        The user's cache key.
    mode:
        :data:`GEMM_MODE` or :data:`ALU_MODE`.
    reset:
        1 when the kernel zeroes its accumulator rows (GEMM reset).
    alu_opcode, use_imm, imm:
        ALU operation (0 for GEMM kernels).
    loops:
        Zero, one or two :class:`Loop` levels, outermost first.
    uops:
        The :class:`~vta.hw.isa.Uop` sequence.
    encoded:
        The uops encoded for the uop buffer (uint32, or uint64 with ``WIDE_ISA``).
    """

    key: Any
    mode: int
    reset: int
    alu_opcode: int
    use_imm: int
    imm: int
    loops: tuple[Loop, ...]
    uops: tuple[isa.Uop, ...]
    encoded: np.ndarray

    @property
    def size(self) -> int:
        return len(self.uops)

    def loop_fields(self) -> tuple[int, int, int, int, int, int, int, int]:
        """``(iter_out, iter_in, dst_out, dst_in, src_out, src_in, wgt_out, wgt_in)``."""
        loops = self.loops
        one = Loop(1, 0, 0, 0)
        if self.mode == ALU_MODE and len(loops) == 1:
            outer, inner = one, loops[0]
        else:
            outer = loops[0] if loops else one
            inner = loops[1] if len(loops) > 1 else one
        return (outer.extent, inner.extent, outer.dst_factor, inner.dst_factor,
                outer.src_factor, inner.src_factor, outer.wgt_factor, inner.wgt_factor)

    def __repr__(self) -> str:
        return (f"UopKernel(key={self.key!r}, {_MODE_NAMES[self.mode]}, {self.size} uops, "
                f"loops={[lp.extent for lp in self.loops]})")


class KernelBuilder:
    """Records one micro-kernel (TVM's ``VTAUopLoopBegin/End`` and ``VTAUopPush``).

    Parameters
    ----------
    config:
        The hardware configuration (SRAM depths, field widths).
    key:
        The cache key the kernel is recorded under (used in messages).
    """

    def __init__(self, config: VTAConfig, key: Any = None) -> None:
        self.config = config
        self.key = key
        self._loops: list[Loop] = []
        self._open = 0
        self._uops: list[isa.Uop] = []
        self._mode: int | None = None
        self._reset: int | None = None
        self._alu: tuple[int, int, int] | None = None

    def _fail(self, message: str) -> CommandError:
        return CommandError(f"micro-kernel {self.key!r}: {message}")

    # ------------------------------------------------------------------ loops
    def loop_begin(self, extent: int, dst_factor: int, src_factor: int,
                   wgt_factor: int = 0) -> None:
        """Open a loop level (before any uop; at most two levels)."""
        if self._uops:
            raise self._fail("loops must be declared before the first uop")
        if len(self._loops) >= 2:
            raise self._fail("at most two nested loops")
        for name, v in (("dst_factor", dst_factor), ("src_factor", src_factor),
                        ("wgt_factor", wgt_factor)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
                raise self._fail(f"loop {name} must be a non-negative integer, not {v!r}")
        if isinstance(extent, bool) or not isinstance(extent, (int, np.integer)) \
                or not 1 <= extent <= _MAX_EXTENT:
            raise self._fail(f"loop extent must be in [1, {_MAX_EXTENT}], not {extent!r}")
        self._loops.append(Loop(int(extent), int(dst_factor), int(src_factor),
                                int(wgt_factor)))
        self._open += 1

    def loop_end(self) -> None:
        """Close the innermost open loop level."""
        if self._open == 0:
            raise self._fail("loop_end without a matching loop_begin")
        self._open -= 1

    @contextlib.contextmanager
    def loop(self, extent: int, dst_factor: int, src_factor: int,
             wgt_factor: int = 0) -> Iterator[None]:
        """``with k.loop(...):`` -- ``loop_begin`` on entry, ``loop_end`` on exit."""
        self.loop_begin(extent, dst_factor, src_factor, wgt_factor)
        yield
        self.loop_end()

    # ------------------------------------------------------------------ uops
    def push(self, mode: int, reset: int | bool, dst: int, src: int, wgt: int = 0,
             opcode: int = 0, use_imm: int | bool = 0, imm: int = 0) -> None:
        """Append a uop (TVM's ``VTAUopPush`` argument order)."""
        if mode not in _MODE_NAMES:
            raise self._fail(f"mode must be 0 (GEMM) or 1 (ALU), not {mode!r}")
        for name, v in (("dst", dst), ("src", src), ("wgt", wgt)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
                raise self._fail(f"uop {name} index must be a non-negative integer, not {v!r}")
        reset = int(bool(reset))
        if self._mode is None:
            self._mode, self._reset = mode, reset
        elif self._mode != mode:
            raise self._fail(f"mixes {_MODE_NAMES[self._mode]} and {_MODE_NAMES[mode]} uops")
        elif self._reset != reset:
            raise self._fail("mixes reset and non-reset uops")
        if mode == ALU_MODE:
            alu = self._check_alu(opcode, use_imm, imm)
            if self._alu is None:
                self._alu = alu
            elif self._alu != alu:
                raise self._fail(f"mixes ALU operations {self._alu} and {alu} "
                                 f"(opcode, use_imm, imm)")
        # TVM's VerifyDep: the same accumulator row may not be written by two uops in a row.
        if any(u.dst_idx == dst for u in self._uops[-2:]):
            raise self._fail(f"uop {len(self._uops)} writes accumulator row {dst} within two "
                             f"uops of an earlier write (a pipeline hazard)")
        self._uops.append(isa.Uop(int(dst), int(src), int(wgt)))

    def _check_alu(self, opcode: Any, use_imm: Any, imm: Any) -> tuple[int, int, int]:
        try:
            op = isa.AluOp(opcode)
        except ValueError:
            raise self._fail(f"unknown ALU opcode {opcode!r}; expected one of "
                             f"{', '.join(o.name for o in isa.AluOp)}") from None
        if op == isa.AluOp.MUL and not self.config.ALU_MUL:
            raise self._fail("ALU MUL needs a config with ALU_MUL=true")
        if isinstance(imm, bool) or not isinstance(imm, (int, np.integer)) \
                or not -(1 << 15) <= imm < 1 << 15:
            raise self._fail(f"ALU immediate must be a signed 16-bit integer, not {imm!r}")
        return int(op), int(bool(use_imm)), int(imm)

    def gemm(self, dst: int, src: int, wgt: int, reset: bool = False) -> None:
        """``ACC[dst] += INP[src] . WGT[wgt]^T`` (or zero ``ACC[dst]`` when ``reset``)."""
        self.push(GEMM_MODE, reset, dst, src, wgt)

    def alu(self, op: int | str, dst: int, src: int = 0, imm: int | None = None) -> None:
        """``ACC[dst] = op(ACC[dst], imm if given else ACC[src])``; ``op`` a name or AluOp."""
        if isinstance(op, str):
            try:
                op = isa.AluOp[op.upper()]
            except KeyError:
                raise self._fail(f"unknown ALU operation {op!r}") from None
        self.push(ALU_MODE, 0, dst, src, 0, int(op), imm is not None, 0 if imm is None else imm)

    # ------------------------------------------------------------------ result
    def finish(self) -> UopKernel:
        """Check the kernel against the SRAM depths and freeze it.

        Raises :class:`CommandError` for an empty or unbalanced kernel, an index that the
        loop nest drives outside its SRAM, a factor or index too wide for its field, or a
        kernel larger than the uop buffer.
        """
        c = self.config
        if not self._uops:
            raise self._fail("records no uops")
        if self._open:
            raise self._fail(f"{self._open} loop(s) not closed with loop_end")
        if len(self._uops) > c.uop_depth:
            raise self._fail(f"has {len(self._uops)} uops, more than the uop buffer holds "
                             f"({c.uop_depth})")
        mode = self._mode
        alu = mode == ALU_MODE
        checks = [("dst", "dst_idx", "dst_factor", c.acc_depth, "ACC", c.log_acc_depth),
                  ("src", "src_idx", "src_factor", c.acc_depth if alu else c.inp_depth,
                   "ACC" if alu else "INP", c.log_acc_depth if alu else c.log_inp_depth)]
        if not alu:
            checks.append(("wgt", "wgt_idx", "wgt_factor", c.wgt_depth, "WGT",
                           c.log_wgt_depth))
        for what, idx, fac, depth, mem, bits in checks:
            for lp in self._loops:
                if getattr(lp, fac) >= 1 << bits:
                    raise self._fail(f"loop {fac}={getattr(lp, fac)} does not fit its "
                                     f"{bits}-bit field")
            reach = sum((lp.extent - 1) * getattr(lp, fac) for lp in self._loops)
            top = max(getattr(u, idx) for u in self._uops)
            if top + reach >= depth:
                raise self._fail(f"{what} index reaches {top + reach}, outside the {mem} "
                                 f"buffer (depth {depth})")
        if alu:
            uops = tuple(isa.Uop(u.dst_idx, u.src_idx, 0) for u in self._uops)
            opcode, use_imm, imm = self._alu  # type: ignore[misc]
        else:
            uops = tuple(self._uops)
            opcode = use_imm = imm = 0
        layout = isa.layout_for(c)
        fd, fs, fw = (layout.uop_field(n) for n in ("dst_idx", "src_idx", "wgt_idx"))
        words = np.array([(u.dst_idx, u.src_idx, u.wgt_idx) for u in uops], dtype=np.uint64)
        packed = (words[:, 0] << np.uint64(fd.lsb)) | (words[:, 1] << np.uint64(fs.lsb)) \
            | (words[:, 2] << np.uint64(fw.lsb))
        encoded = packed.astype("<u4" if c.uop_elem_bytes == 4 else "<u8")
        return UopKernel(self.key, mode, self._reset or 0, opcode, use_imm, imm,
                         tuple(self._loops), uops, encoded)
