"""Invalid programs: the error classes, the static checks and every message, defined once.

Every device reports an invalid program the same way: a :class:`ProgramError` of one
:class:`ErrorKind` whose one-line message names the instruction, what was wrong and what
was expected.  fsim finds the error in software; the gateware flags it in its ERROR
register (bit ``kind``, :mod:`vta.hw.regmap`) and the driver turns the registers back into
the same message through the functions here, so the text is the same on every device.

Two families:

* *static* errors follow from one instruction word, its index and the program length
  (:func:`check_instruction`): unknown opcode, a memory type the instruction cannot use,
  a dependency flag its stage lacks (or any on FINISH), FINISH not last or missing, an
  unknown or disabled ALU opcode, non-zero STORE pads, a LOAD/STORE footprint beyond its
  SRAM, ``uop_end`` beyond the UOP buffer.  Both fsim and the gateware (at fetch) check
  every instruction in stream order, in this priority within one instruction.
* *dynamic* errors depend on data or on the other instructions: a DRAM access outside
  device memory, a GEMM/ALU index beyond its SRAM (from the uops), a deadlock, tokens left
  at FINISH.  They are found as the program executes.

An aborted run (``ErrorKind.ABORTED``: the host stopped it, e.g. at its cycle limit) is
flagged by the hardware too but is no program error; drivers raise a timeout for it.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import TYPE_CHECKING

from . import isa, pipeline
from .errors import IsaError, VTAError
from .isa import AluOp, MemType, Opcode

if TYPE_CHECKING:
    from .config import VTAConfig

__all__ = ["ErrorKind", "ProgramError", "DeadlockError", "IndexOperand", "describe",
           "check_instruction", "no_finish_error", "dram_range_error", "index_error",
           "tokens_left_error", "deadlock_error", "blocked_part", "finish_wait_part",
           "fetch_stall_part", "PADS"]


class ErrorKind(enum.IntEnum):
    """Classes of invalid programs; the value is the bit of the hardware's ERROR register."""

    OPCODE = 0
    MEMORY_TYPE = 1
    FLAG = 2
    FINISH = 3
    ALU_OPCODE = 4
    PADS = 5
    SRAM_RANGE = 6
    DRAM_RANGE = 7
    DEADLOCK = 8
    TOKENS_LEFT = 9
    ABORTED = 10

    @property
    def description(self) -> str:
        """What the class means, in a few words (docs, the register map, messages)."""
        return _DESCRIPTIONS[self]

    @property
    def static(self) -> bool:
        """Whether the class follows from one instruction word (checked at fetch)."""
        return self in _STATIC


_DESCRIPTIONS = {
    ErrorKind.OPCODE: "unknown opcode",
    ErrorKind.MEMORY_TYPE: "memory type the instruction cannot use",
    ErrorKind.FLAG: "dependency flag the module lacks (any flag on FINISH)",
    ErrorKind.FINISH: "FINISH missing or not the last instruction",
    ErrorKind.ALU_OPCODE: "unknown or disabled ALU opcode",
    ErrorKind.PADS: "non-zero STORE pads",
    ErrorKind.SRAM_RANGE: "SRAM range or index beyond its buffer",
    ErrorKind.DRAM_RANGE: "DRAM access outside device memory (AXI error response)",
    ErrorKind.DEADLOCK: "deadlock: no module can proceed before FINISH",
    ErrorKind.TOKENS_LEFT: "dependency tokens left over at FINISH",
    ErrorKind.ABORTED: "run aborted by the host",
}
_STATIC = frozenset({ErrorKind.OPCODE, ErrorKind.MEMORY_TYPE, ErrorKind.FLAG,
                     ErrorKind.FINISH, ErrorKind.ALU_OPCODE, ErrorKind.PADS})
# SRAM_RANGE is static for LOAD/STORE footprints and uop_end, dynamic for GEMM/ALU indices.


class ProgramError(VTAError):
    """A program the hardware cannot run correctly.

    Members
    -------
    kind:
        Its :class:`ErrorKind`.
    index:
        The offending instruction's position in the stream (``None`` for errors of the
        whole program, such as a missing FINISH or a deadlock).
    """

    def __init__(self, message: str, kind: ErrorKind, index: int | None = None) -> None:
        super().__init__(message)
        self.kind = ErrorKind(kind)
        self.index = index


class DeadlockError(ProgramError):
    """No module can proceed before FINISH; the message names each blocked module."""

    def __init__(self, message: str) -> None:
        super().__init__(message, ErrorKind.DEADLOCK)


class IndexOperand(enum.IntEnum):
    """Which index of a GEMM/ALU uop left its SRAM (the hardware's ERROR_UOP field)."""

    DST = 0      # ACC destination (GEMM, reset GEMM, ALU)
    SRC = 1      # INP source (GEMM) or ACC source (tensor ALU)
    WGT = 2      # WGT (GEMM)


