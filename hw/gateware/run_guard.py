"""The run guard: a run's first error, deadlock detection, and a clean stop.

:class:`RunGuard` watches a run from the top level and decides when it ends:

* normally, once FINISH has executed, every module is idle, every queue is empty, every
  DMA is complete and no token is left in any channel;
* after an error.  Errors come from fetch (the static checks of each word), the AXI
  master (an error response to a module's DMA: ``DRAM_RANGE``), the compute module (a
  GEMM/ALU index beyond its buffer), FINISH with tokens left (``TOKENS_LEFT``), the host
  (CTRL abort: ``ABORTED``) and the guard itself: when for :data:`STUCK_CYCLES` cycles no
  module executes, no DMA is in flight and fetch cannot route (it is done or its next
  word's queue is full), nothing can ever change -- a ``DEADLOCK`` if some module waits
  on a token (or FINISH on the others), a missing ``FINISH`` if nothing is left at all.

The first error is recorded (:data:`vta.hw.regmap.REPORTS`: kind, where, the index
details, and the token counts and queue positions, which freeze) and the run stops:
``abort`` keeps fetch from handing out instructions and cuts a running GEMM/ALU loop short,
the instructions executing finish their DMA (bounded: their footprints passed the
checks), then ``flush`` empties fetch's queues and the token channels and ``end`` ends the
run.  The next run starts from a clean pipeline.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Signal, unsigned
from amaranth.lib import data
from amaranth.lib.wiring import In, Out

from ..config import VTAConfig
from ..pipeline import CHANNELS, STAGES, Stage
from ..program_errors import ErrorKind
from ..regmap import REPORTS, WHERE_FETCH, WHERE_SHIFT
from .component import ConfiguredComponent
from .index_check import IndexErrorSignature
from .insn_check import KIND_BITS

__all__ = ["RunGuard", "STUCK_CYCLES", "REPORT_LAYOUT", "DMA_CLIENTS"]

#: Cycles nothing may happen before the run counts as stuck (longer than any hand-over:
#: a queue's output register, a token's counter update).
STUCK_CYCLES = 16

#: The guard's registers, one 32-bit field per name of :data:`vta.hw.regmap.REPORTS`.
REPORT_LAYOUT = data.StructLayout({name: unsigned(32) for name in REPORTS})

#: Bits of ``dma_error``: the AXI master's read clients (fetch, load, compute), then its
#: write client (store); ``None`` is fetch.
DMA_CLIENTS: tuple[Stage | None, ...] = (None, Stage.LOAD, Stage.COMPUTE, Stage.STORE)


class RunGuard(ConfiguredComponent):
    """Error recording, stuck detection and the clean stop of a run.

    Members
    -------
    start, running : In(1)
        The control registers' start pulse and run state.
    abort_req : In(1)
        The host asks to stop the run (CTRL bit 3).
    finish : In(1)
        Compute executed FINISH.
    quiet : In(1)
        Fetch done, queues empty, modules idle, no DMA in flight.
    fetch_busy, fetch_full_wait, rd_idle, wr_idle : In(1)
        Fetch has instructions to route / its next one waits for room in a full queue;
        the AXI master has no read / write in flight.
    busy, wait : In(3)
        Per stage (load, compute, store): busy, and its head instruction waits on a token.
    take : In(3)
        Per stage: the module takes an instruction from its queue this cycle.
    fetch_error, fetch_kind, fetch_index : In
        Fetch's check of the next word (:class:`~.insn_check.InsnCheck`) and its position.
    index_error : In(IndexErrorSignature())
        The compute module's index check.
    dma_error : In(len(DMA_CLIENTS))
        An error response to a client's DMA this cycle.
    tokens : In(ArrayLayout(16, 4))
        Tokens held by each channel (:data:`vta.hw.pipeline.CHANNELS` order).
    end : Out(1)
        The run ends this cycle.
    abort, flush : Out(1)
        Stop handing out and executing instructions; empty fetch and the token channels.
    report : Out(REPORT_LAYOUT)
        The registers of :data:`vta.hw.regmap.REPORTS`.
    finish_seen, stopping, dma_error_seen : Out(1)
        For STATUS: FINISH executed; an error is stopping the run; a DMA error this run.
    """

    def _ports(self, c: VTAConfig) -> dict:
        n = len(STAGES)
        return {
            "start": In(1), "running": In(1), "abort_req": In(1), "finish": In(1),
            "quiet": In(1), "fetch_busy": In(1), "fetch_full_wait": In(1),
            "rd_idle": In(1), "wr_idle": In(1),
            "busy": In(n), "wait": In(n), "take": In(n),
            "fetch_error": In(1), "fetch_kind": In(KIND_BITS), "fetch_index": In(32),
            "index_error": In(IndexErrorSignature()),
            "dma_error": In(len(DMA_CLIENTS)),
            "tokens": In(data.ArrayLayout(unsigned(16), len(CHANNELS))),
            "end": Out(1), "abort": Out(1), "flush": Out(1),
            "report": Out(REPORT_LAYOUT),
            "finish_seen": Out(1), "stopping": Out(1), "dma_error_seen": Out(1),
        }

    def elaborate(self, platform) -> Module:
        m = Module()
        r = self.report
        error = r.ERROR
        seen = Signal()
        m.d.comb += seen.eq(error != 0)
        taken = {s: getattr(r, f"{s.name}_TAKEN") for s in STAGES}

        def where(stage: Stage | None, position) -> object:
            queue = WHERE_FETCH if stage is None else int(stage)
            return Cat(position[:WHERE_SHIFT], Const(queue, 32 - WHERE_SHIFT))

        # -- progress: is anything able to change the state?
        busy = {s: self.busy[k] for k, s in enumerate(STAGES)}
        wait = {s: self.wait[k] for k, s in enumerate(STAGES)}
        active = ((self.fetch_busy & ~self.fetch_full_wait) | ~self.rd_idle | ~self.wr_idle
                  | busy[Stage.LOAD] & ~wait[Stage.LOAD]
                  | busy[Stage.COMPUTE] & ~wait[Stage.COMPUTE]
                  | busy[Stage.STORE] & ~wait[Stage.STORE])
        waiting = self.wait.any() | self.fetch_full_wait
        finishing = self.running & ~seen & (self.finish_seen | self.finish) & self.quiet
        counts = [self.tokens[ch.index] for ch in CHANNELS]
        tokens_left = Cat(*(t != 0 for t in counts)).any()
        stuck = Signal()
        stuck_for = Signal(range(STUCK_CYCLES))
        m.d.comb += stuck.eq(self.running & ~seen & ~active & ~finishing)
        with m.If(stuck):
            with m.If(stuck_for != STUCK_CYCLES - 1):
                m.d.sync += stuck_for.eq(stuck_for + 1)
        with m.Else():
            m.d.sync += stuck_for.eq(0)

        # -- the error of this cycle (later rules take priority), recorded if first.
        record = Signal()
        kind = Signal(KIND_BITS)
        place = Signal(32)
        rules = [
            (self.abort_req, ErrorKind.ABORTED, where(None, self.fetch_index)),
            (stuck & (stuck_for == STUCK_CYCLES - 1),
             None, where(None, self.fetch_index)),
            (finishing & tokens_left, ErrorKind.TOKENS_LEFT,
             where(Stage.COMPUTE, taken[Stage.COMPUTE] - 1)),
            (self.fetch_error, self.fetch_kind, where(None, self.fetch_index)),
        ]
        for bit, client in reversed(list(enumerate(DMA_CLIENTS))):
            position = self.fetch_index if client is None else taken[client] - 1
            rules.append((self.dma_error[bit], ErrorKind.DRAM_RANGE, where(client, position)))
        rules.append((self.index_error.valid, ErrorKind.SRAM_RANGE,
                      where(Stage.COMPUTE, taken[Stage.COMPUTE] - 1
                            - self.index_error.behind)))
        for cond, k, pos in rules:
            with m.If(cond):
                m.d.comb += [record.eq(1), place.eq(pos)]
                if k is None:           # stuck: deadlock unless nothing is left at all
                    with m.If(waiting | self.finish_seen):
                        m.d.comb += kind.eq(ErrorKind.DEADLOCK)
                    with m.Else():
                        m.d.comb += kind.eq(ErrorKind.FINISH)
                else:
                    m.d.comb += kind.eq(k)

        drained = Signal()
        drained_before = Signal()
        m.d.comb += [
            drained.eq(~self.busy.any() & self.rd_idle & self.wr_idle),
            self.abort.eq(seen),
            self.stopping.eq(self.running & seen),
            self.flush.eq(self.running & seen & drained & drained_before),
            self.end.eq((finishing & ~tokens_left & ~record) | self.flush),
        ]
        m.d.sync += drained_before.eq(drained & seen)

        with m.If(self.start):
            m.d.sync += [f.eq(0) for f in (error, r.ERROR_WHERE, r.ERROR_INDEX, r.ERROR_UOP,
                                           r.ERROR_ITER, r.TOKENS_LO, r.TOKENS_HI, r.FETCHED,
                                           *taken.values(), self.finish_seen,
                                           self.dma_error_seen, stuck_for, drained_before)]
        with m.Elif(self.running):
            for k, s in enumerate(STAGES):
                with m.If(self.take[k]):
                    m.d.sync += taken[s].eq(taken[s] + 1)
            with m.If(self.finish):
                m.d.sync += self.finish_seen.eq(1)
            with m.If(self.dma_error.any()):
                m.d.sync += self.dma_error_seen.eq(1)
            with m.If(~seen):
                # Positions and tokens follow the run until its first error.
                m.d.sync += [r.FETCHED.eq(self.fetch_index),
                             r.TOKENS_LO.eq(Cat(counts[0], counts[1])),
                             r.TOKENS_HI.eq(Cat(counts[2], counts[3]))]
                with m.If(record):
                    m.d.sync += [error.eq(Const(1, 1) << kind), r.ERROR_WHERE.eq(place)]
                    with m.If(self.index_error.valid):
                        ix = self.index_error
                        m.d.sync += [r.ERROR_INDEX.eq(ix.value),
                                     r.ERROR_UOP.eq(Cat(ix.uop, ix.operand)),
                                     r.ERROR_ITER.eq(Cat(ix.i.as_unsigned(),
                                                         Const(0, 16 - len(ix.i)), ix.j))]
        return m
