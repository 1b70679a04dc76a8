"""The vector ALU's lane operation: MIN, MAX, ADD, SHR (and MUL with ``ALU_MUL``).

Every lane is an int32 accumulator value; the whole ACC row is processed in parallel, so
the compute pipeline retires one ALU uop per cycle.  Semantics (SPEC section 5, bit-exact
with the functional simulator): MIN/MAX signed, ADD and MUL wrap modulo 2**32, SHR shifts
arithmetically right by the operand's low ``LOG_ACC_WIDTH`` bits read as a signed
number; a negative amount shifts left instead (by up to ``acc_width / 2``).
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal, Value
from amaranth.lib.wiring import In, Out

from ..config import VTAConfig
from ..isa import ALU_OPCODE_BITS, AluOp
from .component import ConfiguredComponent

__all__ = ["AluCore", "alu_row", "alu_lane"]


def alu_lane(m: Module, config: VTAConfig, opcode: Value, a: Value, b: Value) -> Value:
    """One lane: ``op(a, b)`` for 32-bit operands ``a`` (dst) and ``b`` (src or immediate).

    Parameters
    ----------
    m : Module
        Module the combinational logic is added to.
    config : VTAConfig
        Accumulator width and whether MUL exists.
    opcode : Value
        The ALU opcode (3 bits).
    a, b : Value
        Lane operands, ``config.acc_width`` bits each (two's complement).
    """
    w = config.acc_width
    sa, sb = a.as_signed(), b.as_signed()
    amount_bits = config.LOG_ACC_WIDTH
    amount = b[:amount_bits].as_signed()
    shr = Signal(w)
    with m.If(amount >= 0):
        m.d.comb += shr.eq(sa >> amount[:amount_bits - 1])
    with m.Else():
        m.d.comb += shr.eq(a << (-amount).as_unsigned())
    result = Signal(w)
    with m.Switch(opcode):
        with m.Case(AluOp.MIN):
            m.d.comb += result.eq(Mux(sa < sb, a, b))
        with m.Case(AluOp.MAX):
            m.d.comb += result.eq(Mux(sa < sb, b, a))
        with m.Case(AluOp.ADD):
            m.d.comb += result.eq(a + b)
        with m.Case(AluOp.SHR):
            m.d.comb += result.eq(shr)
        if config.ALU_MUL:
            with m.Case(AluOp.MUL):
                m.d.comb += result.eq(a * b)
        with m.Default():
            m.d.comb += result.eq(a)       # an opcode this build lacks leaves dst unchanged
    return result


def alu_row(m: Module, config: VTAConfig, opcode: Value, a: Value, b: Value) -> Value:
    """A whole ACC row (``batch * block_out`` lanes of ``acc_width`` bits) lane by lane."""
    w = config.acc_width
    lanes = config.batch * config.block_out
    return Cat(*(alu_lane(m, config, opcode, a.word_select(i, w), b.word_select(i, w))
                 for i in range(lanes)))


class AluCore(ConfiguredComponent):
    """The vector ALU as a block: ``result = op(a, b)`` on every lane of an ACC row.

    Combinational (the compute pipeline registers around it).

    Members
    -------
    opcode : In(3)
        ALU opcode (MIN 0, MAX 1, ADD 2, SHR 3, MUL 4 with ``ALU_MUL``).
    a, b : In(batch * block_out * acc_width)
        Destination row and source row (or the broadcast immediate).
    result : Out(batch * block_out * acc_width)
    """

    def _ports(self, config: VTAConfig) -> dict:
        width = config.acc_elem_bytes * 8
        return {"opcode": In(ALU_OPCODE_BITS), "a": In(width), "b": In(width),
                "result": Out(width)}

    def elaborate(self, platform) -> Module:
        m = Module()
        m.d.comb += self.result.eq(alu_row(m, self._config, self.opcode, self.a, self.b))
        return m
