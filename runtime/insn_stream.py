"""The instruction stream of a command queue and its dependency-token rules.

This is TVM's ``InsnQueue`` protocol on rows (see :mod:`vta.runtime.insn_encoding`):

* Stages are 1 load, 2 compute, 3 store.  ``dep_pop(from, to)`` does not emit anything:
  it marks a *pending pop* that the next instruction created on stage ``to`` carries; a
  second pending pop of the same direction first commits the earlier one as a NOP.
* ``dep_push(from, to)`` commits the pending pops of ``from`` (as a NOP), then sets the push
  flag on the stream's last instruction if that instruction belongs to stage ``from`` and
  has no such flag yet; otherwise it emits a NOP on ``from`` carrying the push.
* NOPs are ``x_size = 0`` memory instructions: LOAD INP on the load stage, LOAD UOP on the
  compute stage, STORE OUT on the store stage.  A LOAD NOP counts as no stage when
  ``dep_push`` inspects the last instruction (as in TVM).

Tokens live in four channels, named by producer and consumer: ``l2c`` (load -> compute),
``c2l``, ``c2s``, ``s2c``.  :func:`token_totals` counts them, :func:`check_deadlock`
replays the three in-order module queues (with the fetch unit's bounded command queues)
to prove every pop can be served, and :func:`dump` prints a stream with running counts.
"""

from __future__ import annotations

from collections import deque

from vta.hw import asm, isa

from .errors import CommandError
from .insn_encoding import MEM, RowEncoder

__all__ = ["LOAD", "COMPUTE", "STORE", "STAGE_NAMES", "CHANNELS", "InsnStream", "module_of",
           "token_totals", "check_deadlock", "dump"]

NONE, LOAD, COMPUTE, STORE = 0, 1, 2, 3
STAGE_NAMES = {LOAD: "load", COMPUTE: "compute", STORE: "store"}

_LOAD, _STORE, _GEMM, _FINISH, _ALU = (int(isa.Opcode.LOAD), int(isa.Opcode.STORE),
                                       int(isa.Opcode.GEMM), int(isa.Opcode.FINISH),
                                       int(isa.Opcode.ALU))
_UOP, _WGT, _INP, _ACC, _OUT = (int(isa.MemType.UOP), int(isa.MemType.WGT),
                                int(isa.MemType.INP), int(isa.MemType.ACC),
                                int(isa.MemType.OUT))

# Channel -> (producer stage, producer flag column, consumer stage, consumer flag column);
# flag columns: 1 pop_prev, 2 pop_next, 3 push_prev, 4 push_next.
CHANNELS: dict[str, tuple[int, int, int, int]] = {
    "l2c": (LOAD, 4, COMPUTE, 1),
    "c2l": (COMPUTE, 3, LOAD, 2),
    "c2s": (COMPUTE, 4, STORE, 1),
    "s2c": (STORE, 3, COMPUTE, 2),
}


def memory_stage(memory_type: int) -> int:
    """Stage that executes a LOAD of ``memory_type``: INP/WGT load, the rest compute."""
    return LOAD if memory_type in (_INP, _WGT) else COMPUTE


def module_of(row: list[int]) -> int:
    """The hardware module that executes ``row`` (NOPs included)."""
    op = row[0]
    if op == _LOAD:
        return memory_stage(row[MEM.MEMORY_TYPE])
    if op == _STORE:
        return STORE
    return COMPUTE


def _stage_for_push(row: list[int]) -> int:
    # TVM's GetPipelineStage: a LOAD NOP belongs to no stage, a STORE NOP to the store stage.
    op = row[0]
    if op in (_GEMM, _ALU):
        return COMPUTE
    if op == _LOAD:
        return NONE if row[MEM.X_SIZE] == 0 else memory_stage(row[MEM.MEMORY_TYPE])
    if op == _STORE:
        return STORE
    return NONE


_PAIRS = frozenset({(LOAD, COMPUTE), (COMPUTE, LOAD), (COMPUTE, STORE), (STORE, COMPUTE)})


