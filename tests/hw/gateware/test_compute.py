"""ComputeModule: GEMM, ALU, ACC/UOP loads and tokens, bit-exact against the functional
simulator, plus the pipeline's measured throughput (one GEMM / ALU uop per cycle).

The differential tests run on two builds of the tiny configuration: the default one and
the FPGA-lean one (``GEMM_DSP_PACK`` packed multiplies, ``ALU_TENSOR_II = 2`` single ACC
read port), whose different pipeline timing must not change a single bit."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from amaranth.sim import Simulator
from vta.hw import VTAConfig, isa
from vta.hw.gateware.compute import ComputeModule
from vta.hw.isa import Alu, AluOp, Finish, Gemm, Load, MemType, Store, Uop, encode_uops
from vta.sim.dram import Dram

from tests.hw.simhelpers import run_datapath, run_fsim

TINY = VTAConfig.preset("tiny")
LEAN = TINY.replace(GEMM_DSP_PACK=True, ALU_TENSOR_II=2)
BUILDS = pytest.mark.parametrize("cfg", [TINY, LEAN], ids=["tiny", "lean"])


def _data(dram: Dram, rng: np.random.Generator, nbytes: int, elem: int) -> int:
    addr = dram.alloc(nbytes, align=max(64, elem))
    dram.write(addr, rng.integers(0, 256, nbytes, dtype=np.uint8))
    return addr // elem


def _uops(dram: Dram, config: VTAConfig, uops: list[Uop]) -> int:
    code = encode_uops(uops, config)
    addr = dram.alloc(len(code), align=64)
    dram.write(addr, code)
    return addr // config.uop_elem_bytes


def _check(config: VTAConfig, dram: Dram, program: list, **kw):
    """Run on the datapath and on fsim; DRAM and uop counters must match exactly."""
    ref = copy.deepcopy(dram)
    stats = run_fsim(config, ref, program)
    res = run_datapath(config, dram, program, **kw)
    assert res.finished, f"datapath did not finish within {res.cycles} cycles"
    diff = np.flatnonzero(dram.mem != ref.mem)
    assert diff.size == 0, f"{diff.size} DRAM bytes differ, first at offset {diff[0]}"
    assert (res.gemm_uops, res.alu_uops) == (stats.gemm_uops, stats.alu_uops)
    return res, stats


def _program(config: VTAConfig, dram: Dram, rng, body: list, uops: list[Uop],
             acc_load: Load | None = None, n_out: int = 16) -> tuple[list, int]:
    """LOAD INP/WGT/UOP (+ACC), ``body`` (GEMM/ALU), STORE ``n_out`` OUT rows, FINISH."""
    inp = _data(dram, rng, 32 * config.inp_elem_bytes, config.inp_elem_bytes)
    wgt = _data(dram, rng, 16 * config.wgt_elem_bytes, config.wgt_elem_bytes)
    out = _data(dram, rng, n_out * config.out_elem_bytes, config.out_elem_bytes)
    prog = [Load(memory_type=MemType.INP, dram_base=inp, y_size=1, x_size=32, x_stride=32),
            Load(memory_type=MemType.WGT, dram_base=wgt, y_size=1, x_size=16, x_stride=16,
                 push_next=1),
            Load(memory_type=MemType.UOP, dram_base=_uops(dram, config, uops), y_size=1,
                 x_size=len(uops), x_stride=len(uops), pop_prev=1)]
    if acc_load is not None:
        prog.append(acc_load)
    prog += body
    prog[-1] = _replace(prog[-1], push_next=1)
    prog += [Store(dram_base=out, y_size=1, x_size=n_out, x_stride=n_out, pop_prev=1),
             Finish()]
    return prog, out


def _replace(insn, **kw):
    import dataclasses
    return dataclasses.replace(insn, **kw)


@BUILDS
def test_gemm_accumulates_and_resets(cfg):
    rng = np.random.default_rng(1)
    dram = Dram(1 << 18)
    uops = [Uop(dst_idx=i, src_idx=2 * i, wgt_idx=i) for i in range(4)]
    body = [Gemm(reset=1, uop_bgn=0, uop_end=4, iter_out=4, iter_in=1, dst_factor_out=4),
            Gemm(uop_bgn=0, uop_end=4, iter_out=2, iter_in=2, dst_factor_out=4,
                 dst_factor_in=8, src_factor_out=1, src_factor_in=3, wgt_factor_out=4,
                 wgt_factor_in=1),
            Gemm(uop_bgn=1, uop_end=3, iter_out=1, iter_in=1)]
    prog, _ = _program(cfg, dram, rng, body, uops)
    _check(cfg, dram, prog)


@BUILDS
def test_gemm_same_row_back_to_back_is_exact(cfg):
    """Every uop adds into ACC row 3: the pipeline must forward each write-back."""
    rng = np.random.default_rng(2)
    dram = Dram(1 << 18)
    uops = [Uop(dst_idx=3, src_idx=i, wgt_idx=i % 3) for i in range(5)]
    body = [Gemm(uop_bgn=0, uop_end=5, iter_out=3, iter_in=2, src_factor_out=5,
                 src_factor_in=1),
            Gemm(uop_bgn=0, uop_end=1, iter_out=4, iter_in=1, dst_factor_out=0),
            # cycle through two / three rows: hazards at distance two / three only
            Gemm(uop_bgn=0, uop_end=1, iter_out=3, iter_in=2, dst_factor_in=1),
            Gemm(uop_bgn=0, uop_end=1, iter_out=3, iter_in=3, dst_factor_in=1)]
    prog, _ = _program(cfg, dram, rng, body, uops)
    _check(cfg, dram, prog)


@BUILDS
@pytest.mark.parametrize("op", [AluOp.MIN, AluOp.MAX, AluOp.ADD, AluOp.SHR])
def test_alu_ops_tensor_and_immediate(op, cfg):
    rng = np.random.default_rng(10 + op)
    dram = Dram(1 << 18)
    acc = _data(dram, rng, 16 * cfg.acc_elem_bytes, cfg.acc_elem_bytes)
    if op == AluOp.SHR:      # shift amounts come from the low 5 bits: keep them varied
        view = dram.view(acc * cfg.acc_elem_bytes, 16 * cfg.acc_elem_bytes).view("<i4")
        view[:] = rng.integers(-(1 << 31), 1 << 31, view.size) >> rng.integers(0, 31, view.size)
    uops = [Uop(dst_idx=i, src_idx=(i * 5 + 1) % 16, wgt_idx=0) for i in range(8)]
    body = [Alu(alu_opcode=op, use_imm=0, uop_bgn=0, uop_end=8, iter_out=1, iter_in=1)]
    imms = [-17, 5, 0, -1, 31, -32768, 32767] if op != AluOp.SHR else [3, -3, 15, -16, 0, 17]
    for imm in imms:
        body.append(Alu(alu_opcode=op, use_imm=1, imm=imm, uop_bgn=0, uop_end=8,
                        iter_out=2, iter_in=1, dst_factor_out=8))
    body.append(Alu(alu_opcode=op, uop_bgn=0, uop_end=8, iter_out=2, iter_in=1,
                    dst_factor_out=8, src_factor_out=1))   # reads rows others just wrote
    load = Load(memory_type=MemType.ACC, dram_base=acc, y_size=2, x_size=8, x_stride=8)
    prog, _ = _program(cfg, dram, rng, body, uops, acc_load=load)
    _check(cfg, dram, prog)


@BUILDS
def test_alu_source_rows_written_just_before_are_forwarded(cfg):
    """ACC[i + d] = ACC[i + d] + ACC[i] uop after uop, for distances d = 1, 2, 3: the source
    row was written by the uop d places ahead, still inside the pipeline."""
    rng = np.random.default_rng(8)
    dram = Dram(1 << 18)
    acc = _data(dram, rng, 32 * cfg.acc_elem_bytes, cfg.acc_elem_bytes)
    uops = [Uop(dst_idx=i + d, src_idx=i, wgt_idx=0) for d in (1, 2, 3) for i in range(8)]
    body = [Alu(alu_opcode=op, uop_bgn=8 * k, uop_end=8 * k + 8, iter_out=2, iter_in=1,
                dst_factor_out=8, src_factor_out=8)
            for k in range(3) for op in (AluOp.ADD, AluOp.MAX)]
    load = Load(memory_type=MemType.ACC, dram_base=acc, y_size=1, x_size=32, x_stride=32)
    prog, _ = _program(cfg, dram, rng, body, uops, acc_load=load, n_out=32)
    _check(cfg, dram, prog)


@BUILDS
def test_loads_wait_for_uops_in_flight(cfg):
    """A GEMM without pushes hands over to the next instruction while its uops are still
    in the pipeline; a following LOAD ACC (same rows) and LOAD UOP must wait for them."""
    rng = np.random.default_rng(12)
    dram = Dram(1 << 18)
    acc = _data(dram, rng, 8 * cfg.acc_elem_bytes, cfg.acc_elem_bytes)
    uops = [Uop(dst_idx=i, src_idx=i, wgt_idx=i) for i in range(8)]
    more = _uops(dram, cfg, [Uop(dst_idx=7 - i, src_idx=i, wgt_idx=0) for i in range(8)])
    body = [Gemm(uop_bgn=0, uop_end=8, iter_out=1, iter_in=1),
            # padding rows are written at once, no DMA latency in between
            Load(memory_type=MemType.ACC, dram_base=acc, y_size=1, x_size=4, x_stride=4,
                 y_pad_0=1, x_pad_0=1),
            Gemm(uop_bgn=0, uop_end=8, iter_out=1, iter_in=1),
            Load(memory_type=MemType.UOP, dram_base=more, y_size=1, x_size=8, x_stride=8),
            Alu(alu_opcode=AluOp.ADD, uop_bgn=0, uop_end=8, iter_out=1, iter_in=1)]
    prog, _ = _program(cfg, dram, rng, body, uops)
    _check(cfg, dram, prog)


@BUILDS
def test_alu_mul_extension(cfg):
    cfg = cfg.replace(ALU_MUL=True)
    rng = np.random.default_rng(5)
    dram = Dram(1 << 18)
    acc = _data(dram, rng, 16 * cfg.acc_elem_bytes, cfg.acc_elem_bytes)
    uops = [Uop(dst_idx=i, src_idx=15 - i, wgt_idx=0) for i in range(16)]
    body = [Alu(alu_opcode=AluOp.MUL, uop_bgn=0, uop_end=16, iter_out=1, iter_in=1),
            Alu(alu_opcode=AluOp.MUL, use_imm=1, imm=-300, uop_bgn=0, uop_end=16,
                iter_out=1, iter_in=1)]
    load = Load(memory_type=MemType.ACC, dram_base=acc, y_size=1, x_size=16, x_stride=16)
    prog, _ = _program(cfg, dram, rng, body, uops, acc_load=load)
    _check(cfg, dram, prog)


@BUILDS
def test_acc_8bit_load_sign_extends_with_padding(cfg):
    rng = np.random.default_rng(6)
    dram = Dram(1 << 18)
    src = _data(dram, rng, 24 * cfg.out_elem_bytes, cfg.out_elem_bytes) + 1
    uops = [Uop(dst_idx=i, src_idx=0, wgt_idx=0) for i in range(16)]
    body = [Alu(alu_opcode=AluOp.SHR, use_imm=1, imm=-20, uop_bgn=0, uop_end=16,
                iter_out=1, iter_in=1)]       # sign bits reach the stored low byte? no:
    body.append(Alu(alu_opcode=AluOp.SHR, use_imm=1, imm=24, uop_bgn=0, uop_end=16,
                    iter_out=1, iter_in=1))   # ... shifting back exposes the sign bits
    load = Load(memory_type=MemType.ACC_8BIT, dram_base=src, y_size=3, x_size=3, x_stride=5,
                y_pad_0=1, x_pad_0=1)
    prog, _ = _program(cfg, dram, rng, body, uops, acc_load=load)
    _check(cfg, dram, prog)


@BUILDS
def test_empty_loops_and_nops_only_move_tokens(cfg):
    rng = np.random.default_rng(7)
    dram = Dram(1 << 18)
    uops = [Uop(dst_idx=1, src_idx=1, wgt_idx=1)]
    body = [Gemm(uop_bgn=0, uop_end=1, iter_out=0, iter_in=3),
            Gemm(uop_bgn=1, uop_end=1, iter_out=2, iter_in=3),
            Alu(alu_opcode=AluOp.ADD, use_imm=1, imm=1, uop_bgn=0, uop_end=1, iter_out=2,
                iter_in=0),
            Load(memory_type=MemType.ACC, x_size=0, y_size=3, y_pad_0=2)]
    prog, _ = _program(cfg, dram, rng, body, uops)
    res, stats = _check(cfg, dram, prog)
    assert res.gemm_uops == res.alu_uops == 0


def _sim_compute(config, testbench):
    dut = ComputeModule(config)
    sim = Simulator(dut)
    sim.add_clock(1e-8)

    async def bench(ctx):
        await testbench(ctx, dut)
    sim.add_testbench(bench)
    sim.run()


def test_waits_for_tokens_then_pops_and_pushes():
    """A GEMM popping both tokens waits (wait_prev/wait_next) until both arrive."""
    gemm = Gemm(reset=1, uop_bgn=0, uop_end=1, iter_out=1, iter_in=1, pop_prev=1, pop_next=1,
                push_prev=1, push_next=1)
    word = isa.encode_one(gemm, TINY)

    async def tb(ctx, dut):
        ctx.set(dut.insn.valid, 1)
        ctx.set(dut.insn.payload, word)
        for _ in range(10):
            await ctx.tick()
            assert ctx.get(dut.busy) and ctx.get(dut.wait_prev) and ctx.get(dut.wait_next)
            assert not ctx.get(dut.insn.ready) and not ctx.get(dut.l2c.pop)
        ctx.set(dut.l2c.valid, 1)
        for _ in range(5):
            await ctx.tick()
            assert ctx.get(dut.wait_next) and not ctx.get(dut.wait_prev)
            assert not ctx.get(dut.insn.ready) and not ctx.get(dut.l2c.pop)
        ctx.set(dut.s2c.valid, 1)
        assert ctx.get(dut.insn.ready) and ctx.get(dut.l2c.pop) and ctx.get(dut.s2c.pop)
        await ctx.tick()
        ctx.set(dut.insn.valid, 0)
        ctx.set(dut.l2c.valid, 0)
        ctx.set(dut.s2c.valid, 0)
        pushes, uops = [], 0
        for _ in range(12):
            uops += ctx.get(dut.gemm_uop)
            if ctx.get(dut.insn_done):
                pushes.append((ctx.get(dut.c2l.push), ctx.get(dut.c2s.push)))
            await ctx.tick()
        assert pushes == [(1, 1)] and uops == 1
        assert not ctx.get(dut.busy)

    _sim_compute(TINY, tb)


def test_finish_pulses_once():
    word = isa.encode_one(Finish(), TINY)

    async def tb(ctx, dut):
        ctx.set(dut.insn.valid, 1)
        ctx.set(dut.insn.payload, word)
        await ctx.tick().until(dut.insn.ready)
        ctx.set(dut.insn.valid, 0)
        pulses = 0
        for _ in range(5):
            pulses += ctx.get(dut.finish)
            await ctx.tick()
        assert pulses == 1

    _sim_compute(TINY, tb)


@pytest.mark.slow
@BUILDS
def test_gemm_and_alu_sustain_one_uop_per_cycle(cfg):
    """Item 6: counted from the simulation, a long GEMM and a long ALU instruction each
    retire about one uop per cycle (512 uops; fixed overhead of a few cycles).  With
    ``ALU_TENSOR_II = 2`` tensor-operand ALU uops take two cycles, the others still one."""
    rng = np.random.default_rng(3)
    dram = Dram(1 << 18)
    uops = [Uop(dst_idx=i % 4, src_idx=i, wgt_idx=i) for i in range(8)]
    n = 8 * 8 * 8
    body = [Gemm(uop_bgn=0, uop_end=8, iter_out=8, iter_in=8, dst_factor_out=4,
                 src_factor_out=4, src_factor_in=1, wgt_factor_out=1),
            Alu(alu_opcode=AluOp.ADD, uop_bgn=0, uop_end=8, iter_out=8, iter_in=8,
                dst_factor_out=1, src_factor_out=2, src_factor_in=1),
            Alu(alu_opcode=AluOp.SHR, use_imm=1, imm=1, uop_bgn=0, uop_end=8, iter_out=8,
                iter_in=8, dst_factor_out=1)]
    prog, _ = _program(cfg, dram, rng, body, uops)
    res, stats = _check(cfg, dram, prog, record=True)
    done = res.insn_done["compute"]            # LOAD UOP, GEMM, ALU, ALU, FINISH
    gemm, alu_t, alu_i = done[1] - done[0], done[2] - done[1], done[3] - done[2]
    # GEMM and the first ALU push no token: the next instruction follows within two
    # cycles.  The last ALU pushes, so it waits for its write-backs (pipeline depth).
    ii = cfg.ALU_TENSOR_II
    for name, cycles, low, slack in (("GEMM", gemm, n, 3), ("ALU tensor", alu_t, ii * n, 3),
                                     ("ALU imm", alu_i, n, 8)):
        assert low <= cycles <= low + slack, f"{name}: {n} uops took {cycles} cycles"
    print(f"\n{n} uops: GEMM {gemm} cycles ({n / gemm:.3f} uop/cycle), ALU tensor {alu_t} "
          f"({n / alu_t:.3f}), ALU imm {alu_i} ({n / alu_i:.3f})")
