"""Command-queue behaviour on fsim: virtual threads, the uop cache, automatic
synchronisation, force-serial mode, debugging output and errors."""

import time

import numpy as np
import pytest
from vta.compiler.bench.hand_tiled import gemm_reference, tiled_gemm
from vta.hw import isa
from vta.hw.isa import AluOp, MemType
from vta.runtime import COMPUTE, LOAD, STORE, CommandError, CommandQueue


def _operands(rng, c, m, n, k):
    a = rng.integers(-128, 128, (m * c.batch, k * c.block_in), dtype=np.int8)
    w = rng.integers(-128, 128, (n * c.block_out, k * c.block_in), dtype=np.int8)
    return a, w


def _loads_before_first_gemm(program):
    """Loads the load module completes while compute stops before its first GEMM."""
    c2l = 0
    for insn in program:
        if isinstance(insn, isa.Gemm):
            break
        if isinstance(insn, isa.Load) and insn.memory_type in (MemType.UOP, MemType.ACC):
            c2l += insn.push_prev                      # compute-stage instructions
    done = 0
    for insn in program:
        if not (isinstance(insn, isa.Load) and insn.memory_type in (MemType.INP, MemType.WGT)):
            continue
        if insn.pop_next:
            if c2l == 0:
                break
            c2l -= 1
        done += insn.x_size > 0
    return done


