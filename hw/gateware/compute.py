"""The compute module: uop cache, accumulator, GEMM core, ALU, OUT narrowing, FINISH.

Executes, in order, the compute queue's instructions: LOAD UOP/ACC/ACC_8BIT (through
:class:`~.load_engine.LoadEngine`), GEMM, ALU and FINISH, honouring the four dependency
token flags (wait for every popped token, execute, then push).  GEMM and ALU instructions
run on the execution units of :mod:`.compute_unit` (a five-stage uop pipeline each).

Without ``ALU_OVERLAP`` one unit runs both (TVM's compute core): a GEMM or ALU that pushes
no token is done once its last uop has been issued and the next GEMM/ALU follows two
cycles later; an instruction that pushes waits for all its write-backs first, and LOADs
and FINISH start only on an empty pipeline.

With ``ALU_OVERLAP`` a GEMM unit and an ALU unit run at the same time, following the
rules of :mod:`vta.hw.pipeline`: the controller takes instructions from the queue in
order and pops their tokens; a GEMM starts on the GEMM unit at once, an ALU instruction
goes into a queue of ``ALU_QUEUE_DEPTH`` entries once the GEMM unit has drained, and the
ALU sequencer runs the queued instructions in order and pushes their tokens; LOADs and
FINISH wait for both units.  The accumulator and OUT buffers are two banks each (the
lower and upper halves), so the units write different banks through their own ports;
the program keeps them apart (rule 5), and the ports of a bank follow the unit using it.
"""

from __future__ import annotations

from typing import Any

from amaranth.hdl import Cat, Module, Mux, Signal, Value, unsigned
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..config import VTAConfig
from ..isa import MemType, Opcode
from ..pipeline import ALU_QUEUE_DEPTH, COMPUTE, PUSH_WAITS_FOR_ALU, channels_pushed
from .component import ConfiguredComponent
from .compute_unit import ExecUnit, UnitKind, UnitPorts, VirtualPort
from .formats import header_layout, insn_layouts
from .index_check import BEHIND_BITS, IndexErrorSignature
from .interfaces import DmaReadSignature, SramReadSignature
from .load_engine import LoadEngine, share_dma
from .stage import TokenFlags, stage_members, status_members

__all__ = ["ComputeModule"]

