"""Cycle estimates by replaying a program's instruction stream against the timing contract.

:func:`replay_rows` walks the instruction rows a :class:`~vta.runtime.CommandQueue` would
run (:mod:`vta.hw.insn_stream`) through the three stage queues and the four token
channels (:mod:`vta.hw.pipeline`), giving each instruction the time the hardware takes
for it (the constants of :class:`~vta.compiler.cost_model.CostParams`):

* a LOAD or STORE: :func:`~vta.compiler.cost_model.dma_cycles` (start-up, DRAM latency,
  one cycle per bus beat and per padding element; a store also waits for its write
  responses);
* a GEMM or ALU instruction: one cycle per uop (two per tensor-operand ALU uop with
  ``ALU_TENSOR_II = 2``) plus the controller's cycles between instructions; one that
  pushes waits for its write-backs;
* in the compute module, LOADs and FINISH wait for the uops in flight; with
  ``ALU_OVERLAP`` the GEMM and ALU units follow the rules of :mod:`vta.hw.pipeline` (an
  ALU instruction starts once the GEMM unit has drained, a GEMM may run beside earlier
  ALU instructions, LOADs wait for both units, a GEMM's push to store waits for the ALU).

An instruction starts when its stage is free and every token it pops has been pushed, so
the replay sees what the closed-form estimate of :mod:`~vta.compiler.cost_model` averages
away: the pipeline fill and drain of a layer, loads that come in bursts, tile boundaries
and -- with ``ALU_OVERLAP`` -- how well each tile's epilogue hides under the next tile's
GEMMs.  :func:`replay_program` emits a :class:`~vta.compiler.tile_program.TileProgram`
on a scratch queue and replays it; the kernel compiler uses it to choose among the
search's best schedules when the configuration overlaps ALU and GEMM work
(:func:`vta.compiler.ops.compile_conv2d`).
"""

from __future__ import annotations

import functools
from collections import deque

import numpy as np
from vta.hw.config import VTAConfig
from vta.hw.insn_stream import COLUMNS, FLAG_COLUMNS, MEMORY_TYPE, X_SIZE, stage_of_row
from vta.hw.isa import MemType, Opcode, Uop
from vta.hw.pipeline import CHANNELS, COMPUTE, LOAD, PUSH_WAITS_FOR_ALU, STORE, Stage
from vta.runtime.uop_kernel import ALU_MODE, GEMM_MODE, Loop, UopKernel

from .cost_model import CostParams, dma_cycles
from .emit import emit
from .tile_program import Kernel, TileProgram

__all__ = ["replay_rows", "replay_program"]

_PIPE = 4
"""Cycles from a uop's issue to its write-back (the compute pipeline after S0)."""
_PARAMS = CostParams()

_G = COLUMNS[Opcode.GEMM]
_A = COLUMNS[Opcode.ALU]
_L = COLUMNS[Opcode.LOAD]
_POP = {stage: [(FLAG_COLUMNS[ch.pop_flag], ch.index) for ch in CHANNELS
                if ch.consumer == stage] for stage in (LOAD, COMPUTE, STORE)}
_PUSH = {stage: [(FLAG_COLUMNS[ch.push_flag], ch.index) for ch in CHANNELS
                 if ch.producer == stage] for stage in (LOAD, COMPUTE, STORE)}
_WAITS_ALU = frozenset(ch.index for ch in CHANNELS if ch.name in PUSH_WAITS_FOR_ALU)


def _uops(row: list[int], cols: dict[str, int]) -> int:
    return max(0, row[cols["uop_end"]] - row[cols["uop_bgn"]]) \
        * row[cols["iter_out"]] * row[cols["iter_in"]]


class _Compute:
    """The compute module's clocks: the controller, and the unit(s) behind it."""

    def __init__(self, config: VTAConfig) -> None:
        self.overlap = config.ALU_OVERLAP
        self.slow_tensor = config.ALU_TENSOR_II == 2
        self.ctl = 0          # when the controller can take the next instruction
        self.g_drained = 0    # when the GEMM unit (the only unit without overlap) is empty
        self.a_free = 0       # ALU unit: when it can start its next instruction
        self.a_drained = 0    # ... and when its last write-back is done

    def kernel(self, row: list[int], ready: int, pushes: list[int], ovh: int) -> int:
        """Run a GEMM/ALU row whose tokens are there at ``ready``; its completion time."""
        alu = row[0] == Opcode.ALU
        uops = _uops(row, _A if alu else _G)
        if alu and self.slow_tensor and not row[_A["use_imm"]]:
            uops *= 2
        pushing = bool(pushes)
        if not self.overlap or not alu:
            start = max(self.ctl, ready)
            if alu:           # the shared unit: ALU after GEMM needs no wait
                start = max(start, self.a_free)
            issued = start + uops
            self.g_drained = max(self.g_drained, issued + _PIPE)
            if not self.overlap:
                self.a_free = self.a_drained = self.g_drained
            if pushing:
                end = self.g_drained + 1
                if self.overlap and any(ch in _WAITS_ALU for ch in pushes):
                    end = max(end, self.a_drained + 1)
                self.ctl = end + 1
            else:
                end = issued + 1
                self.ctl = issued + ovh // 2
            return end
        # ALU_OVERLAP: into the queue once the GEMM unit has drained, then the ALU unit.
        dispatch = max(self.ctl, ready, self.g_drained)
        self.ctl = dispatch + 1
        start = max(dispatch + 1, self.a_free)
        issued = start + uops
        self.a_drained = issued + _PIPE
        end = self.a_drained + 1 if pushing else issued + 1
        self.a_free = end + 1 if pushing else issued + ovh // 2
        return end

    def barrier(self, ready: int) -> int:
        """When a LOAD or FINISH whose tokens are there at ``ready`` may start."""
        return max(self.ctl, ready, self.g_drained, self.a_drained)


