"""The instruction stream: instructions as rows, built with TVM's dependency-token rules.

A *row* is one instruction as a mutable list of :data:`ROW_WIDTH` integers: the values of
its format's fields in encoding order (:data:`vta.hw.isa.FORMAT_FIELDS`), so
``row[0]`` is the opcode and ``row[1:5]`` the flags ``pop_prev, pop_next, push_prev,
push_next``; unused trailing columns are 0.  :data:`COLUMNS` names every column.  Rows
are what the runtime builds thousands of per batch (cheap to create and patch, encoded in
bulk by ``vta.runtime.insn_encoding``); :func:`to_row` / :func:`from_row` convert to and
from :mod:`vta.hw.isa` objects.

:class:`InsnStream` is TVM's ``InsnQueue`` protocol (stages and channels from
:mod:`vta.hw.pipeline`):

* ``dep_pop(from, to)`` emits nothing: it marks a *pending pop* that the next instruction
  created on stage ``to`` carries; a second pending pop of the same channel first commits
  the earlier one on a no-op.
* ``dep_push(from, to)`` commits the pending pops of ``from`` (on a no-op), then sets the
  push flag on the stream's last instruction if that instruction belongs to stage
  ``from`` and has no such flag yet; otherwise it emits a no-op of ``from`` carrying the
  push.  A LOAD no-op counts as no stage there (as in TVM).
* No-ops are ``x_size == 0`` memory instructions of the stage's
  :data:`~vta.hw.pipeline.NOP_MEMORY_TYPE`.
"""

from __future__ import annotations

from .isa import CLASSES, FORMAT_FIELDS, HEADER_FIELDS, Instruction, Opcode
from .pipeline import (
    CHANNELS,
    COMPUTE,
    LOADABLE,
    NOP_MEMORY_TYPE,
    STAGES,
    STORABLE,
    STORE,
    Stage,
    channel_between,
    stage_of,
)

__all__ = ["ROW_WIDTH", "COLUMNS", "FLAG_COLUMNS", "MEMORY_TYPE", "X_SIZE", "to_row",
           "from_row", "nop_row", "stage_of_row", "InsnStream"]

#: Columns of the widest format.
ROW_WIDTH = max(len(names) for names in FORMAT_FIELDS.values())
#: Column of every field, per opcode.
COLUMNS: dict[Opcode, dict[str, int]] = {
    op: {name: i for i, name in enumerate(names)} for op, names in FORMAT_FIELDS.items()}
#: Column of each dependency flag (the same in every format).
FLAG_COLUMNS: dict[str, int] = {name: i for i, name in enumerate(HEADER_FIELDS) if i}
#: Columns of the memory type and of ``x_size`` in LOAD and STORE rows.
MEMORY_TYPE = COLUMNS[Opcode.LOAD]["memory_type"]
X_SIZE = COLUMNS[Opcode.LOAD]["x_size"]
assert COLUMNS[Opcode.STORE] == COLUMNS[Opcode.LOAD]

_LOAD, _STORE, _GEMM, _ALU = int(Opcode.LOAD), int(Opcode.STORE), int(Opcode.GEMM), \
    int(Opcode.ALU)
_LOAD_STAGE = {int(mt): stage for mt, stage in LOADABLE.items()}
_POP_PREV, _POP_NEXT = FLAG_COLUMNS["pop_prev"], FLAG_COLUMNS["pop_next"]
_PUSH_PREV, _PUSH_NEXT = FLAG_COLUMNS["push_prev"], FLAG_COLUMNS["push_next"]
# Per channel (producer, consumer): the producer's push column, and whether the
# consumer's pop is pop_prev (else pop_next).
_PUSH_COLUMN = {(int(ch.producer), int(ch.consumer)): FLAG_COLUMNS[ch.push_flag]
                for ch in CHANNELS}
_POPS_PREV = {(int(ch.producer), int(ch.consumer)): ch.pop_flag == "pop_prev"
              for ch in CHANNELS}


def to_row(insn: Instruction) -> list[int]:
    """The row of an :mod:`vta.hw.isa` instruction."""
    names = FORMAT_FIELDS[insn.OPCODE]
    row = [int(insn.OPCODE)] + [int(getattr(insn, name)) for name in names[1:]]
    return row + [0] * (ROW_WIDTH - len(row))


def from_row(row: list[int]) -> Instruction:
    """The :mod:`vta.hw.isa` instruction of a row (the opcode must be known)."""
    op = Opcode(row[0])
    names = FORMAT_FIELDS[op]
    return CLASSES[op](**{name: int(row[i]) for i, name in enumerate(names) if i})


def _nop_template(stage: Stage) -> list[int]:
    mt = NOP_MEMORY_TYPE[stage]
    op = Opcode.STORE if mt in STORABLE else Opcode.LOAD
    row = [0] * ROW_WIDTH
    row[0], row[MEMORY_TYPE] = int(op), int(mt)
    assert stage_of(op, mt) == stage
    return row


_NOP_ROWS = {stage: _nop_template(stage) for stage in STAGES}


def nop_row(stage: int) -> list[int]:
    """A fresh no-op row of ``stage`` (no flags set)."""
    return list(_NOP_ROWS[stage])


