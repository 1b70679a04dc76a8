"""cocotb + Verilator: the GEMM core and the ALU on the generated Verilog.

One Verilator build holds the blocks side by side: :class:`GemmCore` of a tiny
configuration with one multiplier per product and with ``GEMM_DSP_PACK`` (two products
per multiply) on the same operands, and :class:`AluCore` with the MUL extension; the
cocotb tests drive random and extreme operands and compare every lane with numpy (GEMM)
and the functional simulator's ALU (:func:`vta.sim.fsim_compute.alu_apply`).
"""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from vta.hw import VTAConfig
from vta.hw.gateware.alu import AluCore
from vta.hw.gateware.gemm import GemmCore

from tests.hw.simhelpers import cocotb_uint, pack_lanes, run_cocotb, unpack_lanes

CFG = VTAConfig.preset("tiny").replace(ALU_MUL=True)


class Cores(wiring.Component):
    """The two blocks under test with their ports brought out unchanged."""

    def __init__(self, config: VTAConfig) -> None:
        self.gemm = GemmCore(config)
        self.gemm_packed = GemmCore(config.replace(GEMM_DSP_PACK=True))
        self.alu = AluCore(config)
        acc = config.acc_elem_bytes * 8
        super().__init__({"inp": In(config.inp_elem_bytes * 8),
                          "wgt": In(config.wgt_elem_bytes * 8), "dot": Out(acc),
                          "dot_packed": Out(acc),
                          "opcode": In(3), "a": In(acc), "b": In(acc), "result": Out(acc)})

    def elaborate(self, platform) -> Module:
        m = Module()
        m.submodules.gemm, m.submodules.alu = self.gemm, self.alu
        m.submodules.gemm_packed = self.gemm_packed
        m.d.comb += [self.gemm.inp.eq(self.inp), self.gemm.wgt.eq(self.wgt),
                     self.dot.eq(self.gemm.dot), self.alu.opcode.eq(self.opcode),
                     self.gemm_packed.inp.eq(self.inp), self.gemm_packed.wgt.eq(self.wgt),
                     self.dot_packed.eq(self.gemm_packed.dot),
                     self.alu.a.eq(self.a), self.alu.b.eq(self.b),
                     self.result.eq(self.alu.result)]
        return m


@pytest.mark.slow
def test_gemm_core_and_alu_verilator(tmp_path):
    run_cocotb(Cores(CFG), "compute_cores", __name__, tmp_path)


try:
    import cocotb
except ImportError:                     # pragma: no cover - the dev extra installs it
    cocotb = None

if cocotb is not None:
    @cocotb.test()
    async def gemm_core_matches_numpy(dut):
        """Operands enter every cycle; each dot product appears one cycle later, from the
        plain and from the packed core alike."""
        from cocotb.clock import Clock
        from cocotb.triggers import FallingEdge, ReadOnly

        c = CFG
        rng = np.random.default_rng(0)
        Clock(dut.clk, 10, unit="ns").start()
        dut.rst.value = 0
        previous = None
        extremes = np.array([-128, -127, -1, 0, 1, 127])
        for trial in range(401):
            if trial < 4:       # the extremes: every operand -128 or 127
                inp = np.full((c.batch, c.block_in), (-128, 127)[trial & 1], np.int64)
                wgt = np.full((c.block_out, c.block_in), (-128, 127)[trial >> 1], np.int64)
            elif trial < 100:   # mixed extremes: each packed weight pair sees every sign
                inp = rng.choice(extremes, (c.batch, c.block_in))
                wgt = rng.choice(extremes, (c.block_out, c.block_in))
            else:
                inp = rng.integers(-128, 128, (c.batch, c.block_in))
                wgt = rng.integers(-128, 128, (c.block_out, c.block_in))
            await FallingEdge(dut.clk)
            dut.inp.value = pack_lanes(inp, 8)
            dut.wgt.value = pack_lanes(wgt, 8)
            await ReadOnly()
            if previous is not None:
                for port in (dut.dot, dut.dot_packed):
                    got = unpack_lanes(cocotb_uint(port), c.batch * c.block_out, 32)
                    assert np.array_equal(got, previous), \
                        f"{port._name} trial {trial - 1}: {got} != {previous}"
            previous = (inp @ wgt.T).reshape(-1)

    @cocotb.test()
    async def alu_matches_fsim(dut):
        from cocotb.triggers import Timer
        from vta.sim.fsim_compute import alu_apply

        c = CFG
        lanes = c.batch * c.block_out
        rng = np.random.default_rng(1)
        edge = np.array([0, 1, -1, 2**31 - 1, -2**31, 15, 16, -16, -17, 31, 32], np.int64)
        await Timer(1, unit="ns")
        for trial in range(400):
            op = trial % 5
            a = rng.integers(-2**31, 2**31, lanes)
            b = rng.integers(-2**31, 2**31, lanes)
            if trial % 3 == 0:
                a[:] = rng.choice(edge, lanes)
                b[:] = rng.choice(edge, lanes)
            if op == 3 and trial % 2:
                b = rng.integers(-40, 40, lanes)
            dut.opcode.value = op
            dut.a.value = pack_lanes(a, 32)
            dut.b.value = pack_lanes(b, 32)
            await Timer(1, unit="ns")
            got = unpack_lanes(cocotb_uint(dut.result), lanes, 32)
            expected = alu_apply(op, a.astype(np.int32), b.astype(np.int32),
                                 c.LOG_ACC_WIDTH).astype(np.int64)
            assert np.array_equal(got, expected), \
                f"trial {trial} op {op}: a={a} b={b}: {got} != {expected}"