def _check_pair(what: str, from_stage: int, to_stage: int) -> None:
    if (from_stage, to_stage) in _PAIRS:
        return
    for s in (from_stage, to_stage):
        if s not in STAGE_NAMES:
            raise CommandError(f"{what}({from_stage}, {to_stage}): stages are 1 load, "
                               f"2 compute, 3 store")
    if abs(from_stage - to_stage) != 1:
        raise CommandError(f"{what}({from_stage}, {to_stage}): tokens only flow between "
                           f"neighbouring stages (load<->compute, compute<->store)")


class InsnStream:
    """Rows of one batch plus the pending pops of each stage."""

    def __init__(self) -> None:
        self.rows: list[list[int]] = []
        self.pending_prev = [0, 0, 0, 0]
        self.pending_next = [0, 0, 0, 0]

    def __len__(self) -> int:
        return len(self.rows)

    def create(self, stage: int, fields: list[int]) -> list[int]:
        """Append an instruction of ``stage`` whose row is ``[opcode, 0, 0, 0, 0, *rest]``
        given as ``fields`` (length 17); the stage's pending pops attach to it."""
        fields[1] = self.pending_prev[stage]
        fields[2] = self.pending_next[stage]
        self.pending_prev[stage] = self.pending_next[stage] = 0
        self.rows.append(fields)
        return fields

    def push_noop(self, stage: int, push_prev: int = 0, push_next: int = 0,
                  pop_prev: int = 0, pop_next: int = 0) -> list[int]:
        """Append a NOP of ``stage`` with the given flags (no pending pops attach)."""
        if stage == STORE:
            row = [_STORE, pop_prev, pop_next, push_prev, push_next, _OUT]
        else:
            row = [_LOAD, pop_prev, pop_next, push_prev, push_next,
                   _INP if stage == LOAD else _UOP]
        row += [0] * 11
        self.rows.append(row)
        return row

    def commit_pending_pop(self, stage: int) -> None:
        """Emit the pending pops of ``stage`` as a NOP (if any)."""
        if self.pending_prev[stage] or self.pending_next[stage]:
            self.push_noop(stage, 0, 0, self.pending_prev[stage], self.pending_next[stage])
            self.pending_prev[stage] = self.pending_next[stage] = 0

    def has_pending_pop(self) -> bool:
        return any(self.pending_prev) or any(self.pending_next)

    def dep_pop(self, from_stage: int, to_stage: int) -> None:
        """Make the next instruction of ``to_stage`` wait for a token from ``from_stage``."""
        _check_pair("dep_pop", from_stage, to_stage)
        pending = self.pending_prev if from_stage < to_stage else self.pending_next
        if pending[to_stage]:
            self.commit_pending_pop(to_stage)
        pending[to_stage] = 1

    def dep_push(self, from_stage: int, to_stage: int) -> None:
        """Send a token from ``from_stage`` (after its last instruction) to ``to_stage``."""
        _check_pair("dep_push", from_stage, to_stage)
        self.commit_pending_pop(from_stage)
        col = 4 if from_stage < to_stage else 3
        if self.rows:
            last = self.rows[-1]
            if _stage_for_push(last) == from_stage and not last[col]:
                last[col] = 1
                return
        if col == 4:
            self.push_noop(from_stage, push_next=1)
        else:
            self.push_noop(from_stage, push_prev=1)

    def clear(self) -> None:
        self.rows = []
        self.pending_prev = [0, 0, 0, 0]
        self.pending_next = [0, 0, 0, 0]


def token_totals(rows: list[list[int]]) -> dict[str, int]:
    """Pushes minus pops of every channel over ``rows`` (stream order)."""
    totals = dict.fromkeys(CHANNELS, 0)
    for row in rows:
        if not (row[1] or row[2] or row[3] or row[4]):
            continue
        m = module_of(row)
        for name, (prod, pcol, cons, ccol) in CHANNELS.items():
            if m == prod and row[pcol]:
                totals[name] += 1
            if m == cons and row[ccol]:
                totals[name] -= 1
    return totals