def replay_rows(rows: list[list[int]], config: VTAConfig,
                params: CostParams | None = None) -> int:
    """Cycles until the last instruction of ``rows`` completes (tokens pushed before the
    first row count as present at cycle 0); ``params`` default to :class:`CostParams`."""
    params = params or _PARAMS
    queues: dict[Stage, deque[list[int]]] = {s: deque() for s in (LOAD, COMPUTE, STORE)}
    for row in rows:
        queues[stage_of_row(row)].append(row)
    tokens: list[deque[int]] = [deque() for _ in CHANNELS]
    free = {LOAD: 0, STORE: 0}
    comp = _Compute(config)
    elem = {int(m): config.elem_bytes(int(m)) for m in MemType}
    ovh = params.insn_overhead
    finish = 0
    while any(queues.values()):
        progressed = False
        for stage, q in queues.items():
            while q:
                row = q[0]
                pops = [ch for col, ch in _POP[stage] if row[col]]
                if any(not tokens[ch] for ch in pops):
                    break
                ready = max((tokens[ch].popleft() for ch in pops), default=0)
                q.popleft()
                progressed = True
                pushes = [ch for col, ch in _PUSH[stage] if row[col]]
                op = row[0]
                if op in (Opcode.LOAD, Opcode.STORE):
                    dur = _dma(row, elem, config, params)
                    if stage == COMPUTE:
                        start = comp.barrier(ready)
                        end = start + dur
                        comp.ctl = end + 2
                    else:
                        end = max(free[stage], ready) + dur
                        free[stage] = end + 1
                elif op == Opcode.FINISH:
                    end = comp.barrier(ready)
                else:
                    end = comp.kernel(row, ready, pushes, ovh)
                for ch in pushes:
                    tokens[ch].append(end)
                finish = max(finish, end)
        if not progressed:
            raise ValueError("the stream deadlocks: some pop is never served")
    return max(finish, comp.g_drained, comp.a_drained)


def _dma(row: list[int], elem: dict[int, int], config: VTAConfig, params: CostParams) -> int:
    """Cycles of a LOAD/STORE row (0 for a no-op)."""
    x = row[X_SIZE]
    if x == 0:
        return 1
    y = row[_L["y_size"]]
    eb = elem[row[MEMORY_TYPE]]
    pads = (row[_L["y_pad_0"]] + y + row[_L["y_pad_1"]]) \
        * (row[_L["x_pad_0"]] + x + row[_L["x_pad_1"]]) - x * y
    cycles = dma_cycles(config, params, y, x * eb, pads)
    if row[0] == Opcode.STORE:       # done once the write responses are back
        cycles += config.DRAM_LATENCY if params.dram_latency is None else params.dram_latency
    return cycles


def replay_program(program: TileProgram, config: VTAConfig,
                   params: CostParams | None = None) -> int:
    """Cycles of ``program`` by :func:`replay_rows` of the stream :func:`~.emit.emit`
    queues for it (on a scratch queue; nothing runs)."""
    queue = _scratch_queue(config)
    try:
        addrs = {name: (i + 1) << 26 for i, name in enumerate(program.operands)}
        emit(program, queue, addrs, {k: _stand_in(k) for k in program.kernels()})
        rows = queue.queued_rows()
    finally:
        queue.discard()
    return replay_rows(rows, config, params)


def _stand_in(kernel: Kernel) -> UopKernel:
    """A runtime micro-kernel with ``kernel``'s shape and uops but no encoding: all the
    queue needs to place it and build the rows (:func:`~.emit.build_uop_kernel` checks and
    encodes, which the replay does not need)."""
    mode = GEMM_MODE if kernel.kind == "gemm" else ALU_MODE
    loops = tuple(Loop(*lp) for lp in kernel.loops)
    uops = tuple(Uop(*u) for u in kernel.uops)
    return UopKernel(("replay", id(kernel)), mode, int(kernel.reset), kernel.alu_opcode,
                     int(kernel.use_imm), kernel.imm, loops, uops,
                     np.zeros(len(uops), dtype=np.uint64))


@functools.lru_cache(maxsize=8)
def _scratch_queue(config: VTAConfig):
    """A command queue on a small functional-simulator device, only ever discarded."""
    from vta.driver import open_device
    from vta.runtime import CommandQueue

    device = open_device("fsim", config, dram_bytes=64 << 20)
    return CommandQueue(device, max_insns=1 << 24, max_staged_uops=1 << 20)