PADS = ("y_pad_0", "y_pad_1", "x_pad_0", "x_pad_1")
_MEM_NAMES = {int(m): m.name for m in MemType}


def describe(insn: isa.Instruction) -> str:
    """Short name of an instruction for messages: ``LOAD INP``, ``ALU ADD``, ``GEMM``."""
    if isinstance(insn, (isa.Load, isa.Store)):
        return f"{insn.OPCODE.name} {_MEM_NAMES.get(insn.memory_type, insn.memory_type)}"
    if isinstance(insn, isa.Alu):
        try:
            return f"ALU {AluOp(insn.alu_opcode).name}"
        except ValueError:
            return f"ALU op {insn.alu_opcode}"
    return insn.OPCODE.name


# ------------------------------------------------------------------------------ static
def check_instruction(insn: isa.Instruction | int, index: int, count: int,
                      config: VTAConfig, *, alu_mul: bool | None = None) -> isa.Instruction:
    """The static checks of instruction ``index`` of a ``count``-instruction program.

    ``insn`` is an instruction or its encoded word (an ``int``).  Returns the decoded
    instruction; raises the first :class:`ProgramError` in this order: opcode, memory
    type, flags, FINISH placement (a FINISH before the end; a last instruction that is no
    FINISH), ALU opcode, STORE pads, LOAD/STORE SRAM footprint, ``uop_end``.  ``alu_mul``
    (default ``config.ALU_MUL``) accepts the ALU MUL extension.
    """
    if isinstance(insn, int):
        try:
            insn = isa.decode_one(insn, config, index)
        except IsaError as err:
            raise ProgramError(str(err), ErrorKind.OPCODE, index) from None
    op = insn.OPCODE
    try:
        stage = pipeline.stage_of(op, getattr(insn, "memory_type", None))
    except IsaError as err:
        raise ProgramError(f"instruction {index} ({op.name}): {err}",
                           ErrorKind.MEMORY_TYPE, index) from None
    if op == Opcode.FINISH:
        if any(getattr(insn, flag) for flag in pipeline.DEP_FLAGS):
            raise ProgramError(f"instruction {index} (FINISH) sets a dependency flag; FINISH "
                               f"pops and pushes nothing (commit pops on a NOP before it)",
                               ErrorKind.FLAG, index)
        if index != count - 1:
            raise ProgramError(f"instruction {index} is FINISH but {count - 1 - index} "
                               f"instruction(s) follow it; FINISH must be the last "
                               f"instruction", ErrorKind.FINISH, index)
        return insn
    allowed = pipeline.allowed_flags(stage)
    for flag in pipeline.DEP_FLAGS:
        if getattr(insn, flag) and flag not in allowed:
            raise ProgramError(f"instruction {index} ({describe(insn)}) sets {flag}, but the "
                               f"{stage.label} module has no such dependency channel",
                               ErrorKind.FLAG, index)
    if index == count - 1:
        raise no_finish_error(count)
    if op == Opcode.ALU:
        _check_alu_opcode(insn, index, config.ALU_MUL if alu_mul is None else alu_mul)
    if op == Opcode.STORE:
        bad = [f"{k}={getattr(insn, k)}" for k in PADS if getattr(insn, k)]
        if bad:
            raise ProgramError(f"instruction {index} (STORE): pads must be zero, not "
                               f"{', '.join(bad)}", ErrorKind.PADS, index)
    if op in (Opcode.LOAD, Opcode.STORE) and insn.x_size:
        begin, end = footprint(insn)
        depth = config.depth(insn.memory_type)
        if end > depth:
            raise ProgramError(f"instruction {index} ({describe(insn)}): SRAM range "
                               f"[{begin}, {end}) exceeds the "
                               f"{_MEM_NAMES[insn.memory_type]} buffer depth {depth}",
                               ErrorKind.SRAM_RANGE, index)
    if op in (Opcode.GEMM, Opcode.ALU) and insn.uop_end > config.uop_depth:
        raise ProgramError(f"instruction {index} ({describe(insn)}): uop_end={insn.uop_end} "
                           f"exceeds the UOP buffer depth {config.uop_depth}",
                           ErrorKind.SRAM_RANGE, index)
    return insn


def footprint(insn: isa.Load | isa.Store) -> tuple[int, int]:
    """The SRAM rows ``[begin, end)`` a LOAD (with its pads) or a STORE covers."""
    if isinstance(insn, isa.Store):
        return insn.sram_base, insn.sram_base + insn.y_size * insn.x_size
    rows = insn.y_pad_0 + insn.y_size + insn.y_pad_1
    width = insn.x_pad_0 + insn.x_size + insn.x_pad_1
    return insn.sram_base, insn.sram_base + rows * width


