"""Every error the functional simulator reports: one clear line, never a hang."""

import numpy as np
import pytest
from vta.hw import VTAConfig, isa
from vta.hw.errors import VTAError
from vta.hw.insn_stream import InsnStream
from vta.hw.isa import AluOp, MemType
from vta.hw.pipeline import COMPUTE
from vta.hw.program_errors import ErrorKind, ProgramError
from vta.sim.fsim import DeadlockError, FsimError

from tests.sim.fsim_programs import Machine


def fails(m: Machine, insns, match: str, error=FsimError):
    with pytest.raises(error, match=match) as e:
        m.run(insns)
    assert isinstance(e.value, VTAError) and "\n" not in str(e.value)
    return str(e.value)


FIN = isa.Finish()
RNG = np.random.default_rng(0)


def test_deadlock_names_module_and_channel():
    m = Machine()
    msg = fails(m, [isa.Gemm(pop_prev=1), FIN], "deadlock", DeadlockError)
    assert "compute blocked at instruction 0 (GEMM)" in msg and "load->compute" in msg


def test_deadlock_of_load_and_store():
    m = Machine()
    msg = fails(m, [isa.Load(memory_type=MemType.INP, pop_next=1),
                    isa.Store(memory_type=MemType.OUT, pop_prev=1), FIN],
                "deadlock", DeadlockError)
    assert "load blocked at instruction 0" in msg and "compute->load" in msg
    assert "store blocked at instruction 1" in msg and "compute->store" in msg


def test_deadlock_on_full_command_queue():
    """Fetch stalls in order: a full load queue hides the compute push it waits for."""
    m = Machine(VTAConfig.preset("tiny").replace(CMD_QUEUE_DEPTH=2))
    loads = [isa.Load(memory_type=MemType.INP, pop_next=1)] + \
        [isa.Load(memory_type=MemType.INP)] * 2
    msg = fails(m, loads + [isa.Load(memory_type=MemType.UOP, push_prev=1),
                            isa.Load(memory_type=MemType.INP, pop_next=0)] + [FIN],
                "deadlock", DeadlockError)
    assert "fetch stalled at instruction 2" in msg and "load queue is full" in msg


def test_tokens_left_at_finish():
    m = Machine()
    fails(m, [isa.Load(memory_type=MemType.INP, push_next=1), FIN],
          r"tokens left over: 1 on load->compute")


def test_missing_finish_and_code_after_finish():
    m = Machine()
    fails(m, [isa.Gemm()], "no FINISH")
    fails(m, [FIN, isa.Gemm()], "FINISH must be the last")


def test_finish_with_flags():
    fails(Machine(), [isa.Finish(pop_prev=1)], r"\(FINISH\) sets a dependency flag")


def test_flag_the_module_lacks():
    fails(Machine(), [isa.Load(memory_type=MemType.WGT, push_prev=1), FIN],
          "sets push_prev, but the load module")
    fails(Machine(), [isa.Store(memory_type=MemType.OUT, pop_next=1), FIN],
          "sets pop_next, but the store module")


def test_unknown_opcode():
    m = Machine()
    word = bytearray(isa.encode([FIN], m.cfg))
    word[0] = (word[0] & ~7) | 6
    addr = m.dram.alloc(16, 16)
    m.dram.write(addr, bytes(word))
    with pytest.raises(FsimError, match="unknown opcode 6"):
        m.sim.run(addr, 1)


@pytest.mark.parametrize("mt", [6, 7])
def test_unknown_memory_type(mt):
    fails(Machine(), [isa.Load(memory_type=mt, x_size=1, y_size=1), FIN],
          f"unknown memory type {mt}")


def test_load_to_out_and_store_from_other_types():
    fails(Machine(), [isa.Load(memory_type=MemType.OUT), FIN], "OUT.*cannot be loaded")
    fails(Machine(), [isa.Store(memory_type=MemType.ACC), FIN], "cannot be stored")


