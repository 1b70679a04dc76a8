"""LoadModule: 2-D DMA with zero padding into INP and WGT, read back through the compute
read ports and compared element by element with the functional simulator's SRAMs."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.sim import Simulator
from vta.hw import VTAConfig, isa
from vta.hw.gateware.load import LoadModule
from vta.hw.isa import Load, MemType
from vta.sim.dram import Dram

from tests.hw.simhelpers import (
    DmaReadServer,
    accept_after_token,
    feed_stream,
    fill_nonzero,
    fsim_sram_rows,
    padding_loads,
)

TINY = VTAConfig.preset("tiny")
TINY128 = TINY.replace(BUS_WIDTH=128)     # INP 4 of 16 bytes, WGT exactly one beat


def _run_load(config: VTAConfig, dram: Dram, loads: list[Load], *, window: int,
              stall: float = 0.0, tokens: int = 1 << 10):
    """Run ``loads`` on a LoadModule; return (INP rows, WGT rows, DMA requests, cycles)."""
    dut = LoadModule(config)
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    server = DmaReadServer(dut.dma, dram, config.bus_bytes, latency=3, stall=stall, seed=7)
    sim.add_process(server.process)
    words = [isa.encode_one(insn, config) for insn in loads]
    result: dict = {}

    async def feeder(ctx):
        await feed_stream(ctx, dut.insn, words)
    sim.add_testbench(feeder, background=True)

    async def bench(ctx):
        ctx.set(dut.c2l.valid, tokens > 0)
        done = cycles = 0
        while done < len(loads):
            await ctx.tick()
            cycles += 1
            done += ctx.get(dut.insn_done)
            assert cycles < 5000, f"load module stuck after {done} of {len(loads)} loads"
        for name, port, depth in (("inp", dut.inp_rd, config.inp_depth),
                                  ("wgt", dut.wgt_rd, config.wgt_depth)):
            rows = []
            ctx.set(port.en, 1)
            for addr in range(min(window, depth)):
                ctx.set(port.addr, addr)
                await ctx.tick()
                rows.append(ctx.get(port.data))
            result[name] = rows
        result["cycles"] = cycles
    sim.add_testbench(bench)
    sim.run()
    return result["inp"], result["wgt"], server.requests, result["cycles"]


@pytest.mark.parametrize("config,stall", [(TINY, 0.0), (TINY, 0.3), (TINY128, 0.2)],
                         ids=["tiny", "tiny-stalls", "tiny-128bit"])
def test_padding_corner_cases_match_fsim(config, stall):
    rng = np.random.default_rng(0)
    dram = Dram(1 << 17)
    loads = padding_loads(config, dram, rng)
    window = config.inp_depth
    inp, wgt, _, _ = _run_load(config, dram, loads, window=window, stall=stall)
    exp_inp, exp_wgt = fsim_sram_rows(config, dram, loads, window)
    bad = [i for i, (a, b) in enumerate(zip(inp, exp_inp, strict=True)) if a != b]
    assert not bad, f"INP rows differ at {bad[:8]}"
    bad = [i for i, (a, b) in enumerate(zip(wgt, exp_wgt, strict=True)) if a != b]
    assert not bad, f"WGT rows differ at {bad[:8]}"
    assert any(exp_inp) and any(exp_wgt)


def test_requests_cover_only_needed_beats_and_stream():
    """One request per row with the minimal whole-beat span; one beat per cycle."""
    cfg = TINY
    rng = np.random.default_rng(1)
    dram = Dram(1 << 17)
    base = fill_nonzero(dram, rng, 4096) // cfg.inp_elem_bytes
    wbase = fill_nonzero(dram, rng, 4096) // cfg.wgt_elem_bytes
    loads = [Load(memory_type=MemType.INP, dram_base=base + 1, y_size=3, x_size=4,
                  x_stride=6),
             Load(memory_type=MemType.WGT, dram_base=wbase, y_size=1, x_size=64,
                  x_stride=64)]
    _, _, reqs, cycles = _run_load(cfg, dram, loads, window=1)
    e, b = cfg.inp_elem_bytes, cfg.bus_bytes
    expected = []
    for row in range(3):
        first = (base + 1 + 6 * row) * e
        last = first + 4 * e - 1
        expected.append((first // b * b, last // b - first // b + 1))
    expected.append((wbase * cfg.wgt_elem_bytes, 64 * cfg.wgt_elem_bytes // b))
    assert reqs == expected
    wgt_beats = expected[-1][1]
    assert cycles < wgt_beats + 40, f"{wgt_beats} WGT beats took {cycles} cycles in total"


def test_waits_for_compute_token():
    cfg = TINY
    dram = Dram(1 << 16)
    word = isa.encode_one(Load(memory_type=MemType.INP, x_size=0, pop_next=1, push_next=1),
                          cfg)
    dut = LoadModule(cfg)
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_process(DmaReadServer(dut.dma, dram, cfg.bus_bytes).process)

    async def bench(ctx):
        await accept_after_token(ctx, dut, word, "c2l", "wait_next", 8)
        pushes = 0
        for _ in range(4):
            pushes += ctx.get(dut.l2c.push)
            await ctx.tick()
        assert pushes == 1 and not ctx.get(dut.busy)
    sim.add_testbench(bench)
    sim.run()
