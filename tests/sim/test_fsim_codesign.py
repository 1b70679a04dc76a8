"""The co-design knobs in the functional simulator (directed programs, numpy references).

``GEMM_OVERWRITE``: a GEMM with the ``overwrite`` flag writes its products instead of
adding them (the last uop wins for a row written twice), and a config without the knob
has no such field.  ``ALU_OVERLAP``: rule 5 of :mod:`vta.hw.pipeline` (a GEMM must not
use an accumulator bank an ALU instruction since the last barrier uses) is enforced with
a message naming both instructions, a compute LOAD is a barrier, and a loop nest too big
for one plan (run in chunks) is still checked and computed.
"""

from __future__ import annotations

import numpy as np
import pytest
from vta.hw import VTAConfig, isa
from vta.hw.errors import IsaError
from vta.hw.insn_stream import InsnStream
from vta.hw.isa import AluOp, MemType
from vta.sim.fsim import FsimError

from tests.sim.fsim_programs import Machine
from tests.sim.test_fsim_semantics import store_tail

TINY = VTAConfig.preset("tiny")
CODESIGN = TINY.replace(GEMM_OVERWRITE=True, ALU_OVERLAP=True)
RNG = np.random.default_rng(18)


def _operands(m: Machine) -> tuple[np.ndarray, np.ndarray, int, int]:
    """One INP and two WGT blocks in DRAM; returns the arrays and the loads' bases."""
    c = m.cfg
    inp = RNG.integers(-128, 128, (1, c.batch, c.block_in), dtype=np.int8)
    wgt = RNG.integers(-128, 128, (2, c.block_out, c.block_in), dtype=np.int8)
    return inp, wgt, m.put(MemType.INP, inp), m.put(MemType.WGT, wgt)


def _gemm_program(m: Machine, overwrite: int) -> tuple[InsnStream, np.ndarray, int]:
    """ACC[0] = a; one GEMM of two uops into ACC[0] (weights 0 then 1) with ``overwrite``;
    returns the stream, the expected row and the OUT base in DRAM."""
    c = m.cfg
    inp, wgt, inp_base, wgt_base = _operands(m)
    a = RNG.integers(-1000, 1000, (1, c.batch, c.block_out), dtype=np.int64).astype(np.int32)
    s = InsnStream()
    s.emit(m.uop_load([isa.Uop(dst_idx=0, src_idx=0, wgt_idx=0),
                       isa.Uop(dst_idx=0, src_idx=0, wgt_idx=1)]))
    s.emit(isa.Load(memory_type=MemType.ACC, dram_base=m.put(MemType.ACC, a), y_size=1,
                    x_size=1, x_stride=1))
    s.emit(isa.Load(memory_type=MemType.INP, dram_base=inp_base, y_size=1, x_size=1,
                    x_stride=1))
    s.emit(isa.Load(memory_type=MemType.WGT, dram_base=wgt_base, y_size=1, x_size=2,
                    x_stride=2))
    s.emit(isa.Gemm(uop_bgn=0, uop_end=2, iter_out=1, iter_in=1, overwrite=overwrite))
    products = [inp[0].astype(np.int64) @ wgt[k].T.astype(np.int64) for k in (0, 1)]
    expected = products[1] if overwrite else a[0] + products[0] + products[1]
    return s, expected, store_tail(m, s, 1)


@pytest.mark.parametrize("overwrite", [0, 1])
def test_overwrite_writes_the_last_product(overwrite):
    m = Machine(CODESIGN)
    s, expected, out = _gemm_program(m, overwrite)
    m.run(s, check_reference=True)
    want = (expected.astype(np.int64) & 0xFF).astype(np.uint8).view(np.int8)
    assert np.array_equal(m.read_out(out, 1)[0], want)


def test_overwrite_needs_the_knob():
    with pytest.raises(IsaError, match="overwrite"):
        isa.encode([isa.Gemm(overwrite=1), isa.Finish()], TINY)


def _bank_program(m: Machine, gemm_row: int, barrier: bool) -> list:
    """An ALU instruction on ACC row ``half`` (the upper bank), then a GEMM on
    ``gemm_row``, with or without a compute LOAD (a barrier) between them."""
    half = m.cfg.acc_depth // 2
    insns = [m.uop_load([isa.Uop(dst_idx=half, src_idx=half), isa.Uop(dst_idx=gemm_row)]),
             isa.Alu(alu_opcode=AluOp.ADD, use_imm=1, imm=1, uop_bgn=0, uop_end=1,
                     iter_out=1, iter_in=1)]
    if barrier:
        insns.append(isa.Load(memory_type=MemType.UOP))          # a compute no-op
    insns += [isa.Gemm(uop_bgn=1, uop_end=2, iter_out=1, iter_in=1), isa.Finish()]
    return insns


def test_gemm_on_the_bank_of_a_running_alu_is_refused():
    m = Machine(CODESIGN)
    half = m.cfg.acc_depth // 2
    with pytest.raises(FsimError, match=r"instruction 2 \(GEMM\) uses accumulator bank 1 "
                                        rf"\(rows {half}\.\.{2 * half - 1}\), which ALU "
                                        r"instruction 1 uses"):
        m.run(_bank_program(m, half + 3, barrier=False))


@pytest.mark.parametrize(("row", "barrier"), [(0, False), (5, True)])
def test_gemm_on_the_other_bank_or_after_a_barrier_runs(row, barrier):
    m = Machine(CODESIGN)
    half = m.cfg.acc_depth // 2
    m.run(_bank_program(m, row if not barrier else half + row, barrier))


def test_the_rule_is_only_for_the_overlap_knob():
    m = Machine(TINY)
    half = m.cfg.acc_depth // 2
    m.run(_bank_program(m, half + 3, barrier=False))


def test_a_chunked_nest_is_bank_checked_and_computed():
    """An ALU nest of more uop executions than one plan holds runs in chunks (every ACC
    row, 2048 times); its banks come from its extreme rows, so a GEMM on the upper bank
    after it is refused."""
    m = Machine(CODESIGN)
    depth = m.cfg.acc_depth
    repeats = (1 << 20) // depth                  # 2**20 executions: > fsim's chunk size
    insns = [m.uop_load([isa.Uop(dst_idx=0), isa.Uop(dst_idx=depth // 2)]),
             isa.Alu(alu_opcode=AluOp.ADD, use_imm=1, imm=1, uop_bgn=0, uop_end=1,
                     iter_out=repeats, iter_in=depth, dst_factor_in=1),
             isa.Gemm(uop_bgn=1, uop_end=2, iter_out=1, iter_in=1), isa.Finish()]
    with pytest.raises(FsimError, match=r"instruction 2 \(GEMM\) uses accumulator bank 1"):
        m.run(insns)
    assert (m.sim.acc == repeats).all()
