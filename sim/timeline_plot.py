"""A :class:`~vta.sim.timeline.Timeline` as a picture: one lane per module, busy in colour,
token waits hatched, idle blank (matplotlib; for notebooks and reports)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vta.hw.errors import VTAError

from .timeline import MODULES, Timeline

__all__ = ["plot_timeline"]

_LANES = (*MODULES, "GEMM", "ALU", "DMA read", "DMA write")
_COLOURS = {"fetch": "tab:gray", "load": "tab:blue", "compute": "tab:green",
            "store": "tab:orange", "GEMM": "tab:olive", "ALU": "tab:cyan",
            "DMA read": "tab:purple", "DMA write": "tab:pink"}


def plot_timeline(timeline: Timeline, path: str | Path | None = None, *,
                  title: str | None = None, ax: Any = None) -> Any:
    """Draw ``timeline`` (the trace JSON's slices, in cycles); returns the figure."""
    try:
        import matplotlib

        if path is not None:
            matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise VTAError("plotting needs matplotlib: pip install matplotlib") from None
    trace = timeline.to_trace()
    names = {e["tid"]: e["args"]["name"] for e in trace["traceEvents"]
             if e["ph"] == "M" and e["name"] == "thread_name"}
    scale = timeline.clock_mhz          # microseconds -> cycles
    bars: dict[tuple[str, str], list[tuple[float, float]]] = {}
    runs = []
    for e in trace["traceEvents"]:
        if e["ph"] != "X":
            continue
        lane = names[e["tid"]]
        span = (e["ts"] * scale, e["dur"] * scale)
        if lane == "runs":
            runs.append((span, e["name"]))
        else:
            bars.setdefault((lane, e["name"]), []).append(span)
    if ax is None:
        fig, ax = plt.subplots(figsize=(11, 3.6))
    else:
        fig = ax.figure
    for i, lane in enumerate(_LANES):
        y = len(_LANES) - 1 - i
        for (name_lane, kind), spans in bars.items():
            if name_lane != lane:
                continue
            waiting = kind == "wait token"
            ax.broken_barh(spans, (y - 0.35, 0.7), facecolors="white" if waiting else
                           _COLOURS[lane], edgecolor=_COLOURS[lane] if waiting else "none",
                           hatch="////" if waiting else None, linewidth=0.3)
    for (start, dur), label in runs:
        ax.axvline(start, color="black", lw=0.4, alpha=0.5)
        if len(runs) <= 12:
            ax.text(start + dur / 2, len(_LANES) - 0.4, label[:16], ha="center",
                    fontsize=7)
    ax.set_yticks(range(len(_LANES)), list(reversed(_LANES)))
    ax.set_xlabel("cycle")
    ax.set_xlim(0, max(1, timeline.cycles))
    ax.set_ylim(-0.6, len(_LANES) - 0.1)
    ax.set_title(title or f"{timeline.name}: busy (filled), waiting on a token (hatched)",
                 fontsize=10)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=110)
        plt.close(fig)
    return fig
