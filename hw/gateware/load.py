"""The load module: LOAD INP and LOAD WGT (2-D DMA with zero padding); owns INP and WGT.

Runs the load queue in order.  An instruction waits for a compute->load token if it pops
one (``pop_next``), runs its 2-D DMA through a :class:`~.load_engine.LoadEngine`, and then
pushes a load->compute token if ``push_next`` is set.  LOADs of other memory types, and
any other opcode, only move tokens (fetch never routes them here).  The compute module
reads both buffers through non-transparent read ports.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal, unsigned
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..config import VTAConfig
from ..isa import MemType, Opcode
from ..pipeline import LOAD
from .component import ConfiguredComponent
from .formats import header_layout, memory_layout
from .interfaces import DmaReadSignature, SramReadSignature
from .load_engine import LoadEngine, share_dma
from .stage import TokenFlags, stage_members, status_members

__all__ = ["LoadModule"]


class LoadModule(ConfiguredComponent):
    """Executes LOAD INP/WGT into the INP and WGT buffers.

    Parameters
    ----------
    config : VTAConfig
        Buffer sizes and bus width.

    Members
    -------
    insn, dma, c2l, l2c :
        The load queue, the DMA client reading input and weight tiles, the tokens popped
        by ``pop_next`` and pushed by ``push_next`` (:func:`.stage.stage_members`).
    inp_rd, wgt_rd : In(SramReadSignature)
        The compute module's read ports into INP and WGT.
    busy, wait_next, insn_done : Out(1)
        See :func:`.stage.status_members`.
    """

    def _ports(self, c: VTAConfig) -> dict:
        return {
            **stage_members(c, LOAD, Out(DmaReadSignature(c))),
            "inp_rd": In(SramReadSignature(c.inp_depth, c.inp_elem_bytes * 8)),
            "wgt_rd": In(SramReadSignature(c.wgt_depth, c.wgt_elem_bytes * 8)),
            **status_members(LOAD),
        }

    def elaborate(self, platform) -> Module:
        m = Module()
        cfg = self._config
        buffers = ((MemType.INP, cfg.inp_elem_bytes, cfg.inp_depth, self.inp_rd),
                   (MemType.WGT, cfg.wgt_elem_bytes, cfg.wgt_depth, self.wgt_rd))
        engines = []
        sel = Signal(range(len(buffers)))
        for mt, elem_bytes, depth, port in buffers:
            name = mt.name.lower()
            mem = Memory(shape=unsigned(elem_bytes * 8), depth=depth, init=[],
                         attrs=cfg.sram_attrs)
            m.submodules[f"{name}_mem"] = mem
            rd = mem.read_port(transparent_for=())
            wr = mem.write_port()
            eng = LoadEngine(cfg, elem_bytes=elem_bytes, depth=depth,
                             sram_width=elem_bytes * 8)
            m.submodules[f"{name}_load"] = eng
            engines.append(eng)
            m.d.comb += [rd.addr.eq(port.addr), rd.en.eq(port.en), port.data.eq(rd.data),
                         wr.addr.eq(eng.wr.addr), wr.data.eq(eng.wr.data), wr.en.eq(eng.wr.en),
                         eng.insn.eq(self.insn.payload)]
        share_dma(m, self.dma, engines, sel)     # one engine runs at a time

        hdr = header_layout(cfg)(self.insn.payload)
        op = hdr.opcode
        memory_type = memory_layout(cfg)(self.insn.payload).memory_type
        flags = TokenFlags(self, LOAD, hdr)

        with m.FSM(name="load"):
            with m.State("IDLE"):
                m.d.comb += [self.busy.eq(self.insn.valid), *flags.waits(self.insn.valid)]
                with m.If(self.insn.valid & flags.ready()):
                    m.d.comb += [self.insn.ready.eq(1), *flags.pop()]
                    m.d.sync += flags.latch()
                    m.next = "PUSH"
                    with m.If(op == Opcode.LOAD):
                        for i, (mt, *_rest) in enumerate(buffers):
                            with m.If(memory_type == mt):
                                m.d.comb += engines[i].start.eq(1)
                                m.d.sync += sel.eq(i)
                                with m.If(~engines[i].done):
                                    m.next = "LOAD"
            with m.State("LOAD"):
                m.d.comb += self.busy.eq(1)
                with m.If(engines[0].done | engines[1].done):
                    m.next = "PUSH"
            with m.State("PUSH"):
                m.d.comb += [self.busy.eq(1), self.insn_done.eq(1), *flags.push()]
                m.next = "IDLE"
        return m
