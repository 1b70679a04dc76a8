"""The AXI4-Lite control slave: register map, run control, counters, interrupt."""

from __future__ import annotations

import pytest
from amaranth.sim import Simulator
from vta.hw import VTAConfig
from vta.hw.gateware.axi_lite import ControlRegisters
from vta.hw.regmap import BY_NAME, COUNTERS, CTRL_ABORT, CTRL_DONE, CTRL_IDLE, CTRL_START, REPORTS
from vta.sim.axi_lite_host import AxiLiteHost

A = {name: reg.offset for name, reg in BY_NAME.items()}


def run(bench) -> None:
    dut = ControlRegisters(VTAConfig.preset("tiny"))
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    host = AxiLiteHost(dut.axi)

    async def tb(ctx):
        await bench(ctx, dut, host)

    sim.add_testbench(tb)
    sim.run()


def test_rw_registers_and_strobes():
    async def bench(ctx, dut, host):
        await host.write(ctx, A["INSN_COUNT"], 0x12345678)
        assert await host.read(ctx, A["INSN_COUNT"]) == 0x12345678
        assert ctx.get(dut.insn_count) == 0x12345678
        await host.write(ctx, A["INSN_COUNT"], 0xAABBCCDD, strb=0b0101)
        assert await host.read(ctx, A["INSN_COUNT"]) == 0x12BB56DD
        await host.write(ctx, A["INSN_ADDR_LO"], 0x1000_0040)
        await host.write(ctx, A["INSN_ADDR_HI"], 0x2)
        assert ctx.get(dut.insn_addr) == 0x2_1000_0040
        assert await host.read(ctx, A["INSN_ADDR_HI"]) == 2
        await host.write(ctx, A["GIE"], 0xFFFF_FFFF)
        assert await host.read(ctx, A["GIE"]) == 1
        # Read-only registers ignore writes; unmapped addresses read 0.
        await host.write(ctx, A["GEMM_UOPS"], 77)
        assert await host.read(ctx, A["GEMM_UOPS"]) == 0
        assert await host.read(ctx, 0xFC) == 0
        assert await host.read(ctx, A["CTRL"]) == CTRL_IDLE
    run(bench)


def test_run_counters_done_and_interrupt():
    async def bench(ctx, dut, host):
        await host.write(ctx, A["GIE"], 1)
        await host.write(ctx, A["IER"], 1)
        ctx.set(dut.incr.GEMM_UOPS, 1)
        ctx.set(dut.incr.DMA_RD_BYTES, 8)
        ctx.set(dut.incr.INSN_DONE, 3)
        await host.write(ctx, A["CTRL"], CTRL_START)
        assert ctx.get(dut.running)
        assert await host.read(ctx, A["CTRL"]) == CTRL_START
        await ctx.tick().repeat(10)
        ctx.set(dut.incr.GEMM_UOPS, 0)
        ctx.set(dut.incr.DMA_RD_BYTES, 0)
        ctx.set(dut.incr.INSN_DONE, 0)
        gemm = await host.read(ctx, A["GEMM_UOPS"])
        assert gemm > 10
        assert await host.read(ctx, A["DMA_RD_BYTES"]) == 8 * gemm
        assert await host.read(ctx, A["INSN_DONE"]) == 3 * gemm
        # The run ends when the run guard says so.
        await ctx.tick().repeat(3)
        assert ctx.get(dut.running) and not ctx.get(dut.interrupt)
        ctx.set(dut.end, 1)
        await ctx.tick()
        ctx.set(dut.end, 0)
        assert not ctx.get(dut.running)
        assert ctx.get(dut.interrupt)
        cycles = await host.read(ctx, A["CYCLES_LO"])
        assert cycles > 20
        await ctx.tick().repeat(5)
        assert await host.read(ctx, A["CYCLES_LO"]) == cycles     # stops at done
        assert await host.read(ctx, A["CTRL"]) == CTRL_DONE | CTRL_IDLE   # sticky
        assert await host.read(ctx, A["ISR"]) == 1
        await host.write(ctx, A["ISR"], 1)                           # write 1 to clear
        assert await host.read(ctx, A["ISR"]) == 0
        assert not ctx.get(dut.interrupt)
        # A new start clears done and every counter.
        await host.write(ctx, A["CTRL"], CTRL_START)
        assert await host.read(ctx, A["CTRL"]) == CTRL_START
        for name in COUNTERS:
            assert await host.read(ctx, A[name]) == 0, name
        assert await host.read(ctx, A["CYCLES_HI"]) == 0
    run(bench)


def test_interrupt_needs_gie_and_ier():
    async def bench(ctx, dut, host):
        await host.write(ctx, A["IER"], 1)
        await host.write(ctx, A["CTRL"], CTRL_START)
        ctx.set(dut.end, 1)
        await ctx.tick()
        ctx.set(dut.end, 0)
        assert await host.read(ctx, A["ISR"]) == 1
        assert not ctx.get(dut.interrupt)          # GIE off
        await host.write(ctx, A["GIE"], 1)
        assert ctx.get(dut.interrupt)
        await host.write(ctx, A["IER"], 0)
        assert not ctx.get(dut.interrupt)
    run(bench)


def test_abort_request_only_during_a_run_and_reports_read_through():
    dut = ControlRegisters(VTAConfig.preset("tiny"))
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    host = AxiLiteHost(dut.axi)
    seen: list[int] = []

    async def watch(ctx):
        async for _, _, pulse in ctx.tick().sample(dut.abort_req):
            seen.append(pulse)

    async def tb(ctx):
        await host.write(ctx, A["CTRL"], CTRL_ABORT)        # idle: nothing to abort
        assert not any(seen) and await host.read(ctx, A["CTRL"]) == CTRL_IDLE
        await host.write(ctx, A["CTRL"], CTRL_START)
        await host.write(ctx, A["CTRL"], CTRL_ABORT)
        await ctx.tick()
        assert sum(seen) == 1 and ctx.get(dut.running)       # the guard ends the run
        for k, name in enumerate(REPORTS):
            ctx.set(getattr(dut.report, name), 0x1000 + k)
        for k, name in enumerate(REPORTS):
            assert await host.read(ctx, A[name]) == 0x1000 + k, name

    sim.add_process(watch)
    sim.add_testbench(tb)
    sim.run()


def test_status_register_passes_through():
    async def bench(ctx, dut, host):
        ctx.set(dut.status, 0b1_0010_0110)
        assert await host.read(ctx, A["STATUS"]) == 0b1_0010_0110
    run(bench)


@pytest.mark.parametrize("gap", [0, 1, 3])
def test_address_and_data_in_any_order(gap):
    async def bench(ctx, dut, host):
        p = dut.axi
        ctx.set(p.WDATA, 0x55)
        ctx.set(p.WSTRB, 0xF)
        ctx.set(p.WVALID, 1)
        await ctx.tick().repeat(gap + 1)
        assert not ctx.get(p.WREADY)                  # data held, waiting for the address
        ctx.set(p.WVALID, 0)
        ctx.set(p.AWADDR, A["INSN_COUNT"])
        ctx.set(p.AWVALID, 1)
        await ctx.tick()
        ctx.set(p.AWVALID, 0)
        ctx.set(p.BREADY, 1)
        await ctx.tick().until(p.BVALID)
        await ctx.tick()
        ctx.set(p.BREADY, 0)
        assert await host.read(ctx, A["INSN_COUNT"]) == 0x55
    run(bench)