@pytest.mark.parametrize("pad", ["y_pad_0", "y_pad_1", "x_pad_0", "x_pad_1"])
def test_nonzero_store_pads(pad):
    fails(Machine(), [isa.Store(memory_type=MemType.OUT, x_size=1, y_size=1, **{pad: 1}), FIN],
          f"pads must be zero, not {pad}=1")


def test_load_footprint_out_of_range():
    m = Machine("tiny")
    base = m.zeros(MemType.INP, 4)
    msg = fails(m, [isa.Load(memory_type=MemType.INP, sram_base=m.cfg.inp_depth - 2,
                             dram_base=base, y_size=1, x_size=2, x_stride=2, x_pad_1=1), FIN],
                "exceeds the INP buffer depth")
    assert msg.startswith("instruction 0 (LOAD INP)")


def test_store_out_of_range():
    m = Machine("tiny")
    fails(m, [isa.Store(memory_type=MemType.OUT, sram_base=m.cfg.out_depth - 1,
                        dram_base=m.zeros(MemType.OUT, 2), y_size=1, x_size=2, x_stride=2),
              FIN], "exceeds the OUT buffer depth")


def test_dram_out_of_range():
    m = Machine("tiny")
    fails(m, [isa.Load(memory_type=MemType.ACC, dram_base=1, y_size=1, x_size=1), FIN],
          r"instruction 0 \(LOAD ACC\): DRAM range .* outside DRAM")
    top = (m.dram.base + m.dram.size) // m.cfg.out_elem_bytes - 1
    fails(m, [isa.Store(memory_type=MemType.OUT, dram_base=top, y_size=2, x_size=1,
                        x_stride=1), FIN], "outside DRAM")


def test_gemm_and_alu_index_out_of_range():
    m = Machine("tiny")
    c = m.cfg
    load = m.uop_load([isa.Uop(dst_idx=c.acc_depth - 2, src_idx=0, wgt_idx=0)])
    msg = fails(m, [load, isa.Gemm(uop_bgn=0, uop_end=1, iter_out=3, iter_in=1,
                                   dst_factor_out=1), FIN],
                r"ACC index \d+ out of range \[0, 512\) at uop 0, i=2, j=0")
    assert msg.startswith("instruction 1 (GEMM)")
    load = m.uop_load([isa.Uop(dst_idx=0, src_idx=0, wgt_idx=c.wgt_depth - 1)])
    fails(m, [load, isa.Gemm(uop_bgn=0, uop_end=1, iter_out=1, iter_in=2,
                             wgt_factor_in=1), FIN], "WGT index 256 out of range")
    load = m.uop_load([isa.Uop(dst_idx=0, src_idx=c.inp_depth - 1)])
    fails(m, [load, isa.Gemm(uop_bgn=0, uop_end=1, iter_out=1, iter_in=2,
                             src_factor_in=1), FIN], "INP index 512 out of range")
    load = m.uop_load([isa.Uop(dst_idx=0, src_idx=c.acc_depth - 1)])
    fails(m, [load, isa.Alu(uop_bgn=0, uop_end=1, iter_out=2, iter_in=1, src_factor_out=1,
                            alu_opcode=AluOp.ADD), FIN], "ACC source index 512 out of range")
    fails(m, [isa.Gemm(uop_bgn=0, uop_end=c.uop_depth + 1, iter_out=1, iter_in=1), FIN],
          "uop_end=513 exceeds the UOP buffer depth 512")


def test_alu_mul_needs_the_extension():
    fails(Machine(), [isa.Alu(alu_opcode=AluOp.MUL, iter_out=1, iter_in=1, uop_end=1), FIN],
          "MUL opcode is an extension")
    fails(Machine(), [isa.Alu(alu_opcode=6, iter_out=1, iter_in=1, uop_end=1), FIN],
          "unknown ALU opcode 6")