def _check_alu_opcode(insn: isa.Alu, index: int, alu_mul: bool) -> None:
    op = insn.alu_opcode
    if op == AluOp.MUL and not alu_mul:
        raise ProgramError(f"instruction {index} (ALU MUL): the MUL opcode is an extension "
                           f"this configuration does not enable (set ALU_MUL)",
                           ErrorKind.ALU_OPCODE, index)
    if op not in set(AluOp):
        valid = ", ".join(f"{int(a)} {a.name}" for a in AluOp)
        raise ProgramError(f"instruction {index} (ALU): unknown ALU opcode {op} "
                           f"(valid: {valid})", ErrorKind.ALU_OPCODE, index)


def no_finish_error(count: int) -> ProgramError:
    """A program whose last instruction is not FINISH (and holds none before it)."""
    return ProgramError(f"the program's {count} instructions contain no FINISH; the "
                        f"accelerator would never signal done", ErrorKind.FINISH)


# ------------------------------------------------------------------------------ dynamic
def dram_range_error(index: int, insn: isa.Instruction, start: int, end: int,
                     memory: tuple[int, int]) -> ProgramError:
    """Instruction ``index`` touches DRAM bytes ``[start, end)`` outside ``memory``
    (``(first byte, end)`` of device memory)."""
    lo, hi = memory
    return ProgramError(f"instruction {index} ({describe(insn)}): DRAM range "
                        f"[{start:#x}, {end:#x}) lies outside DRAM [{lo:#x}, {hi:#x})",
                        ErrorKind.DRAM_RANGE, index)


def index_name(insn: isa.Gemm | isa.Alu, operand: IndexOperand) -> str:
    """The buffer an index of ``insn`` addresses, as messages name it."""
    if isinstance(insn, isa.Gemm):
        return {IndexOperand.DST: "ACC", IndexOperand.SRC: "INP",
                IndexOperand.WGT: "WGT"}[IndexOperand(operand)]
    if insn.use_imm:
        return "ACC"
    return "ACC source" if operand == IndexOperand.SRC else "ACC destination"


def index_depth(insn: isa.Gemm | isa.Alu, operand: IndexOperand, config: VTAConfig) -> int:
    """The depth of the buffer an index of ``insn`` addresses."""
    if isinstance(insn, isa.Gemm) and operand == IndexOperand.SRC:
        return config.inp_depth
    if isinstance(insn, isa.Gemm) and operand == IndexOperand.WGT:
        return config.wgt_depth
    return config.acc_depth


def index_error(index: int, insn: isa.Gemm | isa.Alu, operand: IndexOperand, value: int,
                config: VTAConfig, uop: int, i: int, j: int) -> ProgramError:
    """Uop ``uop`` of instruction ``index`` at loop position ``i``, ``j`` computes index
    ``value`` of ``operand``, beyond its buffer."""
    depth = index_depth(insn, operand, config)
    return ProgramError(f"instruction {index} ({describe(insn)}): "
                        f"{index_name(insn, operand)} index {value} out of range "
                        f"[0, {depth}) at uop {uop}, i={i}, j={j}",
                        ErrorKind.SRAM_RANGE, index)


def tokens_left_error(index: int, tokens: Sequence[int]) -> ProgramError:
    """FINISH (instruction ``index``) found ``tokens[ch]`` tokens in channel ``ch``."""
    left = [f"{tokens[ch.index]} on {ch.arrow}" for ch in pipeline.CHANNELS
            if tokens[ch.index]]
    return ProgramError(f"instruction {index} (FINISH): tokens left over: "
                        f"{', '.join(left)}; every push needs a matching pop",
                        ErrorKind.TOKENS_LEFT, index)


def blocked_part(stage: pipeline.Stage, index: int, insn: isa.Instruction,
                 tokens: Sequence[int]) -> str:
    """A deadlock message's words for ``stage`` blocked at instruction ``index``."""
    missing = [ch.arrow for ch in pipeline.channels_popped(stage)
               if getattr(insn, ch.pop_flag) and not tokens[ch.index]]
    return (f"{stage.label} blocked at instruction {index} ({describe(insn)}) waiting for a "
            f"{' and a '.join(missing)} token")


def finish_wait_part(index: int) -> str:
    """A deadlock message's words for FINISH (instruction ``index``) waiting."""
    return f"compute waits at instruction {index} (FINISH) for earlier instructions"


def fetch_stall_part(index: int, stage: pipeline.Stage, depth: int) -> str:
    """A deadlock message's words for fetch stalled at ``index`` on a full queue."""
    return (f"fetch stalled at instruction {index}: the {stage.label} queue is full "
            f"({depth} entries)")


def deadlock_error(parts: Sequence[str]) -> DeadlockError:
    """The deadlock error from the parts above (queues in load, compute, store order,
    then fetch)."""
    return DeadlockError("deadlock before FINISH: " + "; ".join(parts))
