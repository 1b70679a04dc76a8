"""The instruction stream's rows and TVM's token rules (pending pops, push merging, NOPs)."""

import pytest
from vta.hw import isa
from vta.hw.errors import IsaError
from vta.hw.insn_stream import (
    COLUMNS,
    MEMORY_TYPE,
    ROW_WIDTH,
    X_SIZE,
    InsnStream,
    from_row,
    stage_of_row,
    to_row,
)
from vta.hw.pipeline import Stage

LOAD, COMPUTE, STORE = Stage.LOAD, Stage.COMPUTE, Stage.STORE


def _gemm():
    return to_row(isa.Gemm())


def _load_inp():
    return to_row(isa.Load(memory_type=isa.MemType.INP, y_size=1, x_size=1, x_stride=1))


def _store():
    return to_row(isa.Store(y_size=1, x_size=1, x_stride=1))


def flags(row):
    return tuple(row[1:5])   # pop_prev, pop_next, push_prev, push_next


def test_rows_follow_the_isa_formats():
    assert ROW_WIDTH == max(len(f) for f in isa.FORMAT_FIELDS.values()) == 17
    assert (MEMORY_TYPE, X_SIZE) == (5, 9)
    assert COLUMNS[isa.Opcode.ALU]["imm"] == 16
    insns = [isa.Load(memory_type=isa.MemType.ACC, sram_base=3, dram_base=7, y_size=2,
                      x_size=5, x_stride=9, y_pad_0=1, x_pad_1=2, push_prev=1),
             isa.Store(sram_base=1, y_size=1, x_size=2, x_stride=2, pop_prev=1),
             isa.Gemm(reset=1, uop_bgn=2, uop_end=9, iter_out=3, wgt_factor_in=4),
             isa.Alu(alu_opcode=isa.AluOp.SHR, use_imm=1, imm=-3, src_factor_in=2),
             isa.Finish()]
    for insn in insns:
        row = to_row(insn)
        assert len(row) == ROW_WIDTH and from_row(row) == insn
    assert [stage_of_row(to_row(i)) for i in insns] == [COMPUTE, STORE, COMPUTE, COMPUTE,
                                                        COMPUTE]


def test_pending_pop_attaches_to_next_instruction_of_its_stage():
    s = InsnStream()
    s.dep_pop(LOAD, COMPUTE)
    s.create(LOAD, _load_inp())              # another stage: does not take the pop
    g = s.create(COMPUTE, _gemm())
    assert flags(s.rows[0]) == (0, 0, 0, 0)
    assert flags(g) == (1, 0, 0, 0)
    s.dep_pop(STORE, COMPUTE)
    s.dep_pop(LOAD, COMPUTE)
    g = s.create(COMPUTE, _gemm())
    assert flags(g) == (1, 1, 0, 0)          # both directions on one instruction


def test_emit_routes_and_keeps_the_instructions_own_flags():
    s = InsnStream()
    s.dep_pop(STORE, COMPUTE)
    s.emit(isa.Load(memory_type=isa.MemType.WGT, x_size=1, y_size=1, x_stride=1))
    row = s.emit(isa.Gemm(push_next=1))
    assert flags(row) == (0, 1, 0, 1) and flags(s.rows[0]) == (0, 0, 0, 0)
    assert s.insns[1] == isa.Gemm(pop_next=1, push_next=1)
    with pytest.raises(IsaError, match="ACC.*cannot be stored"):
        s.emit(isa.Store(memory_type=isa.MemType.ACC))
    s.emit(isa.Store(memory_type=isa.MemType.ACC), COMPUTE)   # deliberately misrouted
    assert len(s) == 3


def test_second_pending_pop_commits_a_nop_first():
    s = InsnStream()
    s.dep_pop(LOAD, COMPUTE)
    s.dep_pop(LOAD, COMPUTE)
    assert len(s) == 1 and flags(s.rows[0]) == (1, 0, 0, 0)
    assert s.rows[0][0] == isa.Opcode.LOAD and s.rows[0][MEMORY_TYPE] == isa.MemType.UOP
    assert s.rows[0][X_SIZE] == 0            # x_size 0: a compute-stage NOP
    g = s.create(COMPUTE, _gemm())
    assert flags(g) == (1, 0, 0, 0)


def test_push_sets_flag_on_last_instruction_or_emits_nop():
    s = InsnStream()
    s.create(LOAD, _load_inp())
    s.dep_push(LOAD, COMPUTE)
    assert len(s) == 1 and flags(s.rows[0]) == (0, 0, 0, 1)
    s.dep_push(LOAD, COMPUTE)                # flag already set: a NOP carries the second
    assert len(s) == 2 and flags(s.rows[1]) == (0, 0, 0, 1) and s.rows[1][X_SIZE] == 0
    s.dep_push(LOAD, COMPUTE)                # a LOAD NOP belongs to no stage (TVM)
    assert len(s) == 3
    s.create(STORE, _store())
    s.dep_push(COMPUTE, STORE)               # last is a store: NOP on compute
    assert len(s) == 5 and stage_of_row(s.rows[4]) == COMPUTE
    assert flags(s.rows[4]) == (0, 0, 0, 1)


def test_push_commits_pending_pops_of_its_stage():
    s = InsnStream()
    s.dep_pop(COMPUTE, STORE)
    s.dep_push(STORE, COMPUTE)
    assert len(s) == 1 and flags(s.rows[0]) == (1, 0, 1, 0)   # committed NOP, then flag
    assert s.rows[0][0] == isa.Opcode.STORE and s.rows[0][MEMORY_TYPE] == isa.MemType.OUT


def test_stage_pair_errors():
    s = InsnStream()
    with pytest.raises(IsaError, match="neighbouring stages"):
        s.dep_push(LOAD, STORE)
    with pytest.raises(IsaError, match="no stage 0: stages are 1 load, 2 compute, 3 store"):
        s.dep_pop(0, 1)