def test_bad_run_arguments():
    m = Machine()
    with pytest.raises(FsimError, match="insn_count must be a positive integer"):
        m.sim.run(m.dram.base, 0)
    with pytest.raises(FsimError, match="not a multiple of 16 bytes"):
        m.sim.run(m.dram.base + 8, 1)
    with pytest.raises(FsimError, match="outside DRAM"):
        m.sim.run(m.dram.base + m.dram.size - 16, 2)


def test_errors_are_raised_before_data_is_touched_by_later_instructions():
    """An error stops the run at the offending instruction (nothing after it executes)."""
    m = Machine()
    a = np.ones((2, 1, 16), np.int32)
    s = InsnStream()
    s.emit(isa.Load(memory_type=MemType.ACC, dram_base=m.put(MemType.ACC, a),
                    y_size=1, x_size=2, x_stride=2))
    s.emit(isa.Store(memory_type=MemType.ACC), COMPUTE)    # misrouted on purpose
    s.emit(isa.Store(memory_type=MemType.OUT))
    s.emit(isa.Load(memory_type=MemType.INP))
    s.emit(FIN)
    with pytest.raises(FsimError, match="instruction 1 .*cannot be stored"):
        m.run(s)


def test_static_errors_are_reported_in_stream_order():
    """The first instruction that fails a static check wins, whatever the check (a later
    unknown opcode does not hide an earlier bad flag), and nothing executes before."""
    m = Machine()
    code = bytearray(isa.encode([isa.Load(memory_type=MemType.INP, push_prev=1),
                                 isa.Gemm(), FIN], m.cfg))
    code[16] = (code[16] & ~7) | 6                       # instruction 1: opcode 6
    addr = m.dram.alloc(len(code), 16)
    m.dram.write(addr, bytes(code))
    with pytest.raises(FsimError, match="instruction 0 .*sets push_prev") as e:
        m.sim.run(addr, 3)
    assert e.value.kind == ErrorKind.FLAG and e.value.index == 0


def test_errors_carry_their_kind_and_index():
    m = Machine("tiny")
    cases = [
        ([isa.Store(memory_type=MemType.OUT, x_size=1, y_size=1, x_pad_1=1), FIN],
         ErrorKind.PADS, 0),
        ([isa.Gemm(), isa.Gemm()], ErrorKind.FINISH, None),
        ([FIN, isa.Gemm()], ErrorKind.FINISH, 0),
        ([isa.Load(memory_type=MemType.INP, push_next=1), FIN], ErrorKind.TOKENS_LEFT, 1),
        ([isa.Gemm(pop_prev=1), FIN], ErrorKind.DEADLOCK, None),
        ([isa.Alu(alu_opcode=7, iter_out=1, iter_in=1, uop_end=1), FIN],
         ErrorKind.ALU_OPCODE, 0),
        ([isa.Load(memory_type=MemType.ACC, dram_base=1, y_size=1, x_size=1), FIN],
         ErrorKind.DRAM_RANGE, 0),
    ]
    for insns, kind, index in cases:
        with pytest.raises(ProgramError) as e:
            m.run(insns)
        assert (e.value.kind, e.value.index) == (kind, index), (insns, str(e.value))
        assert isinstance(e.value, FsimError)


