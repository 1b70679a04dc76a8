"""Token totals, the deadlock replay and the dump of a stream; the fast row encoder."""

import pytest
from vta.hw import VTAConfig, isa
from vta.hw.insn_stream import ROW_WIDTH, InsnStream, from_row, to_row
from vta.hw.pipeline import Stage
from vta.runtime import CommandError
from vta.runtime.insn_encoding import RowEncoder
from vta.runtime.stream_tokens import check_deadlock, dump, token_totals

LOAD, COMPUTE, STORE = Stage.LOAD, Stage.COMPUTE, Stage.STORE


GEMM = isa.Gemm()
LOAD_INP = isa.Load(memory_type=isa.MemType.INP, y_size=1, x_size=1, x_stride=1)


def test_token_totals_and_deadlock_replay():
    s = InsnStream()
    s.emit(LOAD_INP)
    s.dep_push(LOAD, COMPUTE)
    s.dep_pop(LOAD, COMPUTE)
    s.emit(GEMM)
    assert token_totals(s.rows) == {"l2c": 0, "c2l": 0, "c2s": 0, "s2c": 0}
    check_deadlock(s.rows, 4)
    s.dep_pop(STORE, COMPUTE)
    s.emit(GEMM)
    assert token_totals(s.rows)["s2c"] == -1
    with pytest.raises(CommandError, match="compute instruction 2 waits on s2c"):
        check_deadlock(s.rows, 4)


def test_deadlock_replay_rejects_a_flag_the_stage_lacks():
    rows = [to_row(isa.Load(memory_type=isa.MemType.INP, push_prev=1)), to_row(isa.Finish())]
    with pytest.raises(CommandError, match="instruction 0 \\(load stage\\) sets a dependency"):
        check_deadlock(rows, 4)


def test_deadlock_replay_models_the_fetch_queue_depth():
    # Compute pops a token that a load *later in the stream* pushes: fine while the fetch
    # unit can route past the blocked compute instructions, a deadlock once their queue
    # (2 entries) is full.
    s = InsnStream()
    s.dep_pop(LOAD, COMPUTE)
    for _ in range(3):
        s.emit(GEMM)
    s.emit(LOAD_INP)
    s.dep_push(LOAD, COMPUTE)
    assert token_totals(s.rows)["l2c"] == 0
    check_deadlock(s.rows, 8)
    with pytest.raises(CommandError, match="fetch stalled at instruction 2 \\(full compute"):
        check_deadlock(s.rows, 2)


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
        row += [0] * (ROW_WIDTH - len(row))
        rows.append(row)
        insns.append(from_row(row))
    assert enc.encode(rows) == isa.encode(insns, cfg)
    assert isa.Opcode(rows[2][0]) == isa.Opcode.GEMM
    bad = list(rows[2])
    bad[6] = 1 << 20
    with pytest.raises(CommandError, match="instruction 1 \\(GEMM\\): field uop_bgn"):
        enc.encode([rows[0], bad])


def test_dump_shows_running_token_counts():
    s = InsnStream()
    s.emit(LOAD_INP)
    s.dep_push(LOAD, COMPUTE)
    s.dep_pop(LOAD, COMPUTE)
    s.dep_pop(LOAD, COMPUTE)
    lines = dump(s.rows).splitlines()
    assert lines[0] == "2 instructions"
    assert "LOAD INP push_next" in lines[1] and "l2c=1" in lines[1]
    assert "NOP-COMPUTE pop_prev" in lines[2] and "l2c=0" in lines[2]
