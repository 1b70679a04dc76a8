"""Fetch: reads the instruction stream from DRAM and routes it to the command queues.

On ``start`` the module reads ``insn_count`` instructions from ``insn_addr`` through its DMA
read client and routes each by opcode and memory type as
:func:`vta.hw.pipeline.fetch_queue` states (SPEC section 5):

- STORE -> the store queue;
- LOAD of a memory type the load stage executes (INP, WGT) -> the load queue;
- everything else (LOAD UOP/ACC/ACC_8BIT, GEMM, ALU, FINISH) -> the compute queue.

The three queues are ``lib.fifo`` buffers of ``config.CMD_QUEUE_DEPTH`` entries.  Fetch
requests a chunk of instructions only when its local staging buffer has room for all of
it, so a full command queue never stalls the shared AXI read channel (which would block
the load and compute DMA reads that the queued instructions are waiting for).

Every word is checked before it is routed (:class:`~.insn_check.InsnCheck`, the static
checks of :mod:`vta.hw.program_errors`): a failing word is never routed and raises
``error`` with its kind while it waits at the head.  ``abort`` stops fetch requesting
and routing and holds every queue's output (the top level then flushes fetch).
"""

from __future__ import annotations

import functools
import operator

from amaranth.hdl import Module, Signal
from amaranth.lib import fifo, stream
from amaranth.lib.wiring import In, Out

from ..config import VTAConfig
from ..isa import Opcode
from ..pipeline import COMPUTE, LOAD, LOADABLE, STAGES, STORE
from .component import ConfiguredComponent, check_int, require_config
from .formats import header_layout, memory_layout
from .insn_check import KIND_BITS, InsnCheck
from .interfaces import ADDR_WIDTH, DmaReadSignature

__all__ = ["Fetch"]


