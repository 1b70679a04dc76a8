"""An execution unit of the compute module: a GEMM/ALU loop nest and its uop pipeline.

A unit executes GEMM instructions, ALU instructions or both (:class:`UnitKind`).  The
compute module has one unit doing both (TVM's compute core), or with ``ALU_OVERLAP`` a
GEMM unit and an ALU unit that run at the same time (:mod:`.compute`).

The unit runs the loop nest ``i < iter_out, j < iter_in, k in [uop_bgn, uop_end)`` in a
five-stage pipeline that retires one uop per cycle with no bubbles:

====  ===========================================================================
S0    loop counters; read ``UOP[k]``; carry the ``i``/``j`` index offsets
S1    add the offsets to the uop's indices; read ACC[dst] (and ACC[src] for the ALU),
      INP[src] and WGT[wgt]
S2    GEMM: all products (registered in the GEMM core); ALU: the operand (ACC[src] or
      the immediate)
S3    GEMM: the adder trees, one dot product per output lane
S4    add (GEMM), write the product (GEMM ``overwrite``), zero (reset GEMM) or apply the
      ALU op; write ACC and the narrowed OUT row
====  ===========================================================================

The SRAM reads are non-transparent, so a row read in S1 misses the writes of the three
uops ahead of it.  The ``wb`` register holds the row written in the previous cycle; each
of S2, S3 and S4 replaces the operand rows by ``wb`` when the addresses match, which
keeps results exact when nearby uops hit one ACC row.

With ``ALU_TENSOR_II = 2`` the unit has a single ACC read port.  An ALU uop with a tensor
operand then issues every other cycle: it reads ACC[src] in S1 and, in the bubble behind
it, ACC[dst] in S2; the dst row arrives in S3, where the ``wb`` checks of S3 and S4 cover
the two write-backs that read missed.  GEMM and immediate ALU uops read only ACC[dst], in
S1, and still issue every cycle.

Every uop carries its instruction's control bits, so the controller may start the next
instruction while the previous one's uops are still in flight.

S1 also range-checks the uop's indices (:func:`.index_check.check_indices`; the loop
offsets are kept exact for it) and reports a failing uop on the unit's ``index_error``.
"""

from __future__ import annotations

import enum

from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value
from amaranth.lib import data

from ..config import VTAConfig
from ..isa import Opcode
from .alu import AluCore
from .formats import uop_layout
from .gemm import GemmCore
from .index_check import BEHIND_BITS, OFFSET_EXTRA_BITS, IndexErrorSignature, check_indices

__all__ = ["UnitKind", "UnitPorts", "ExecUnit", "VirtualPort"]


class UnitKind(enum.Enum):
    """What a unit executes."""

    BOTH = "both"     # GEMM and ALU in one pipeline (TVM's compute core)
    GEMM = "gemm"
    ALU = "alu"

    @property
    def gemm(self) -> bool:
        return self is not UnitKind.ALU

    @property
    def alu(self) -> bool:
        return self is not UnitKind.GEMM


class VirtualPort:
    """An SRAM port as plain signals (``addr``, ``en``, ``data``), for ports that a
    banking network behind the unit turns into real memory ports."""

    def __init__(self, depth: int, width: int, name: str) -> None:
        self.addr = Signal(range(depth), name=f"{name}_addr")
        self.en = Signal(name=f"{name}_en")
        self.data = Signal(width, name=f"{name}_data")


class UnitPorts:
    """The SRAM ports one unit uses (memory ports or :class:`VirtualPort`).

    ``acc_rd_src`` is ``acc_rd_dst`` itself when the unit has one ACC read port; ``inp_rd``
    and ``wgt_rd`` are only used by GEMM units.
    """

    def __init__(self, *, uop_rd, acc_rd_dst, acc_rd_src, acc_wr, out_wr, inp_rd=None,
                 wgt_rd=None) -> None:
        self.uop_rd, self.acc_rd_dst, self.acc_rd_src = uop_rd, acc_rd_dst, acc_rd_src
        self.acc_wr, self.out_wr = acc_wr, out_wr
        self.inp_rd, self.wgt_rd = inp_rd, wgt_rd

    @property
    def dual_read(self) -> bool:
        return self.acc_rd_src is not self.acc_rd_dst


