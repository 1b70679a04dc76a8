"""The load module: LOAD INP and LOAD WGT (2-D DMA with zero padding); owns INP and WGT.

Runs the load queue in order.  An instruction waits for a compute->load token if it pops
one (``pop_next``), runs its 2-D DMA through a :class:`~.load_engine.LoadEngine`, and then
pushes a load->compute token if ``push_next`` is set.  LOADs of other memory types, and
any other opcode, only move tokens (fetch never routes them here).  The compute module
reads both buffers through non-transparent read ports.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..config import VTAConfig
from ..isa import MemType, Opcode
from .interfaces import DmaReadSignature, SramReadSignature, TokenInSignature, TokenOutSignature
from .load_engine import LoadEngine

__all__ = ["LoadModule"]


class LoadModule(wiring.Component):
    """Executes LOAD INP/WGT into the INP and WGT buffers.

    Parameters
    ----------
    config : VTAConfig
        Buffer sizes and bus width.

    Members
    -------
    insn : In(stream.Signature(insn_width))
        The load queue.
    dma : Out(DmaReadSignature)
        Reads input and weight tiles.
    c2l : Out(TokenInSignature)
        Tokens popped by ``pop_next`` (compute -> load).
    l2c : Out(TokenOutSignature)
        Tokens pushed by ``push_next`` (load -> compute).
    inp_rd, wgt_rd : In(SramReadSignature)
        The compute module's read ports into INP and WGT.
    busy : Out(1)
        An instruction is waiting for its token or executing.
    wait_next : Out(1)
        The head instruction waits for a compute->load token.
    insn_done : Out(1)
        Pulses once per completed instruction.
    """

    def __init__(self, config: VTAConfig) -> None:
        self._config = config
        c = config
        super().__init__({
            "insn": In(stream.Signature(c.insn_width)),
            "dma": Out(DmaReadSignature(c)),
            "c2l": Out(TokenInSignature()),
            "l2c": Out(TokenOutSignature()),
            "inp_rd": In(SramReadSignature(c.inp_depth, c.inp_elem_bytes * 8)),
            "wgt_rd": In(SramReadSignature(c.wgt_depth, c.wgt_elem_bytes * 8)),
            "busy": Out(1), "wait_next": Out(1), "insn_done": Out(1),
        })

    @property
    def config(self) -> VTAConfig:
        return self._config

    def elaborate(self, platform) -> Module:
        m = Module()
        cfg = self._config
        buffers = ((MemType.INP, cfg.inp_elem_bytes, cfg.inp_depth, self.inp_rd),
                   (MemType.WGT, cfg.wgt_elem_bytes, cfg.wgt_depth, self.wgt_rd))
        engines = []
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
                         eng.insn.eq(self.insn.payload),
                         eng.dma.resp.payload.eq(self.dma.resp.payload)]

        # One engine runs at a time: route the DMA client to the selected one.
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

        word = self.insn.payload
        op, pop_next, push_next = word[0:3], word[4], word[6]
        memory_type = word[7:10]
        cur_push = Signal()

        with m.FSM(name="load"):
            with m.State("IDLE"):
                m.d.comb += [self.busy.eq(self.insn.valid),
                             self.wait_next.eq(self.insn.valid & pop_next & ~self.c2l.valid)]
                with m.If(self.insn.valid & (~pop_next | self.c2l.valid)):
                    m.d.comb += [self.insn.ready.eq(1), self.c2l.pop.eq(pop_next)]
                    m.d.sync += cur_push.eq(push_next)
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
                m.d.comb += [self.busy.eq(1), self.insn_done.eq(1), self.l2c.push.eq(cur_push)]
                m.next = "IDLE"
        return m
