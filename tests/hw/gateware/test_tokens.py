"""Token channels: push/pop counting, simultaneous push and pop, overflow, clear."""

from __future__ import annotations

import gc
import warnings

import pytest
from amaranth.sim import Simulator
from vta.hw.errors import ConfigError
from vta.hw.gateware.tokens import TokenChannel


def test_push_pop_overflow_and_clear():
    dut = TokenChannel(count_width=2)
    sim = Simulator(dut)
    sim.add_clock(1e-6)

    async def tb(ctx):
        ctx.set(dut.consumer.pop, 1)                 # nothing to pop: ignored
        await ctx.tick()
        assert ctx.get(dut.count) == 0 and not ctx.get(dut.consumer.valid)
        ctx.set(dut.consumer.pop, 0)
        ctx.set(dut.producer.push, 1)
        await ctx.tick().repeat(3)
        assert ctx.get(dut.count) == 3 and ctx.get(dut.consumer.valid)
        await ctx.tick()                             # full: lost and flagged
        assert ctx.get(dut.count) == 3 and ctx.get(dut.overflow)
        ctx.set(dut.consumer.pop, 1)                 # push + pop: unchanged
        await ctx.tick()
        assert ctx.get(dut.count) == 3
        ctx.set(dut.producer.push, 0)
        await ctx.tick().repeat(2)
        assert ctx.get(dut.count) == 1
        ctx.set(dut.consumer.pop, 0)
        ctx.set(dut.clear, 1)
        await ctx.tick()
        ctx.set(dut.clear, 0)
        assert ctx.get(dut.count) == 0 and not ctx.get(dut.overflow)

    sim.add_testbench(tb)
    sim.run()


def test_bad_width_is_rejected():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")       # the half-built component is never used
        with pytest.raises(ConfigError, match="width"):
            TokenChannel(count_width=0)
        gc.collect()
