"""The GEMM core's arithmetic: BATCH x BLOCK_OUT dot products of BLOCK_IN int8 pairs.

``out[b][o] = sum_i inp[b][i] * wgt[o][i]`` with signed int8 operands; the sums are
exact (``16 + log2(BLOCK_IN)`` bits) and the accumulation into int32 wraps.  Products are
summed by a balanced adder tree so synthesis sees a shallow structure it can map onto DSP
cascades.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Signal, Value, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..config import VTAConfig

__all__ = ["GemmCore", "dot_rows", "adder_tree"]


def adder_tree(values: list[Value]) -> Value:
    """Sum ``values`` with a balanced tree of two-input adders."""
    while len(values) > 1:
        paired = [values[i] + values[i + 1] for i in range(0, len(values) - 1, 2)]
        if len(values) % 2:
            paired.append(values[-1])
        values = paired
    return values[0]


def dot_rows(m: Module, config: VTAConfig, inp: Value, wgt: Value) -> Value:
    """Every dot product of one INP element with one WGT tile, as an ACC row.

    Parameters
    ----------
    m : Module
        Module the combinational logic is added to.
    config : VTAConfig
        BATCH, BLOCK_IN, BLOCK_OUT and the operand/accumulator widths.
    inp : Value
        INP element: ``batch * block_in`` int8 lanes, lane ``b * block_in + i``.
    wgt : Value
        WGT tile: ``block_out * block_in`` int8 lanes, lane ``o * block_in + i``.

    Returns a value of ``batch * block_out`` lanes of ``acc_width`` bits, lane
    ``b * block_out + o``.
    """
    bi, bo, acc = config.block_in, config.block_out, config.acc_width
    iw, ww = config.inp_width, config.wgt_width
    lanes = []
    for b in range(config.batch):
        for o in range(bo):
            products = [inp.word_select(b * bi + i, iw).as_signed()
                        * wgt.word_select(o * bi + i, ww).as_signed() for i in range(bi)]
            lane = Signal(signed(acc), name=f"dot_{b}_{o}")
            m.d.comb += lane.eq(adder_tree(products))      # sign-extends to acc_width
            lanes.append(lane)
    return Cat(*lanes)


class GemmCore(wiring.Component):
    """The MAC array as a pipelined block: ``dot`` is every dot product of ``inp`` with
    ``wgt`` as presented one cycle earlier (latency 1, one new operand pair per cycle).

    The ``batch * block_in * block_out`` products are registered (the multiplier output
    register of a DSP slice); the adder tree follows combinationally, and the compute
    pipeline registers its sum.

    Members
    -------
    inp : In(batch * block_in * inp_width)
        One INP element.
    wgt : In(block_out * block_in * wgt_width)
        One WGT tile.
    dot : Out(batch * block_out * acc_width)
        Lane ``b * block_out + o`` holds ``sum_i inp[b][i] * wgt[o][i]`` (int32) of the
        operands of the previous cycle.
    """

    LATENCY = 1

    def __init__(self, config: VTAConfig) -> None:
        self._config = config
        super().__init__({"inp": In(config.inp_elem_bytes * 8),
                          "wgt": In(config.wgt_elem_bytes * 8),
                          "dot": Out(config.acc_elem_bytes * 8)})

    def elaborate(self, platform) -> Module:
        m = Module()
        c = self._config
        bi, iw, ww = c.block_in, c.inp_width, c.wgt_width
        lanes = []
        for b in range(c.batch):
            for o in range(c.block_out):
                products = []
                for i in range(bi):
                    p = Signal(signed(iw + ww), name=f"p_{b}_{o}_{i}")
                    m.d.sync += p.eq(self.inp.word_select(b * bi + i, iw).as_signed()
                                     * self.wgt.word_select(o * bi + i, ww).as_signed())
                    products.append(p)
                lane = Signal(signed(c.acc_width), name=f"dot_{b}_{o}")
                m.d.comb += lane.eq(adder_tree(products))
                lanes.append(lane)
        m.d.comb += self.dot.eq(Cat(*lanes))
        return m