def test_huge_loop_nest_runs_in_bounded_memory():
    """One legal GEMM of 4M uop executions: chunked, so the peak stays far below the
    ~1.1 GB a plan of the whole nest needed; the result is exact."""
    import tracemalloc

    m = Machine()
    c = m.cfg
    inp = RNG.integers(-128, 128, (2, c.batch, c.block_in), dtype=np.int8)
    wgt = RNG.integers(-128, 128, (3, c.block_out, c.block_in), dtype=np.int8)
    insns = [isa.Load(memory_type=MemType.INP, dram_base=m.put(MemType.INP, inp), y_size=1,
                      x_size=2, x_stride=2),
             isa.Load(memory_type=MemType.WGT, dram_base=m.put(MemType.WGT, wgt), y_size=1,
                      x_size=3, x_stride=3),
             m.uop_load([isa.Uop(dst_idx=3, src_idx=1, wgt_idx=2)]),
             isa.Gemm(uop_bgn=0, uop_end=1, iter_out=4096, iter_in=1024), FIN]
    tracemalloc.start()
    try:
        m.run(insns)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 400 << 20, peak
    dot = inp[1].astype(np.int64) @ wgt[2].astype(np.int64).T
    want = (dot * 4096 * 1024 + 2**31) % 2**32 - 2**31
    assert np.array_equal(m.sim.acc[3], want.astype(np.int32))


def test_chunked_execution_equals_one_plan(monkeypatch):
    """Random programs give the same DRAM and SRAMs when every nest runs in tiny chunks."""
    from vta.sim import fsim
    from vta.sim.progen import random_program

    cfg = VTAConfig.preset("tiny")
    for seed in range(6):
        states = []
        for chunk in (1 << 19, 3):
            monkeypatch.setattr(fsim, "_CHUNK_UOPS", chunk)
            m = Machine(cfg)
            prog = random_program(cfg, np.random.default_rng(seed), m.dram, n_blocks=3)
            m.sim.run(prog.insn_addr, prog.insn_count)
            states.append((m.dram.mem.copy(), m.sim.acc.copy(), m.sim.out.copy()))
        for a, b in zip(*states, strict=True):
            assert np.array_equal(a, b), seed


def test_index_check_names_the_first_failing_uop_execution():
    """The computed first failure equals a uop-by-uop search (loop order i, j, uop;
    destination before sources at one uop)."""
    cfg = VTAConfig.preset("tiny")
    rng = np.random.default_rng(3)
    m = Machine(cfg)
    depth = {"dst": cfg.acc_depth, "src": cfg.inp_depth, "wgt": cfg.wgt_depth}
    names = {"dst": "ACC", "src": "INP", "wgt": "WGT"}
    for _ in range(200):
        uops = [isa.Uop(dst_idx=int(rng.integers(cfg.acc_depth - 40, cfg.acc_depth)),
                        src_idx=int(rng.integers(cfg.inp_depth - 40, cfg.inp_depth)),
                        wgt_idx=int(rng.integers(cfg.wgt_depth - 40, cfg.wgt_depth)))
                for _ in range(int(rng.integers(1, 4)))]
        f = {f"{p}_factor_{lvl}": int(rng.integers(0, 6)) for p in depth for lvl in ("out", "in")}
        gemm = isa.Gemm(uop_bgn=0, uop_end=len(uops), iter_out=int(rng.integers(1, 9)),
                        iter_in=int(rng.integers(1, 9)), **f)
        want = None
        for i in range(gemm.iter_out):
            for j in range(gemm.iter_in):
                for k, u in enumerate(uops):
                    for p in ("dst", "src", "wgt"):
                        v = getattr(u, f"{p}_idx") + i * f[f"{p}_factor_out"] + \
                            j * f[f"{p}_factor_in"]
                        if want is None and v >= depth[p]:
                            want = f"{names[p]} index {v} out of range [0, {depth[p]}) " \
                                   f"at uop {k}, i={i}, j={j}"
        if want is None:
            m.run([m.uop_load(uops), gemm, FIN])
        else:
            msg = fails(m, [m.uop_load(uops), gemm, FIN], "out of range")
            assert msg.endswith(want), (msg, want)


def test_a_finish_word_seen_before_is_still_checked_for_its_place():
    """The decoded-word cache must not let a FINISH that once ended a program pass in the
    middle of another."""
    m = Machine()
    m.run([isa.Gemm(), FIN])
    with pytest.raises(FsimError, match="instruction 1 is FINISH but 1 instruction"):
        m.run([isa.Gemm(), FIN, isa.Gemm()])
