"""What the hardware's error registers say, in the words fsim uses.

After a run that stopped on an error, :func:`read_fault` reads the error registers of
:mod:`vta.hw.regmap` and rebuilds the :class:`~vta.hw.program_errors.ProgramError` fsim
raises for the same program: ERROR gives the kind; ERROR_WHERE the module and its queue
position, which the program's words turn into the stream index (fetch routes them in
order, :func:`vta.hw.pipeline.fetch_queue`); the message comes from the functions of
:mod:`vta.hw.program_errors` with the instruction word and the details the hardware kept
(the index that left its buffer, the token counts, each queue's position).

:func:`describe_positions` words the same registers for a run that did not finish.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from vta.hw import isa, pipeline, program_errors
from vta.hw.config import VTAConfig
from vta.hw.isa import Opcode
from vta.hw.pipeline import STAGES, Stage
from vta.hw.program_errors import ErrorKind, IndexOperand, ProgramError
from vta.hw.regmap import TAKEN_REGISTERS, decode_where, describe_status

__all__ = ["read_fault", "describe_positions", "ProgramWords"]


class ProgramWords:
    """The words of a program and the queue each one goes to (decoded lazily)."""

    def __init__(self, code: bytes, config: VTAConfig) -> None:
        self.config = config
        n = config.insn_bytes
        self.words = [int.from_bytes(code[i:i + n], "little") for i in range(0, len(code), n)]
        c = config
        op_f = isa.layout_for(c).field(Opcode.LOAD, "opcode")
        mt_f = isa.layout_for(c).field(Opcode.LOAD, "memory_type")
        self.queues = np.array([
            int(pipeline.fetch_queue((w >> op_f.lsb) & ((1 << op_f.width) - 1),
                                     (w >> mt_f.lsb) & ((1 << mt_f.width) - 1)))
            for w in self.words], dtype=np.int8)

    def __len__(self) -> int:
        return len(self.words)

    def insn(self, index: int) -> isa.Instruction | None:
        """Instruction ``index`` decoded (``None`` for an unknown opcode)."""
        try:
            return isa.decode_one(self.words[index], self.config, index)
        except isa.IsaError:
            return None

    def stream_index(self, stage: Stage, position: int, routed: int | None = None) -> int | None:
        """Index of the ``position``-th instruction (from 0) fetch sent to ``stage``'s queue
        among the first ``routed`` (default all); ``None`` if there is none."""
        queues = self.queues if routed is None else self.queues[:routed]
        hits = np.flatnonzero(queues == int(stage))
        return int(hits[position]) if 0 <= position < hits.size else None


def _lowest_bit(value: int) -> int:
    return (value & -value).bit_length() - 1


def read_fault(read: Callable[[str], int], program: ProgramWords | None, config: VTAConfig,
               memory: tuple[int, int], insn_addr: int) -> ProgramError:
    """The error of the run that just stopped with ERROR != 0.

    ``read(name)`` reads a register; ``program`` holds the run's words (``None`` when the
    driver cannot see them: the message then names the module and position only);
    ``memory`` is the device memory's ``(first byte, end)``; ``insn_addr`` where the
    program lies.
    """
    kind = ErrorKind(_lowest_bit(read("ERROR")))
    stage, position = decode_where(read("ERROR_WHERE"))
    if program is None:
        where = "fetch" if stage is None else f"{stage.label} queue position {position}"
        return ProgramError(f"the hardware reports {kind.description} ({where}); the "
                            f"program's words are not in a buffer of this device", kind)
    n = len(program)
    index = position if stage is None else program.stream_index(stage, position)
    if kind == ErrorKind.DEADLOCK:
        return _deadlock(read, program)
    if kind == ErrorKind.TOKENS_LEFT:
        return program_errors.tokens_left_error(n - 1, _tokens(read))
    if kind == ErrorKind.DRAM_RANGE and stage is None:
        lo, hi = memory
        end = insn_addr + n * config.insn_bytes
        return ProgramError(f"instructions [{insn_addr:#x}, {end:#x}) lie outside DRAM "
                            f"[{lo:#x}, {hi:#x})", kind)
    if kind == ErrorKind.FINISH and index is not None and index >= n:
        return program_errors.no_finish_error(n)
    if index is None or index >= n:
        return ProgramError(f"the hardware reports {kind.description} at "
                            f"{'fetch' if stage is None else stage.label} position "
                            f"{position}, which the program does not have", kind)
    try:
        insn = program_errors.check_instruction(program.words[index], index, n, config)
    except ProgramError as err:
        if err.kind == kind:
            return err
        insn = program.insn(index)
    if kind == ErrorKind.SRAM_RANGE and isinstance(insn, (isa.Gemm, isa.Alu)):
        uop = read("ERROR_UOP")
        iters = read("ERROR_ITER")
        return program_errors.index_error(index, insn, IndexOperand(uop >> 16 & 3),
                                          read("ERROR_INDEX"), config, uop & 0xFFFF,
                                          iters & 0xFFFF, iters >> 16)
    if kind == ErrorKind.DRAM_RANGE and isinstance(insn, (isa.Load, isa.Store)):
        elem = config.elem_bytes(insn.memory_type)
        start = insn.dram_base * elem
        span = (insn.y_size - 1) * insn.x_stride * elem + insn.x_size * elem
        return program_errors.dram_range_error(index, insn, start, start + span, memory)
    name = program_errors.describe(insn) if insn is not None else "?"
    return ProgramError(f"instruction {index} ({name}): the hardware reports "
                        f"{kind.description}", kind, index)


def _tokens(read: Callable[[str], int]) -> list[int]:
    lo, hi = read("TOKENS_LO"), read("TOKENS_HI")
    return [lo & 0xFFFF, lo >> 16, hi & 0xFFFF, hi >> 16]


def _deadlock(read: Callable[[str], int], program: ProgramWords) -> ProgramError:
    """fsim's deadlock message from the queue positions and token counts."""
    n = len(program)
    tokens = _tokens(read)
    routed = read("FETCHED")
    parts = []
    for stage in STAGES:
        taken = read(TAKEN_REGISTERS[stage])
        if stage == pipeline.COMPUTE and taken and program.stream_index(stage, taken - 1) \
                == n - 1:
            parts.append(program_errors.finish_wait_part(n - 1))   # FINISH executed
            continue
        head = program.stream_index(stage, taken, routed)
        if head is not None:
            parts.append(program_errors.blocked_part(stage, head, program.insn(head), tokens))
    if routed < n:
        parts.append(program_errors.fetch_stall_part(routed, Stage(int(program.queues[routed])),
                                                     program.config.CMD_QUEUE_DEPTH))
    return program_errors.deadlock_error(parts)


def describe_positions(read: Callable[[str], int], program: ProgramWords | None) -> str:
    """Where each module was, for a run that did not finish: STATUS in words, then for
    each module the instruction at the head of its queue."""
    words = [describe_status(read("STATUS"))]
    routed = read("FETCHED")
    if program is not None:
        words.append(f"fetch routed {routed} of {len(program)} instructions")
    for stage in STAGES:
        taken = read(TAKEN_REGISTERS[stage])
        if program is None:
            words.append(f"{stage.label} took {taken}")
            continue
        current = program.stream_index(stage, taken - 1) if taken else None
        head = program.stream_index(stage, taken, routed)
        text = f"{stage.label} took {taken}"
        if current is not None:
            text += f" (last: instruction {current} {_name(program, current)})"
        if head is not None:
            text += f", next: instruction {head} {_name(program, head)}"
        words.append(text)
    return "; ".join(words)


def _name(program: ProgramWords, index: int) -> str:
    insn = program.insn(index)
    return program_errors.describe(insn) if insn is not None else "(unknown opcode)"