def _flag_errors(row: list[int], index: int) -> None:
    m = module_of(row)
    bad = (m == LOAD and (row[1] or row[3])) or (m == STORE and (row[2] or row[4]))
    if bad:
        raise CommandError(f"instruction {index} ({STAGE_NAMES[m]} stage) sets a dependency "
                           f"flag its stage does not have")


def check_deadlock(rows: list[list[int]], queue_depth: int) -> None:
    """Replay the token protocol; raise :class:`CommandError` if some pop is never served.

    The fetch unit routes instructions in order into per-module queues of
    ``queue_depth`` entries (an entry frees when it executes); each module executes its queue in
    order, an instruction waiting until every token it pops is available.
    """
    n = len(rows)
    modules = [module_of(r) for r in rows]
    queues: dict[int, deque[int]] = {LOAD: deque(), COMPUTE: deque(), STORE: deque()}
    tokens = dict.fromkeys(CHANNELS, 0)
    # Per module: (channel popped by flag column, channel pushed by flag column).
    pops = {m: [(ccol, ch) for ch, (_, _, cons, ccol) in CHANNELS.items() if cons == m]
            for m in queues}
    pushes = {m: [(pcol, ch) for ch, (prod, pcol, _, _) in CHANNELS.items() if prod == m]
              for m in queues}
    fetched = 0
    capacity = queue_depth
    moved = True
    while moved:
        moved = False
        while fetched < n and len(queues[modules[fetched]]) < capacity:
            _flag_errors(rows[fetched], fetched)
            queues[modules[fetched]].append(fetched)
            fetched += 1
            moved = True
        for m, q in queues.items():
            while q:
                row = rows[q[0]]
                need = [ch for col, ch in pops[m] if row[col]]
                if any(tokens[ch] <= 0 for ch in need):
                    break
                for ch in need:
                    tokens[ch] -= 1
                for col, ch in pushes[m]:
                    if row[col]:
                        tokens[ch] += 1
                q.popleft()
                moved = True
    if fetched == n and not any(queues.values()):
        return
    waits = []
    for m, q in queues.items():
        if q:
            row = rows[q[0]]
            missing = [ch for col, ch in pops[m] if row[col] and tokens[ch] <= 0]
            waits.append(f"{STAGE_NAMES[m]} instruction {q[0]} waits on {'+'.join(missing)}")
    if fetched < n:
        waits.append(f"fetch stalled at instruction {fetched} (full {STAGE_NAMES[modules[fetched]]}"
                     f" queue)")
    raise CommandError("unbalanced dependency tokens, the program would deadlock: "
                       + "; ".join(waits))


def dump(rows: list[list[int]], encoder: RowEncoder) -> str:
    """The stream as text, one instruction a line, with running token counts per channel."""
    totals = dict.fromkeys(CHANNELS, 0)
    lines = [f"{len(rows)} instructions"]
    for i, row in enumerate(rows):
        m = module_of(row)
        for name, (prod, pcol, cons, ccol) in CHANNELS.items():
            if m == prod and row[pcol]:
                totals[name] += 1
            if m == cons and row[ccol]:
                totals[name] -= 1
        insn = encoder.to_insn(row)
        text = asm.format_insn(insn)
        if row[0] in (_LOAD, _STORE) and row[MEM.X_SIZE] == 0:
            flags = [n for n, c in (("pop_prev", 1), ("pop_next", 2), ("push_prev", 3),
                                    ("push_next", 4)) if row[c]]
            text = f"NOP-{STAGE_NAMES[m].upper()} {' '.join(flags)}".rstrip()
        counts = " ".join(f"{k}={v}" for k, v in totals.items())
        lines.append(f"{i:6d}  {text:<80}  {counts}")
    return "\n".join(lines) + "\n"
