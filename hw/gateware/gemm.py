"""The GEMM core's arithmetic: BATCH x BLOCK_OUT dot products of BLOCK_IN int8 pairs.

``out[b][o] = sum_i inp[b][i] * wgt[o][i]`` with signed int8 operands; the sums are
exact (``16 + log2(BLOCK_IN)`` bits) and the accumulation into int32 wraps.  Products are
summed by a balanced adder tree so synthesis sees a shallow structure it can map onto DSP
cascades.

Without packing every product is an ``acc_width``-bit signed multiply: the input element
is sign-extended once (a named ``acc_width - wgt_width``-bit signal shared by the
``block_out`` products that use it), so ``ax * w`` is exactly ``acc_width`` bits and its
register needs no extension.  The tree is :func:`wrapping_tree` over those registers:
every node is a signed ``acc_width``-bit signal, never re-extended to a growing width.
Synthesis is unchanged by the wide
form -- yosys' ``wreduce`` drops the operand's copies of its sign bit, leaving one 8 x 8
multiplier per product (``tests/boards/test_resources.py``) -- while the Verilated model
evaluates each product as one extension and one native multiply where the 16-bit form
took three extensions and two masks: the GEMM's share of the model's per-cycle code
shrinks by ~40 % (docs/hardware.md, "Simulator speed").  The sums are identical because
exact sums fit and two's complement addition wraps alike.

With ``GEMM_DSP_PACK`` two products that share an input element, ``a * w0`` and ``a * w1``
(output lanes ``2q`` and ``2q + 1``), come from one multiply (:func:`packed_pair`):

    P = a * ((w1 << 16) + w0) + 2**31 + 2**15
      = (a * w1 + 2**15) * 2**16 + (a * w0 + 2**15)        (mod 2**32)

Every int8 product lies in [-16256, 16384], so ``a * w + 2**15`` lies in [16512, 49152]:
inside [0, 2**16), the low half neither borrows from nor carries into the upper one.  Hence
``P[0:16]`` is exactly ``a * w0 + 2**15`` and ``P[16:32]`` exactly ``a * w1 + 2**15``, both
unsigned (offset binary, :func:`split_packed`); the product register keeps those 32 bits.
A lane sums its offset products with unsigned adders and subtracts ``2**15`` per addend
once, at the root (:func:`offset_sum`).  The bias replaces the usual borrow correction and
costs no logic; the root's constant subtraction costs a few LUTs per lane, and the
Verilated model has no sign extension left to evaluate in the core (the measured effect:
docs/hardware.md, "Simulator speed").  The packed operand is 25 bits
(:func:`packed_weight`) and ``a`` 8 bits: Xilinx synthesis maps each pair onto one
DSP48E1/DSP48E2, ``(w1 << 16)`` on A, ``w0`` on D (the pre-adder forms the packed weight),
``a`` on B, the bias on C and the product register in PREG.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Signal, Value, signed
from amaranth.lib.wiring import In, Out

from ..config import VTAConfig
from .component import ConfiguredComponent

__all__ = ["GemmCore", "adder_tree", "wrapping_tree", "packed_weight", "packed_pair",
           "split_packed", "offset_sum", "PACK_SHIFT", "PACK_OFFSET", "PACK_BIAS"]

# Bit position of the upper product in a packed multiply, the offset each product carries
# (so neither half borrows), and the bias that adds it to both halves (see the module
# docstring).
PACK_SHIFT = 16
PACK_OFFSET = 1 << (PACK_SHIFT - 1)
PACK_BIAS = (PACK_OFFSET << PACK_SHIFT) + PACK_OFFSET


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
    wraps the same at every level), but every node is a signed ``width``-bit signal: a
    cycle-based simulator never re-extends a partial sum to a growing width (Verilator
    still adds two signed nodes at ``width + 1`` bits before truncating; unsigned nodes
    would avoid that, but then yosys cannot narrow the adders).  Addends narrower than
    ``width`` are sign-extended into a named node first; ``width``-bit addends are used as
    they are.

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
            level.append(v.as_signed())
            continue
        ext = Signal(signed(width), name=f"{name}_x{k}")
        m.d.comb += ext.eq(v.as_signed() + zero)      # a signed add sign-extends v
        level.append(ext)
    depth = 0
    while len(level) > 1:
        paired = []
        for k in range(0, len(level) - 1, 2):
            # Signed nodes: yosys narrows a signed adder whose inputs repeat their sign
            # bit (an unsigned one it cannot; +6.4 k LUT on `fast` measured).
            node = Signal(signed(width), name=f"{name}_l{depth}_{k // 2}")
            m.d.comb += node.eq(level[k] + level[k + 1])      # truncates: wraps mod 2**width
            paired.append(node)
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
        depth += 1
    return level[0]


def packed_weight(w0: Value, w1: Value) -> Value:
    """``(w1 << 16) + w0`` of two int8 weights as a signed value (25 bits are enough).

    The shifted weight is written as a concatenation with one sign bit (``w1 * 2**16`` in
    25 bits), not as a shift of a sign-extended value, whose replicated sign bits a
    cycle-based simulator would assemble one by one.
    """
    shifted = Cat(Const(0, PACK_SHIFT), w1, w1[-1]).as_signed()
    return shifted + w0.as_signed()


def packed_pair(a: Value, packed: Value) -> Value:
    """The packed multiply ``a * packed + PACK_BIAS``.

    Parameters
    ----------
    a : Value
        The shared operand (the input element), 8 bits, two's complement.
    packed : Value
        ``packed_weight(w0, w1)``, signed.

    Bits ``[0:32]`` of the result hold ``a * w0 + 2**15`` and ``a * w1 + 2**15``
    (:func:`split_packed`); the bits above are not needed.
    """
    return a.as_signed() * packed + PACK_BIAS


def split_packed(p: Value) -> tuple[Value, Value]:
    """``(a * w0 + 2**15, a * w1 + 2**15)`` as unsigned 16-bit values from a
    :func:`packed_pair` result."""
    return p[:PACK_SHIFT], p[PACK_SHIFT:2 * PACK_SHIFT]


def offset_sum(values: list[Value]) -> Value:
    """``sum(values) - len(values) * 2**15`` (signed): the dot product of offset products
    (:func:`split_packed`), summed by an unsigned :func:`adder_tree`."""
    return adder_tree(values) - len(values) * PACK_OFFSET


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
                        packed = Signal(signed(PACK_SHIFT + ww + 1), name=f"pw_{b}_{o}_{i}")
                        m.d.comb += packed.eq(packed_weight(
                            self.wgt.word_select(o * bi + i, ww),
                            self.wgt.word_select((o + 1) * bi + i, ww)))
                        p = Signal(2 * PACK_SHIFT, name=f"pp_{b}_{o}_{i}")
                        m.d.sync += p.eq(packed_pair(a, packed))
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
                    m.d.comb += lane.eq(offset_sum(products[b][o]))
                else:
                    m.d.comb += lane.eq(wrapping_tree(m, products[b][o], c.acc_width,
                                                      f"sum_{b}_{o}"))
                lanes.append(lane)
        m.d.comb += self.dot.eq(Cat(*lanes))
        return m