class _LoopNest:
    """The loop nest: registers latched when the instruction starts and the S0 counters
    with their running index offsets (``i * f_out`` and ``i * f_out + j * f_in``)."""

    def __init__(self, cfg: VTAConfig, kind: UnitKind, prefix: str) -> None:
        src_bits = max(cfg.log_acc_depth, cfg.log_inp_depth) if kind.gemm \
            else cfg.log_acc_depth

        def sig(width, name):
            return Signal(width, name=prefix + name)

        self.is_alu = sig(1, "is_alu")
        self.reset = sig(1, "reset")
        self.overwrite = sig(1, "overwrite")
        self.use_imm = sig(1, "use_imm")
        self.alu_op = sig(3, "alu_op")
        self.imm = sig(cfg.acc_width, "imm")
        self.uop_bgn = sig(cfg.log_uop_depth, "uop_bgn")
        self.uop_last = sig(cfg.log_uop_depth + 1, "uop_last")
        self.iter_out_last = sig(14, "iter_out_last")
        self.iter_in_last = sig(14, "iter_in_last")
        self.dfo, self.dfi = sig(cfg.log_acc_depth, "dfo"), sig(cfg.log_acc_depth, "dfi")
        self.sfo, self.sfi = sig(src_bits, "sfo"), sig(src_bits, "sfi")
        self.wfo, self.wfi = sig(cfg.log_wgt_depth, "wfo"), sig(cfg.log_wgt_depth, "wfi")
        self.k = sig(cfg.log_uop_depth + 1, "k")
        self.i_cnt, self.j_cnt = sig(14, "i_cnt"), sig(14, "j_cnt")
        # Offsets are exact (no wrap), so S1 can range-check the indices.
        x = OFFSET_EXTRA_BITS
        self.dst_i, self.dst_ij = sig(cfg.log_acc_depth + x, "dst_i"), \
            sig(cfg.log_acc_depth + x, "dst_ij")
        self.src_i, self.src_ij = sig(src_bits + x, "src_i"), sig(src_bits + x, "src_ij")
        self.wgt_i, self.wgt_ij = sig(cfg.log_wgt_depth + x, "wgt_i"), \
            sig(cfg.log_wgt_depth + x, "wgt_ij")
        # The instruction's place among those the compute module has taken (for reports).
        self.seq = sig(BEHIND_BITS, "seq")
        self.issuing = sig(1, "issuing")
        # One read port: the cycle after a tensor-operand ALU uop issues is a bubble.
        self.bubble = sig(1, "bubble")
        self.slow_uops = sig(1, "slow_uops")   # this instruction's uops need two read cycles


