"""The compute module: uop cache, accumulator, GEMM core, ALU, OUT narrowing, FINISH.

Executes, in order, the compute queue's instructions: LOAD UOP/ACC/ACC_8BIT (through
:class:`~.load_engine.LoadEngine`), GEMM, ALU and FINISH, honouring the four dependency
token flags (wait for every popped token, execute, then push).

GEMM and ALU run the loop nest ``i < iter_out, j < iter_in, k in [uop_bgn, uop_end)`` in a
five-stage pipeline that retires one uop per cycle with no bubbles:

====  ===========================================================================
S0    loop counters; read ``UOP[k]``; carry the ``i``/``j`` index offsets
S1    add the offsets to the uop's indices; read ACC[dst] (and ACC[src] for the ALU),
      INP[src] and WGT[wgt]
S2    GEMM: all products (registered in the GEMM core); ALU: the operand (ACC[src] or
      the immediate)
S3    GEMM: the adder trees, one dot product per output lane
S4    add (GEMM), zero (reset GEMM) or apply the ALU op; write ACC and the narrowed
      OUT row
====  ===========================================================================

The SRAM reads are non-transparent, so a row read in S1 misses the writes of the three
uops ahead of it.  The ``wb`` register holds the row written in the previous cycle; each
of S2, S3 and S4 replaces the operand rows by ``wb`` when the addresses match, which
keeps results exact when nearby uops hit one ACC row.

With ``ALU_TENSOR_II = 2`` the ACC SRAM has a single read port (no replica on an FPGA).
An ALU uop with a tensor operand then issues every other cycle: it reads ACC[src] in S1
and, in the bubble behind it, ACC[dst] in S2; the dst row arrives in S3, where the
``wb`` checks of S3 and S4 cover the two write-backs that read missed.  GEMM and
immediate ALU uops read only ACC[dst], in S1, and still issue every cycle.

Every uop carries its instruction's control bits, so a GEMM or ALU that pushes no token is
done once its last uop has been issued and the next GEMM/ALU follows two cycles later;
an instruction that pushes waits for all its write-backs first, and LOADs and FINISH
start only on an empty pipeline.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal, Value, unsigned
from amaranth.lib import data
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..config import VTAConfig
from ..isa import MemType, Opcode
from ..pipeline import COMPUTE
from .alu import AluCore
from .component import ConfiguredComponent
from .formats import header_layout, insn_layouts, uop_layout
from .gemm import GemmCore
from .interfaces import DmaReadSignature, SramReadSignature
from .load_engine import LoadEngine, share_dma
from .stage import TokenFlags, stage_members, status_members

__all__ = ["ComputeModule"]

# The memory types the compute module loads, in the order of its load engines.
_LOADED = (MemType.UOP, MemType.ACC, MemType.ACC_8BIT)


class _Buffers:
    """The UOP, ACC and OUT SRAMs and their ports (see :meth:`ComputeModule._buffers`)."""

    def __init__(self, m: Module, cfg: VTAConfig) -> None:
        acc_w, out_w = cfg.acc_elem_bytes * 8, cfg.out_elem_bytes * 8
        m.submodules.uop_mem = uop_mem = Memory(shape=unsigned(cfg.uop_width),
                                                depth=cfg.uop_depth, init=[])
        m.submodules.acc_mem = acc_mem = Memory(shape=unsigned(acc_w), depth=cfg.acc_depth,
                                                init=[], attrs=cfg.sram_attrs)
        m.submodules.out_mem = out_mem = Memory(shape=unsigned(out_w), depth=cfg.out_depth,
                                                init=[])
        self.uop_rd = uop_mem.read_port(transparent_for=())
        self.uop_wr = uop_mem.write_port()
        # Two read ports (ALU_TENSOR_II = 1): dst and src rows in the same cycle.  One read
        # port (ALU_TENSOR_II = 2): shared by the dst and src reads, see S1.
        self.dual_read = cfg.ALU_TENSOR_II == 1
        self.acc_rd_dst = acc_mem.read_port(transparent_for=())
        self.acc_rd_src = acc_mem.read_port(transparent_for=()) if self.dual_read \
            else self.acc_rd_dst
        self.acc_wr = acc_mem.write_port()
        self.out_rd = out_mem.read_port(transparent_for=())
        self.out_wr = out_mem.write_port()


class _LoopNest:
    """The GEMM/ALU loop nest: registers latched when the instruction is accepted and the
    S0 counters with their running index offsets (``i * f_out`` and
    ``i * f_out + j * f_in``)."""

    def __init__(self, cfg: VTAConfig) -> None:
        src_bits = max(cfg.log_acc_depth, cfg.log_inp_depth)
        self.is_alu = Signal()
        self.reset = Signal()
        self.use_imm = Signal()
        self.alu_op = Signal(3)
        self.imm = Signal(cfg.acc_width)
        self.uop_bgn = Signal(cfg.log_uop_depth)
        self.uop_last = Signal(cfg.log_uop_depth + 1)
        self.iter_out_last = Signal(14)
        self.iter_in_last = Signal(14)
        self.dfo, self.dfi = Signal(cfg.log_acc_depth, name="dfo"), \
            Signal(cfg.log_acc_depth, name="dfi")
        self.sfo, self.sfi = Signal(src_bits, name="sfo"), Signal(src_bits, name="sfi")
        self.wfo, self.wfi = Signal(cfg.log_wgt_depth, name="wfo"), \
            Signal(cfg.log_wgt_depth, name="wfi")
        self.k = Signal(cfg.log_uop_depth + 1)
        self.i_cnt, self.j_cnt = Signal(14, name="i_cnt"), Signal(14, name="j_cnt")
        self.dst_i, self.dst_ij = Signal(cfg.log_acc_depth, name="dst_i"), \
            Signal(cfg.log_acc_depth, name="dst_ij")
        self.src_i, self.src_ij = Signal(src_bits, name="src_i"), \
            Signal(src_bits, name="src_ij")
        self.wgt_i, self.wgt_ij = Signal(cfg.log_wgt_depth, name="wgt_i"), \
            Signal(cfg.log_wgt_depth, name="wgt_ij")
        self.issuing = Signal()
        # ALU_TENSOR_II = 2: the cycle after a tensor-operand ALU uop issues is a bubble.
        self.bubble = Signal()
        self.slow_uops = Signal()   # this instruction's uops need two read cycles each

    def latch(self, op: Value, gm, al) -> list:
        """Sync statements starting the nest of the GEMM (``gm``) or ALU (``al``) view of
        the accepted instruction."""
        is_alu_new = op == Opcode.ALU
        return [
            self.is_alu.eq(is_alu_new), self.reset.eq(gm.reset & ~is_alu_new),
            self.use_imm.eq(al.use_imm), self.alu_op.eq(al.alu_opcode),
            self.imm.eq(al.imm),     # sign-extends into acc_width
            self.uop_bgn.eq(gm.uop_bgn), self.uop_last.eq(gm.uop_end - 1),
            self.iter_out_last.eq(gm.iter_out - 1),
            self.iter_in_last.eq(gm.iter_in - 1),
            self.dfo.eq(gm.dst_factor_out), self.dfi.eq(gm.dst_factor_in),
            self.sfo.eq(Mux(is_alu_new, al.src_factor_out, gm.src_factor_out)),
            self.sfi.eq(Mux(is_alu_new, al.src_factor_in, gm.src_factor_in)),
            self.wfo.eq(gm.wgt_factor_out), self.wfi.eq(gm.wgt_factor_in),
            self.k.eq(gm.uop_bgn), self.i_cnt.eq(0), self.j_cnt.eq(0), self.bubble.eq(0),
            self.dst_i.eq(0), self.dst_ij.eq(0), self.src_i.eq(0), self.src_ij.eq(0),
            self.wgt_i.eq(0), self.wgt_ij.eq(0),
        ]


class _Stages:
    """Valid bits and carried fields of pipeline stages S1-S4 and the ``wb`` register.

    Every uop carries its instruction's control bits (``sN_ctl``), so the next GEMM/ALU
    can start issuing while the previous one's uops are still in flight.
    """

    def __init__(self, cfg: VTAConfig) -> None:
        acc_w = cfg.acc_elem_bytes * 8
        src_bits = max(cfg.log_acc_depth, cfg.log_inp_depth)
        ctl_layout = data.StructLayout({"is_alu": 1, "reset": 1, "use_imm": 1,
                                        "alu_op": 3, "imm": cfg.acc_width})
        self.s1_ctl, self.s2_ctl, self.s3_ctl, self.s4_ctl = (
            Signal(ctl_layout, name=f"s{i}_ctl") for i in range(1, 5))
        self.empty = Signal(name="pipe_empty")
        self.v1, self.v2, self.v3, self.v4 = (Signal(name=f"v{i}") for i in range(1, 5))
        self.s1_dst_off = Signal(cfg.log_acc_depth)
        self.s1_src_off = Signal(src_bits)
        self.s1_wgt_off = Signal(cfg.log_wgt_depth)
        self.s2_dst, self.s2_src = Signal(cfg.log_acc_depth, name="s2_dst"), \
            Signal(cfg.log_acc_depth, name="s2_src")
        self.s3_dst, self.s3_src = Signal(cfg.log_acc_depth, name="s3_dst"), \
            Signal(cfg.log_acc_depth, name="s3_src")
        self.s3_a, self.s3_b = Signal(acc_w, name="s3_a"), Signal(acc_w, name="s3_b")
        self.s4_dst, self.s4_src = Signal(cfg.log_acc_depth, name="s4_dst"), \
            Signal(cfg.log_acc_depth, name="s4_src")
        self.s4_a, self.s4_b = Signal(acc_w, name="s4_a"), Signal(acc_w, name="s4_b")
        self.wb_valid = Signal()
        self.wb_addr = Signal(cfg.log_acc_depth)
        self.wb_data = Signal(acc_w)

    def forward(self, addr: Value, value: Value) -> Value:
        """``value`` read from ACC[addr], or the row the ``wb`` register holds for it."""
        return Mux(self.wb_valid & (self.wb_addr == addr), self.wb_data, value)


def _tensor(ctl) -> Value:
    """An ALU uop with a tensor operand (the only uops that read ACC[src])."""
    return ctl.is_alu & ~ctl.use_imm


class ComputeModule(ConfiguredComponent):
    """Executes LOAD UOP/ACC/ACC_8BIT, GEMM, ALU and FINISH; owns the UOP, ACC and OUT SRAMs.

    Parameters
    ----------
    config : VTAConfig
        Sizes of every buffer, the GEMM core and the ALU.

    Members
    -------
    insn, dma, l2c, s2c, c2l, c2s :
        The compute queue, the DMA client reading uops and accumulator rows, the tokens
        popped by ``pop_prev`` (from load) and ``pop_next`` (from store) and pushed by
        ``push_prev`` (to load) and ``push_next`` (to store)
        (:func:`.stage.stage_members`).
    inp_rd, wgt_rd : Out(SramReadSignature)
        Read ports into the load module's INP and WGT buffers.
    out_rd : In(SramReadSignature)
        The store module's read port into the OUT buffer.
    busy, wait_prev, wait_next, insn_done : Out(1)
        See :func:`.stage.status_members`; ``busy`` also while uops are in flight,
        ``insn_done`` when the instruction's tokens are pushed.
    gemm_uop, alu_uop : Out(1)
        Pulse once per GEMM uop (reset uops included) / ALU uop written back.
    finish : Out(1)
        Pulses when a FINISH instruction completes.
    """

    def _ports(self, c: VTAConfig) -> dict:
        return {
            **stage_members(c, COMPUTE, Out(DmaReadSignature(c))),
            "inp_rd": Out(SramReadSignature(c.inp_depth, c.inp_elem_bytes * 8)),
            "wgt_rd": Out(SramReadSignature(c.wgt_depth, c.wgt_elem_bytes * 8)),
            "out_rd": In(SramReadSignature(c.out_depth, c.out_elem_bytes * 8)),
            **status_members(COMPUTE),
            "gemm_uop": Out(1), "alu_uop": Out(1), "finish": Out(1),
        }

    def elaborate(self, platform) -> Module:
        m = Module()
        cfg = self._config
        bufs = _Buffers(m, cfg)
        m.d.comb += [bufs.out_rd.addr.eq(self.out_rd.addr), bufs.out_rd.en.eq(self.out_rd.en),
                     self.out_rd.data.eq(bufs.out_rd.data)]
        engines, sel = self._load_engines(m, bufs)
        nest = _LoopNest(cfg)
        stages = _Stages(cfg)
        if not bufs.dual_read:
            m.d.comb += nest.slow_uops.eq(nest.is_alu & ~nest.use_imm)
        self._control(m, engines, sel, nest, stages)
        self._uop_fetch(m, bufs, nest, stages)
        self._sram_reads(m, bufs, stages)
        gemm = self._operands(m, bufs, stages)
        self._adder_tree(m, bufs, stages, gemm)
        self._write_back(m, bufs, stages, engines)
        return m

    def _load_engines(self, m: Module, bufs: _Buffers) -> tuple[dict[MemType, LoadEngine],
                                                                 Signal]:
        """One :class:`LoadEngine` per loaded memory type sharing the DMA client; UOP
        writes the uop buffer, ACC and ACC_8BIT share the ACC write port (S4)."""
        cfg = self._config
        acc_w = cfg.acc_elem_bytes * 8
        m.submodules.uop_load = uop_eng = LoadEngine(
            cfg, elem_bytes=cfg.uop_elem_bytes, depth=cfg.uop_depth,
            sram_width=cfg.uop_width)
        m.submodules.acc_load = acc_eng = LoadEngine(
            cfg, elem_bytes=cfg.acc_elem_bytes, depth=cfg.acc_depth, sram_width=acc_w)
        m.submodules.acc8_load = acc8_eng = LoadEngine(
            cfg, elem_bytes=cfg.out_elem_bytes, depth=cfg.acc_depth, sram_width=acc_w,
            sign_extend=True)
        engines = dict(zip(_LOADED, (uop_eng, acc_eng, acc8_eng), strict=True))
        for eng in engines.values():
            m.d.comb += eng.insn.eq(self.insn.payload)
        m.d.comb += [bufs.uop_wr.addr.eq(uop_eng.wr.addr), bufs.uop_wr.data.eq(uop_eng.wr.data),
                     bufs.uop_wr.en.eq(uop_eng.wr.en)]
        # Only one engine runs at a time (the queue is in order).
        sel = Signal(range(len(engines)))
        share_dma(m, self.dma, list(engines.values()), sel)
        return engines, sel

    def _control(self, m: Module, engines: dict[MemType, LoadEngine], sel: Signal,
                 nest: _LoopNest, stages: _Stages) -> None:
        """Decode the queue head; the FSM IDLE -> LOAD | RUN (-> DRAIN) -> PUSH; in RUN,
        the S0 loop counters issue one uop per cycle (every other cycle for slow uops)."""
        cfg = self._config
        layouts = insn_layouts(cfg)
        word = self.insn.payload
        hdr = header_layout(cfg)(word)
        op = hdr.opcode
        flags = TokenFlags(self, COMPUTE, hdr)
        ld = layouts[Opcode.LOAD](word)
        gm = layouts[Opcode.GEMM](word)
        al = layouts[Opcode.ALU](word)
        cur_finish = Signal()
        v = (stages.v1, stages.v2, stages.v3, stages.v4)

        with m.FSM(name="compute"):
            with m.State("IDLE"):
                m.d.comb += [*flags.waits(self.insn.valid),
                             self.busy.eq(self.insn.valid | ~stages.empty)]
                # LOADs (which share the ACC write port) and FINISH wait for the uops of
                # earlier instructions to drain; GEMM and ALU may follow them directly.
                may_start = stages.empty | (op == Opcode.GEMM) | (op == Opcode.ALU)
                with m.If(self.insn.valid & flags.ready() & may_start):
                    m.d.comb += [self.insn.ready.eq(1), *flags.pop()]
                    m.d.sync += [*flags.latch(), cur_finish.eq(op == Opcode.FINISH)]
                    loop_empty = ((gm.iter_out == 0) | (gm.iter_in == 0)
                                  | (gm.uop_end <= gm.uop_bgn))
                    with m.Switch(op):
                        with m.Case(Opcode.LOAD):
                            with m.Switch(ld.memory_type):
                                for idx, (mt, eng) in enumerate(engines.items()):
                                    with m.Case(mt):
                                        m.d.comb += eng.start.eq(1)
                                        m.d.sync += sel.eq(idx)
                                        with m.If(eng.done):
                                            m.next = "PUSH"     # an empty load: a NOP
                                        with m.Else():
                                            m.next = "LOAD"
                                with m.Default():
                                    m.next = "PUSH"     # INP/WGT/OUT belong elsewhere: NOP
                        with m.Case(Opcode.GEMM, Opcode.ALU):
                            m.d.sync += nest.latch(op, gm, al)
                            with m.If(loop_empty):
                                m.next = "PUSH"
                            with m.Else():
                                m.next = "RUN"
                        with m.Default():
                            m.next = "PUSH"           # FINISH (and unknown opcodes)

            with m.State("LOAD"):
                m.d.comb += self.busy.eq(1)
                with m.If(Cat(*(e.done for e in engines.values())).any()):
                    m.next = "PUSH"

            with m.State("RUN"):
                m.d.comb += self.busy.eq(1)
                self._issue(m, nest, done="DRAIN", pushes=flags.pushes_any())

            with m.State("DRAIN"):
                m.d.comb += self.busy.eq(1)
                with m.If(~v[0] & ~v[1] & ~v[2] & ~v[3]):
                    m.next = "PUSH"

            with m.State("PUSH"):
                m.d.comb += [self.busy.eq(1), self.insn_done.eq(1), *flags.push(),
                             self.finish.eq(cur_finish)]
                m.next = "IDLE"

    @staticmethod
    def _issue(m: Module, n: _LoopNest, done: str, pushes: Value) -> None:
        """S0 loop counters (inside the RUN state): ``k`` over the uops, ``j`` inner and
        ``i`` outer, advancing the index offsets; after the last uop go to ``done`` when
        the instruction ``pushes`` (pushes wait for every write-back), else to PUSH."""
        m.d.sync += n.bubble.eq(n.slow_uops & ~n.bubble)
        with m.If(~n.bubble):
            m.d.comb += n.issuing.eq(1)
            last_k = n.k == n.uop_last
            last_j = n.j_cnt == n.iter_in_last
            last_i = n.i_cnt == n.iter_out_last
            with m.If(last_k):
                m.d.sync += n.k.eq(n.uop_bgn)
                with m.If(last_j):
                    m.d.sync += [n.j_cnt.eq(0), n.i_cnt.eq(n.i_cnt + 1),
                                 n.dst_i.eq(n.dst_i + n.dfo), n.dst_ij.eq(n.dst_i + n.dfo),
                                 n.src_i.eq(n.src_i + n.sfo), n.src_ij.eq(n.src_i + n.sfo),
                                 n.wgt_i.eq(n.wgt_i + n.wfo), n.wgt_ij.eq(n.wgt_i + n.wfo)]
                    with m.If(last_i):
                        # Pushes wait for every uop's write-back; otherwise the
                        # instruction is done once its last uop has been issued.
                        with m.If(pushes):
                            m.next = done
                        with m.Else():
                            m.next = "PUSH"
                with m.Else():
                    m.d.sync += [n.j_cnt.eq(n.j_cnt + 1), n.dst_ij.eq(n.dst_ij + n.dfi),
                                 n.src_ij.eq(n.src_ij + n.sfi), n.wgt_ij.eq(n.wgt_ij + n.wfi)]
            with m.Else():
                m.d.sync += n.k.eq(n.k + 1)

    def _uop_fetch(self, m: Module, bufs: _Buffers, n: _LoopNest, p: _Stages) -> None:
        """S0: read ``UOP[k]``; carry the index offsets and control bits into S1."""
        m.d.comb += [bufs.uop_rd.addr.eq(n.k), bufs.uop_rd.en.eq(1)]
        m.d.comb += p.empty.eq(~p.v1 & ~p.v2 & ~p.v3 & ~p.v4)
        m.d.sync += [p.v1.eq(n.issuing), p.s1_dst_off.eq(n.dst_ij),
                     p.s1_src_off.eq(n.src_ij), p.s1_wgt_off.eq(n.wgt_ij),
                     p.s1_ctl.is_alu.eq(n.is_alu), p.s1_ctl.reset.eq(n.reset),
                     p.s1_ctl.use_imm.eq(n.use_imm), p.s1_ctl.alu_op.eq(n.alu_op),
                     p.s1_ctl.imm.eq(n.imm)]

    def _sram_reads(self, m: Module, bufs: _Buffers, p: _Stages) -> None:
        """S1: add the offsets to the uop's indices; read ACC[dst] (and ACC[src]), INP[src]
        and WGT[wgt]."""
        cfg = self._config
        uop = uop_layout(cfg)(bufs.uop_rd.data)
        dst = Signal(cfg.log_acc_depth)
        src = Signal(max(cfg.log_acc_depth, cfg.log_inp_depth))
        wgt = Signal(cfg.log_wgt_depth)
        m.d.comb += [dst.eq(uop.dst_idx + p.s1_dst_off), src.eq(uop.src_idx + p.s1_src_off),
                     wgt.eq(uop.wgt_idx + p.s1_wgt_off)]
        if bufs.dual_read:
            m.d.comb += [bufs.acc_rd_dst.addr.eq(dst), bufs.acc_rd_src.addr.eq(src)]
        else:
            # The one port reads ACC[src] of a tensor uop in S1, its ACC[dst] in S2 (S1
            # holds the bubble then), and ACC[dst] of every other uop in S1.
            with m.If(p.v2 & _tensor(p.s2_ctl)):
                m.d.comb += bufs.acc_rd_dst.addr.eq(p.s2_dst)
            with m.Elif(_tensor(p.s1_ctl)):
                m.d.comb += bufs.acc_rd_dst.addr.eq(src)
            with m.Else():
                m.d.comb += bufs.acc_rd_dst.addr.eq(dst)
        m.d.comb += [
            bufs.acc_rd_dst.en.eq(1), bufs.acc_rd_src.en.eq(1),
            self.inp_rd.addr.eq(src), self.inp_rd.en.eq(1),
            self.wgt_rd.addr.eq(wgt), self.wgt_rd.en.eq(1),
        ]
        m.d.sync += [p.v2.eq(p.v1), p.s2_dst.eq(dst), p.s2_src.eq(src), p.s2_ctl.eq(p.s1_ctl)]

    # The row read in S1 misses the writes of the three uops ahead of it.  As a uop passes
    # S2, S3 and S4, ``wb`` holds the write of the uop three, two and one places ahead of
    # it respectively, so checking ``wb`` once per stage (:meth:`_Stages.forward`) covers
    # them; only tensor ALU uops read ACC[src], so only they forward it.

    def _operands(self, m: Module, bufs: _Buffers, p: _Stages) -> GemmCore:
        """S2: the GEMM products (registered in the GEMM core); the ALU operand (ACC[src]
        or the immediate)."""
        cfg = self._config
        lanes = cfg.batch * cfg.block_out
        imm_row = Cat(*([p.s2_ctl.imm] * lanes))
        m.submodules.gemm = gemm = GemmCore(cfg)      # products registered into S3
        m.d.comb += [gemm.inp.eq(self.inp_rd.data), gemm.wgt.eq(self.wgt_rd.data)]
        m.d.sync += [p.v3.eq(p.v2), p.s3_dst.eq(p.s2_dst), p.s3_src.eq(p.s2_src),
                     p.s3_ctl.eq(p.s2_ctl),
                     p.s3_a.eq(p.forward(p.s2_dst, bufs.acc_rd_dst.data)),
                     p.s3_b.eq(Mux(p.s2_ctl.use_imm, imm_row,
                                   p.forward(p.s2_src, bufs.acc_rd_src.data)))]
        return gemm

    def _adder_tree(self, m: Module, bufs: _Buffers, p: _Stages, gemm: GemmCore) -> None:
        """S3: the GEMM core's adder trees, one dot product per output lane; with one read
        port a tensor uop's dst row arrives here, read in S2."""
        a3 = p.s3_a if bufs.dual_read else Mux(_tensor(p.s3_ctl), bufs.acc_rd_dst.data, p.s3_a)
        m.d.sync += [p.v4.eq(p.v3), p.s4_dst.eq(p.s3_dst), p.s4_src.eq(p.s3_src),
                     p.s4_ctl.eq(p.s3_ctl), p.s4_a.eq(p.forward(p.s3_dst, a3))]
        with m.If(p.s3_ctl.is_alu):
            m.d.sync += p.s4_b.eq(Mux(_tensor(p.s3_ctl), p.forward(p.s3_src, p.s3_b), p.s3_b))
        with m.Else():
            m.d.sync += p.s4_b.eq(gemm.dot)

    def _write_back(self, m: Module, bufs: _Buffers, p: _Stages,
                    engines: dict[MemType, LoadEngine]) -> None:
        """S4: add (GEMM), zero (reset GEMM) or apply the ALU op; write ACC and the
        narrowed OUT row."""
        cfg = self._config
        acc_w = cfg.acc_elem_bytes * 8
        lanes = cfg.batch * cfg.block_out
        a4 = p.forward(p.s4_dst, p.s4_a)
        b4 = Mux(_tensor(p.s4_ctl), p.forward(p.s4_src, p.s4_b), p.s4_b)
        gemm_sum = Cat(*((a4.word_select(i, cfg.acc_width) + b4.word_select(i, cfg.acc_width))
                         [:cfg.acc_width] for i in range(lanes)))
        m.submodules.alu = alu = AluCore(cfg)
        m.d.comb += [alu.opcode.eq(p.s4_ctl.alu_op), alu.a.eq(a4), alu.b.eq(b4)]
        result = Signal(acc_w)
        with m.If(p.s4_ctl.is_alu):
            m.d.comb += result.eq(alu.result)
        with m.Elif(p.s4_ctl.reset):
            m.d.comb += result.eq(0)
        with m.Else():
            m.d.comb += result.eq(gemm_sum)
        narrow = Cat(*(result.word_select(i, cfg.acc_width)[:cfg.out_width]
                       for i in range(lanes)))
        m.d.sync += [p.wb_valid.eq(p.v4), p.wb_addr.eq(p.s4_dst), p.wb_data.eq(result)]
        m.d.comb += [
            bufs.out_wr.addr.eq(p.s4_dst), bufs.out_wr.data.eq(narrow), bufs.out_wr.en.eq(p.v4),
            self.gemm_uop.eq(p.v4 & ~p.s4_ctl.is_alu),
            self.alu_uop.eq(p.v4 & p.s4_ctl.is_alu),
        ]
        # The ACC write port is shared with the ACC/ACC_8BIT load engines (never both busy).
        acc_wr = bufs.acc_wr
        with m.If(p.v4):
            m.d.comb += [acc_wr.addr.eq(p.s4_dst), acc_wr.data.eq(result), acc_wr.en.eq(1)]
        for mt in (MemType.ACC, MemType.ACC_8BIT):
            with m.Elif(engines[mt].wr.en):
                m.d.comb += [acc_wr.addr.eq(engines[mt].wr.addr),
                             acc_wr.data.eq(engines[mt].wr.data), acc_wr.en.eq(1)]
