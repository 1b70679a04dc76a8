"""Timelines of accelerator runs: what each module did, window by window, as trace JSON.

A :class:`Timeline` holds, for one or more device runs, a series of *windows* (a few
hundred cycles each): for every module (``fetch``, ``load``, ``compute``, ``store``) how
many of the window's cycles it was busy and how many it waited on a dependency token, the
GEMM and ALU micro-ops compute retired, and the bytes the DMA read and wrote.  Each
window's figures are differences of the hardware's own performance counters
(:data:`vta.hw.regmap.COUNTERS`) sampled at the window's edges, so a run's windows add up
*exactly* to the counters the run reports: busy + waiting = ``<MODULE>_BUSY`` (the
hardware counts a module busy while it holds an instruction, waiting included) and
waiting = ``<MODULE>_STALL``.

:meth:`Timeline.to_trace` writes the Chrome trace-event format (JSON) that Perfetto
(ui.perfetto.dev) and ``chrome://tracing`` open: one process per timeline, one track per
module plus ``GEMM``, ``ALU``, ``DMA read``, ``DMA write`` and a ``runs`` track naming each
run (e.g. the layer it computed).  Timestamps are microseconds at the configuration's
clock; every slice carries its exact cycle count in ``args.cycles``.  Within a window a
module's busy cycles are drawn first and its token waits after them (the counters do not
say in which order they happened); GEMM and ALU slices last one cycle per micro-op
(tensor ALU ops take ``ALU_TENSOR_II``), DMA slices one cycle per bus beat; adjacent
slices of the same kind are merged.

The Verilator device records timelines (:meth:`vta.driver.VerilatorDevice.recording`);
the compiler's executables write one per model call.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vta.hw.errors import VTAError

__all__ = ["MODULES", "Window", "RunTimeline", "Timeline", "TimelineError",
           "windows_from_samples"]

MODULES: tuple[str, ...] = ("fetch", "load", "compute", "store")
"""Modules with busy and token-wait counters (``<MODULE>_BUSY``, ``<MODULE>_STALL``)."""

_STALL = {"load": "LOAD_STALL", "compute": "COMPUTE_STALL", "store": "STORE_STALL"}
# Track order in a trace viewer: (thread id, name).
_TRACKS = (("runs", 0), ("fetch", 1), ("load", 2), ("compute", 3), ("GEMM", 4), ("ALU", 5),
           ("store", 6), ("DMA read", 7), ("DMA write", 8))
_TID = dict(_TRACKS)


class TimelineError(VTAError):
    """A timeline cannot be recorded or written (bad window, unwritable file)."""


@dataclass(frozen=True)
class Window:
    """What happened in cycles ``[start, start + cycles)`` of one run.

    ``busy`` (executing) and ``stall`` (holding an instruction that waits on a token) map
    a module name to cycles; ``gemm_uops``/``alu_uops`` are the
    micro-ops compute retired; ``read_bytes``/``write_bytes`` the DMA traffic.
    """

    start: int
    cycles: int
    busy: Mapping[str, int]
    stall: Mapping[str, int]
    gemm_uops: int = 0
    alu_uops: int = 0
    read_bytes: int = 0
    write_bytes: int = 0


@dataclass
class RunTimeline:
    """The windows of one device run, ``label`` naming it (e.g. a layer)."""

    label: str
    cycles: int
    windows: list[Window]
    counters: dict[str, int] = field(default_factory=dict)

    def busy(self, module: str) -> int:
        """Busy cycles of ``module`` summed over the windows."""
        return sum(w.busy.get(module, 0) for w in self.windows)

    def stall(self, module: str) -> int:
        """Token-wait cycles of ``module`` summed over the windows."""
        return sum(w.stall.get(module, 0) for w in self.windows)


def windows_from_samples(samples: Sequence[tuple[int, Mapping[str, int]]], cycles: int,
                         counters: Mapping[str, int]) -> list[Window]:
    """Windows between consecutive counter samples of one run.

    ``samples`` are ``(cycle, counters)`` pairs taken while the run went on (the cycle on
    the run's own CYCLES time base, the counters cumulative since its start); ``cycles``
    and ``counters`` are the final values the run reported, which close the last window.
    The counters of one sample are read a few cycles apart, so each derived series
    (executing = BUSY - STALL, waiting = STALL, uops, bytes) is made non-decreasing and
    capped at its final value before differencing: the windows always add up to the
    final counters exactly.
    """
    def series(v: Mapping[str, int]) -> dict[str, int]:
        out = {f"busy.{m}": v.get(f"{m.upper()}_BUSY", 0) - v.get(_STALL.get(m, ""), 0)
               for m in MODULES}
        out.update({f"stall.{m}": v.get(name, 0) for m, name in _STALL.items()})
        out.update({k: v.get(k, 0) for k in ("GEMM_UOPS", "ALU_UOPS", "DMA_RD_BYTES",
                                              "DMA_WR_BYTES")})
        return out

    final = series(counters)
    points = [(0, dict.fromkeys(final, 0))]
    for c, v in samples:
        if 0 < c < cycles and c > points[-1][0]:
            prev = points[-1][1]
            points.append((c, {k: min(final[k], max(prev[k], x))
                               for k, x in series(v).items()}))
    points.append((cycles, final))
    out: list[Window] = []
    for (c0, v0), (c1, v1) in zip(points, points[1:], strict=False):
        if c1 <= c0:
            continue
        d = {k: v1[k] - v0[k] for k in final}
        out.append(Window(c0, c1 - c0, {m: d[f"busy.{m}"] for m in MODULES},
                          {m: d[f"stall.{m}"] for m in _STALL}, d["GEMM_UOPS"],
                          d["ALU_UOPS"], d["DMA_RD_BYTES"], d["DMA_WR_BYTES"]))
    return out


@dataclass
class Timeline:
    """Runs recorded on one device, laid end to end on one time axis.

    Parameters
    ----------
    clock_mhz:
        The clock that turns cycles into the trace's microseconds.
    bus_bytes:
        The DMA bus width in bytes (a beat per cycle is a busy DMA channel).
    name:
        What the trace viewer calls the process (e.g. the config and device).
    window:
        Cycles between counter samples while recording.
    """

    clock_mhz: float = 100.0
    bus_bytes: int = 8
    name: str = "VTA"
    window: int = 256
    runs: list[RunTimeline] = field(default_factory=list)
    label: str = "run"

    def __post_init__(self) -> None:
        if not isinstance(self.window, int) or isinstance(self.window, bool) \
                or self.window < 16:
            raise TimelineError(f"timeline window must be an integer of at least 16 cycles, "
                                f"not {self.window!r}")

    @classmethod
    def for_config(cls, config: Any, *, name: str | None = None,
                   window: int = 256) -> Timeline:
        """A timeline at ``config``'s clock and bus width."""
        return cls(float(config.CLOCK_MHZ), config.bus_bytes,
                   name or f"VTA {config.name}", window)

    def add(self, run: RunTimeline) -> None:
        self.runs.append(run)

    @property
    def cycles(self) -> int:
        """Accelerator cycles of every run added up."""
        return sum(r.cycles for r in self.runs)

    def busy(self, module: str) -> int:
        """Busy cycles of ``module`` over every run."""
        return sum(r.busy(module) for r in self.runs)

    def stall(self, module: str) -> int:
        """Token-wait cycles of ``module`` over every run."""
        return sum(r.stall(module) for r in self.runs)

    def by_label(self) -> dict[str, dict[str, int]]:
        """Per run label: cycles and each module's busy cycles (runs of a label summed)."""
        out: dict[str, dict[str, int]] = {}
        for r in self.runs:
            row = out.setdefault(r.label, {"cycles": 0, **{m: 0 for m in MODULES}})
            row["cycles"] += r.cycles
            for m in MODULES:
                row[m] += r.busy(m)
        return out

    # ------------------------------------------------------------------ trace events
    def to_trace(self, pid: int = 1) -> dict[str, Any]:
        """The timeline as a Chrome trace-event JSON object (``traceEvents`` ...)."""
        us = 1.0 / self.clock_mhz
        events: list[dict[str, Any]] = [
            {"ph": "M", "pid": pid, "name": "process_name", "args": {"name": self.name}}]
        for track, tid in _TRACKS:
            events.append({"ph": "M", "pid": pid, "tid": tid, "name": "thread_name",
                           "args": {"name": track}})
            events.append({"ph": "M", "pid": pid, "tid": tid, "name": "thread_sort_index",
                           "args": {"sort_index": tid}})
        slices: list[list[Any]] = []      # [track, name, start, cycles, args]
        cursor: dict[str, int] = {}        # where each track's next slice may start

        def put(track: str, name: str, start: int, cycles: int, **args: int) -> None:
            """Append a slice at ``start`` or after the track's previous one: counters
            read a few cycles apart can give a window slightly more than its length."""
            start = max(start, cursor.get(track, 0))
            if cycles <= 0:
                return
            cursor[track] = start + cycles
            last = next((s for s in reversed(slices) if s[0] == track), None)
            if last is not None and last[1] == name and last[2] + last[3] == start:
                last[3] += cycles
                for k, v in args.items():
                    last[4][k] = last[4].get(k, 0) + v
                return
            slices.append([track, name, start, cycles, dict(args)])

        offset = 0
        for run in self.runs:
            put("runs", run.label, offset, run.cycles)
            for w in run.windows:
                t = offset + w.start
                for m in MODULES:
                    put(m, "busy", t, w.busy.get(m, 0))
                    put(m, "wait token", t, w.stall.get(m, 0))
                put("GEMM", "GEMM", t, w.gemm_uops, uops=w.gemm_uops)
                put("ALU", "ALU", t, w.alu_uops, uops=w.alu_uops)
                put("DMA read", "read", t, -(-w.read_bytes // self.bus_bytes),
                    bytes=w.read_bytes)
                put("DMA write", "write", t, -(-w.write_bytes // self.bus_bytes),
                    bytes=w.write_bytes)
                if w.cycles:
                    events.append({"ph": "C", "pid": pid, "name": "GEMM utilization",
                                   "ts": t * us,
                                   "args": {"uops per cycle": round(w.gemm_uops / w.cycles,
                                                                    4)}})
            offset += run.cycles
        for track, name, start, cycles, args in slices:
            events.append({"ph": "X", "pid": pid, "tid": _TID[track], "name": name,
                           "cat": track, "ts": start * us, "dur": cycles * us,
                           "args": {"cycles": cycles, **args}})
        return {"traceEvents": events, "displayTimeUnit": "ns",
                "otherData": {"clock_mhz": self.clock_mhz, "window_cycles": self.window,
                              "cycles": self.cycles}}

    def save(self, path: str | Path) -> Path:
        """Write :meth:`to_trace` as JSON to ``path``; return the path."""
        return write_trace([self], path)


def write_trace(timelines: Sequence[Timeline], path: str | Path) -> Path:
    """Write several timelines (one trace process each) into one trace JSON file."""
    events: list[dict[str, Any]] = []
    other: dict[str, Any] = {}
    for pid, tl in enumerate(timelines, 1):
        trace = tl.to_trace(pid)
        events += trace["traceEvents"]
        other = trace["otherData"]
    path = Path(path)
    try:
        path.write_text(json.dumps({"traceEvents": events, "displayTimeUnit": "ns",
                                    "otherData": other}))
    except OSError as e:
        raise TimelineError(f"cannot write the timeline to {path}: {e.strerror}") from None
    return path
