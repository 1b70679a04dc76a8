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

from amaranth.hdl import Cat, Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..config import VTAConfig
from ..isa import MemType, Opcode
from .alu import AluCore
from .gemm import GemmCore
from .interfaces import (
    DmaReadSignature,
    SramReadSignature,
    TokenInSignature,
    TokenOutSignature,
    insn_layouts,
    uop_layout,
)
from .load_engine import LoadEngine

__all__ = ["ComputeModule"]


class ComputeModule(wiring.Component):
    """Executes LOAD UOP/ACC/ACC_8BIT, GEMM, ALU and FINISH; owns the UOP, ACC and OUT SRAMs.

    Parameters
    ----------
    config : VTAConfig
        Sizes of every buffer, the GEMM core and the ALU.

    Members
    -------
    insn : In(stream.Signature(insn_width))
        The compute queue.
    dma : Out(DmaReadSignature)
        Reads uops and accumulator rows.
    l2c, s2c : Out(TokenInSignature)
        Tokens popped by ``pop_prev`` (from load) and ``pop_next`` (from store).
    c2l, c2s : Out(TokenOutSignature)
        Tokens pushed by ``push_prev`` (to load) and ``push_next`` (to store).
    inp_rd, wgt_rd : Out(SramReadSignature)
        Read ports into the load module's INP and WGT buffers.
    out_rd : In(SramReadSignature)
        The store module's read port into the OUT buffer.
    busy : Out(1)
        An instruction is waiting for tokens or executing, or uops are in flight.
    wait_prev, wait_next : Out(1)
        The head instruction waits for a load->compute / store->compute token.
    insn_done : Out(1)
        Pulses once per completed instruction (when its tokens are pushed).
    gemm_uop, alu_uop : Out(1)
        Pulse once per GEMM uop (reset uops included) / ALU uop written back.
    finish : Out(1)
        Pulses when a FINISH instruction completes.
    """

    def __init__(self, config: VTAConfig) -> None:
        self._config = config
        c = config
        super().__init__({
            "insn": In(stream.Signature(c.insn_width)),
            "dma": Out(DmaReadSignature(c)),
            "l2c": Out(TokenInSignature()),
            "s2c": Out(TokenInSignature()),
            "c2l": Out(TokenOutSignature()),
            "c2s": Out(TokenOutSignature()),
            "inp_rd": Out(SramReadSignature(c.inp_depth, c.inp_elem_bytes * 8)),
            "wgt_rd": Out(SramReadSignature(c.wgt_depth, c.wgt_elem_bytes * 8)),
            "out_rd": In(SramReadSignature(c.out_depth, c.out_elem_bytes * 8)),
            "busy": Out(1), "wait_prev": Out(1), "wait_next": Out(1), "insn_done": Out(1),
            "gemm_uop": Out(1), "alu_uop": Out(1), "finish": Out(1),
        })

    @property
    def config(self) -> VTAConfig:
        return self._config

    def elaborate(self, platform) -> Module:
        m = Module()
        cfg = self._config
        layouts = insn_layouts(cfg)
        acc_w = cfg.acc_elem_bytes * 8
        out_w = cfg.out_elem_bytes * 8

        # ---------------------------------------------------------------- buffers
        m.submodules.uop_mem = uop_mem = Memory(shape=unsigned(cfg.uop_width),
                                                depth=cfg.uop_depth, init=[])
        m.submodules.acc_mem = acc_mem = Memory(shape=unsigned(acc_w), depth=cfg.acc_depth,
                                                init=[], attrs=cfg.sram_attrs)
        m.submodules.out_mem = out_mem = Memory(shape=unsigned(out_w), depth=cfg.out_depth,
                                                init=[])
        uop_rd = uop_mem.read_port(transparent_for=())
        uop_wr = uop_mem.write_port()
        # Two read ports (ALU_TENSOR_II = 1): dst and src rows in the same cycle.  One read
        # port (ALU_TENSOR_II = 2): shared by the dst and src reads, see S1.
        dual_read = cfg.ALU_TENSOR_II == 1
        acc_rd_dst = acc_mem.read_port(transparent_for=())
        acc_rd_src = acc_mem.read_port(transparent_for=()) if dual_read else acc_rd_dst
        acc_wr = acc_mem.write_port()
        out_rd = out_mem.read_port(transparent_for=())
        out_wr = out_mem.write_port()
        m.d.comb += [out_rd.addr.eq(self.out_rd.addr), out_rd.en.eq(self.out_rd.en),
                     self.out_rd.data.eq(out_rd.data)]

        # ---------------------------------------------------------------- load engines
        m.submodules.uop_load = uop_eng = LoadEngine(
            cfg, elem_bytes=cfg.uop_elem_bytes, depth=cfg.uop_depth,
            sram_width=cfg.uop_width)
        m.submodules.acc_load = acc_eng = LoadEngine(
            cfg, elem_bytes=cfg.acc_elem_bytes, depth=cfg.acc_depth, sram_width=acc_w)
        m.submodules.acc8_load = acc8_eng = LoadEngine(
            cfg, elem_bytes=cfg.out_elem_bytes, depth=cfg.acc_depth, sram_width=acc_w,
            sign_extend=True)
        engines = (uop_eng, acc_eng, acc8_eng)
        for eng in engines:
            m.d.comb += eng.insn.eq(self.insn.payload)
        m.d.comb += [uop_wr.addr.eq(uop_eng.wr.addr), uop_wr.data.eq(uop_eng.wr.data),
                     uop_wr.en.eq(uop_eng.wr.en)]
        # Only one engine runs at a time (the queue is in order): OR the idle ones away.
        sel = Signal(range(len(engines)))
        req, resp = self.dma.req, self.dma.resp
        with m.Switch(sel):
            for i, eng in enumerate(engines):
                with m.Case(i):
                    m.d.comb += [req.valid.eq(eng.dma.req.valid),
                                 req.payload.eq(eng.dma.req.payload),
                                 eng.dma.req.ready.eq(req.ready),
                                 eng.dma.resp.valid.eq(resp.valid),
                                 resp.ready.eq(eng.dma.resp.ready)]
        for eng in engines:
            m.d.comb += eng.dma.resp.payload.eq(resp.payload)

        # ---------------------------------------------------------------- instruction decode
        word = self.insn.payload
        op = word[0:3]
        pop_prev, pop_next, push_prev, push_next = word[3], word[4], word[5], word[6]
        ld = layouts[Opcode.LOAD](word)
        gm = layouts[Opcode.GEMM](word)
        al = layouts[Opcode.ALU](word)

        tokens_ok = (~pop_prev | self.l2c.valid) & (~pop_next | self.s2c.valid)
        accept = Signal()
        cur_push_prev = Signal()
        cur_push_next = Signal()
        cur_finish = Signal()

        # Loop-nest registers (latched on accept of a GEMM or ALU).
        is_alu = Signal()
        reset = Signal()
        use_imm = Signal()
        alu_op = Signal(3)
        imm = Signal(cfg.acc_width)
        uop_bgn = Signal(cfg.log_uop_depth)
        uop_last = Signal(cfg.log_uop_depth + 1)
        iter_out_last = Signal(14)
        iter_in_last = Signal(14)
        dfo, dfi = Signal(cfg.log_acc_depth), Signal(cfg.log_acc_depth)
        src_bits = max(cfg.log_acc_depth, cfg.log_inp_depth)
        sfo, sfi = Signal(src_bits), Signal(src_bits)
        wfo, wfi = Signal(cfg.log_wgt_depth), Signal(cfg.log_wgt_depth)

        # S0 state: counters and running offsets (i * f_out and i * f_out + j * f_in).
        k = Signal(cfg.log_uop_depth + 1)
        i_cnt, j_cnt = Signal(14), Signal(14)
        dst_i, dst_ij = Signal(cfg.log_acc_depth), Signal(cfg.log_acc_depth)
        src_i, src_ij = Signal(src_bits), Signal(src_bits)
        wgt_i, wgt_ij = Signal(cfg.log_wgt_depth), Signal(cfg.log_wgt_depth)
        issuing = Signal()
        # ALU_TENSOR_II = 2: the cycle after a tensor-operand ALU uop issues is a bubble.
        bubble = Signal()
        slow_uops = Signal()        # this instruction's uops need two read cycles each
        if not dual_read:
            m.d.comb += slow_uops.eq(is_alu & ~use_imm)
        # Each uop carries its instruction's control bits down the pipeline, so the next
        # GEMM/ALU can start issuing while the previous one's uops are still in flight.
        ctl_layout = data.StructLayout({"is_alu": 1, "reset": 1, "use_imm": 1,
                                        "alu_op": 3, "imm": cfg.acc_width})
        s1_ctl, s2_ctl, s3_ctl, s4_ctl = (Signal(ctl_layout, name=f"s{i}_ctl")
                                          for i in range(1, 5))
        pipe_empty = Signal()
        # Pipeline valid bits and carried fields.
        v1, v2, v3, v4 = Signal(), Signal(), Signal(), Signal()
        s1_dst_off, s1_src_off, s1_wgt_off = (Signal(cfg.log_acc_depth), Signal(src_bits),
                                              Signal(cfg.log_wgt_depth))
        s2_dst, s2_src = Signal(cfg.log_acc_depth), Signal(cfg.log_acc_depth)
        s3_dst, s3_src = Signal(cfg.log_acc_depth), Signal(cfg.log_acc_depth)
        s3_a, s3_b = Signal(acc_w), Signal(acc_w)
        s4_dst, s4_src = Signal(cfg.log_acc_depth), Signal(cfg.log_acc_depth)
        s4_a, s4_b = Signal(acc_w), Signal(acc_w)
        wb_valid = Signal()
        wb_addr = Signal(cfg.log_acc_depth)
        wb_data = Signal(acc_w)

        with m.FSM(name="compute"):
            with m.State("IDLE"):
                m.d.comb += [
                    self.wait_prev.eq(self.insn.valid & pop_prev & ~self.l2c.valid),
                    self.wait_next.eq(self.insn.valid & pop_next & ~self.s2c.valid),
                    self.busy.eq(self.insn.valid | ~pipe_empty),
                ]
                # LOADs (which share the ACC write port) and FINISH wait for the uops of
                # earlier instructions to drain; GEMM and ALU may follow them directly.
                may_start = pipe_empty | (op == Opcode.GEMM) | (op == Opcode.ALU)
                with m.If(self.insn.valid & tokens_ok & may_start):
                    m.d.comb += [accept.eq(1), self.insn.ready.eq(1),
                                 self.l2c.pop.eq(pop_prev), self.s2c.pop.eq(pop_next)]
                    m.d.sync += [cur_push_prev.eq(push_prev), cur_push_next.eq(push_next),
                                 cur_finish.eq(op == Opcode.FINISH)]
                    loop_empty = ((gm.iter_out == 0) | (gm.iter_in == 0)
                                  | (gm.uop_end <= gm.uop_bgn))
                    with m.Switch(op):
                        with m.Case(Opcode.LOAD):
                            with m.Switch(ld.memory_type):
                                for idx, mt in enumerate((MemType.UOP, MemType.ACC,
                                                          MemType.ACC_8BIT)):
                                    with m.Case(mt):
                                        m.d.comb += engines[idx].start.eq(1)
                                        m.d.sync += sel.eq(idx)
                                        with m.If(engines[idx].done):
                                            m.next = "PUSH"     # an empty load: a NOP
                                        with m.Else():
                                            m.next = "LOAD"
                                with m.Default():
                                    m.next = "PUSH"     # INP/WGT/OUT belong elsewhere: NOP
                        with m.Case(Opcode.GEMM, Opcode.ALU):
                            is_alu_new = op == Opcode.ALU
                            m.d.sync += [
                                is_alu.eq(is_alu_new), reset.eq(gm.reset & ~is_alu_new),
                                use_imm.eq(al.use_imm), alu_op.eq(al.alu_opcode),
                                imm.eq(al.imm),     # sign-extends into acc_width
                                uop_bgn.eq(gm.uop_bgn), uop_last.eq(gm.uop_end - 1),
                                iter_out_last.eq(gm.iter_out - 1),
                                iter_in_last.eq(gm.iter_in - 1),
                                dfo.eq(gm.dst_factor_out), dfi.eq(gm.dst_factor_in),
                                sfo.eq(Mux(is_alu_new, al.src_factor_out, gm.src_factor_out)),
                                sfi.eq(Mux(is_alu_new, al.src_factor_in, gm.src_factor_in)),
                                wfo.eq(gm.wgt_factor_out), wfi.eq(gm.wgt_factor_in),
                                k.eq(gm.uop_bgn), i_cnt.eq(0), j_cnt.eq(0), bubble.eq(0),
                                dst_i.eq(0), dst_ij.eq(0), src_i.eq(0), src_ij.eq(0),
                                wgt_i.eq(0), wgt_ij.eq(0),
                            ]
                            with m.If(loop_empty):
                                m.next = "PUSH"
                            with m.Else():
                                m.next = "RUN"
                        with m.Default():
                            m.next = "PUSH"           # FINISH (and unknown opcodes)

            with m.State("LOAD"):
                m.d.comb += self.busy.eq(1)
                with m.If(Cat(*(e.done for e in engines)).any()):
                    m.next = "PUSH"

            with m.State("RUN"):
                m.d.comb += self.busy.eq(1)
                m.d.sync += bubble.eq(slow_uops & ~bubble)
                with m.If(~bubble):
                    m.d.comb += issuing.eq(1)
                    last_k = k == uop_last
                    last_j = j_cnt == iter_in_last
                    last_i = i_cnt == iter_out_last
                    with m.If(last_k):
                        m.d.sync += k.eq(uop_bgn)
                        with m.If(last_j):
                            m.d.sync += [j_cnt.eq(0), i_cnt.eq(i_cnt + 1),
                                         dst_i.eq(dst_i + dfo), dst_ij.eq(dst_i + dfo),
                                         src_i.eq(src_i + sfo), src_ij.eq(src_i + sfo),
                                         wgt_i.eq(wgt_i + wfo), wgt_ij.eq(wgt_i + wfo)]
                            with m.If(last_i):
                                # Pushes wait for every uop's write-back; otherwise the
                                # instruction is done once its last uop has been issued.
                                with m.If(cur_push_prev | cur_push_next):
                                    m.next = "DRAIN"
                                with m.Else():
                                    m.next = "PUSH"
                        with m.Else():
                            m.d.sync += [j_cnt.eq(j_cnt + 1), dst_ij.eq(dst_ij + dfi),
                                         src_ij.eq(src_ij + sfi), wgt_ij.eq(wgt_ij + wfi)]
                    with m.Else():
                        m.d.sync += k.eq(k + 1)

            with m.State("DRAIN"):
                m.d.comb += self.busy.eq(1)
                with m.If(~v1 & ~v2 & ~v3 & ~v4):
                    m.next = "PUSH"

            with m.State("PUSH"):
                m.d.comb += [self.busy.eq(1), self.insn_done.eq(1),
                             self.c2l.push.eq(cur_push_prev), self.c2s.push.eq(cur_push_next),
                             self.finish.eq(cur_finish)]
                m.next = "IDLE"

        # ---------------------------------------------------------------- S0: uop fetch
        m.d.comb += [uop_rd.addr.eq(k), uop_rd.en.eq(1)]
        m.d.comb += pipe_empty.eq(~v1 & ~v2 & ~v3 & ~v4)
        m.d.sync += [v1.eq(issuing), s1_dst_off.eq(dst_ij), s1_src_off.eq(src_ij),
                     s1_wgt_off.eq(wgt_ij),
                     s1_ctl.is_alu.eq(is_alu), s1_ctl.reset.eq(reset),
                     s1_ctl.use_imm.eq(use_imm), s1_ctl.alu_op.eq(alu_op), s1_ctl.imm.eq(imm)]

        # ---------------------------------------------------------------- S1: SRAM reads
        uop = uop_layout(cfg)(uop_rd.data)
        dst = Signal(cfg.log_acc_depth)
        src = Signal(src_bits)
        wgt = Signal(cfg.log_wgt_depth)
        m.d.comb += [dst.eq(uop.dst_idx + s1_dst_off), src.eq(uop.src_idx + s1_src_off),
                     wgt.eq(uop.wgt_idx + s1_wgt_off)]

        def tensor(ctl):                        # an ALU uop with a tensor operand
            return ctl.is_alu & ~ctl.use_imm

        if dual_read:
            m.d.comb += [acc_rd_dst.addr.eq(dst), acc_rd_src.addr.eq(src)]
        else:
            # The one port reads ACC[src] of a tensor uop in S1, its ACC[dst] in S2 (S1
            # holds the bubble then), and ACC[dst] of every other uop in S1.
            with m.If(v2 & tensor(s2_ctl)):
                m.d.comb += acc_rd_dst.addr.eq(s2_dst)
            with m.Elif(tensor(s1_ctl)):
                m.d.comb += acc_rd_dst.addr.eq(src)
            with m.Else():
                m.d.comb += acc_rd_dst.addr.eq(dst)
        m.d.comb += [
            acc_rd_dst.en.eq(1), acc_rd_src.en.eq(1),
            self.inp_rd.addr.eq(src), self.inp_rd.en.eq(1),
            self.wgt_rd.addr.eq(wgt), self.wgt_rd.en.eq(1),
        ]
        m.d.sync += [v2.eq(v1), s2_dst.eq(dst), s2_src.eq(src), s2_ctl.eq(s1_ctl)]

        # The row read in S1 misses the writes of the three uops ahead of it.  As a uop
        # passes S2, S3 and S4, ``wb`` holds the write of the uop three, two and one
        # places ahead of it respectively, so checking ``wb`` once per stage covers them.
        def forward(addr, value):
            return Mux(wb_valid & (wb_addr == addr), wb_data, value)
        fwd_src = tensor                        # only tensor ALU ops read ACC[src]

        # ---------------------------------------------------------------- S2: operands
        lanes = cfg.batch * cfg.block_out
        imm_row = Cat(*([s2_ctl.imm] * lanes))
        m.submodules.gemm = gemm = GemmCore(cfg)      # products registered into S3
        m.d.comb += [gemm.inp.eq(self.inp_rd.data), gemm.wgt.eq(self.wgt_rd.data)]
        m.d.sync += [v3.eq(v2), s3_dst.eq(s2_dst), s3_src.eq(s2_src), s3_ctl.eq(s2_ctl),
                     s3_a.eq(forward(s2_dst, acc_rd_dst.data)),
                     s3_b.eq(Mux(s2_ctl.use_imm, imm_row, forward(s2_src, acc_rd_src.data)))]

        # ---------------------------------------------------------------- S3: adder tree
        # With one read port a tensor uop's dst row arrives here, read in S2.
        a3 = s3_a if dual_read else Mux(tensor(s3_ctl), acc_rd_dst.data, s3_a)
        m.d.sync += [v4.eq(v3), s4_dst.eq(s3_dst), s4_src.eq(s3_src), s4_ctl.eq(s3_ctl),
                     s4_a.eq(forward(s3_dst, a3))]
        with m.If(s3_ctl.is_alu):
            m.d.sync += s4_b.eq(Mux(fwd_src(s3_ctl), forward(s3_src, s3_b), s3_b))
        with m.Else():
            m.d.sync += s4_b.eq(gemm.dot)

        # ---------------------------------------------------------------- S4: write-back
        a4 = forward(s4_dst, s4_a)
        b4 = Mux(fwd_src(s4_ctl), forward(s4_src, s4_b), s4_b)
        gemm_sum = Cat(*((a4.word_select(i, cfg.acc_width) + b4.word_select(i, cfg.acc_width))
                         [:cfg.acc_width] for i in range(lanes)))
        m.submodules.alu = alu = AluCore(cfg)
        m.d.comb += [alu.opcode.eq(s4_ctl.alu_op), alu.a.eq(a4), alu.b.eq(b4)]
        result = Signal(acc_w)
        with m.If(s4_ctl.is_alu):
            m.d.comb += result.eq(alu.result)
        with m.Elif(s4_ctl.reset):
            m.d.comb += result.eq(0)
        with m.Else():
            m.d.comb += result.eq(gemm_sum)
        narrow = Cat(*(result.word_select(i, cfg.acc_width)[:cfg.out_width]
                       for i in range(lanes)))
        m.d.sync += [wb_valid.eq(v4), wb_addr.eq(s4_dst), wb_data.eq(result)]
        m.d.comb += [
            out_wr.addr.eq(s4_dst), out_wr.data.eq(narrow), out_wr.en.eq(v4),
            self.gemm_uop.eq(v4 & ~s4_ctl.is_alu),
            self.alu_uop.eq(v4 & s4_ctl.is_alu),
        ]
        # The ACC write port is shared with the ACC/ACC_8BIT load engines (never both busy).
        with m.If(v4):
            m.d.comb += [acc_wr.addr.eq(s4_dst), acc_wr.data.eq(result), acc_wr.en.eq(1)]
        with m.Elif(acc_eng.wr.en):
            m.d.comb += [acc_wr.addr.eq(acc_eng.wr.addr), acc_wr.data.eq(acc_eng.wr.data),
                         acc_wr.en.eq(1)]
        with m.Elif(acc8_eng.wr.en):
            m.d.comb += [acc_wr.addr.eq(acc8_eng.wr.addr), acc_wr.data.eq(acc8_eng.wr.data),
                         acc_wr.en.eq(1)]
        return m
