"""Pass 4 of the kernel compiler: a program lowered to runtime commands.

:func:`emit` queues a :class:`~vta.compiler.tile_program.TileProgram` (a tiled operator) or
a :class:`~vta.compiler.tile_program.SerialProgram` (a ``@jit`` trace) on a
:class:`~vta.runtime.CommandQueue`: each node becomes one runtime call (LOAD, STORE, GEMM
or ALU with its micro-kernel) and the program's token protocol becomes dependency pushes
and pops between the stages of :mod:`vta.hw.pipeline`.  Micro-kernels are recorded once per
program (:func:`build_uop_kernels`) and replayed on every run.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from typing import Any

from vta.driver.device import Device
from vta.hw.config import VTAConfig
from vta.hw.isa import MemType
from vta.hw.pipeline import CHANNELS, Stage
from vta.runtime import CommandQueue, KernelBuilder
from vta.runtime.uop_kernel import UopKernel

from .errors import OperatorError
from .tile_program import DmaLoad, DmaStore, Instruction, Kernel, SerialProgram, TileProgram

__all__ = ["emit", "queue_for", "build_uop_kernel", "build_uop_kernels"]

_QUEUES: weakref.WeakKeyDictionary[Device, CommandQueue] = weakref.WeakKeyDictionary()


def queue_for(target: Device | CommandQueue) -> CommandQueue:
    """The command queue to use for ``target`` (one shared queue per device)."""
    if isinstance(target, CommandQueue):
        return target
    if isinstance(target, Device):
        q = _QUEUES.get(target)
        if q is None:
            q = _QUEUES[target] = CommandQueue(target)
        return q
    raise OperatorError(f"target must be a vta Device or CommandQueue, not "
                        f"{type(target).__name__}")


def build_uop_kernel(config: VTAConfig, kernel: Kernel) -> UopKernel:
    """Record a :class:`~vta.compiler.tile_program.Kernel` as a runtime micro-kernel."""
    b = KernelBuilder(config, key=("vta.compiler", len(kernel.uops), kernel.loops))
    for extent, fd, fs, fw in kernel.loops:
        b.loop_begin(extent, fd, fs, fw)
    if kernel.kind == "gemm":
        for d, s, w in kernel.uops:
            b.push(0, kernel.reset, d, s, w)
    else:
        for d, s, _ in kernel.uops:
            b.push(1, 0, d, s, 0, kernel.alu_opcode, kernel.use_imm, kernel.imm)
    for _ in kernel.loops:
        b.loop_end()
    return b.finish()


def build_uop_kernels(program: TileProgram | SerialProgram, config: VTAConfig
                      ) -> dict[Kernel, UopKernel]:
    """The runtime micro-kernel of every distinct kernel of ``program``."""
    return {k: build_uop_kernel(config, k) for k in program.kernels()}


class _Issuer:
    """Sends instruction nodes to a queue, resolving operand names to buffers."""

    def __init__(self, q: CommandQueue, operands: dict[str, Any],
                 kernels: dict[Kernel, UopKernel]) -> None:
        self.q, self.operands, self.kernels = q, operands, kernels

    def __call__(self, item: Instruction) -> None:
        q = self.q
        if isinstance(item, Kernel):
            kernel = self.kernels[item.body]
            if item.kind == "alu":
                q.push_alu_op(kernel)
            else:
                q.push_gemm_op(kernel, overwrite=item.overwrite, uops=item.uop_range)
        elif isinstance(item, DmaLoad):
            q.load_buffer_2d(self.operands[item.operand], item.offset, item.x_size,
                             item.y_size, item.x_stride, item.x_pad_0, item.y_pad_0,
                             item.x_pad_1, item.y_pad_1, item.sram_base, item.memory_type)
        else:
            assert isinstance(item, DmaStore)
            q.store_buffer_2d(item.sram_base, MemType.OUT, self.operands[item.operand],
                              item.offset, item.x_size, item.y_size, item.x_stride)


def emit(program: TileProgram | SerialProgram, q: CommandQueue, operands: dict[str, Any],
         kernels: dict[Kernel, UopKernel]) -> None:
    """Queue ``program`` on ``q`` with DRAM ``operands`` (name -> DeviceArray/Buffer) and
    the runtime micro-kernels of its kernels (:func:`build_uop_kernels`).

    After every program the token channels are balanced, so programs can follow each other
    on one queue.
    """
    issue = _Issuer(q, operands, kernels)
    if isinstance(program, SerialProgram):
        _emit_serial(program, q, issue)
    else:
        _emit_tiles(program, q, issue)


def _emit_tiles(program: TileProgram, q: CommandQueue, issue: _Issuer) -> None:
    """The double-buffered tile protocol (T = ``program.threads`` SRAM halves):

    * step s (INP/WGT loads into half s % T): the load stage first waits for compute to
      release the half (pop compute->load when s >= T), loads, then hands over
      (push load->compute); compute pops it, runs the GEMMs and releases the half;
    * tile t (ACC region t % R, R = ``program.acc_regions``): compute waits for the store
      stage to drain the region (pop store->compute when t >= R) before the reset, runs
      the epilogue, hands the OUT rows to store (push compute->store); store writes them
      back and releases the region (push store->compute);
    * at the end the leftover tokens are popped.

    With ``ALU_OVERLAP`` the program's micro-kernels are loaded first when they fit the
    uop buffer together, and with two threads the next tile's prologue (its wait for the
    store and its ACC loads, in another region) comes before this tile's epilogue: loads
    are compute barriers, so after the epilogue nothing stops the next tile's GEMMs from
    overlapping its ALU instructions.
    """
    load, compute, store = Stage.LOAD, Stage.COMPUTE, Stage.STORE
    T = program.threads
    R = program.acc_regions
    tiles = program.tiles
    hoist = q.config.ALU_OVERLAP and T >= 2
    if q.config.ALU_OVERLAP:        # LOAD UOP is a compute barrier: load kernels up front
        q.preload(issue.kernels.values())
    step = 0
    for t, tile in enumerate(tiles):
        if not (hoist and t and tiles[t].prologue):     # else issued before epilogue t - 1
            _prologue(q, issue, t, R, tile)
        for st in tile.steps:
            if step >= T:
                q.dep_pop(compute, load)
            _through_half(q, issue, load, st.loads, compute, st.kernels)
            step += 1
        if hoist and t + 1 < len(tiles) and tiles[t + 1].prologue:
            _prologue(q, issue, t + 1, R, tiles[t + 1])
        _through_half(q, issue, compute, tile.epilogue, store, tile.stores)
    for _ in range(min(T, step)):
        q.dep_pop(compute, load)
    for _ in range(min(R, len(program.tiles))):
        q.dep_pop(store, compute)


def _prologue(q: CommandQueue, issue: _Issuer, t: int, regions: int, tile) -> None:
    """Tile ``t``'s prologue, after the store has drained its ACC region (``t >=
    regions``)."""
    if t >= regions:
        q.dep_pop(Stage.STORE, Stage.COMPUTE)
    for item in tile.prologue:
        issue(item)


def _through_half(q: CommandQueue, issue: _Issuer, producer: Stage, produced: Iterable,
                  consumer: Stage, consumed: Iterable) -> None:
    """One SRAM half through a producer and a consumer: the producer's instructions, a
    token handing the half over, the consumer's instructions, and a token releasing the
    half back (popped by the producer before it reuses the half)."""
    for item in produced:
        issue(item)
    _hand_over(q, producer, consumer)
    for item in consumed:
        issue(item)
    q.dep_push(consumer, producer)


def _emit_serial(program: SerialProgram, q: CommandQueue, issue: _Issuer) -> None:
    """The serial protocol: each change of stage hands one token from the previous stage
    to the next (through compute between load and store, which are not neighbours), so
    every instruction sees the effects of all before it -- DRAM included; the last stage
    hands back to compute."""
    stage: Stage | None = None
    for item in program.items:
        _serialise(q, stage, item.stage)
        stage = item.stage
        issue(item)
    _serialise(q, stage, Stage.COMPUTE)


def _serialise(q: CommandQueue, prev: Stage | None, stage: Stage) -> None:
    """Make ``stage`` wait for ``prev``'s last instruction."""
    if prev is None or prev == stage:
        return
    neighbours = any(ch.producer == prev and ch.consumer == stage for ch in CHANNELS)
    hops = (prev, stage) if neighbours else (prev, Stage.COMPUTE, stage)
    for a, b in zip(hops, hops[1:], strict=False):
        _hand_over(q, a, b)


def _hand_over(q: CommandQueue, producer: Stage, consumer: Stage) -> None:
    """One token from ``producer`` (pushed after its last instruction so far) to
    ``consumer`` (popped before its next instruction)."""
    q.dep_push(producer, consumer)
    q.dep_pop(producer, consumer)
