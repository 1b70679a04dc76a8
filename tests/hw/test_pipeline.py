"""The pipeline table: routing, token channels and their flags, no-ops."""

import pytest
from vta.hw.errors import IsaError
from vta.hw.isa import MemType, Opcode
from vta.hw.pipeline import (
    CHANNELS,
    COMPUTE,
    LOAD,
    NOP_MEMORY_TYPE,
    STORE,
    allowed_flags,
    channel_between,
    fetch_queue,
    is_nop,
    stage_of,
)


def test_routing():
    assert [stage_of(Opcode.LOAD, mt) for mt in (MemType.INP, MemType.WGT)] == [LOAD, LOAD]
    assert {stage_of(Opcode.LOAD, mt)
            for mt in (MemType.UOP, MemType.ACC, MemType.ACC_8BIT)} == {COMPUTE}
    assert stage_of(Opcode.STORE, MemType.OUT) == STORE
    assert {stage_of(op) for op in (Opcode.GEMM, Opcode.ALU, Opcode.FINISH)} == {COMPUTE}
    with pytest.raises(IsaError, match="memory type 4 \\(OUT\\) cannot be loaded; loads "
                                       "target 0 UOP, 1 WGT, 2 INP, 3 ACC, 5 ACC_8BIT"):
        stage_of(Opcode.LOAD, MemType.OUT)
    with pytest.raises(IsaError, match="memory type 3 \\(ACC\\) cannot be stored"):
        stage_of(Opcode.STORE, MemType.ACC)
    with pytest.raises(IsaError, match="unknown memory type 7"):
        stage_of(Opcode.LOAD, 7)
    with pytest.raises(IsaError, match="unknown opcode 6"):
        stage_of(6)


def test_fetch_queue_is_the_routing_of_any_word():
    for op in Opcode:
        for mt in range(8):
            try:
                want = stage_of(op, mt)
            except IsaError:
                continue
            assert fetch_queue(op, mt) == want
    assert fetch_queue(Opcode.LOAD, MemType.OUT) == COMPUTE       # invalid: not load
    assert fetch_queue(Opcode.STORE, MemType.ACC) == STORE


def test_channels_and_flags():
    assert [(ch.name, ch.arrow) for ch in CHANNELS] == [
        ("l2c", "load->compute"), ("c2l", "compute->load"), ("c2s", "compute->store"),
        ("s2c", "store->compute")]
    assert [(ch.push_flag, ch.pop_flag) for ch in CHANNELS] == [
        ("push_next", "pop_prev"), ("push_prev", "pop_next"), ("push_next", "pop_prev"),
        ("push_prev", "pop_next")]
    assert allowed_flags(LOAD) == {"pop_next", "push_next"}
    assert allowed_flags(STORE) == {"pop_prev", "push_prev"}
    assert allowed_flags(COMPUTE) == {"pop_prev", "pop_next", "push_prev", "push_next"}
    assert channel_between(STORE, COMPUTE).name == "s2c" and channel_between(1, 2).name == "l2c"
    with pytest.raises(IsaError, match="no token channel from load to store"):
        channel_between(LOAD, STORE)
    with pytest.raises(IsaError, match="no stage 4: stages are 1 load, 2 compute, 3 store"):
        channel_between(3, 4)


def test_nops():
    assert is_nop(Opcode.LOAD, 0) and is_nop(Opcode.STORE, 0)
    assert not is_nop(Opcode.LOAD, 1) and not is_nop(Opcode.GEMM, 0)
    for stage, mt in NOP_MEMORY_TYPE.items():
        op = Opcode.STORE if stage == STORE else Opcode.LOAD
        assert stage_of(op, mt) == stage
