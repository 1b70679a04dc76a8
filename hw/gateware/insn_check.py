"""The static checks of one instruction word, in hardware (fetch runs them on every word).

:class:`InsnCheck` flags the first failing check of
:func:`vta.hw.program_errors.check_instruction`, in the same order, so the gateware and
fsim reject the same programs with the same :class:`~vta.hw.program_errors.ErrorKind`:

1. ``OPCODE``: an opcode outside LOAD, STORE, GEMM, FINISH, ALU;
2. ``MEMORY_TYPE``: a LOAD of a type no module loads, a STORE of anything but OUT;
3. ``FLAG``: a dependency flag the instruction's module lacks, any flag on FINISH;
4. ``FINISH``: a FINISH before the last instruction, a last instruction that is no FINISH;
5. ``ALU_OPCODE``: an ALU opcode beyond MUL, or MUL without ``ALU_MUL``;
6. ``PADS``: a STORE with non-zero pads;
7. ``SRAM_RANGE``: a LOAD (pads included) or STORE of ``x_size > 0`` whose footprint ends
   beyond its buffer, a GEMM/ALU whose ``uop_end`` is beyond the UOP buffer.

The check is combinational on the word; one multiplier computes the footprint (rows x
row width of a LOAD, ``y_size x x_size`` of a STORE).
"""

from __future__ import annotations

import functools
import operator

from amaranth.hdl import Module, Mux, Signal, Value
from amaranth.lib.wiring import In, Out

from ..config import VTAConfig
from ..isa import AluOp, MemType, Opcode
from ..pipeline import LOADABLE, STORABLE, allowed_flags, fetch_queue
from ..program_errors import PADS, ErrorKind
from .component import ConfiguredComponent
from .formats import header_layout, insn_layouts

__all__ = ["InsnCheck", "KIND_BITS"]

KIND_BITS = 4
assert max(ErrorKind) < 1 << KIND_BITS


def _any(values: list[Value]) -> Value:
    return functools.reduce(operator.or_, values) if values else Value.cast(0)


class InsnCheck(ConfiguredComponent):
    """Combinational static checks of one instruction.

    Parameters
    ----------
    config : VTAConfig
        Buffer depths, the ISA layout and ``ALU_MUL``.

    Members
    -------
    word : In(insn_width)
        The instruction.
    index, count : In(32)
        Its position in the stream and the stream's length.
    error : Out(1)
        Some check fails.
    kind : Out(KIND_BITS)
        The :class:`~vta.hw.program_errors.ErrorKind` of the first failing check.
    """

    def _ports(self, c: VTAConfig) -> dict:
        return {"word": In(c.insn_width), "index": In(32), "count": In(32),
                "error": Out(1), "kind": Out(KIND_BITS)}

    def elaborate(self, platform) -> Module:
        m = Module()
        c = self._config
        layouts = insn_layouts(c)
        hdr = header_layout(c)(self.word)
        mem = layouts[Opcode.LOAD](self.word)       # STORE shares the memory format
        gemm = layouts[Opcode.GEMM](self.word)      # ALU shares uop_end
        alu = layouts[Opcode.ALU](self.word)
        op = hdr.opcode
        is_op = {o: op == o for o in Opcode}
        mt = mem.memory_type
        is_mt = {t: mt == t for t in MemType}

        bad_opcode = ~_any(list(is_op.values()))
        bad_type = ((is_op[Opcode.LOAD] & ~_any([is_mt[t] for t in LOADABLE]))
                    | (is_op[Opcode.STORE] & ~_any([is_mt[t] for t in STORABLE])))

        # Flags: each routing target of a valid word has its allowed flags.
        flags = {name: getattr(hdr, name) for name in ("pop_prev", "pop_next", "push_prev",
                                                       "push_next")}
        routes = {}
        for o in (Opcode.LOAD, Opcode.STORE, Opcode.GEMM, Opcode.ALU):
            types = list(MemType) if o in (Opcode.LOAD, Opcode.STORE) else [MemType.INP]
            for t in types:
                stage = fetch_queue(o, t)
                cond = is_op[o] & (is_mt[t] if o in (Opcode.LOAD, Opcode.STORE) else 1)
                routes.setdefault(stage, []).append(cond)
        bad_flag = is_op[Opcode.FINISH] & _any(list(flags.values()))
        for stage, conds in routes.items():
            lacking = [flags[f] for f in flags if f not in allowed_flags(stage)]
            bad_flag |= _any(conds) & _any(lacking)

        last = self.index == self.count - 1
        bad_finish = Mux(is_op[Opcode.FINISH], ~last, last)

        alu_op = alu.alu_opcode
        first_bad = AluOp.MUL + 1 if c.ALU_MUL else AluOp.MUL
        bad_alu = is_op[Opcode.ALU] & (alu_op >= first_bad)
        bad_pads = is_op[Opcode.STORE] & _any([getattr(mem, p) != 0 for p in PADS])

        # Footprint: LOAD (y_pad_0 + y_size + y_pad_1) x (x_pad_0 + x_size + x_pad_1),
        # STORE y_size x x_size, from sram_base; checked when x_size != 0.
        rows = Signal(18)
        cols = Signal(18)
        m.d.comb += [
            rows.eq(Mux(is_op[Opcode.LOAD], mem.y_pad_0 + mem.y_size + mem.y_pad_1,
                        mem.y_size)),
            cols.eq(Mux(is_op[Opcode.LOAD], mem.x_pad_0 + mem.x_size + mem.x_pad_1,
                        mem.x_size)),
        ]
        end = Signal(40)
        m.d.comb += end.eq(mem.sram_base + rows * cols)
        depth = Signal(range(max(c.depth(t) for t in MemType) + 1))
        with m.Switch(mt):
            for t in MemType:
                with m.Case(t):
                    m.d.comb += depth.eq(c.depth(t))
        is_mem = is_op[Opcode.LOAD] | is_op[Opcode.STORE]
        bad_sram = ((is_mem & (mem.x_size != 0) & (end > depth))
                    | ((is_op[Opcode.GEMM] | is_op[Opcode.ALU]) & (gemm.uop_end > c.uop_depth)))

        checks = [(ErrorKind.OPCODE, bad_opcode), (ErrorKind.MEMORY_TYPE, bad_type),
                  (ErrorKind.FLAG, bad_flag), (ErrorKind.FINISH, bad_finish),
                  (ErrorKind.ALU_OPCODE, bad_alu), (ErrorKind.PADS, bad_pads),
                  (ErrorKind.SRAM_RANGE, bad_sram)]
        m.d.comb += self.error.eq(_any([bad for _, bad in checks]))
        for kind, bad in reversed(checks):      # the first failing check wins
            with m.If(bad):
                m.d.comb += self.kind.eq(kind)
        return m
