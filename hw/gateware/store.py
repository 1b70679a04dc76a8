"""The store module: STORE from the OUT buffer to DRAM (2-D, row pitch ``x_stride``).

Runs the store queue in order.  An instruction waits for a compute->store token if it
pops one (``pop_prev``), then three parts work concurrently:

* the *request issuer* asks the DMA for one write request per row;
* the *reader* reads OUT rows ``sram_base, sram_base + 1, ...`` (one per cycle) into a
  small FIFO, throttled so the FIFO never overflows;
* the *packer* turns elements into bus beats: several sub-beat elements share one beat
  (``strb`` marks only their bytes), a larger element spans several beats.

The instruction completes when every request's write response has arrived (``done``
pulses counted), then pushes a store->compute token if ``push_prev`` is set.  Pads are
ignored (they must be zero; the functional simulator reports non-zero pads).
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.wiring import Out

from ..config import VTAConfig
from ..isa import Opcode
from ..pipeline import STORE
from .component import ConfiguredComponent
from .formats import header_layout, memory_layout
from .interfaces import DmaWriteSignature, SramReadSignature
from .row_dma import LaneWalk, RowRequests
from .stage import TokenFlags, stage_members, status_members

__all__ = ["StoreModule"]


class StoreModule(ConfiguredComponent):
    """Executes STORE instructions from the OUT buffer.

    Parameters
    ----------
    config : VTAConfig
        OUT element size and depth, bus width.

    Members
    -------
    insn, dma, c2s, s2c :
        The store queue, the DMA client writing OUT rows, the tokens popped by
        ``pop_prev`` and pushed by ``push_prev`` (:func:`.stage.stage_members`).
    out_rd : Out(SramReadSignature)
        Read port into the compute module's OUT buffer.
    busy, wait_prev, insn_done : Out(1)
        See :func:`.stage.status_members`.
    """

    FIFO_DEPTH = 4

    def _ports(self, c: VTAConfig) -> dict:
        return {
            **stage_members(c, STORE, Out(DmaWriteSignature(c))),
            "out_rd": Out(SramReadSignature(c.out_depth, c.out_elem_bytes * 8)),
            **status_members(STORE),
        }

    def elaborate(self, platform) -> Module:
        m = Module()
        cfg = self._config
        E, B = cfg.out_elem_bytes, cfg.bus_bytes
        ew = E * 8
        layout = memory_layout(cfg)                    # STORE shares the memory format
        word = self.insn.payload
        new = layout(word)
        hdr = header_layout(cfg)(word)
        op = hdr.opcode
        flags = TokenFlags(self, STORE, hdr)

        insn = Signal(layout)
        start = Signal()
        active = Signal()

        # ---------------------------------------------------------------- request issuer
        requests = RowRequests(m, self.dma.req, elem_bytes=E, bus_bytes=B,
                               x_size=insn.x_size, x_stride=insn.x_stride)

        # ---------------------------------------------------------------- reader
        m.submodules.fifo = fifo = SyncFIFO(width=ew, depth=self.FIFO_DEPTH)
        rd_addr = Signal(range(cfg.out_depth))
        rd_x = Signal(16)
        rd_y = Signal(16)
        in_flight = Signal()
        issue = Signal()
        m.d.comb += [
            issue.eq((rd_y != 0) & (fifo.level + in_flight < self.FIFO_DEPTH)),
            self.out_rd.addr.eq(rd_addr), self.out_rd.en.eq(issue),
            fifo.w_en.eq(in_flight), fifo.w_data.eq(self.out_rd.data),
        ]
        m.d.sync += in_flight.eq(issue)
        with m.If(issue):
            m.d.sync += rd_addr.eq(rd_addr + 1)
            with m.If(rd_x == 1):
                m.d.sync += [rd_x.eq(insn.x_size), rd_y.eq(rd_y - 1)]
            with m.Else():
                m.d.sync += rd_x.eq(rd_x - 1)

        # ---------------------------------------------------------------- packer
        out = self.dma.data
        if E < B:
            walk = LaneWalk(elem_bytes=E, bus_bytes=B, name="pack")
            held = Signal(B * 8)
            held_strb = Signal(B)
            placed = Signal(B * 8)
            placed_strb = Signal(B)
            m.d.comb += [placed.eq(held), placed_strb.eq(held_strb),
                         placed.word_select(walk.slot, ew).eq(fifo.r_data),
                         placed_strb.word_select(walk.slot, E).eq((1 << E) - 1)]
            emit = walk.beat_end
            m.d.comb += [out.valid.eq(fifo.r_rdy & emit), out.payload.data.eq(placed),
                         out.payload.strb.eq(placed_strb),
                         fifo.r_en.eq(~emit | out.ready)]
            with m.If(fifo.r_rdy & fifo.r_en):
                with m.If(emit):
                    m.d.sync += [held.eq(0), held_strb.eq(0)]
                with m.Else():
                    m.d.sync += [held.eq(placed), held_strb.eq(placed_strb)]
                walk.step(m, insn.x_size, insn.x_stride)
            with m.If(start):
                m.d.sync += [*walk.start(new.dram_base, new.x_size), held.eq(0),
                             held_strb.eq(0)]
        else:
            k = E // B
            m.d.comb += [out.valid.eq(fifo.r_rdy), out.payload.strb.eq((1 << B) - 1)]
            if k == 1:
                m.d.comb += [out.payload.data.eq(fifo.r_data), fifo.r_en.eq(out.ready)]
            else:
                beat = Signal(range(k))
                m.d.comb += [out.payload.data.eq(fifo.r_data.word_select(beat, B * 8)),
                             fifo.r_en.eq(out.ready & (beat == k - 1))]
                with m.If(out.valid & out.ready):
                    m.d.sync += beat.eq(beat + 1)     # wraps at k (a power of two)

        # ---------------------------------------------------------------- control
        acks_left = Signal(16)
        with m.If(self.dma.done):
            m.d.sync += acks_left.eq(acks_left - 1)

        with m.FSM(name="store"):
            with m.State("IDLE"):
                m.d.comb += [self.busy.eq(self.insn.valid), *flags.waits(self.insn.valid)]
                with m.If(self.insn.valid & flags.ready()):
                    m.d.comb += [self.insn.ready.eq(1), *flags.pop()]
                    m.d.sync += [*flags.latch(), insn.eq(word)]
                    with m.If((op == Opcode.STORE) & (new.x_size != 0) & (new.y_size != 0)):
                        m.d.comb += start.eq(1)
                        m.d.sync += [*requests.start(new.dram_base, new.y_size),
                                     acks_left.eq(new.y_size), rd_addr.eq(new.sram_base),
                                     rd_x.eq(new.x_size), rd_y.eq(new.y_size)]
                        m.next = "STORE"
                    with m.Else():
                        m.next = "PUSH"
            with m.State("STORE"):
                m.d.comb += [self.busy.eq(1), active.eq(1)]
                with m.If((acks_left == 0) & (requests.left == 0)):
                    m.next = "PUSH"
            with m.State("PUSH"):
                m.d.comb += [self.busy.eq(1), self.insn_done.eq(1), *flags.push()]
                m.next = "IDLE"
        return m
