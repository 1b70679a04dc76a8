"""The accelerator's pipeline as data: stages, routing, dependency-token channels, no-ops.

Every layer that needs to know which module runs an instruction, which flags a module may
set, which token channel a flag pops or pushes, or what an instruction that only moves
tokens looks like, reads it here: the gateware (fetch routing, each stage module's token
ports, the token channels of the top level), fsim and the reference interpreter, the
instruction stream (:mod:`vta.hw.insn_stream`), the runtime, the compiler, progen and the
test helpers.
Adding a memory type or a token channel means editing the tables of this module only.

Facts (SPEC section 5, TVM's VTA runtime numbering):

* Stages are ``LOAD`` (1), ``COMPUTE`` (2) and ``STORE`` (3); "prev" and "next" in the
  dependency flags are relative to that order.
* Routing: STORE -> store; LOAD of INP or WGT -> load; everything else (LOAD of UOP, ACC,
  ACC_8BIT, GEMM, ALU, FINISH) -> compute.  A LOAD of OUT or a STORE of anything but OUT
  does not exist (:func:`stage_of` rejects it; :func:`fetch_queue` is where the hardware's
  fetch unit sends any word, valid or not).
* Four channels, each with one producer and one consumer stage: ``l2c`` (load -> compute),
  ``c2l``, ``c2s``, ``s2c``, in the order the STATUS register and manifests list them.
* A no-op is a LOAD/STORE with ``x_size == 0``: it only pops and pushes tokens.  Each stage
  has its canonical no-op memory type (load: INP, compute: UOP, store: OUT).

The compute module with ``ALU_OVERLAP`` (:class:`~vta.hw.config.VTAConfig`) has two units:
GEMMs run on the GEMM unit, ALU instructions queue (up to :data:`ALU_QUEUE_DEPTH`) for the
ALU unit.  Its instructions still leave the queue in order and pop their tokens then, and
each unit executes its own in order; what may now run at the same time is fixed by these
rules (``OVERLAP RULES``):

1. An ALU instruction starts after every earlier GEMM has written back (it sees their
   results).
2. A GEMM starts while earlier ALU instructions may still run.
3. A compute *barrier* -- any LOAD the compute module runs (UOP, ACC, ACC_8BIT, its no-ops
   included) and FINISH -- starts after every earlier instruction has completed.
4. A push waits for the instruction's own unit to finish its earlier work; a GEMM's push
   on a channel of :data:`PUSH_WAITS_FOR_ALU` (the OUT buffer handed to store) also waits
   for every earlier ALU instruction.
5. The program's part: a GEMM must not use an accumulator *bank* (:func:`acc_bank`: the
   lower or upper half of ACC and OUT) that an ALU instruction since the last barrier
   uses -- its destination rows, or for the ALU its source rows too.  :class:`OverlapCheck`
   tells; the functional simulator rejects a program that breaks the rule, the runtime
   inserts a no-op barrier where one is needed.

Under these rules every program the functional simulator accepts gives the results of
running its compute instructions one after another.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from .errors import IsaError
from .isa import HEADER_FIELDS, MemType, Opcode

__all__ = ["Stage", "STAGES", "LOAD", "COMPUTE", "STORE", "Channel", "CHANNELS",
           "CHANNEL_BY_NAME", "DEP_FLAGS", "LOADABLE", "STORABLE", "NOP_MEMORY_TYPE",
           "stage_of", "stage_of_load", "fetch_queue", "channels_popped", "channels_pushed",
           "allowed_flags", "channel_between", "is_nop", "ALU_QUEUE_DEPTH",
           "PUSH_WAITS_FOR_ALU", "acc_bank", "is_compute_barrier", "OverlapCheck"]


class Stage(enum.IntEnum):
    """A module with its own in-order instruction queue (TVM's stage numbers)."""

    LOAD = 1
    COMPUTE = 2
    STORE = 3

    @property
    def label(self) -> str:
        """Lower-case name used in messages and tables (``load``, ``compute``, ``store``)."""
        return self.name.lower()


STAGES: tuple[Stage, ...] = (Stage.LOAD, Stage.COMPUTE, Stage.STORE)
LOAD, COMPUTE, STORE = STAGES

#: The dependency flags of every instruction, in encoding order (after the opcode).
DEP_FLAGS: tuple[str, ...] = HEADER_FIELDS[1:]


@dataclass(frozen=True)
class Channel:
    """One dependency-token channel: the producer pushes with ``push_flag``, the consumer
    pops with ``pop_flag``; ``index`` is its position in :data:`CHANNELS`."""

    index: int
    name: str
    producer: Stage
    consumer: Stage

    @property
    def push_flag(self) -> str:
        """The producer's flag that pushes a token into this channel."""
        return "push_next" if self.consumer > self.producer else "push_prev"

    @property
    def pop_flag(self) -> str:
        """The consumer's flag that pops a token from this channel."""
        return "pop_prev" if self.producer < self.consumer else "pop_next"

    @property
    def arrow(self) -> str:
        """``producer->consumer``, as messages name the channel."""
        return f"{self.producer.label}->{self.consumer.label}"


CHANNELS: tuple[Channel, ...] = (
    Channel(0, "l2c", Stage.LOAD, Stage.COMPUTE),
    Channel(1, "c2l", Stage.COMPUTE, Stage.LOAD),
    Channel(2, "c2s", Stage.COMPUTE, Stage.STORE),
    Channel(3, "s2c", Stage.STORE, Stage.COMPUTE),
)
CHANNEL_BY_NAME: dict[str, Channel] = {ch.name: ch for ch in CHANNELS}

#: Memory types a LOAD may target, and the stage that executes that LOAD.
LOADABLE: dict[MemType, Stage] = {
    MemType.INP: Stage.LOAD,
    MemType.WGT: Stage.LOAD,
    MemType.UOP: Stage.COMPUTE,
    MemType.ACC: Stage.COMPUTE,
    MemType.ACC_8BIT: Stage.COMPUTE,
}
#: Memory types a STORE may read.
STORABLE: frozenset[MemType] = frozenset({MemType.OUT})

#: The memory type of each stage's canonical no-op (``x_size == 0``).
NOP_MEMORY_TYPE: dict[Stage, MemType] = {
    Stage.LOAD: MemType.INP,
    Stage.COMPUTE: MemType.UOP,
    Stage.STORE: MemType.OUT,
}


def _memory_type(memory_type: int, allowed: str) -> MemType:
    try:
        return MemType(memory_type)
    except ValueError:
        valid = ", ".join(f"{int(m)} {m.name}" for m in MemType)
        raise IsaError(f"unknown memory type {memory_type} (valid: {valid}; {allowed})") \
            from None


def _targets(what: str, memory_types) -> str:
    return f"{what} {', '.join(f'{int(m)} {m.name}' for m in sorted(memory_types))}"


def stage_of_load(memory_type: int) -> Stage:
    """The stage that executes a LOAD of ``memory_type``.

    Raises
    ------
    IsaError
        ``memory_type`` cannot be loaded (OUT, or not a memory type).
    """
    allowed = _targets("loads target", LOADABLE)
    mt = _memory_type(memory_type, allowed)
    stage = LOADABLE.get(mt)
    if stage is None:
        raise IsaError(f"memory type {int(mt)} ({mt.name}) cannot be loaded; {allowed}")
    return stage


def stage_of(opcode: int, memory_type: int | None = None) -> Stage:
    """The stage whose queue runs an instruction of ``opcode`` (and ``memory_type``, which
    LOAD and STORE need).

    Raises
    ------
    IsaError
        An unknown opcode, or a LOAD/STORE of a memory type that cannot be loaded/stored.
    """
    try:
        op = Opcode(opcode)
    except ValueError:
        valid = ", ".join(f"{int(o)} {o.name}" for o in Opcode)
        raise IsaError(f"unknown opcode {opcode} (valid: {valid})") from None
    if op == Opcode.LOAD:
        return stage_of_load(-1 if memory_type is None else memory_type)
    if op == Opcode.STORE:
        allowed = _targets("stores read", STORABLE)
        mt = _memory_type(-1 if memory_type is None else memory_type, allowed)
        if mt not in STORABLE:
            raise IsaError(f"memory type {int(mt)} ({mt.name}) cannot be stored; {allowed}")
        return Stage.STORE
    return Stage.COMPUTE


def fetch_queue(opcode: int, memory_type: int) -> Stage:
    """The queue fetch routes any instruction word to, valid or not (never raises): a
    STORE to the store queue, a LOAD of a type the load stage executes to the load queue,
    everything else to the compute queue.  For valid words this is :func:`stage_of`."""
    if opcode == Opcode.STORE:
        return Stage.STORE
    if opcode == Opcode.LOAD and LOADABLE.get(memory_type) == Stage.LOAD:
        return Stage.LOAD
    return Stage.COMPUTE


def channels_popped(stage: Stage) -> tuple[Channel, ...]:
    """The channels ``stage`` consumes, in :data:`CHANNELS` order."""
    return tuple(ch for ch in CHANNELS if ch.consumer == stage)


def channels_pushed(stage: Stage) -> tuple[Channel, ...]:
    """The channels ``stage`` produces, in :data:`CHANNELS` order."""
    return tuple(ch for ch in CHANNELS if ch.producer == stage)


def allowed_flags(stage: Stage) -> frozenset[str]:
    """The dependency flags an instruction of ``stage`` may set."""
    return frozenset([ch.pop_flag for ch in channels_popped(stage)]
                     + [ch.push_flag for ch in channels_pushed(stage)])


_CHANNEL_BY_ENDS: dict[tuple[Stage, Stage], Channel] = {
    (ch.producer, ch.consumer): ch for ch in CHANNELS}


def channel_between(producer: int, consumer: int) -> Channel:
    """The channel from stage ``producer`` to stage ``consumer`` (stage numbers or
    :class:`Stage` members).

    Raises
    ------
    IsaError
        A number that is no stage, or two stages that are not neighbours (tokens flow
        load<->compute and compute<->store).
    """
    ch = _CHANNEL_BY_ENDS.get((producer, consumer))
    if ch is not None:
        return ch
    for s in (producer, consumer):
        if s not in _STAGE_NUMBERS:
            raise IsaError(f"no stage {s!r}: stages are "
                           f"{', '.join(f'{int(t)} {t.label}' for t in STAGES)}")
    raise IsaError(f"no token channel from {Stage(producer).label} to "
                   f"{Stage(consumer).label}: tokens flow between neighbouring stages "
                   f"(load<->compute, compute<->store)")


_STAGE_NUMBERS = frozenset(int(s) for s in STAGES)


def is_nop(opcode: int, x_size: int) -> bool:
    """True for an instruction that only moves tokens (a LOAD or STORE of zero elements)."""
    return opcode in (Opcode.LOAD, Opcode.STORE) and x_size == 0


# ----------------------------------------------------------------------- ALU_OVERLAP
#: ALU instructions the compute module holds, popped but not yet executed (``ALU_OVERLAP``).
ALU_QUEUE_DEPTH = 16

#: Channels on which a GEMM's push waits for every earlier ALU instruction too
#: (``ALU_OVERLAP``, rule 4): they hand over what the ALU writes.
PUSH_WAITS_FOR_ALU: frozenset[str] = frozenset({"c2s"})


def acc_bank(log_acc_depth: int, index: int) -> int:
    """The bank (0 lower, 1 upper half) of accumulator/OUT row ``index`` in a buffer of
    ``2**log_acc_depth`` rows (``ALU_OVERLAP``, rule 5)."""
    return index >> (log_acc_depth - 1)


def is_compute_barrier(opcode: int, memory_type: int) -> bool:
    """True for a compute instruction that waits for both units (``ALU_OVERLAP``, rule 3):
    FINISH, or a LOAD the compute module runs."""
    return opcode == Opcode.FINISH or (
        opcode == Opcode.LOAD and fetch_queue(opcode, memory_type) == Stage.COMPUTE)


class OverlapCheck:
    """Rule 5 of ``ALU_OVERLAP``, fed the compute instructions of a program in order.

    Members
    -------
    alu_banks:
        Bank -> index of the first ALU instruction since the last barrier that uses it.
    """

    __slots__ = ("alu_banks",)

    def __init__(self) -> None:
        self.alu_banks: dict[int, int] = {}

    def barrier(self) -> None:
        """A barrier: every earlier instruction has completed."""
        self.alu_banks.clear()

    def alu(self, index: int, banks: frozenset[int] | set[int]) -> None:
        """ALU instruction ``index`` uses ``banks``."""
        for b in banks:
            self.alu_banks.setdefault(b, index)

    def gemm(self, banks: frozenset[int] | set[int]) -> tuple[int, int] | None:
        """A GEMM using ``banks``: ``(bank, ALU index)`` of a conflict, else None."""
        for b in sorted(banks):
            if b in self.alu_banks:
                return b, self.alu_banks[b]
        return None
