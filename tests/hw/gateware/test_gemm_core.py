"""The unpacked GEMM core and its wrapping adder tree, bit-exact against numpy.

:func:`vta.hw.gateware.gemm.wrapping_tree` sums in fixed-width nodes (cheap for a
cycle-based simulator); it must equal the exact sum reduced modulo ``2**width``, also
when the partial sums overflow the width.
"""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Module, Signal, signed
from amaranth.sim import Simulator
from vta.hw import VTAConfig
from vta.hw.gateware.gemm import wrapping_tree

from tests.hw.simhelpers import check_gemm_core

CFG = VTAConfig.preset("tiny").replace(LOG_BATCH=2, GEMM_DSP_PACK=False)


def test_wrapping_tree_wraps_like_the_exact_sum():
    """Seven signed 4-bit addends (sign-extended) summed in 6-bit nodes: the result is the
    exact sum modulo 64, read as signed, for random and extreme operands (which overflow)."""
    width, n = 6, 7
    m = Module()
    ins = [Signal(signed(4), name=f"v{k}") for k in range(n)]
    out = Signal(signed(width))
    m.d.comb += out.eq(wrapping_tree(m, ins, width, "t"))
    rng = np.random.default_rng(7)
    cases = [rng.integers(-8, 8, n) for _ in range(200)]
    cases += [np.full(n, -8), np.full(n, 7), np.array([7, -8] * 3 + [7])]
    sim = Simulator(m)

    async def bench(ctx):
        for vals in cases:
            for s, v in zip(ins, vals, strict=True):
                ctx.set(s, int(v))
            exact = int(vals.sum())
            wrapped = ((exact + 32) % 64) - 32
            assert ctx.get(out) == wrapped, f"{vals.tolist()}: {ctx.get(out)} != {wrapped}"
    sim.add_testbench(bench)
    sim.run()


def test_unpacked_gemm_core_is_exact_on_extreme_and_random_operands():
    c = CFG
    rng = np.random.default_rng(11)
    tiles = [(rng.integers(-128, 128, (c.batch, c.block_in)),
              rng.integers(-128, 128, (c.block_out, c.block_in))) for _ in range(100)]
    for a, w in ((-128, -128), (-128, 127), (127, 127), (127, -128), (0, -128)):
        tiles.append((np.full((c.batch, c.block_in), a), np.full((c.block_out, c.block_in), w)))
    check_gemm_core(c, tiles)
