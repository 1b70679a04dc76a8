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
from vta.hw.pipeline import (
    CHANNELS,
    DEP_FLAGS,
    STAGES,
    Stage,
    allowed_flags,
    channels_popped,
    channels_pushed,
    is_nop,
)

from .errors import CommandError

__all__ = ["token_totals", "check_deadlock", "dump"]

# Tables indexed by stage number (TVM's 1, 2, 3), so the replay runs on plain lists:
# the (pop column, channel index) pairs a stage consumes, the (push column, channel index)
# pairs it produces, and the flag columns it may not set.
_NAMES = [ch.name for ch in CHANNELS]
_POPS: list[tuple[tuple[int, int], ...]] = [()] * (max(STAGES) + 1)
_PUSHES: list[tuple[tuple[int, int], ...]] = [()] * (max(STAGES) + 1)
_FORBIDDEN: list[tuple[int, ...]] = [()] * (max(STAGES) + 1)
for _s in STAGES:
    _POPS[_s] = tuple((FLAG_COLUMNS[ch.pop_flag], ch.index) for ch in channels_popped(_s))
    _PUSHES[_s] = tuple((FLAG_COLUMNS[ch.push_flag], ch.index) for ch in channels_pushed(_s))
    _FORBIDDEN[_s] = tuple(FLAG_COLUMNS[f] for f in DEP_FLAGS if f not in allowed_flags(_s))
_F0, _F1, _F2, _F3 = (FLAG_COLUMNS[f] for f in DEP_FLAGS)


def token_totals(rows: list[list[int]]) -> dict[str, int]:
    """Pushes minus pops of every channel over ``rows`` (stream order)."""
    totals = [0] * len(CHANNELS)
    for row in rows:
        if row[_F0] or row[_F1] or row[_F2] or row[_F3]:
            stage = stage_of_row(row)
            for col, ch in _PUSHES[stage]:
                totals[ch] += row[col]
            for col, ch in _POPS[stage]:
                totals[ch] -= row[col]
    return dict(zip(_NAMES, totals, strict=True))


def check_deadlock(rows: list[list[int]], queue_depth: int) -> None:
    """Replay the token protocol; raise :class:`CommandError` if some pop is never served.

    The fetch unit routes instructions in order into per-module queues of
    ``queue_depth`` entries (an entry frees when it executes); each module executes its
    queue in order, an instruction waiting until every token it pops is available.
    """
    n = len(rows)
    stages = [stage_of_row(r) for r in rows]
    queues: list[deque[int]] = [deque() for _ in range(max(STAGES) + 1)]
    tokens = [0] * len(CHANNELS)
    fetched = 0
    moved = True
    while moved:
        moved = False
        while fetched < n and len(queues[stages[fetched]]) < queue_depth:
            row, stage = rows[fetched], stages[fetched]
            for col in _FORBIDDEN[stage]:
                if row[col]:
                    raise CommandError(f"instruction {fetched} ({Stage(stage).label} stage) "
                                       f"sets a dependency flag its stage does not have")
            queues[stage].append(fetched)
            fetched += 1
            moved = True
        for stage in STAGES:
            q = queues[stage]
            pops, pushes = _POPS[stage], _PUSHES[stage]
            while q:
                row = rows[q[0]]
                if any(row[col] and tokens[ch] <= 0 for col, ch in pops):
                    break
                for col, ch in pops:
                    tokens[ch] -= row[col]
                for col, ch in pushes:
                    tokens[ch] += row[col]
                q.popleft()
                moved = True
    if fetched == n and not any(queues):
        return
    waits = []
    for stage in STAGES:
        q = queues[stage]
        if q:
            row = rows[q[0]]
            missing = [_NAMES[ch] for col, ch in _POPS[stage] if row[col] and tokens[ch] <= 0]
            waits.append(f"{Stage(stage).label} instruction {q[0]} waits on "
                         f"{'+'.join(missing)}")
    if fetched < n:
        waits.append(f"fetch stalled at instruction {fetched} (full "
                     f"{Stage(stages[fetched]).label} queue)")
    raise CommandError("unbalanced dependency tokens, the program would deadlock: "
                       + "; ".join(waits))


def dump(rows: list[list[int]]) -> str:
    """The stream as text, one instruction a line, with running token counts per channel."""
    totals = {ch.name: 0 for ch in CHANNELS}
    lines = [f"{len(rows)} instructions"]
    for i, row in enumerate(rows):
        stage = stage_of_row(row)
        for col, ch in _PUSHES[stage]:
            totals[_NAMES[ch]] += row[col]
        for col, ch in _POPS[stage]:
            totals[_NAMES[ch]] -= row[col]
        if is_nop(row[0], row[X_SIZE]):
            flags = [f for f in DEP_FLAGS if row[FLAG_COLUMNS[f]]]
            text = f"NOP-{stage.label.upper()} {' '.join(flags)}".rstrip()
        else:
            text = asm.format_insn(from_row(row))
        counts = " ".join(f"{k}={v}" for k, v in totals.items())
        lines.append(f"{i:6d}  {text:<80}  {counts}")
    return "\n".join(lines) + "\n"