class Fetch(ConfiguredComponent):
    """The fetch module with its three command queues.

    Parameters
    ----------
    config:
        Instruction width, bus width, queue depth and burst length come from here.
    stage_insns:
        Entries of the staging buffer between the DMA and the queues, in [2, 4096]
        (default: two bursts, at most 64); fetch requests half of it at a time.

    Members
    -------
    start: ``In(1)``
        Pulse: begin fetching ``insn_count`` instructions at ``insn_addr`` (bus-aligned
        addresses; the driver allocates instruction buffers aligned to the bus).
    insn_count: ``In(32)``, insn_addr: ``In(64)``
    dma: ``Out(DmaReadSignature(config))``
    load, compute, store: ``Out(stream.Signature(config.insn_width))``
        The command queues' outputs, one instruction per transfer.
    busy: ``Out(1)``
        Instructions remain to be fetched or routed.
    queue_full_wait: ``Out(1)``
        The next instruction waits for room in its command queue.
    queues_empty: ``Out(1)``
        All three command queues are empty.
    next_index: ``Out(32)``
        Stream position of the next instruction to route (instructions routed so far).
    error: ``Out(1)``, error_kind: ``Out(KIND_BITS)``
        The next instruction fails a static check (of that kind); it is not routed.
    abort: ``In(1)``
        Stop requesting, routing and handing out instructions.

    Raises
    ------
    ConfigError
        ``config`` is not a configuration or ``stage_insns`` is out of range.
    """

    def __init__(self, config: VTAConfig, *, stage_insns: int | None = None) -> None:
        config = require_config(config, "Fetch")
        # An instruction (128 or 256 bits) is never narrower than the bus (64 or 128).
        beats_per_insn = config.insn_bytes // config.bus_bytes
        burst_insns = max(1, config.max_burst_beats // beats_per_insn)
        if stage_insns is None:
            # Two bursts of staging (at most 64 instructions) keep the stream flowing.
            stage_insns = min(64, max(4, 2 * burst_insns))
        self._stage = check_int("Fetch", "stage_insns", stage_insns, 2, 4096)
        self._beats_per_insn = beats_per_insn
        self._chunk = self._stage // 2
        super().__init__(config)

    def _ports(self, config: VTAConfig) -> dict:
        queues = {stage.label: Out(stream.Signature(config.insn_width)) for stage in STAGES}
        return {
            "start": In(1),
            "insn_count": In(32),
            "insn_addr": In(ADDR_WIDTH),
            "dma": Out(DmaReadSignature(config)),
            **queues,
            "busy": Out(1),
            "queue_full_wait": Out(1),
            "queues_empty": Out(1),
            "next_index": Out(32),
            "error": Out(1),
            "error_kind": Out(KIND_BITS),
            "abort": In(1),
        }

    def elaborate(self, platform) -> Module:
        m = Module()
        cfg = self._config
        iw = cfg.insn_width
        bw = cfg.BUS_WIDTH
        stage_n = self._stage
        chunk = self._chunk

        # -- request side: chunks of up to `chunk` instructions, credited against the stage.
        to_request = Signal(32)        # instructions not yet requested
        to_route = Signal(32)          # instructions not yet routed to a queue
        count = Signal(32)             # instructions of the run
        addr = Signal(ADDR_WIDTH)
        credits = Signal(range(stage_n + 1))   # free stage slots not promised to a request
        n_req = Signal(range(chunk + 1))
        with m.If(to_request < chunk):
            m.d.comb += n_req.eq(to_request)
        with m.Else():
            m.d.comb += n_req.eq(chunk)
        beats = Signal(range(chunk * self._beats_per_insn + 1))
        m.d.comb += beats.eq(n_req * self._beats_per_insn)
        req = self.dma.req
        m.d.comb += [
            req.valid.eq((to_request != 0) & (credits >= n_req) & ~self.abort),
            req.payload.addr.eq(addr),
            req.payload.beats.eq(beats),
        ]
        # -- response side: assemble instructions from beats into the staging FIFO.
        stage = fifo.SyncFIFOBuffered(width=iw, depth=stage_n)
        m.submodules.stage = stage
        resp = self.dma.resp
        m.d.comb += resp.ready.eq(1)    # credits guarantee room
        if self._beats_per_insn > 1:
            shift = Signal(iw)
            beat = Signal(range(self._beats_per_insn))
            with m.If(resp.valid):
                m.d.sync += shift.eq((shift >> bw) | (resp.payload.data << (iw - bw)))
                m.d.sync += beat.eq(beat + 1)
                with m.If(beat == self._beats_per_insn - 1):
                    m.d.sync += beat.eq(0)
                    m.d.comb += stage.w_en.eq(1)
            m.d.comb += stage.w_data.eq((shift >> bw) | (resp.payload.data << (iw - bw)))
        else:
            m.d.comb += [stage.w_data.eq(resp.payload.data), stage.w_en.eq(resp.valid)]

        # -- routing into the three command queues (vta.hw.pipeline.fetch_queue).
        queues = {}
        for s in STAGES:
            q = fifo.SyncFIFOBuffered(width=iw, depth=cfg.CMD_QUEUE_DEPTH)
            m.submodules[f"{s.label}_queue"] = q
            queues[s] = q
            out = getattr(self, s.label)
            m.d.comb += [out.payload.eq(q.r_data), out.valid.eq(q.r_rdy & ~self.abort),
                         q.r_en.eq(out.ready & ~self.abort)]
        insn = stage.r_data
        m.submodules.check = check = InsnCheck(cfg)
        m.d.comb += [check.word.eq(insn), check.index.eq(self.next_index),
                     check.count.eq(count), self.next_index.eq(count - to_route),
                     self.error.eq(stage.r_rdy & check.error),
                     self.error_kind.eq(check.kind)]
        go = ~check.error & ~self.abort            # the head may be routed
        opcode = header_layout(cfg)(insn).opcode
        mem_type = memory_layout(cfg)(insn).memory_type
        load_types = [mt for mt, s in LOADABLE.items() if s == LOAD]
        dest = {
            STORE: opcode == Opcode.STORE,
            LOAD: (opcode == Opcode.LOAD)
            & functools.reduce(operator.or_, (mem_type == mt for mt in load_types)),
        }
        dest[COMPUTE] = ~dest[STORE] & ~dest[LOAD]
        room = Signal()
        for s, q in queues.items():
            m.d.comb += q.w_data.eq(insn)
            with m.If(dest[s]):
                m.d.comb += room.eq(q.w_rdy)
            m.d.comb += q.w_en.eq(stage.r_rdy & dest[s] & q.w_rdy & go)
        routed = Signal()
        m.d.comb += [
            routed.eq(stage.r_rdy & room & go),
            stage.r_en.eq(room & go),
            self.queue_full_wait.eq(stage.r_rdy & ~room & ~check.error),
            self.busy.eq(to_route != 0),
            self.queues_empty.eq(functools.reduce(operator.and_,
                                                  (~q.r_rdy for q in queues.values()))),
        ]

        req_fire = req.valid & req.ready
        with m.If(self.start):
            m.d.sync += [to_request.eq(self.insn_count), to_route.eq(self.insn_count),
                         count.eq(self.insn_count), addr.eq(self.insn_addr),
                         credits.eq(stage_n)]
        with m.Else():
            with m.If(req_fire):
                m.d.sync += [to_request.eq(to_request - n_req),
                             addr.eq(addr + n_req * cfg.insn_bytes)]
            m.d.sync += credits.eq(credits - (req_fire * n_req) + routed)
            with m.If(routed):
                m.d.sync += to_route.eq(to_route - 1)
        return m
