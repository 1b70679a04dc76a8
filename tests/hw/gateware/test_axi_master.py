"""The AXI master: burst splitting, 4 KiB rule, arbitration, ordering, writes, throughput.

The master runs in the Amaranth simulator against the Python AXI slave of
:mod:`vta.sim.axi_dram`; Python DMA clients issue requests and check every beat against
the DRAM contents.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
from amaranth.sim import Simulator
from vta.hw import VTAConfig
from vta.hw.gateware.axi_master import AxiMaster
from vta.hw.ports import memory_signals
from vta.sim.axi_dram import AxiDram
from vta.sim.dram import Dram


def make(config: VTAConfig, latency: int = 6):
    dut = AxiMaster(config)
    dram = Dram(1 << 16)
    dram.mem[:] = np.random.default_rng(1).integers(0, 256, dram.size, dtype=np.uint8)
    model = AxiDram(dram, dut.axi, config.bus_bytes, latency=latency)
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_process(model.process)
    return dut, dram, model, sim


async def issue_requests(ctx, req, requests) -> None:
    """Send the DMA requests ``(addr, beats)`` on the stream ``req``, one per handshake."""
    for addr, beats in requests:
        ctx.set(req.payload.addr, addr)
        ctx.set(req.payload.beats, beats)
        ctx.set(req.valid, 1)
        await ctx.tick().until(req.ready)
        ctx.set(req.valid, 0)


def reader(dut, index, requests, got, *, stall=0.0, seed=0):
    """A read client: issues ``requests`` and records (cycle, data, last) of every beat."""
    port = dut.rd[index]
    total = sum(beats for _, beats in requests)
    rng = random.Random(seed)

    async def issue(ctx):
        await issue_requests(ctx, port.req, requests)

    async def collect(ctx):
        cycle = 0
        ready = 1
        ctx.set(port.resp.ready, ready)
        while len(got) < total:
            _, _, valid, data, last = await ctx.tick().sample(
                port.resp.valid, port.resp.payload.data, port.resp.payload.last)
            cycle += 1
            if valid and ready:
                got.append((cycle, data, last))
            if stall:
                ready = int(rng.random() >= stall)
                ctx.set(port.resp.ready, ready)

    return issue, collect


def expected_beats(dram, config, requests):
    nb = config.bus_bytes
    out = []
    for addr, beats in requests:
        for k in range(beats):
            a = addr + k * nb - dram.base
            out.append((int.from_bytes(dram.mem[a:a + nb].tobytes(), "little"),
                        int(k == beats - 1)))
    return out


def check_bursts(model, config):
    for addr, beats in model.read_bursts + model.write_bursts:
        assert 1 <= beats <= config.max_burst_beats
        assert addr % config.bus_bytes == 0
        assert addr // 4096 == (addr + beats * config.bus_bytes - 1) // 4096, hex(addr)


@pytest.mark.parametrize("preset", ["tiny", "ultra96"])
def test_reads_split_into_legal_bursts(preset):
    config = VTAConfig.preset(preset)
    dut, dram, model, sim = make(config)
    nb = config.bus_bytes
    base = dram.base
    requests = [(base + 4096 - 3 * nb, 7), (base + 64, 1), (base + 8192 - nb, 300),
                (base + 100 * nb, 17)]
    got = []
    for tb in reader(dut, 1, requests, got):
        sim.add_testbench(tb)
    sim.run_until(2e-3)
    assert [(d, last) for _, d, last in got] == expected_beats(dram, config, requests)
    check_bursts(model, config)
    assert model.errors == []
    # The long request streams one beat per cycle once the first beat arrived.
    long = [c for c, _, _ in got[8:8 + 300]]
    assert long[-1] - long[0] <= 300 + 2


def test_three_readers_with_backpressure_are_routed_in_order():
    config = VTAConfig.preset("tiny")
    dut, dram, model, sim = make(config, latency=3)
    rng = random.Random(5)
    base = dram.base
    got = {i: [] for i in range(3)}
    reqs = {i: [(base + 8 * rng.randrange(0, 6000), rng.randrange(1, 40)) for _ in range(12)]
            for i in range(3)}
    for i in range(3):
        for tb in reader(dut, i, reqs[i], got[i], stall=0.3, seed=i):
            sim.add_testbench(tb)
    sim.run_until(5e-3)
    for i in range(3):
        assert [(d, last) for _, d, last in got[i]] == expected_beats(dram, config, reqs[i])
    check_bursts(model, config)


def test_writes_with_strobes_bursts_and_done():
    config = VTAConfig.preset("tiny")
    dut, dram, model, sim = make(config)
    nb = config.bus_bytes
    base = dram.base + 0x8000
    rng = random.Random(2)
    requests = [(base + 4096 - 2 * nb, 5), (base + 0x2000, 40), (base + 0x3000 + 8, 1)]
    beats = [[(rng.getrandbits(8 * nb), rng.getrandbits(nb)) for _ in range(n)]
             for _, n in requests]
    before = dram.mem.copy()
    dones = []
    wr = dut.wr

    async def issue(ctx):
        await issue_requests(ctx, wr.req, requests)

    async def send(ctx):
        for req in beats:
            for data, strb in req:
                ctx.set(wr.data.payload.data, data)
                ctx.set(wr.data.payload.strb, strb)
                ctx.set(wr.data.valid, 1)
                await ctx.tick().until(wr.data.ready)
            ctx.set(wr.data.valid, 0)

    async def watch(ctx):
        cycle = 0
        while len(dones) < len(requests):
            _, _, done, idle = await ctx.tick().sample(wr.done, dut.wr_idle)
            cycle += 1
            if done:
                dones.append(cycle)
        await ctx.tick()
        assert ctx.get(dut.wr_idle)

    for tb in (issue, send, watch):
        sim.add_testbench(tb)
    sim.run_until(2e-3)
    assert len(dones) == len(requests)
    expect = before.copy()
    for (addr, _), req in zip(requests, beats, strict=True):
        for k, (data, strb) in enumerate(req):
            for i in range(nb):
                if strb >> i & 1:
                    expect[addr - dram.base + k * nb + i] = data >> (8 * i) & 0xFF
    assert np.array_equal(dram.mem, expect)
    check_bursts(model, config)
    assert [n for _, n in model.write_bursts] == [2, 3, 16, 16, 8, 1]


@pytest.mark.parametrize("preset,len_w,lock_w", [("pynq", 4, 2), ("zcu104", 8, 1)])
def test_port_widths_follow_the_profile(preset, len_w, lock_w):
    ports = memory_signals(VTAConfig.preset(preset))
    assert ports["ARLEN"] == ("out", len_w) and ports["AWLOCK"] == ("out", lock_w)
    assert ("WID" in ports) == (len_w == 4)


def test_back_to_back_single_beat_requests_stream_one_beat_per_cycle():
    config = VTAConfig.preset("tiny")
    dut, dram, model, sim = make(config, latency=4)
    requests = [(dram.base + 64 * k, 1) for k in range(40)]
    got = []
    for tb in reader(dut, 2, requests, got):
        sim.add_testbench(tb)
    sim.run_until(1e-3)
    assert [(d, last) for _, d, last in got] == expected_beats(dram, config, requests)
    cycles = [c for c, _, _ in got]
    assert cycles[-1] - cycles[0] <= len(requests) + 2
