"""Fetch: bursts of instructions from DRAM, routing to the three command queues."""

from __future__ import annotations

import random

import pytest
from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.sim import Simulator
from vta.hw import VTAConfig, isa
from vta.hw.gateware.axi_master import AxiMaster
from vta.hw.gateware.fetch import Fetch
from vta.hw.pipeline import LOADABLE
from vta.hw.program_errors import ErrorKind
from vta.sim.axi_dram import AxiDram
from vta.sim.dram import Dram


def random_program(rng: random.Random, n: int) -> list:
    """``n`` instructions that pass fetch's checks (FINISH last), of every route."""
    insns = []
    for _ in range(n - 1):
        kind = rng.randrange(5)
        if kind in (0, 4):
            insns.append(isa.Load(memory_type=rng.choice(list(LOADABLE)),
                                  sram_base=rng.randrange(64), dram_base=rng.randrange(1 << 20),
                                  y_size=rng.randrange(8), x_size=rng.randrange(8),
                                  x_stride=rng.randrange(16)))
        elif kind == 1:
            insns.append(isa.Store(sram_base=rng.randrange(64), x_size=rng.randrange(8)))
        elif kind == 2:
            insns.append(isa.Gemm(uop_bgn=rng.randrange(8), uop_end=rng.randrange(8, 16),
                                  iter_out=rng.randrange(4), iter_in=rng.randrange(4)))
        else:
            insns.append(isa.Alu(alu_opcode=rng.randrange(4), imm=rng.randrange(-99, 99)))
    return insns + [isa.Finish()]


def route(insn) -> str:
    if isinstance(insn, isa.Store):
        return "store"
    if isinstance(insn, isa.Load) and insn.memory_type in (isa.MemType.INP, isa.MemType.WGT):
        return "load"
    return "compute"


@pytest.mark.parametrize("preset,n,stall", [("tiny", 70, 0.0), ("tiny", 45, 0.9),
                                            ("zcu104", 40, 0.3)])
def test_fetch_routes_every_instruction_in_order(preset, n, stall):
    config = VTAConfig.preset(preset).replace(CMD_QUEUE_DEPTH=8)
    rng = random.Random(n)
    program = random_program(rng, n)
    dram = Dram(1 << 16)
    addr = dram.alloc(len(program) * config.insn_bytes, align=64)
    dram.write(addr, isa.encode(program, config))

    fetch = Fetch(config)
    master = AxiMaster(config, n_readers=1)
    m = Module()
    m.submodules.fetch = fetch
    m.submodules.master = master
    wiring.connect(m, fetch.dma, master.rd[0])
    model = AxiDram(dram, master.axi, config.bus_bytes, latency=5)
    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_process(model.process)
    got = {q: [] for q in ("load", "compute", "store")}
    seen = {"full_wait": False}

    async def control(ctx):
        ctx.set(fetch.insn_count, len(program))
        ctx.set(fetch.insn_addr, addr)
        ctx.set(fetch.start, 1)
        await ctx.tick()
        ctx.set(fetch.start, 0)
        assert ctx.get(fetch.busy)

    def consumer(name):
        port = getattr(fetch, name)
        crng = random.Random(name)

        async def tb(ctx):
            ready = 1
            ctx.set(port.ready, ready)
            for _ in range(3000):
                _, _, valid, payload, full = await ctx.tick().sample(
                    port.valid, port.payload, fetch.queue_full_wait)
                seen["full_wait"] |= bool(full)
                if valid and ready:
                    got[name].append(isa.decode_one(payload, config))
                ready = int(crng.random() >= stall)
                ctx.set(port.ready, ready)
        return tb

    sim.add_testbench(control)
    for name in got:
        sim.add_testbench(consumer(name))
    sim.run()
    for name in got:
        assert got[name] == [i for i in program if route(i) == name], name
    assert seen["full_wait"] == (stall > 0.5)
    for _, beats in model.read_bursts:
        assert beats <= config.max_burst_beats


def test_fetch_reports_idle_after_all_instructions_routed():
    config = VTAConfig.preset("tiny")
    program = [isa.Gemm(), isa.Gemm(), isa.Finish()]
    dram = Dram(1 << 16)
    addr = dram.alloc(64)
    dram.write(addr, isa.encode(program, config))
    fetch = Fetch(config)
    master = AxiMaster(config, n_readers=1)
    m = Module()
    m.submodules += [fetch, master]
    wiring.connect(m, fetch.dma, master.rd[0])
    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_process(AxiDram(dram, master.axi, config.bus_bytes).process)

    async def tb(ctx):
        ctx.set(fetch.insn_count, 3)
        ctx.set(fetch.insn_addr, addr)
        ctx.set(fetch.start, 1)
        await ctx.tick()
        ctx.set(fetch.start, 0)
        await ctx.tick().until(~fetch.busy)
        assert not ctx.get(fetch.queues_empty)
        ctx.set(fetch.compute.ready, 1)
        await ctx.tick().repeat(4)
        assert ctx.get(fetch.queues_empty)

    sim.add_testbench(tb)
    sim.run()


@pytest.mark.parametrize("bad,kind", [
    (isa.Store(x_size=1, y_size=1, x_pad_0=2), ErrorKind.PADS),
    (isa.Finish(), ErrorKind.FINISH),
    (isa.Load(memory_type=isa.MemType.INP, push_prev=1), ErrorKind.FLAG),
])
def test_a_word_that_fails_its_checks_is_never_routed(bad, kind):
    """Fetch routes the words before the bad one, then holds it and reports its kind and
    position; ``abort`` stops it handing out what is queued."""
    config = VTAConfig.preset("tiny")
    program = [isa.Gemm(), isa.Store(), bad, isa.Gemm(), isa.Finish()]
    dram = Dram(1 << 16)
    addr = dram.alloc(128)
    dram.write(addr, isa.encode(program, config))
    fetch = Fetch(config)
    master = AxiMaster(config, n_readers=1)
    m = Module()
    m.submodules += [fetch, master]
    wiring.connect(m, fetch.dma, master.rd[0])
    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_process(AxiDram(dram, master.axi, config.bus_bytes).process)

    async def tb(ctx):
        ctx.set(fetch.insn_count, len(program))
        ctx.set(fetch.insn_addr, addr)
        ctx.set(fetch.start, 1)
        await ctx.tick()
        ctx.set(fetch.start, 0)
        await ctx.tick().until(fetch.error)
        await ctx.tick().repeat(5)
        assert ctx.get(fetch.error) and ctx.get(fetch.error_kind) == kind
        assert ctx.get(fetch.next_index) == 2 and ctx.get(fetch.busy)
        assert ctx.get(fetch.compute.valid) and ctx.get(fetch.store.valid)
        ctx.set(fetch.abort, 1)
        assert not ctx.get(fetch.compute.valid) and not ctx.get(fetch.store.valid)

    sim.add_testbench(tb)
    sim.run()