# The memory types the compute module loads, in the order of its load engines.
_LOADED = (MemType.UOP, MemType.ACC, MemType.ACC_8BIT)


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
    index_error : Out(IndexErrorSignature())
        Pulses at a uop whose index leaves its buffer (:mod:`.index_check`).
    abort : In(1)
        Stop issuing the current GEMM/ALU's uops (the run is being stopped).
    """

    def _ports(self, c: VTAConfig) -> dict:
        return {
            **stage_members(c, COMPUTE, Out(DmaReadSignature(c))),
            "inp_rd": Out(SramReadSignature(c.inp_depth, c.inp_elem_bytes * 8)),
            "wgt_rd": Out(SramReadSignature(c.wgt_depth, c.wgt_elem_bytes * 8)),
            "out_rd": In(SramReadSignature(c.out_depth, c.out_elem_bytes * 8)),
            **status_members(COMPUTE),
            "gemm_uop": Out(1), "alu_uop": Out(1), "finish": Out(1),
            "index_error": Out(IndexErrorSignature()), "abort": In(1),
        }

    def elaborate(self, platform) -> Module:
        m = Module()
        cfg = self._config
        uop_mem = Memory(shape=unsigned(cfg.uop_width), depth=cfg.uop_depth, init=[])
        m.submodules.uop_mem = uop_mem
        engines, sel = self._load_engines(m, uop_mem.write_port())
        if cfg.ALU_OVERLAP:
            self._two_units(m, uop_mem, engines, sel)
        else:
            self._one_unit(m, uop_mem, engines, sel)
        return m

    def _load_engines(self, m: Module, uop_wr) -> tuple[dict[MemType, LoadEngine], Signal]:
        """One :class:`LoadEngine` per loaded memory type sharing the DMA client; UOP
        writes the uop buffer through ``uop_wr``, ACC and ACC_8BIT the accumulator (through
        the write ports the units leave free: loads run on idle units)."""
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
        m.d.comb += [uop_wr.addr.eq(uop_eng.wr.addr), uop_wr.data.eq(uop_eng.wr.data),
                     uop_wr.en.eq(uop_eng.wr.en)]
        # Only one engine runs at a time (the queue is in order).
        sel = Signal(range(len(engines)))
        share_dma(m, self.dma, list(engines.values()), sel)
        return engines, sel

    # ------------------------------------------------------------------ one unit
    def _one_unit(self, m: Module, uop_mem: Memory, engines: dict[MemType, LoadEngine],
                  sel: Signal) -> None:
        """TVM's compute core: one unit runs GEMM and ALU; one ACC and one OUT memory."""
        cfg = self._config
        acc_w, out_w = cfg.acc_elem_bytes * 8, cfg.out_elem_bytes * 8
        m.submodules.acc_mem = acc_mem = Memory(shape=unsigned(acc_w), depth=cfg.acc_depth,
                                                init=[], attrs=cfg.sram_attrs)
        m.submodules.out_mem = out_mem = Memory(shape=unsigned(out_w), depth=cfg.out_depth,
                                                init=[])
        out_rd = out_mem.read_port(transparent_for=())
        m.d.comb += [out_rd.addr.eq(self.out_rd.addr), out_rd.en.eq(self.out_rd.en),
                     self.out_rd.data.eq(out_rd.data)]
        # Two read ports (ALU_TENSOR_II = 1): dst and src rows in the same cycle.  One read
        # port (ALU_TENSOR_II = 2): shared by the dst and src reads.
        acc_rd_dst = acc_mem.read_port(transparent_for=())
        acc_rd_src = acc_mem.read_port(transparent_for=()) if cfg.ALU_TENSOR_II == 1 \
            else acc_rd_dst
        acc_wr = VirtualPort(cfg.acc_depth, acc_w, "wb")
        unit = ExecUnit(cfg, UnitKind.BOTH, UnitPorts(
            uop_rd=uop_mem.read_port(transparent_for=()), acc_rd_dst=acc_rd_dst,
            acc_rd_src=acc_rd_src, acc_wr=acc_wr, out_wr=out_mem.write_port(),
            inp_rd=self.inp_rd, wgt_rd=self.wgt_rd))
        unit.elaborate(m)
        # The ACC write port is shared with the ACC/ACC_8BIT load engines (never both busy).
        _write_mux(m, acc_mem.write_port(),
                   [acc_wr, engines[MemType.ACC].wr, engines[MemType.ACC_8BIT].wr])
        m.d.comb += [self.gemm_uop.eq(unit.gemm_uop), self.alu_uop.eq(unit.alu_uop)]
        # A reported uop belongs to the instruction taken last (the next one is taken two
        # cycles after the last uop issues, when that uop has left S1).
        m.d.comb += _report(self.index_error, unit.index_error, 0)
        self._control(m, engines, sel, unit)

    def _decode(self) -> tuple[Value, TokenFlags, Any, Any, Any]:
        """Views of the queue head: its opcode, its token flags, and its word as a LOAD,
        a GEMM and an ALU instruction."""
        cfg = self._config
        layouts = insn_layouts(cfg)
        word = self.insn.payload
        hdr = header_layout(cfg)(word)
        return (hdr.opcode, TokenFlags(self, COMPUTE, hdr),
                *(layouts[o](word) for o in (Opcode.LOAD, Opcode.GEMM, Opcode.ALU)))

    def _control(self, m: Module, engines: dict[MemType, LoadEngine], sel: Signal,
                 unit: ExecUnit) -> None:
        """Decode the queue head; the FSM IDLE -> LOAD | RUN (-> DRAIN) -> PUSH; in RUN,
        the unit's loop counters issue one uop per cycle (every other cycle for slow
        uops)."""
        op, flags, ld, gm, al = self._decode()
        cur_finish = Signal()
        stages = unit.stages

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
                    with m.Switch(op):
                        with m.Case(Opcode.LOAD):
                            self._start_load(m, engines, sel, ld)
                        with m.Case(Opcode.GEMM, Opcode.ALU):
                            m.d.sync += unit.latch(op, gm, al)
                            with m.If(_loop_empty(gm)):
                                m.next = "PUSH"
                            with m.Else():
                                m.next = "RUN"
                        with m.Default():
                            m.next = "PUSH"           # FINISH (and unknown opcodes)

            self._load_state(m, engines)

            with m.State("RUN"):
                m.d.comb += self.busy.eq(1)
                unit.issue(m, done="DRAIN", pushes=flags.pushes_any())
                with m.If(self.abort):
                    m.next = "DRAIN"

            with m.State("DRAIN"):
                m.d.comb += self.busy.eq(1)
                with m.If(stages.empty):
                    m.next = "PUSH"

            with m.State("PUSH"):
                m.d.comb += [self.busy.eq(1), self.insn_done.eq(1), *flags.push(),
                             self.finish.eq(cur_finish)]
                m.next = "IDLE"

    def _start_load(self, m: Module, engines: dict[MemType, LoadEngine], sel: Signal,
                    ld) -> None:
        """In the accepting cycle of a LOAD: start the engine of its memory type."""
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

    def _load_state(self, m: Module, engines: dict[MemType, LoadEngine],
                    busy: Signal | None = None) -> None:
        """The LOAD state: wait for the engine to finish, then PUSH."""
        with m.State("LOAD"):
            m.d.comb += (self.busy if busy is None else busy).eq(1)
            with m.If(Cat(*(e.done for e in engines.values())).any()):
                m.next = "PUSH"

    # ------------------------------------------------------------------ two units
    def _two_units(self, m: Module, uop_mem: Memory, engines: dict[MemType, LoadEngine],
                   sel: Signal) -> None:
        """``ALU_OVERLAP``: a GEMM unit and an ALU unit over two-bank ACC and OUT buffers,
        the controller, the ALU queue and the ALU sequencer."""
        cfg = self._config
        acc_w, out_w = cfg.acc_elem_bytes * 8, cfg.out_elem_bytes * 8
        dual = cfg.ALU_TENSOR_II == 1

        def unit_ports(prefix: str, gemm: bool) -> UnitPorts:
            rd_dst = VirtualPort(cfg.acc_depth, acc_w, f"{prefix}acc_rd_dst")
            return UnitPorts(
                uop_rd=uop_mem.read_port(transparent_for=()), acc_rd_dst=rd_dst,
                acc_rd_src=VirtualPort(cfg.acc_depth, acc_w, f"{prefix}acc_rd_src")
                if dual and not gemm else rd_dst,
                acc_wr=VirtualPort(cfg.acc_depth, acc_w, f"{prefix}acc_wr"),
                out_wr=VirtualPort(cfg.out_depth, out_w, f"{prefix}out_wr"),
                inp_rd=self.inp_rd if gemm else None, wgt_rd=self.wgt_rd if gemm else None)

        g = ExecUnit(cfg, UnitKind.GEMM, unit_ports("g_", True), "g_")
        a = ExecUnit(cfg, UnitKind.ALU, unit_ports("a_", False), "a_")
        g.elaborate(m)
        a.elaborate(m)
        self._banks(m, g, a, engines)
        m.d.comb += [self.gemm_uop.eq(g.gemm_uop), self.alu_uop.eq(a.alu_uop)]
        self._overlap_control(m, engines, sel, g, a)

    def _banks(self, m: Module, g: ExecUnit, a: ExecUnit,
               engines: dict[MemType, LoadEngine]) -> None:
        """The two banks of ACC and OUT and the networks between them and the units'
        ports.  A bank's read port serves the GEMM unit while the GEMM unit reads it (a uop
        in its S1), else the ALU unit; writes go to the bank of their address; read data
        returns from the bank addressed the cycle before."""
        cfg = self._config
        acc_w, out_w = cfg.acc_elem_bytes * 8, cfg.out_elem_bytes * 8
        top = cfg.log_acc_depth - 1
        half = cfg.acc_depth // 2
        gp, ap = g.ports, a.ports

        def bank_of(addr):
            return addr[top]

        def returning(m, port, banks_data, name):
            """Route read data of ``port`` back from the bank it addressed."""
            which = Signal(name=f"{name}_bank_q")
            m.d.sync += which.eq(bank_of(port.addr))
            m.d.comb += port.data.eq(Mux(which, banks_data[1], banks_data[0]))

        dst_data, src_data, out_data = [], [], []
        for k in (0, 1):
            acc = Memory(shape=unsigned(acc_w), depth=half, init=[], attrs=cfg.sram_attrs)
            out = Memory(shape=unsigned(out_w), depth=half, init=[])
            m.submodules[f"acc_mem{k}"] = acc
            m.submodules[f"out_mem{k}"] = out
            rd_dst = acc.read_port(transparent_for=())
            gemm_here = g.stages.v1 & (bank_of(gp.acc_rd_dst.addr) == k)
            m.d.comb += [rd_dst.en.eq(1),
                         rd_dst.addr.eq(Mux(gemm_here, gp.acc_rd_dst.addr[:top],
                                            ap.acc_rd_dst.addr[:top]))]
            dst_data.append(rd_dst.data)
            if ap.dual_read:
                rd_src = acc.read_port(transparent_for=())
                m.d.comb += [rd_src.en.eq(1), rd_src.addr.eq(ap.acc_rd_src.addr[:top])]
                src_data.append(rd_src.data)
            # Writes: the ALU unit, the GEMM unit or a load engine whose address is here.
            _write_mux(m, acc.write_port(), [ap.acc_wr, gp.acc_wr, engines[MemType.ACC].wr,
                                             engines[MemType.ACC_8BIT].wr], bank=k, top=top)
            _write_mux(m, out.write_port(), [ap.out_wr, gp.out_wr], bank=k, top=top)
            out_rd = out.read_port(transparent_for=())
            m.d.comb += [out_rd.en.eq(self.out_rd.en), out_rd.addr.eq(self.out_rd.addr[:top])]
            out_data.append(out_rd.data)
        returning(m, gp.acc_rd_dst, dst_data, "g_acc_rd_dst")
        returning(m, ap.acc_rd_dst, dst_data, "a_acc_rd_dst")
        if ap.dual_read:
            returning(m, ap.acc_rd_src, src_data, "a_acc_rd_src")
        returning(m, self.out_rd, out_data, "out_rd")

    def _overlap_control(self, m: Module, engines: dict[MemType, LoadEngine], sel: Signal,
                         g: ExecUnit, a: ExecUnit) -> None:
        """The controller (GEMMs, LOADs, FINISH; ALU instructions into the queue) and the
        ALU sequencer (the queue onto the ALU unit).  Both push tokens; the controller
        waits a cycle when the sequencer completes an instruction in the same one."""
        cfg = self._config
        layouts = insn_layouts(cfg)
        word = self.insn.payload
        op, flags, ld, gm, _ = self._decode()
        cur_finish = Signal()

        # Instructions taken (modulo): each unit knows the place of its instruction, so an
        # index error names it although the controller may have taken later ones.
        taken = Signal(BEHIND_BITS)
        with m.If(self.insn.valid & self.insn.ready):
            m.d.sync += taken.eq(taken + 1)
        m.submodules.alu_queue = queue = SyncFIFOBuffered(width=cfg.insn_width + BEHIND_BITS,
                                                          depth=ALU_QUEUE_DEPTH)
        pending = Signal(range(ALU_QUEUE_DEPTH + 2))      # queued or running ALU insns
        alu_idle = (pending == 0) & a.stages.empty
        seq_done = Signal()          # the sequencer completes an instruction this cycle
        queued = Signal()
        m.d.comb += queue.w_data.eq(Cat(word, taken))
        m.d.sync += pending.eq(pending + queued - seq_done)
        held = self._index_errors(m, g, a, alu_idle, taken)

        pushed = channels_pushed(COMPUTE)
        waits_alu = Cat(*(cur for ch, cur in zip(pushed, flags.latched(), strict=True)
                          if ch.name in PUSH_WAITS_FOR_ALU)).any()
        ctl_push = Signal()
        ctl_busy = Signal()
        ctl_done = Signal()
        with m.FSM(name="compute"):
            with m.State("IDLE"):
                # While the ALU unit works the module is busy, not waiting on a token (the
                # run guard counts a waiting module as stalled).
                m.d.comb += [*flags.waits(self.insn.valid & alu_idle),
                             ctl_busy.eq(self.insn.valid | ~g.stages.empty)]
                # A GEMM may start at once (rule 2), an ALU instruction once the GEMM unit
                # has drained (rule 1), a LOAD or FINISH once both units have (rule 3).
                # Nothing starts behind a GEMM's index error held for earlier ALU work.
                may_start = Mux(op == Opcode.GEMM, 1,
                                Mux(op == Opcode.ALU, g.stages.empty & queue.w_rdy,
                                    g.stages.empty & alu_idle)) & ~held
                with m.If(self.insn.valid & flags.ready() & may_start):
                    m.d.comb += [self.insn.ready.eq(1), *flags.pop()]
                    with m.Switch(op):
                        with m.Case(Opcode.ALU):
                            m.d.comb += [queue.w_en.eq(1), queued.eq(1)]
                        with m.Case(Opcode.LOAD):
                            m.d.sync += [*flags.latch(), cur_finish.eq(0)]
                            self._start_load(m, engines, sel, ld)
                        with m.Case(Opcode.GEMM):
                            m.d.sync += [*flags.latch(), cur_finish.eq(0),
                                         *g.latch(op, gm, gm, taken)]
                            with m.If(_loop_empty(gm)):
                                m.next = "DRAIN"
                            with m.Else():
                                m.next = "RUN"
                        with m.Default():
                            m.d.sync += [*flags.latch(), cur_finish.eq(op == Opcode.FINISH)]
                            m.next = "PUSH"           # FINISH (and unknown opcodes)

            self._load_state(m, engines, ctl_busy)

            with m.State("RUN"):
                m.d.comb += ctl_busy.eq(1)
                g.issue(m, done="DRAIN", pushes=flags.pushes_any(), after="PUSH")
                with m.If(self.abort):
                    m.next = "DRAIN"

            with m.State("DRAIN"):       # rule 4: a push waits for its unit (and the ALU's)
                m.d.comb += ctl_busy.eq(1)
                with m.If(g.stages.empty & (~waits_alu | alu_idle)):
                    m.next = "PUSH"

            with m.State("PUSH"):
                m.d.comb += ctl_busy.eq(1)
                with m.If(~seq_done):
                    m.d.comb += [ctl_push.eq(1), ctl_done.eq(1), self.finish.eq(cur_finish)]
                    m.next = "IDLE"

        # The ALU sequencer: queue head -> ALU unit, pushes once its write-backs are done.
        # A stopping run (abort) empties the queue without running the uops.
        qword = queue.r_data[:cfg.insn_width]
        qhdr = header_layout(cfg)(qword)
        qal = layouts[Opcode.ALU](qword)
        seq_pushes = [Signal(name=f"alu_{ch.push_flag}") for ch in pushed]
        seq_push = Signal()
        with m.FSM(name="alu_seq"):
            with m.State("IDLE"):
                with m.If(queue.r_rdy):
                    m.d.comb += queue.r_en.eq(1)
                    m.d.sync += [*a.latch(qhdr.opcode, qal, qal,
                                          queue.r_data[cfg.insn_width:]),
                                 *(cur.eq(qhdr[ch.push_flag])
                                   for ch, cur in zip(pushed, seq_pushes, strict=True))]
                    with m.If(_loop_empty(qal) | self.abort):
                        m.next = "DRAIN"
                    with m.Else():
                        m.next = "RUN"
            with m.State("RUN"):
                a.issue(m, done="DRAIN", pushes=Cat(*seq_pushes).any(), after="PUSH")
                with m.If(self.abort):
                    m.next = "DRAIN"
            with m.State("DRAIN"):
                with m.If(a.stages.empty):
                    m.next = "PUSH"
            with m.State("PUSH"):
                m.d.comb += [seq_done.eq(1), seq_push.eq(1)]
                m.next = "IDLE"
        m.d.comb += [self.busy.eq(ctl_busy | ~alu_idle),
                     self.insn_done.eq(ctl_done | seq_done)]
        for ch, ctl_cur, seq_cur in zip(pushed, flags.latched(), seq_pushes, strict=True):
            m.d.comb += getattr(self, ch.name).push.eq((ctl_push & ctl_cur)
                                                       | (seq_push & seq_cur))

    def _index_errors(self, m: Module, g: ExecUnit, a: ExecUnit, alu_idle: Value,
                      taken: Signal) -> Signal:
        """Report the units' index errors in program order; returns ``held``.

        The ALU unit's instructions all precede the GEMM unit's (an ALU instruction is
        queued only once the GEMM unit has drained), so an ALU error is reported at once,
        and a GEMM error only when no ALU work is left: until then it is held (and the
        controller takes nothing more), and dropped if an ALU error comes first.  ``behind``
        is the number of instructions taken since the failing one."""
        fields = ("operand", "value", "uop", "i", "j")
        keep = {f: Signal.like(getattr(g.index_error, f), name=f"held_{f}") for f in fields}
        keep_seq = Signal(BEHIND_BITS, name="held_seq")
        held = Signal()
        with m.If(self.abort):
            m.d.sync += held.eq(0)
        with m.Elif(g.index_error.valid & ~held & ~alu_idle):
            m.d.sync += [held.eq(1), keep_seq.eq(g.nest.seq),
                         *(keep[f].eq(getattr(g.index_error, f)) for f in fields)]
        with m.If(a.index_error.valid):
            m.d.comb += _report(self.index_error, a.index_error, taken - 1 - a.nest.seq)
        with m.Elif(held & alu_idle):
            m.d.comb += [self.index_error.valid.eq(1), self.index_error.behind.eq(
                taken - 1 - keep_seq), *(getattr(self.index_error, f).eq(keep[f])
                                         for f in fields)]
        with m.Elif(g.index_error.valid & ~held & alu_idle):
            m.d.comb += _report(self.index_error, g.index_error, taken - 1 - g.nest.seq)
        return held


