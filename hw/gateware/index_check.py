"""Range checks of the indices a GEMM/ALU uop computes (the compute pipeline's S1).

A uop's SRAM index is its base index plus ``i * factor_out + j * factor_in``.  The compute
module keeps those offsets exact (:data:`OFFSET_EXTRA_BITS` above the buffer's address
width, enough for any 14-bit loop counters and factors), so :func:`check_indices` can
compare the full sums with the buffer depths before the SRAM address drops the carry:

* the ACC destination of every GEMM and ALU uop;
* the INP source and the WGT index of a GEMM that does not reset;
* the ACC source of an ALU uop with a tensor operand.

At one uop the destination is reported before the sources
(:class:`vta.hw.program_errors.IndexOperand` order), as the functional simulator does.

``behind`` in a report counts the instructions the compute module has taken since the one
that failed (zero except for an ``ALU_OVERLAP`` ALU instruction, which runs from a queue
while the controller takes later ones), so the run guard can name the right instruction.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, Value
from amaranth.lib import wiring
from amaranth.lib.wiring import Out

from ..config import VTAConfig
from ..isa import LOOP_ITER_BITS
from ..program_errors import IndexOperand

__all__ = ["OFFSET_EXTRA_BITS", "BEHIND_BITS", "IndexErrorSignature", "check_indices"]

#: Bits the loop-nest offsets carry above the address width: i * f_out + j * f_in, with
#: 14-bit counters and factors no wider than the address, needs 15 more; the base index
#: one more.
OFFSET_EXTRA_BITS = LOOP_ITER_BITS + 2

#: Width of a report's ``behind`` count (instructions taken since the failing one, modulo).
BEHIND_BITS = 16


def IndexErrorSignature() -> wiring.Signature:  # noqa: N802 - a type factory
    """What the compute module reports (its view): ``valid`` pulses at a uop with an index
    beyond its buffer; the index, which operand (:class:`IndexOperand`), the uop and the
    loop position travel with it, and ``behind``: instructions taken since it."""
    return wiring.Signature({
        "valid": Out(1), "operand": Out(2), "value": Out(32), "uop": Out(16),
        "i": Out(LOOP_ITER_BITS), "j": Out(LOOP_ITER_BITS), "behind": Out(BEHIND_BITS)})


def check_indices(m: Module, config: VTAConfig, report, *, valid: Value, is_alu: Value,
                  reset: Value, use_imm: Value, uop, offsets: tuple[Value, Value, Value],
                  k: Value, i: Value, j: Value) -> None:
    """Drive ``report`` (an :func:`IndexErrorSignature` port, ``behind`` excepted) from the
    uop in S1.

    ``valid`` is S1's valid bit, ``is_alu``/``reset``/``use_imm`` its control bits (constants
    for a unit that runs only GEMMs or only ALU instructions), ``uop`` the uop read from the
    UOP buffer (``dst_idx``, ``src_idx``, ``wgt_idx``), ``offsets`` the exact (dst, src, wgt)
    loop offsets, ``k``/``i``/``j`` the uop's index and loop position.
    """
    c = config
    dst_off, src_off, wgt_off = offsets
    width = max(len(dst_off), len(src_off), len(wgt_off)) + 1
    dst, src, wgt = (Signal(width, name=f"{n}_full") for n in ("dst", "src", "wgt"))
    m.d.comb += [dst.eq(uop.dst_idx + dst_off), src.eq(uop.src_idx + src_off),
                 wgt.eq(uop.wgt_idx + wgt_off)]
    gemm_mac = ~is_alu & ~reset
    tensor_alu = is_alu & ~use_imm
    src_depth = Mux(is_alu, c.acc_depth, c.inp_depth)
    bad = {
        IndexOperand.DST: dst >= c.acc_depth,
        IndexOperand.SRC: (gemm_mac | tensor_alu) & (src >= src_depth),
        IndexOperand.WGT: gemm_mac & (wgt >= c.wgt_depth),
    }
    value = {IndexOperand.DST: dst, IndexOperand.SRC: src, IndexOperand.WGT: wgt}
    m.d.comb += [report.valid.eq(valid & (bad[IndexOperand.DST] | bad[IndexOperand.SRC]
                                          | bad[IndexOperand.WGT])),
                 report.uop.eq(k), report.i.eq(i), report.j.eq(j)]
    for operand in reversed(IndexOperand):      # the first operand that fails wins
        with m.If(bad[operand]):
            m.d.comb += [report.operand.eq(operand), report.value.eq(value[operand])]
