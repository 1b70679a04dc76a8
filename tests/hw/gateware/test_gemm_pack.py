"""GEMM_DSP_PACK: two int8 products per multiply, bit-exact for every operand.

The packing identity (:func:`vta.hw.gateware.gemm.split_packed` of
:func:`~vta.hw.gateware.gemm.packed_pair`) is checked on all 2**24 operand triples with the
same bit slicing in numpy, and the gateware's pair (:func:`~vta.hw.gateware.gemm.packed_weight`,
the 32-bit register, :func:`~vta.hw.gateware.gemm.offset_sum`) on the Amaranth simulator;
the packed :class:`GemmCore` is then simulated on every triple of extreme operands
(-128 x -128 included), one product per dot product so no error can hide in a sum, and on
random tiles, against numpy and the unpacked core.
"""

from __future__ import annotations

import itertools

import numpy as np
from amaranth.hdl import Module, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from amaranth.sim import Simulator
from vta.hw import VTAConfig
from vta.hw.gateware.gemm import (
    PACK_BIAS,
    PACK_OFFSET,
    PACK_SHIFT,
    offset_sum,
    packed_pair,
    packed_weight,
    split_packed,
)

from tests.hw.simhelpers import check_gemm_core

# BATCH=4 x BLOCK=4: 16 packed multiplies per cycle.
CFG = VTAConfig.preset("tiny").replace(LOG_BATCH=2, GEMM_DSP_PACK=True)
EXTREMES = (-128, -127, -65, -64, -1, 0, 1, 63, 64, 126, 127)


def test_packing_identity_holds_for_every_int8_triple():
    """P = a * ((w1 << 16) + w0) + 2**31 + 2**15: P[0:16] - 2**15 == a * w0 and
    P[16:32] - 2**15 == a * w1 for all a, w0, w1 in [-128, 127], with both halves inside
    [0, 2**16) (no borrow, no carry)."""
    w = np.arange(-128, 128, dtype=np.int64)
    w0, w1 = (x.reshape(-1) for x in np.meshgrid(w, w, indexing="ij"))
    packed = (w1 << PACK_SHIFT) + w0
    assert packed.min() >= -(1 << 24) and packed.max() < 1 << 24      # a 25-bit operand
    for a in range(-128, 128):
        p = (a * packed + PACK_BIAS) & 0xFFFF_FFFF                     # the 32-bit register
        low, high = p & 0xFFFF, p >> PACK_SHIFT
        assert np.array_equal(low - PACK_OFFSET, a * w0), f"a={a}"
        assert np.array_equal(high - PACK_OFFSET, a * w1), f"a={a}"
        exact_low, exact_high = a * w0 + PACK_OFFSET, a * w1 + PACK_OFFSET
        assert exact_low.min() >= 0 and exact_high.max() < 1 << PACK_SHIFT, f"a={a}"


def test_packed_pair_is_one_product_register_per_pair():
    """The expressions the core uses: the packed weight, the 32-bit product register and
    the offset sum give both exact products (each alone in its sum)."""
    class Pair(wiring.Component):
        def __init__(self):
            super().__init__({"a": In(8), "w0": In(8), "w1": In(8), "low": Out(signed(32)),
                              "high": Out(signed(32))})

        def elaborate(self, platform):
            m = Module()
            packed = Signal(signed(PACK_SHIFT + 9))
            p = Signal(2 * PACK_SHIFT)
            m.d.comb += [packed.eq(packed_weight(self.w0, self.w1)),
                         p.eq(packed_pair(self.a, packed))]
            low, high = split_packed(p)
            m.d.comb += [self.low.eq(offset_sum([low])), self.high.eq(offset_sum([high]))]
            return m

    dut = Pair()
    sim = Simulator(dut)

    async def bench(ctx):
        for a, w0, w1 in itertools.product(EXTREMES, repeat=3):
            ctx.set(dut.a, a & 0xFF)
            ctx.set(dut.w0, w0 & 0xFF)
            ctx.set(dut.w1, w1 & 0xFF)
            assert (ctx.get(dut.low), ctx.get(dut.high)) == (a * w0, a * w1), (a, w0, w1)
    sim.add_testbench(bench)
    sim.run()


def _chunks(items: list, n: int, pad) -> list[list]:
    return [items[k:k + n] + [pad] * (n - len(items[k:k + n])) for k in range(0, len(items), n)]


def _tiles(rng: np.random.Generator):
    """(inp, wgt) pairs.  First every extreme triple (a, w0, w1) once, each alone in its
    dot product: per cycle only input column i is non-zero, batch row b carries one ``a``
    and output pair q one ``(w0, w1)`` (weights are shared by the rows, so a cycle covers
    batch x pairs triples); then random tiles and all-extreme tiles."""
    c = CFG
    n_pairs = c.block_out // 2
    for cycle, (a_chunk, w_chunk) in enumerate(itertools.product(
            _chunks(list(EXTREMES), c.batch, 0),
            _chunks(list(itertools.product(EXTREMES, repeat=2)), n_pairs, (0, 0)))):
        i = cycle % c.block_in
        inp = np.zeros((c.batch, c.block_in), np.int64)
        wgt = rng.integers(-128, 128, (c.block_out, c.block_in))
        inp[:, i] = a_chunk
        for q, (w0, w1) in enumerate(w_chunk):
            wgt[2 * q, i], wgt[2 * q + 1, i] = w0, w1
        yield inp, wgt
    for _ in range(150):
        yield (rng.integers(-128, 128, (c.batch, c.block_in)),
               rng.integers(-128, 128, (c.block_out, c.block_in)))
    for _ in range(50):
        yield (rng.choice([-128, 127], (c.batch, c.block_in)),
               rng.choice([-128, 127], (c.block_out, c.block_in)))


def test_packed_gemm_core_is_exact_on_extreme_and_random_operands():
    c = CFG
    rng = np.random.default_rng(2024)
    tiles = list(_tiles(rng))
    check_gemm_core(c, tiles)


def test_every_extreme_triple_is_covered():
    """The directed tiles above really hold every (a, w0, w1) triple, each in a dot product
    of its own (its column is the only non-zero input of its row)."""
    c = CFG
    seen = set()
    for inp, wgt in _tiles(np.random.default_rng(0)):
        cols = np.flatnonzero(inp.any(axis=0))
        if len(cols) != 1 or not np.isin(inp, EXTREMES).all():
            continue
        i = cols[0]
        for b in range(c.batch):
            for q in range(c.block_out // 2):
                seen.add((int(inp[b, i]), int(wgt[2 * q, i]), int(wgt[2 * q + 1, i])))
    assert set(itertools.product(EXTREMES, repeat=3)) <= seen