def test_virtual_threads_alternate_halves_and_overlap(q, rng):
    c = q.config
    a, w = _operands(rng, c, 8, 4, 8)
    out, result = tiled_gemm(q, a, w, shift=6, tile=(2, 2, 2))
    assert np.array_equal(out, gemm_reference(a, w, 6))
    program = q.last_program()
    inp = [i for i in program if isinstance(i, isa.Load) and i.memory_type == MemType.INP
           and i.x_size]
    assert [i.sram_base // (c.inp_depth // 2) for i in inp[:4]] == [0, 1, 0, 1]
    # Both threads' loads (2 INP + 2 WGT) may complete before the first GEMM runs:
    # one thread's loads overlap the other's compute.
    assert _loads_before_first_gemm(program) == 4
    assert result.counters["GEMM_UOPS"] > 0 and q.stats["auto_syncs"] == 0


def test_uop_kernels_are_loaded_once_while_resident(q, rng):
    a, w = _operands(rng, q.config, 4, 4, 4)
    out, _ = tiled_gemm(q, a, w, shift=6, tile=(1, 2, 2))
    assert np.array_equal(out, gemm_reference(a, w, 6))
    loads = q.stats["uop_loads"]
    # 4 GEMM kernels (2 INP/WGT halves x 2 ACC halves), 2 resets, 2x3 ALU kernels.
    assert loads == 12 and q.stats["uop_hits"] == 8 * 6 - 12 and q.stats["uop_evictions"] == 0
    out, _ = tiled_gemm(q, a, w, shift=6, tile=(1, 2, 2))
    assert q.stats["uop_loads"] == loads              # still resident: nothing reloaded
    assert np.array_equal(out, gemm_reference(a, w, 6))


def _alu_kernel(n_uops, base, imm):
    def record(k):
        for i in range(n_uops):
            k.alu(AluOp.ADD, base + i, base + i, imm=imm)
    return record


def test_uop_eviction_keeps_results_exact(q, rng):
    c = q.config                                       # uop buffer: 512 entries
    n = 200
    x = rng.integers(-1000, 1000, (n, c.batch, c.block_out)).astype(np.int32)
    xd, out = q.array(x), q.empty(x.shape, np.int8)
    q.load_buffer_2d(xd, 0, n, 1, n, 0, 0, 0, 0, 0, MemType.ACC)
    order = [1, 2, 3, 1, 2, 3, 2]                      # three 200-uop kernels: 2 fit
    for imm in order:
        q.push_alu_op(("add", imm), _alu_kernel(n, 0, imm))
    q.dep_push(COMPUTE, STORE)
    q.dep_pop(COMPUTE, STORE)
    q.store_buffer_2d(0, MemType.OUT, out, 0, n, 1, n)
    q.synchronize()
    assert q.stats["uop_evictions"] == 4 and q.stats["uop_loads"] == 6
    assert np.array_equal(out.numpy(), (x + sum(order)).astype(np.int8))


def test_auto_sync_across_a_stream_longer_than_the_instruction_buffer(tiny, rng):
    a, w = _operands(rng, tiny.config, 8, 4, 8)
    with CommandQueue(tiny, max_insns=48) as q:
        out, result = tiled_gemm(q, a, w, shift=6, tile=(2, 2, 2))
        assert q.stats["auto_syncs"] >= 3 and q.stats["runs"] == q.stats["auto_syncs"] + 1
        assert result.insn_count == q.stats["insns"]       # combined over every run
    assert np.array_equal(out, gemm_reference(a, w, 6))


def test_auto_sync_before_the_uop_staging_buffer_overflows(tiny, rng):
    c = tiny.config
    n = 100
    x = rng.integers(-1000, 1000, (n, c.batch, c.block_out)).astype(np.int32)
    with CommandQueue(tiny, max_staged_uops=c.uop_depth) as q:
        xd, out = q.array(x), q.empty(x.shape, np.int8)
        q.load_buffer_2d(xd, 0, n, 1, n, 0, 0, 0, 0, 0, MemType.ACC)
        for imm in range(1, 8):                         # 7 x 100 uops > 512 staged
            q.push_alu_op(("add", imm), _alu_kernel(n, 0, imm))
        q.dep_push(COMPUTE, STORE)
        q.dep_pop(COMPUTE, STORE)
        q.store_buffer_2d(0, MemType.OUT, out, 0, n, 1, n)
        q.synchronize()
        assert q.stats["auto_syncs"] >= 1
        assert np.array_equal(out.numpy(), (x + 28).astype(np.int8))


def test_force_serial_gives_identical_results(tiny, rng):
    a, w = _operands(rng, tiny.config, 4, 4, 4)
    with CommandQueue(tiny) as q:
        normal, _ = tiled_gemm(q, a, w, shift=5, tile=(2, 2, 2))
    with CommandQueue(tiny, force_serial=True, dump_insns=True) as q:
        serial, _ = tiled_gemm(q, a, w, shift=5, tile=(2, 2, 2))
        dump = q.last_dump
    assert np.array_equal(serial, normal)
    assert np.array_equal(serial, gemm_reference(a, w, 5))
    # Serial: every instruction on another stage than its predecessor pops its token.
    lines = [ln for ln in dump.splitlines()[1:]]
    assert all(ln.split()[1] != "STORE" or "pop_prev" in ln for ln in lines)


def test_dump_shows_running_counts_and_nops(q):
    q.dep_push(COMPUTE, LOAD)
    q.dep_pop(COMPUTE, LOAD)
    q.dep_pop(COMPUTE, LOAD)
    text = q.dump()
    assert "NOP-COMPUTE push_prev" in text and "c2l=1" in text
    assert "NOP-LOAD pop_next" in text and "c2l=0" in text
    with pytest.raises(CommandError, match="1 more pop\\(s\\) than push\\(es\\) on c2l"):
        q.synchronize()


def test_unbalanced_tokens_are_caught_before_the_run(q, tiny):
    q.dep_pop(LOAD, COMPUTE)
    q.push_alu_op("nop", lambda k: k.alu("add", 0, 0, imm=0))
    runs = tiny.run_count
    with pytest.raises(CommandError, match="more pop\\(s\\) than push\\(es\\) on l2c"):
        q.synchronize()
    assert tiny.run_count == runs
    # The queue keeps working after the error.
    x = q.array(np.arange(16, dtype=np.int32))
    q.load_buffer_2d(x, 0, 1, 1, 1, 0, 0, 0, 0, 0, MemType.ACC)
    q.push_alu_op("nop")
    assert q.synchronize().counters["ALU_UOPS"] == 1 and tiny.run_count == runs + 1


def test_deadlock_is_refused_with_the_waiting_instruction(q, tiny):
    zeros = q.array(np.zeros(64, np.int8))
    q.dep_pop(COMPUTE, LOAD)                                 # load waits for compute
    q.load_buffer_2d(zeros, 0, 1, 1, 1, 0, 0, 0, 0, 0, MemType.INP)
    q.dep_push(LOAD, COMPUTE)
    q.dep_pop(LOAD, COMPUTE)
    q.push_alu_op("nop", lambda k: k.alu("add", 0, 0, imm=0))  # compute waits for load
    q.dep_push(COMPUTE, LOAD)                                # ... and only then pushes
    runs = tiny.run_count
    with pytest.raises(CommandError, match="deadlock: load instruction 0 waits on c2l; "
                                           "compute instruction 1 waits on l2c"):
        q.synchronize()
    assert tiny.run_count == runs


def test_out_of_range_sram_and_dram_from_the_api(q):
    c = q.config
    a = q.array(np.zeros((4, c.batch, c.block_in), np.int8))
    with pytest.raises(CommandError, match="SRAM range \\[510, 514\\) exceeds the INP buffer "
                                           "depth 512"):
        q.load_buffer_2d(a, 0, 4, 1, 4, 0, 0, 0, 0, c.inp_depth - 2, MemType.INP)
    with pytest.raises(CommandError, match="dst_sram_index must be an integer in"):
        q.load_buffer_2d(a, 0, 1, 1, 1, 0, 0, 0, 0, c.inp_depth, MemType.INP)
    with pytest.raises(CommandError, match="run past the 16-byte DRAM operand"):
        q.load_buffer_2d(a, 1, 4, 1, 4, 0, 0, 0, 0, 0, MemType.INP)
    with pytest.raises(CommandError, match="x_pad_before must be an integer in \\[0, 15\\]"):
        q.load_buffer_2d(a, 0, 1, 1, 1, 16, 0, 0, 0, 0, MemType.INP)
    with pytest.raises(CommandError, match="cannot be loaded"):
        q.load_buffer_2d(a, 0, 1, 1, 1, 0, 0, 0, 0, 0, MemType.UOP)
    with pytest.raises(CommandError, match="exceeds the OUT buffer"):
        q.store_buffer_2d(c.out_depth - 1, MemType.OUT, a, 0, 2, 1, 2)
    with pytest.raises(CommandError, match="stores read the OUT buffer"):
        q.store_buffer_2d(0, MemType.ACC, a, 0, 1, 1, 1)
    with pytest.raises(CommandError, match="not a multiple of the 16-byte ACC element"):
        q.load_buffer_2d(a.addr + 4, 0, 1, 1, 1, 0, 0, 0, 0, 0, MemType.ACC)
    with pytest.raises(CommandError, match="dst index reaches 512, outside the ACC buffer"):
        q.push_gemm_op("far", lambda k: k.gemm(c.acc_depth, 0, 0))
    with pytest.raises(CommandError, match="holds GEMM uops"):
        q.push_gemm_op("g", lambda k: k.gemm(0, 0, 0))
        q.push_alu_op("g")
    with pytest.raises(CommandError, match="more than the uop buffer holds"):
        q.push_gemm_op("huge", lambda k: [k.gemm(i % 500, 0, 0) for i in range(600)])


def test_sharing_a_device_reloads_uop_kernels(tiny, rng):
    a, w = _operands(rng, tiny.config, 2, 2, 2)
    with CommandQueue(tiny) as q1, CommandQueue(tiny) as q2:
        tiled_gemm(q1, a, w, shift=6, tile=(1, 1, 1))
        loads = q1.stats["uop_loads"]
        tiled_gemm(q2, a, w, shift=6, tile=(2, 2, 2))     # overwrites the uop buffer
        out, _ = tiled_gemm(q1, a, w, shift=6, tile=(1, 1, 1))
        assert q1.stats["uop_loads"] == 2 * loads
    assert np.array_equal(out, gemm_reference(a, w, 6))


def test_building_ten_thousand_instructions_is_fast(default_dev):
    with CommandQueue(default_dev, max_insns=1 << 15, check_tokens=False) as q:
        src = q.array(np.zeros((64, 16), np.int8))
        q.push_gemm_op("g", lambda k: k.gemm(0, 0, 0))
        start = time.perf_counter()
        for i in range(2500):
            q.dep_pop(COMPUTE, LOAD) if i else None
            q.load_buffer_2d(src, 0, 4, 1, 4, 0, 0, 0, 0, 0, MemType.INP)
            q.dep_push(LOAD, COMPUTE)
            q.dep_pop(LOAD, COMPUTE)
            q.push_gemm_op("g")
            q.dep_push(COMPUTE, LOAD)
        build = time.perf_counter() - start
        assert len(q.instructions()) >= 5000
        start = time.perf_counter()
        data = q._encoder.encode(q._stream.rows)
        encode = time.perf_counter() - start
        assert len(data) == 16 * len(q._stream.rows)
    assert build < 1.0 and encode < 0.5, (build, encode)
