"""The token rules of the instruction stream, the fast encoder and the deadlock replay."""

import pytest
from vta.hw import VTAConfig, isa
from vta.runtime import CommandError
from vta.runtime import insn_stream as st
from vta.runtime.insn_encoding import RowEncoder
from vta.runtime.insn_stream import COMPUTE, LOAD, STORE, InsnStream


def _gemm():
    return [int(isa.Opcode.GEMM), 0, 0, 0, 0] + [0] * 12


def _load_inp():
    return [int(isa.Opcode.LOAD), 0, 0, 0, 0, int(isa.MemType.INP), 0, 0, 1, 1, 1] + [0] * 6


def _store():
    return [int(isa.Opcode.STORE), 0, 0, 0, 0, int(isa.MemType.OUT), 0, 0, 1, 1, 1] + [0] * 6


def flags(row):
    return tuple(row[1:5])   # pop_prev, pop_next, push_prev, push_next


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


def test_second_pending_pop_commits_a_nop_first():
    s = InsnStream()
    s.dep_pop(LOAD, COMPUTE)
    s.dep_pop(LOAD, COMPUTE)
    assert len(s) == 1 and flags(s.rows[0]) == (1, 0, 0, 0)
    assert s.rows[0][0] == isa.Opcode.LOAD and s.rows[0][5] == isa.MemType.UOP
    assert s.rows[0][9] == 0                 # x_size 0: a compute-stage NOP
    g = s.create(COMPUTE, _gemm())
    assert flags(g) == (1, 0, 0, 0)


def test_push_sets_flag_on_last_instruction_or_emits_nop():
    s = InsnStream()
    s.create(LOAD, _load_inp())
    s.dep_push(LOAD, COMPUTE)
    assert len(s) == 1 and flags(s.rows[0]) == (0, 0, 0, 1)
    s.dep_push(LOAD, COMPUTE)                # flag already set: a NOP carries the second
    assert len(s) == 2 and flags(s.rows[1]) == (0, 0, 0, 1) and s.rows[1][9] == 0
    s.dep_push(LOAD, COMPUTE)                # a LOAD NOP belongs to no stage (TVM)
    assert len(s) == 3
    s.create(STORE, _store())
    s.dep_push(COMPUTE, STORE)               # last is a store: NOP on compute
    assert len(s) == 5 and st.module_of(s.rows[4]) == COMPUTE
    assert flags(s.rows[4]) == (0, 0, 0, 1)


def test_push_commits_pending_pops_of_its_stage():
    s = InsnStream()
    s.dep_pop(COMPUTE, STORE)
    s.dep_push(STORE, COMPUTE)
    assert len(s) == 1 and flags(s.rows[0]) == (1, 0, 1, 0)   # committed NOP, then flag
    assert s.rows[0][0] == isa.Opcode.STORE and s.rows[0][5] == isa.MemType.OUT


def test_stage_pair_errors():
    s = InsnStream()
    with pytest.raises(CommandError, match="neighbouring stages"):
        s.dep_push(LOAD, STORE)
    with pytest.raises(CommandError, match="stages are 1 load, 2 compute, 3 store"):
        s.dep_pop(0, 1)


def test_token_totals_and_deadlock_replay():
    s = InsnStream()
    s.create(LOAD, _load_inp())
    s.dep_push(LOAD, COMPUTE)
    s.dep_pop(LOAD, COMPUTE)
    s.create(COMPUTE, _gemm())
    assert st.token_totals(s.rows) == {"l2c": 0, "c2l": 0, "c2s": 0, "s2c": 0}
    st.check_deadlock(s.rows, 4)
    s.dep_pop(STORE, COMPUTE)
    s.create(COMPUTE, _gemm())
    assert st.token_totals(s.rows)["s2c"] == -1
    with pytest.raises(CommandError, match="compute instruction 2 waits on s2c"):
        st.check_deadlock(s.rows, 4)


def test_deadlock_replay_models_the_fetch_queue_depth():
    # Compute pops a token that a load *later in the stream* pushes: fine while the fetch
    # unit can route past the blocked compute instructions, a deadlock once their queue
    # (2 entries) is full.
    s = InsnStream()
    s.dep_pop(LOAD, COMPUTE)
    for _ in range(3):
        s.create(COMPUTE, _gemm())
    s.create(LOAD, _load_inp())
    s.dep_push(LOAD, COMPUTE)
    assert st.token_totals(s.rows)["l2c"] == 0
    st.check_deadlock(s.rows, 8)
    with pytest.raises(CommandError, match="fetch stalled at instruction 2 \\(full compute"):
        st.check_deadlock(s.rows, 2)


@pytest.mark.parametrize("preset", ["default", "tiny"])
def test_row_encoder_matches_isa_encode(preset, rng):
    cfg = VTAConfig.preset(preset)
    layout = isa.layout_for(cfg)
    enc = RowEncoder(cfg)
    rows, insns = [], []
    for i in range(400):
        op = list(isa.Opcode)[i % 5]
        fmt = layout.formats[op]
        row = [int(op)] + [int(rng.integers(f.lo, f.hi + 1)) for f in fmt[1:]]
        if op == isa.Opcode.LOAD:
            row[5] = int(rng.integers(0, 6))
        row += [0] * (17 - len(row))
        rows.append(row)
        insns.append(enc.to_insn(row))
    assert enc.encode(rows) == isa.encode(insns, cfg)
    assert isa.Opcode(rows[2][0]) == isa.Opcode.GEMM
    bad = list(rows[2])
    bad[6] = 1 << 20
    with pytest.raises(CommandError, match="instruction 1 \\(GEMM\\): field uop_bgn"):
        enc.encode([rows[0], bad])


def test_dump_shows_running_token_counts():
    s = InsnStream()
    s.create(LOAD, _load_inp())
    s.dep_push(LOAD, COMPUTE)
    s.dep_pop(LOAD, COMPUTE)
    s.dep_pop(LOAD, COMPUTE)
    text = st.dump(s.rows, RowEncoder(VTAConfig.preset("tiny")))
    lines = text.splitlines()
    assert lines[0] == "2 instructions"
    assert "LOAD INP push_next" in lines[1] and "l2c=1" in lines[1]
    assert "NOP-COMPUTE pop_prev" in lines[2] and "l2c=0" in lines[2]
