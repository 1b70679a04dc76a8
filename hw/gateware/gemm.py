"""The GEMM core's arithmetic: BATCH x BLOCK_OUT dot products of BLOCK_IN int8 pairs.

``out[b][o] = sum_i inp[b][i] * wgt[o][i]`` with signed int8 operands; the sums are
exact (``16 + log2(BLOCK_IN)`` bits) and the accumulation into int32 wraps.  Products are
summed by a balanced adder tree so synthesis sees a shallow structure it can map onto DSP
cascades.

Without packing every product is an ``acc_width``-bit signed multiply: the input element
is sign-extended once (a named ``acc_width - wgt_width``-bit signal shared by the
``block_out`` products that use it), so ``ax * w`` is exactly ``acc_width`` bits and its
register needs no extension.  The tree is :func:`wrapping_tree` over those registers:
every node is ``acc_width`` bits, one machine add.  Synthesis is unchanged by the wide
form -- yosys' ``wreduce`` drops the operand's copies of its sign bit, leaving one 8 x 8
multiplier per product (``tests/boards/test_resources.py``) -- while the Verilated model
evaluates each product as one extension and one native multiply where the 16-bit form
took three extensions and two masks: the GEMM's share of the model's per-cycle code
shrinks by ~40 % (docs/hardware.md, "Simulator speed").  The sums are identical because
exact sums fit and two's complement addition wraps alike.

With ``GEMM_DSP_PACK`` two products that share an input element, ``a * w0`` and ``a * w1``
(output lanes ``2q`` and ``2q + 1``), come from one multiply (:func:`packed_pair`):

    P = a * ((w1 << 16) + w0) + 2**15 = (a * w1) * 2**16 + (a * w0 + 2**15)

Every int8 product lies in [-16256, 16384], so ``a * w0 + 2**15`` lies in [16512, 49152]:
inside [0, 2**16), it never borrows from the upper half.  Hence ``P[16:32]`` is exactly
``a * w1`` (signed) and ``P[0:16] - 2**15`` -- the low half with its top bit inverted -- is
exactly ``a * w0``.  The bias replaces the usual borrow correction and costs no logic.
The packed operand is 25 bits and ``a`` 8 bits: Xilinx synthesis maps each pair onto one
DSP48E1/DSP48E2, ``(w1 << 16)`` on A, ``w0`` on D (the pre-adder forms the packed
weight), ``a`` on B, the bias on C and the product register in PREG.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Signal, Value, signed
from amaranth.lib.wiring import In, Out

from ..config import VTAConfig
from .component import ConfiguredComponent

__all__ = ["GemmCore", "adder_tree", "wrapping_tree", "packed_pair",
           "split_packed", "PACK_SHIFT", "PACK_BIAS"]

# Bit position of the upper product in a packed multiply, and the bias that keeps
# the lower product from borrowing (see the module docstring).
PACK_SHIFT = 16
PACK_BIAS = 1 << (PACK_SHIFT - 1)


def adder_tree(values: list[Value]) -> Value:
    """Sum ``values`` with a balanced tree of two-input adders."""
    while len(values) > 1:
        paired = [values[i] + values[i + 1] for i in range(0, len(values) - 1, 2)]
        if len(values) % 2:
            paired.append(values[-1])
        values = paired
    return values[0]


def wrapping_tree(m: Module, values: list[Value], width: int, name: str) -> Value:
    """Sum signed ``values`` modulo ``2**width`` with a balanced tree of ``width``-bit adders.

    Equal to ``adder_tree(values)`` truncated to ``width`` bits (two's complement addition
    wraps the same at every level), but every node is a plain ``width``-bit signal: a
    cycle-based simulator evaluates one machine add per node instead of re-extending each
    partial sum to a growing width.  Addends narrower than ``width`` are sign-extended into
    a named node first; ``width``-bit addends are used as they are.

    Parameters
    ----------
    m : Module
        Module the combinational nodes are added to.
    values : list[Value]
        Signed addends, each at most ``width`` bits wide.
    width : int
        Width of the sum and of every node.
    name : str
        Prefix of the node signals' names.
    """
    zero = Const(0, signed(width - 1))
    level = []
    for k, v in enumerate(values):
        if len(v) == width:
            level.append(v.as_unsigned())
            continue
        ext = Signal(width, name=f"{name}_x{k}")
        m.d.comb += ext.eq(v.as_signed() + zero)      # a signed add sign-extends v
        level.append(ext)
    depth = 0
    while len(level) > 1:
        paired = []
        for k in range(0, len(level) - 1, 2):
            node = Signal(width, name=f"{name}_l{depth}_{k // 2}")
            m.d.comb += node.eq(level[k] + level[k + 1])      # truncates: wraps mod 2**width
            paired.append(node)
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
        depth += 1
    return level[0].as_signed()


def packed_pair(a: Value, w0: Value, w1: Value) -> Value:
    """The packed multiply ``a * ((w1 << 16) + w0) + 2**15`` of three int8 operands.

    Parameters
    ----------
    a : Value
        The shared operand (the input element), 8 bits, two's complement.
    w0, w1 : Value
        The two weights, 8 bits each, two's complement.

    Returns a signed 33-bit value; :func:`split_packed` takes ``(a * w0, a * w1)`` out of it.
    """
    packed = (w1.as_signed() << PACK_SHIFT) + w0.as_signed()    # 25 bits signed
    return a.as_signed() * packed + PACK_BIAS


def split_packed(p: Value) -> tuple[Value, Value]:
    """``(a * w0, a * w1)`` as signed 16-bit values from a :func:`packed_pair` result."""
    low = Cat(p[:PACK_SHIFT - 1], ~p[PACK_SHIFT - 1]).as_signed()
    high = p[PACK_SHIFT:2 * PACK_SHIFT].as_signed()
    return low, high


class GemmCore(ConfiguredComponent):
    """The MAC array as a pipelined block: ``dot`` is every dot product of ``inp`` with
    ``wgt`` as presented one cycle earlier (latency 1, one new operand pair per cycle).

    The ``batch * block_in * block_out`` products are registered (the multiplier output
    register of a DSP slice; with ``GEMM_DSP_PACK`` one register per packed pair); the
    adder tree follows combinationally, and the compute pipeline registers its sum.

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

    def _ports(self, config: VTAConfig) -> dict:
        return {"inp": In(config.inp_elem_bytes * 8), "wgt": In(config.wgt_elem_bytes * 8),
                "dot": Out(config.acc_elem_bytes * 8)}

    def elaborate(self, platform) -> Module:
        m = Module()
        c = self._config
        bi, iw, ww = c.block_in, c.inp_width, c.wgt_width
        # products[b][o] lists the registered products of output lane (b, o).
        products: list[list[list[Value]]] = [[[] for _ in range(c.block_out)]
                                             for _ in range(c.batch)]
        for b in range(c.batch):
            for i in range(bi):
                a = self.inp.word_select(b * bi + i, iw)
                if c.GEMM_DSP_PACK:
                    for o in range(0, c.block_out, 2):
                        p = Signal(signed(2 * PACK_SHIFT + 1), name=f"pp_{b}_{o}_{i}")
                        m.d.sync += p.eq(packed_pair(a, self.wgt.word_select(o * bi + i, ww),
                                                     self.wgt.word_select((o + 1) * bi + i, ww)))
                        low, high = split_packed(p)
                        products[b][o].append(low)
                        products[b][o + 1].append(high)
                else:
                    # Sign-extended so that ``wide * w`` is exactly acc_width bits (see the
                    # module docstring).
                    wide = Signal(signed(c.acc_width - ww), name=f"ax_{b}_{i}")
                    m.d.comb += wide.eq(a.as_signed())
                    for o in range(c.block_out):
                        p = Signal(signed(c.acc_width), name=f"p_{b}_{o}_{i}",
                                   reset_less=True)
                        m.d.sync += p.eq(wide * self.wgt.word_select(o * bi + i, ww).as_signed())
                        products[b][o].append(p)
        lanes = []
        for b in range(c.batch):
            for o in range(c.block_out):
                lane = Signal(signed(c.acc_width), name=f"dot_{b}_{o}")
                if c.GEMM_DSP_PACK:
                    m.d.comb += lane.eq(adder_tree(products[b][o]))
                else:
                    m.d.comb += lane.eq(wrapping_tree(m, products[b][o], c.acc_width,
                                                      f"sum_{b}_{o}"))
                lanes.append(lane)
        m.d.comb += self.dot.eq(Cat(*lanes))
        return m