def stage_of_row(row: list[int]) -> Stage:
    """The stage that executes ``row`` (no-ops included); the row must be routable."""
    op = row[0]
    if op == _LOAD:
        return _LOAD_STAGE[row[MEMORY_TYPE]]
    if op == _STORE:
        return STORE
    return COMPUTE


def _push_stage(row: list[int]) -> Stage | None:
    # TVM's GetPipelineStage: a LOAD no-op and FINISH belong to no stage, a STORE no-op
    # to the store stage.
    op = row[0]
    if op == _GEMM or op == _ALU:
        return COMPUTE
    if op == _LOAD:
        return None if row[X_SIZE] == 0 else _LOAD_STAGE[row[MEMORY_TYPE]]
    if op == _STORE:
        return STORE
    return None


class InsnStream:
    """Rows of one program plus the pending pops of each stage.

    Members
    -------
    rows:
        The instructions so far, in stream order.
    pending_prev, pending_next:
        Per stage number: 1 when the next instruction of that stage must pop
        ``pop_prev`` / ``pop_next``.
    """

    def __init__(self) -> None:
        self.rows: list[list[int]] = []
        self.pending_prev = [0] * (len(STAGES) + 1)
        self.pending_next = [0] * (len(STAGES) + 1)

    def __len__(self) -> int:
        return len(self.rows)

    def create(self, stage: int, row: list[int]) -> list[int]:
        """Append ``row`` (its pop flags 0) as an instruction of ``stage``; the stage's
        pending pops attach to it.  Returns the row."""
        row[_POP_PREV] = self.pending_prev[stage]
        row[_POP_NEXT] = self.pending_next[stage]
        self.pending_prev[stage] = self.pending_next[stage] = 0
        self.rows.append(row)
        return row

    def emit(self, insn: Instruction, stage: int | None = None) -> list[int]:
        """Append an :mod:`vta.hw.isa` instruction; its stage's pending pops attach to it
        (added to the flags it already has).

        ``stage`` defaults to the stage :func:`vta.hw.pipeline.stage_of` routes it to;
        give it only to build a program the hardware should reject.

        Raises
        ------
        IsaError
            ``stage`` is omitted and the instruction cannot be routed.
        """
        if stage is None:
            stage = stage_of(insn.OPCODE, getattr(insn, "memory_type", None))
        row = to_row(insn)
        row[_POP_PREV] |= self.pending_prev[stage]
        row[_POP_NEXT] |= self.pending_next[stage]
        self.pending_prev[stage] = self.pending_next[stage] = 0
        self.rows.append(row)
        return row

    def push_noop(self, stage: int, push_prev: int = 0, push_next: int = 0,
                  pop_prev: int = 0, pop_next: int = 0) -> list[int]:
        """Append a no-op of ``stage`` with the given flags (no pending pops attach)."""
        row = list(_NOP_ROWS[stage])
        row[_POP_PREV], row[_POP_NEXT] = pop_prev, pop_next
        row[_PUSH_PREV], row[_PUSH_NEXT] = push_prev, push_next
        self.rows.append(row)
        return row

    def commit_pending_pop(self, stage: int) -> None:
        """Emit the pending pops of ``stage`` on a no-op (if any)."""
        if self.pending_prev[stage] or self.pending_next[stage]:
            self.push_noop(stage, 0, 0, self.pending_prev[stage], self.pending_next[stage])
            self.pending_prev[stage] = self.pending_next[stage] = 0

    def has_pending_pop(self) -> bool:
        return any(self.pending_prev) or any(self.pending_next)

    def drop_pending_pops(self) -> None:
        """Forget every pending pop (the force-serial rewrite chains instructions itself)."""
        self.pending_prev = [0] * len(self.pending_prev)
        self.pending_next = [0] * len(self.pending_next)

    # dep_pop and dep_push raise IsaError (from vta.hw.pipeline.channel_between) when no
    # token channel runs from ``from_stage`` to ``to_stage``.

    def dep_pop(self, from_stage: int, to_stage: int) -> None:
        """Make the next instruction of ``to_stage`` wait for a token from ``from_stage``."""
        prev = _POPS_PREV.get((from_stage, to_stage))
        if prev is None:
            channel_between(from_stage, to_stage)      # raises, naming the problem
        pending = self.pending_prev if prev else self.pending_next
        if pending[to_stage]:
            self.commit_pending_pop(to_stage)
        pending[to_stage] = 1

    def dep_push(self, from_stage: int, to_stage: int) -> None:
        """Send a token from ``from_stage`` (after its last instruction) to ``to_stage``."""
        col = _PUSH_COLUMN.get((from_stage, to_stage))
        if col is None:
            channel_between(from_stage, to_stage)      # raises, naming the problem
        self.commit_pending_pop(from_stage)
        if self.rows:
            last = self.rows[-1]
            if _push_stage(last) == from_stage and not last[col]:
                last[col] = 1
                return
        self.push_noop(from_stage)[col] = 1

    def clear(self) -> None:
        """Forget every instruction and pending pop."""
        self.rows = []
        self.drop_pending_pops()

    @property
    def insns(self) -> list[Instruction]:
        """The instructions as :mod:`vta.hw.isa` objects."""
        return [from_row(row) for row in self.rows]