def _report(port, unit_report, behind) -> list:
    """Statements driving the module's ``index_error`` from a unit's, ``behind`` given."""
    return [port.valid.eq(unit_report.valid), port.operand.eq(unit_report.operand),
            port.value.eq(unit_report.value), port.uop.eq(unit_report.uop),
            port.i.eq(unit_report.i), port.j.eq(unit_report.j), port.behind.eq(behind)]


def _loop_empty(fmt):
    """A GEMM/ALU instruction whose loop nest runs no uop."""
    return (fmt.iter_out == 0) | (fmt.iter_in == 0) | (fmt.uop_end <= fmt.uop_bgn)


def _write_mux(m: Module, port, writers: list, bank: int | None = None,
               top: int = 0) -> None:
    """Drive the write ``port`` from the first of ``writers`` (``addr``, ``data``, ``en``)
    that writes; with ``bank``, only writes to that bank (address bit ``top``) count and
    the port takes the bank's row (the address below ``top``)."""
    for i, wr in enumerate(writers):
        here = wr.en if bank is None else wr.en & (wr.addr[top] == bank)
        with (m.If if i == 0 else m.Elif)(here):
            m.d.comb += [port.addr.eq(wr.addr if bank is None else wr.addr[:top]),
                         port.data.eq(wr.data), port.en.eq(1)]