class _Stages:
    """Valid bits and carried fields of pipeline stages S1-S4 and the ``wb`` register.

    Every uop carries its instruction's control bits (``sN_ctl``), so the next instruction
    can start issuing while the previous one's uops are still in flight.
    """

    def __init__(self, cfg: VTAConfig, kind: UnitKind, prefix: str) -> None:
        acc_w = cfg.acc_elem_bytes * 8
        src_bits = max(cfg.log_acc_depth, cfg.log_inp_depth) if kind.gemm \
            else cfg.log_acc_depth
        ctl: dict[str, int] = {}
        if kind is UnitKind.BOTH:
            ctl["is_alu"] = 1
        if kind.gemm:
            ctl["reset"] = 1
            if cfg.GEMM_OVERWRITE:
                ctl["overwrite"] = 1
        if kind.alu:
            ctl.update({"use_imm": 1, "alu_op": 3, "imm": cfg.acc_width})
        ctl_layout = data.StructLayout(ctl)
        self.s1_ctl, self.s2_ctl, self.s3_ctl, self.s4_ctl = (
            Signal(ctl_layout, name=f"{prefix}s{i}_ctl") for i in range(1, 5))
        self.empty = Signal(name=f"{prefix}pipe_empty")
        self.v1, self.v2, self.v3, self.v4 = (Signal(name=f"{prefix}v{i}") for i in range(1, 5))
        x = OFFSET_EXTRA_BITS
        self.s1_dst_off = Signal(cfg.log_acc_depth + x, name=f"{prefix}s1_dst_off")
        self.s1_src_off = Signal(src_bits + x, name=f"{prefix}s1_src_off")
        self.s1_wgt_off = Signal(cfg.log_wgt_depth + x, name=f"{prefix}s1_wgt_off")
        # The uop's position, for the index check's report.
        self.s1_k = Signal(cfg.log_uop_depth + 1, name=f"{prefix}s1_k")
        self.s1_i, self.s1_j = Signal(14, name=f"{prefix}s1_i"), Signal(14, name=f"{prefix}s1_j")
        self.s2_dst, self.s2_src = Signal(cfg.log_acc_depth, name=f"{prefix}s2_dst"), \
            Signal(cfg.log_acc_depth, name=f"{prefix}s2_src")
        self.s3_dst, self.s3_src = Signal(cfg.log_acc_depth, name=f"{prefix}s3_dst"), \
            Signal(cfg.log_acc_depth, name=f"{prefix}s3_src")
        self.s3_a, self.s3_b = Signal(acc_w, name=f"{prefix}s3_a"), \
            Signal(acc_w, name=f"{prefix}s3_b")
        self.s4_dst, self.s4_src = Signal(cfg.log_acc_depth, name=f"{prefix}s4_dst"), \
            Signal(cfg.log_acc_depth, name=f"{prefix}s4_src")
        self.s4_a, self.s4_b = Signal(acc_w, name=f"{prefix}s4_a"), \
            Signal(acc_w, name=f"{prefix}s4_b")
        self.wb_valid = Signal(name=f"{prefix}wb_valid")
        self.wb_addr = Signal(cfg.log_acc_depth, name=f"{prefix}wb_addr")
        self.wb_data = Signal(acc_w, name=f"{prefix}wb_data")

    def forward(self, addr: Value, value: Value) -> Value:
        """``value`` read from ACC[addr], or the row the ``wb`` register holds for it."""
        return Mux(self.wb_valid & (self.wb_addr == addr), self.wb_data, value)


