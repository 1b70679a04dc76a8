"""Token accounting of an instruction stream before it runs: totals, deadlock replay, dump.

The stream is a list of rows (:mod:`vta.hw.insn_stream`); stages, channels and the flags
each stage may set come from :mod:`vta.hw.pipeline`.  :func:`token_totals` counts pushes
minus pops per channel, :func:`check_deadlock` replays the three in-order module queues
(with the fetch unit's bounded command queues) to prove every pop can be served, and
:func:`dump` prints a stream with running counts.
"""

from __future__ import annotations

from collections import deque

from vta.hw import asm
from vta.hw.insn_stream import FLAG_COLUMNS, X_SIZE, from_row, stage_of_row
from vta.hw.pipeline import CHANNELS, DEP_FLAGS, STAGES, Stage, allowed_flags, is_nop

from .errors import CommandError

__all__ = ["token_totals", "check_deadlock", "dump"]

# Per channel: (name, producer, producer's push column, consumer, consumer's pop column).
_CHANNEL_COLUMNS = tuple((ch.name, ch.producer, FLAG_COLUMNS[ch.push_flag], ch.consumer,
                          FLAG_COLUMNS[ch.pop_flag]) for ch in CHANNELS)
# Per stage: the flag columns it may not set.
_FORBIDDEN = {stage: tuple(FLAG_COLUMNS[f] for f in DEP_FLAGS if f not in allowed_flags(stage))
              for stage in STAGES}
_F0, _F1, _F2, _F3 = (FLAG_COLUMNS[f] for f in DEP_FLAGS)


def _count(totals: dict[str, int], row: list[int], stage: Stage) -> None:
    for name, prod, pcol, cons, ccol in _CHANNEL_COLUMNS:
        if stage == prod and row[pcol]:
            totals[name] += 1
        if stage == cons and row[ccol]:
            totals[name] -= 1


def token_totals(rows: list[list[int]]) -> dict[str, int]:
    """Pushes minus pops of every channel over ``rows`` (stream order)."""
    totals = {ch.name: 0 for ch in CHANNELS}
    for row in rows:
        if row[_F0] or row[_F1] or row[_F2] or row[_F3]:
            _count(totals, row, stage_of_row(row))
    return totals


def _flag_errors(row: list[int], index: int, stage: Stage) -> None:
    if any(row[col] for col in _FORBIDDEN[stage]):
        raise CommandError(f"instruction {index} ({stage.label} stage) sets a "
                           f"dependency flag its stage does not have")


def check_deadlock(rows: list[list[int]], queue_depth: int) -> None:
    """Replay the token protocol; raise :class:`CommandError` if some pop is never served.

    The fetch unit routes instructions in order into per-module queues of
    ``queue_depth`` entries (an entry frees when it executes); each module executes its
    queue in order, an instruction waiting until every token it pops is available.
    """
    n = len(rows)
    stages = [stage_of_row(r) for r in rows]
    queues: dict[Stage, deque[int]] = {stage: deque() for stage in STAGES}
    tokens = {ch.name: 0 for ch in CHANNELS}
    # Per stage: (pop column, channel) it consumes and (push column, channel) it produces.
    pops = {s: [(ccol, name) for name, _, _, cons, ccol in _CHANNEL_COLUMNS if cons == s]
            for s in queues}
    pushes = {s: [(pcol, name) for name, prod, pcol, _, _ in _CHANNEL_COLUMNS if prod == s]
              for s in queues}
    fetched = 0
    moved = True
    while moved:
        moved = False
        while fetched < n and len(queues[stages[fetched]]) < queue_depth:
            _flag_errors(rows[fetched], fetched, stages[fetched])
            queues[stages[fetched]].append(fetched)
            fetched += 1
            moved = True
        for s, q in queues.items():
            while q:
                row = rows[q[0]]
                need = [ch for col, ch in pops[s] if row[col]]
                if any(tokens[ch] <= 0 for ch in need):
                    break
                for ch in need:
                    tokens[ch] -= 1
                for col, ch in pushes[s]:
                    if row[col]:
                        tokens[ch] += 1
                q.popleft()
                moved = True
    if fetched == n and not any(queues.values()):
        return
    waits = []
    for s, q in queues.items():
        if q:
            row = rows[q[0]]
            missing = [ch for col, ch in pops[s] if row[col] and tokens[ch] <= 0]
            waits.append(f"{s.label} instruction {q[0]} waits on "
                         f"{'+'.join(missing)}")
    if fetched < n:
        waits.append(f"fetch stalled at instruction {fetched} (full "
                     f"{stages[fetched].label} queue)")
    raise CommandError("unbalanced dependency tokens, the program would deadlock: "
                       + "; ".join(waits))


def dump(rows: list[list[int]]) -> str:
    """The stream as text, one instruction a line, with running token counts per channel."""
    totals = {ch.name: 0 for ch in CHANNELS}
    lines = [f"{len(rows)} instructions"]
    for i, row in enumerate(rows):
        stage = stage_of_row(row)
        _count(totals, row, stage)
        if is_nop(row[0], row[X_SIZE]):
            flags = [f for f in DEP_FLAGS if row[FLAG_COLUMNS[f]]]
            text = f"NOP-{stage.label.upper()} {' '.join(flags)}".rstrip()
        else:
            text = asm.format_insn(from_row(row))
        counts = " ".join(f"{k}={v}" for k, v in totals.items())
        lines.append(f"{i:6d}  {text:<80}  {counts}")
    return "\n".join(lines) + "\n"