class ExecUnit:
    """One execution unit: its loop nest, pipeline registers and the logic of S0-S4.

    Parameters
    ----------
    cfg:
        The configuration.
    kind:
        What the unit executes.
    ports:
        The SRAM ports it drives.
    prefix:
        Prefix of its signal names (distinguishes two units in one module).

    Members
    -------
    nest, stages:
        The loop-nest and pipeline registers (the controller latches instructions into
        ``nest`` with :meth:`latch` and steps it with :meth:`issue`).
    gemm_uop, alu_uop:
        Pulse once per GEMM / ALU uop written back.
    index_error:
        An :func:`.index_check.IndexErrorSignature` interface: pulses at a uop in S1 whose
        index leaves its buffer (``behind`` is left to the controller).
    """

    def __init__(self, cfg: VTAConfig, kind: UnitKind, ports: UnitPorts,
                 prefix: str = "") -> None:
        self.cfg, self.kind, self.ports, self.prefix = cfg, kind, ports, prefix
        self.nest = _LoopNest(cfg, kind, prefix)
        self.stages = _Stages(cfg, kind, prefix)
        self.gemm_uop = Signal(name=f"{prefix}gemm_uop")
        self.alu_uop = Signal(name=f"{prefix}alu_uop")
        self.index_error = IndexErrorSignature().create(path=(f"{prefix}index_error",))

    # ------------------------------------------------------------------ control side
    def _is_alu(self, ctl) -> Value:
        if self.kind is UnitKind.BOTH:
            return ctl.is_alu
        return Const(int(self.kind is UnitKind.ALU), 1)

    def _tensor(self, ctl) -> Value:
        """An ALU uop with a tensor operand (the only uops that read ACC[src])."""
        if not self.kind.alu:
            return Const(0, 1)
        return self._is_alu(ctl) & ~ctl.use_imm

    def latch(self, op: Value, gm, al, seq: Value | None = None) -> list:
        """Sync statements starting the nest of the GEMM (``gm``) or ALU (``al``) view of
        an instruction with opcode ``op`` (``seq``: its place among the instructions the
        compute module has taken, when the controller tracks it)."""
        n = self.nest
        is_alu_new = (op == Opcode.ALU) if self.kind is UnitKind.BOTH \
            else Const(int(self.kind is UnitKind.ALU), 1)
        loops = al if self.kind is UnitKind.ALU else gm
        out = [
            n.is_alu.eq(is_alu_new),
            n.uop_bgn.eq(loops.uop_bgn), n.uop_last.eq(loops.uop_end - 1),
            n.iter_out_last.eq(loops.iter_out - 1),
            n.iter_in_last.eq(loops.iter_in - 1),
            n.dfo.eq(loops.dst_factor_out), n.dfi.eq(loops.dst_factor_in),
            n.k.eq(loops.uop_bgn), n.i_cnt.eq(0), n.j_cnt.eq(0), n.bubble.eq(0),
            n.dst_i.eq(0), n.dst_ij.eq(0), n.src_i.eq(0), n.src_ij.eq(0),
            n.wgt_i.eq(0), n.wgt_ij.eq(0),
        ]
        if seq is not None:
            out.append(n.seq.eq(seq))
        if self.kind.gemm:
            out += [n.reset.eq(gm.reset & ~is_alu_new), n.wfo.eq(gm.wgt_factor_out),
                    n.wfi.eq(gm.wgt_factor_in)]
            if self.cfg.GEMM_OVERWRITE:
                out.append(n.overwrite.eq(gm.overwrite & ~is_alu_new))
        if self.kind.alu:
            out += [n.use_imm.eq(al.use_imm), n.alu_op.eq(al.alu_opcode),
                    n.imm.eq(al.imm)]    # sign-extends into acc_width
        if self.kind is UnitKind.BOTH:
            out += [n.sfo.eq(Mux(is_alu_new, al.src_factor_out, gm.src_factor_out)),
                    n.sfi.eq(Mux(is_alu_new, al.src_factor_in, gm.src_factor_in))]
        else:
            out += [n.sfo.eq(loops.src_factor_out), n.sfi.eq(loops.src_factor_in)]
        return out

    def issue(self, m: Module, done: str, pushes: Value, after: str = "PUSH") -> None:
        """S0 loop counters (inside the controller's RUN state): ``k`` over the uops, ``j``
        inner and ``i`` outer, advancing the index offsets; after the last uop go to
        ``done`` when the instruction ``pushes`` (pushes wait for every write-back), else
        to ``after``."""
        n = self.nest
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
                            m.next = after
                with m.Else():
                    m.d.sync += [n.j_cnt.eq(n.j_cnt + 1), n.dst_ij.eq(n.dst_ij + n.dfi),
                                 n.src_ij.eq(n.src_ij + n.sfi), n.wgt_ij.eq(n.wgt_ij + n.wfi)]
            with m.Else():
                m.d.sync += n.k.eq(n.k + 1)

    # ------------------------------------------------------------------ the pipeline
    def elaborate(self, m: Module) -> None:
        """Add S0-S4 of this unit to ``m``."""
        n, p = self.nest, self.stages
        if self.kind.alu and not self.ports.dual_read:
            m.d.comb += n.slow_uops.eq(self._is_alu(n) & ~n.use_imm)
        self._uop_fetch(m)
        self._sram_reads(m)
        gemm = self._operands(m)
        self._adder_tree(m, gemm)
        self._write_back(m)
        m.d.comb += p.empty.eq(~p.v1 & ~p.v2 & ~p.v3 & ~p.v4)

    def _uop_fetch(self, m: Module) -> None:
        """S0: read ``UOP[k]``; carry the index offsets and control bits into S1."""
        n, p, ports = self.nest, self.stages, self.ports
        m.d.comb += [ports.uop_rd.addr.eq(n.k), ports.uop_rd.en.eq(1)]
        m.d.sync += [p.v1.eq(n.issuing), p.s1_dst_off.eq(n.dst_ij),
                     p.s1_src_off.eq(n.src_ij), p.s1_wgt_off.eq(n.wgt_ij),
                     p.s1_k.eq(n.k), p.s1_i.eq(n.i_cnt), p.s1_j.eq(n.j_cnt)]
        ctl = p.s1_ctl
        if self.kind is UnitKind.BOTH:
            m.d.sync += ctl.is_alu.eq(n.is_alu)
        if self.kind.gemm:
            m.d.sync += ctl.reset.eq(n.reset)
            if self.cfg.GEMM_OVERWRITE:
                m.d.sync += ctl.overwrite.eq(n.overwrite)
        if self.kind.alu:
            m.d.sync += [ctl.use_imm.eq(n.use_imm), ctl.alu_op.eq(n.alu_op),
                         ctl.imm.eq(n.imm)]

    def _sram_reads(self, m: Module) -> None:
        """S1: add the offsets to the uop's indices; read ACC[dst] (and ACC[src]), INP[src]
        and WGT[wgt]."""
        cfg, p, ports = self.cfg, self.stages, self.ports
        uop = uop_layout(cfg)(ports.uop_rd.data)
        dst = Signal(cfg.log_acc_depth, name=f"{self.prefix}s1_dst")
        src = Signal(len(p.s1_src_off) - OFFSET_EXTRA_BITS, name=f"{self.prefix}s1_src")
        m.d.comb += [dst.eq(uop.dst_idx + p.s1_dst_off), src.eq(uop.src_idx + p.s1_src_off)]
        ctl = p.s1_ctl
        check_indices(m, cfg, self.index_error, valid=p.v1, is_alu=self._is_alu(ctl),
                      reset=ctl.reset if self.kind.gemm else Const(0, 1),
                      use_imm=ctl.use_imm if self.kind.alu else Const(0, 1), uop=uop,
                      offsets=(p.s1_dst_off, p.s1_src_off, p.s1_wgt_off), k=p.s1_k,
                      i=p.s1_i, j=p.s1_j)
        rd_dst, rd_src = ports.acc_rd_dst, ports.acc_rd_src
        if ports.dual_read or not self.kind.alu:
            m.d.comb += rd_dst.addr.eq(dst)
            if ports.dual_read:
                m.d.comb += rd_src.addr.eq(src)
        else:
            # The one port reads ACC[src] of a tensor uop in S1, its ACC[dst] in S2 (S1
            # holds the bubble then), and ACC[dst] of every other uop in S1.
            with m.If(p.v2 & self._tensor(p.s2_ctl)):
                m.d.comb += rd_dst.addr.eq(p.s2_dst)
            with m.Elif(self._tensor(p.s1_ctl)):
                m.d.comb += rd_dst.addr.eq(src)
            with m.Else():
                m.d.comb += rd_dst.addr.eq(dst)
        m.d.comb += [rd_dst.en.eq(1), rd_src.en.eq(1)]
        if self.kind.gemm:
            wgt = Signal(cfg.log_wgt_depth, name=f"{self.prefix}s1_wgt")
            m.d.comb += [wgt.eq(uop.wgt_idx + p.s1_wgt_off),
                         ports.inp_rd.addr.eq(src), ports.inp_rd.en.eq(1),
                         ports.wgt_rd.addr.eq(wgt), ports.wgt_rd.en.eq(1)]
        m.d.sync += [p.v2.eq(p.v1), p.s2_dst.eq(dst), p.s2_ctl.eq(p.s1_ctl)]
        if self.kind.alu:
            m.d.sync += p.s2_src.eq(src)

    # The row read in S1 misses the writes of the three uops ahead of it.  As a uop passes
    # S2, S3 and S4, ``wb`` holds the write of the uop three, two and one places ahead of
    # it respectively, so checking ``wb`` once per stage (:meth:`_Stages.forward`) covers
    # them; only tensor ALU uops read ACC[src], so only they forward it.

    def _operands(self, m: Module) -> GemmCore | None:
        """S2: the GEMM products (registered in the GEMM core); the ALU operand (ACC[src]
        or the immediate)."""
        cfg, p, ports = self.cfg, self.stages, self.ports
        gemm = None
        if self.kind.gemm:
            gemm = GemmCore(cfg)      # products registered into S3
            m.submodules[f"{self.prefix}gemm"] = gemm
            m.d.comb += [gemm.inp.eq(ports.inp_rd.data), gemm.wgt.eq(ports.wgt_rd.data)]
        m.d.sync += [p.v3.eq(p.v2), p.s3_dst.eq(p.s2_dst), p.s3_ctl.eq(p.s2_ctl),
                     p.s3_a.eq(p.forward(p.s2_dst, ports.acc_rd_dst.data))]
        if self.kind.alu:
            lanes = cfg.batch * cfg.block_out
            imm_row = Cat(*([p.s2_ctl.imm] * lanes))
            m.d.sync += [p.s3_src.eq(p.s2_src),
                         p.s3_b.eq(Mux(p.s2_ctl.use_imm, imm_row,
                                       p.forward(p.s2_src, ports.acc_rd_src.data)))]
        return gemm

    def _adder_tree(self, m: Module, gemm: GemmCore | None) -> None:
        """S3: the GEMM core's adder trees, one dot product per output lane; with one read
        port a tensor uop's dst row arrives here, read in S2."""
        p, ports = self.stages, self.ports
        if ports.dual_read or not self.kind.alu:
            a3 = p.s3_a
        else:
            a3 = Mux(self._tensor(p.s3_ctl), ports.acc_rd_dst.data, p.s3_a)
        m.d.sync += [p.v4.eq(p.v3), p.s4_dst.eq(p.s3_dst), p.s4_ctl.eq(p.s3_ctl),
                     p.s4_a.eq(p.forward(p.s3_dst, a3))]
        if self.kind.alu:
            m.d.sync += p.s4_src.eq(p.s3_src)
        operand = Mux(self._tensor(p.s3_ctl), p.forward(p.s3_src, p.s3_b), p.s3_b) \
            if self.kind.alu else None
        if self.kind is UnitKind.BOTH:
            with m.If(p.s3_ctl.is_alu):
                m.d.sync += p.s4_b.eq(operand)
            with m.Else():
                m.d.sync += p.s4_b.eq(gemm.dot)
        elif self.kind.gemm:
            m.d.sync += p.s4_b.eq(gemm.dot)
        else:
            m.d.sync += p.s4_b.eq(operand)

    def _write_back(self, m: Module) -> None:
        """S4: add (GEMM), take the product (``overwrite``), zero (reset GEMM) or apply the
        ALU op; write ACC and the narrowed OUT row."""
        cfg, p, ports = self.cfg, self.stages, self.ports
        acc_w = cfg.acc_elem_bytes * 8
        lanes = cfg.batch * cfg.block_out
        # Named signals: every lane slices these rows, and an unnamed expression would be
        # re-emitted (a full-row mux) per lane in the Verilog and per lane in the simulators.
        a4 = Signal(acc_w, name=f"{self.prefix}a4")
        b4 = Signal(acc_w, name=f"{self.prefix}b4")
        m.d.comb += [a4.eq(p.forward(p.s4_dst, p.s4_a)),
                     b4.eq(Mux(self._tensor(p.s4_ctl), p.forward(p.s4_src, p.s4_b), p.s4_b)
                           if self.kind.alu else p.s4_b)]
        result = Signal(acc_w, name=f"{self.prefix}result")
        if self.kind.gemm:
            gemm_sum = Cat(*((a4.word_select(i, cfg.acc_width)
                              + b4.word_select(i, cfg.acc_width))[:cfg.acc_width]
                             for i in range(lanes)))
            if cfg.GEMM_OVERWRITE:
                gemm_sum = Mux(p.s4_ctl.overwrite, b4, gemm_sum)
        if self.kind.alu:
            alu = AluCore(cfg)
            m.submodules[f"{self.prefix}alu"] = alu
            m.d.comb += [alu.opcode.eq(p.s4_ctl.alu_op), alu.a.eq(a4), alu.b.eq(b4)]
        if self.kind is UnitKind.BOTH:
            with m.If(p.s4_ctl.is_alu):
                m.d.comb += result.eq(alu.result)
            with m.Elif(p.s4_ctl.reset):
                m.d.comb += result.eq(0)
            with m.Else():
                m.d.comb += result.eq(gemm_sum)
        elif self.kind.gemm:
            m.d.comb += result.eq(Mux(p.s4_ctl.reset, 0, gemm_sum))
        else:
            m.d.comb += result.eq(alu.result)
        narrow = Cat(*(result.word_select(i, cfg.acc_width)[:cfg.out_width]
                       for i in range(lanes)))
        m.d.sync += [p.wb_valid.eq(p.v4), p.wb_addr.eq(p.s4_dst), p.wb_data.eq(result)]
        m.d.comb += [
            ports.out_wr.addr.eq(p.s4_dst), ports.out_wr.data.eq(narrow),
            ports.out_wr.en.eq(p.v4),
            ports.acc_wr.addr.eq(p.s4_dst), ports.acc_wr.data.eq(result),
            ports.acc_wr.en.eq(p.v4),
            self.gemm_uop.eq(p.v4 & ~self._is_alu(p.s4_ctl)),
            self.alu_uop.eq(p.v4 & self._is_alu(p.s4_ctl)),
        ]
