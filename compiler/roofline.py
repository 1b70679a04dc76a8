"""Rooflines: per accelerator layer, achieved MACs per cycle against arithmetic intensity.

A layer's *arithmetic intensity* is its useful MACs per DRAM byte moved (reads + writes,
from the hardware counters on a timed device, else the cost model's exact byte count);
its *achieved throughput* is MACs per cycle (measured cycles, else estimated).  Two roofs
bound it: the GEMM core's peak (``BATCH x BLOCK x BLOCK`` MACs per cycle) and the DRAM
bandwidth roof, intensity x the DRAM model's bytes per cycle (one bus beat per cycle
unless :class:`vta.sim.verilator.model.DramTiming` limits it).  A layer far below both is
latency- or overhead-bound; one on the slanted roof is bandwidth-bound.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vta.hw.config import VTAConfig
from vta.hw.errors import VTAError

__all__ = ["RooflinePoint", "Roofs", "roofs_for", "roofline_points", "format_roofline",
           "plot_roofline"]


@dataclass(frozen=True)
class Roofs:
    """The two roofs of a configuration: peak MACs per cycle and DRAM bytes per cycle."""

    peak_macs_per_cycle: int
    dram_bytes_per_cycle: float

    @property
    def ridge(self) -> float:
        """The intensity (MACs/byte) where the bandwidth roof meets the compute roof."""
        return self.peak_macs_per_cycle / self.dram_bytes_per_cycle

    def attainable(self, intensity: float) -> float:
        return min(self.peak_macs_per_cycle, intensity * self.dram_bytes_per_cycle)


def roofs_for(config: VTAConfig) -> Roofs:
    """The roofs of ``config`` under the DRAM model's board timing."""
    from vta.sim.verilator.model import DramTiming

    timing = DramTiming.for_config(config)
    bandwidth = timing.bytes_per_cycle or config.bus_bytes
    return Roofs(config.macs_per_cycle, float(min(bandwidth, config.bus_bytes)))


@dataclass(frozen=True)
class RooflinePoint:
    """One layer: MACs, DRAM bytes, cycles and whether the cycles were measured."""

    name: str
    macs: int
    dram_bytes: int
    cycles: int
    measured: bool

    @property
    def intensity(self) -> float:
        """MACs per DRAM byte."""
        return self.macs / max(1, self.dram_bytes)

    @property
    def macs_per_cycle(self) -> float:
        return self.macs / max(1, self.cycles)


def roofline_points(profile: Iterable[Any]) -> list[RooflinePoint]:
    """The accelerator layers of a model profile (:meth:`Executable.profile` rows:
    ``name``, ``device``, ``macs``, ``bytes``, ``cycles``, ``est_cycles``)."""
    out = []
    for r in profile:
        if not str(r.device).startswith("vta") or not r.macs:
            continue
        cycles = r.cycles or r.est_cycles
        if not cycles:
            continue
        out.append(RooflinePoint(r.name, int(r.macs), int(r.bytes), int(cycles),
                                 r.cycles is not None))
    return out


def format_roofline(points: Sequence[RooflinePoint], roofs: Roofs) -> str:
    """A table: intensity, achieved and attainable MACs/cycle, share of the roof, bound."""
    width = min(40, max([len("layer")] + [len(p.name) for p in points]))
    head = (f"{'layer':<{width}}  {'MAC/B':>7}{'MAC/cyc':>9}{'roof':>8}{'of roof':>9}  bound")
    lines = [head, "-" * len(head)]
    for p in points:
        roof = roofs.attainable(p.intensity)
        bound = "memory" if p.intensity < roofs.ridge else "compute"
        name = p.name if len(p.name) <= width else "..." + p.name[-(width - 3):]
        lines.append(f"{name:<{width}}  {p.intensity:>7.1f}{p.macs_per_cycle:>9.1f}"
                     f"{roof:>8.1f}{p.macs_per_cycle / roof:>9.1%}  {bound}")
    lines.append(f"roofs: {roofs.peak_macs_per_cycle} MACs/cycle (GEMM core), "
                 f"{roofs.dram_bytes_per_cycle:g} DRAM bytes/cycle; ridge at "
                 f"{roofs.ridge:.1f} MACs/byte")
    return "\n".join(lines)


def plot_roofline(points: Sequence[RooflinePoint], roofs: Roofs,
                  path: str | Path | None = None, *, title: str = "VTA roofline") -> Any:
    """The roofline (log-log) with one dot per layer; written to ``path`` when given."""
    try:
        import matplotlib

        if path is not None:
            matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise VTAError("plotting needs matplotlib: pip install matplotlib") from None
    if not points:
        raise VTAError("no accelerator layer to plot: the model ran nothing on VTA")
    xs = [p.intensity for p in points]
    lo = min(min(xs), roofs.ridge) / 4
    hi = max(max(xs), roofs.ridge) * 4
    fig, ax = plt.subplots(figsize=(8, 5))
    grid = [lo * (hi / lo) ** (i / 200) for i in range(201)]
    ax.plot(grid, [roofs.attainable(x) for x in grid], color="black", lw=1.5,
            label=f"roof: {roofs.peak_macs_per_cycle} MAC/cycle, "
                  f"{roofs.dram_bytes_per_cycle:g} B/cycle")
    measured = [p for p in points if p.measured]
    estimated = [p for p in points if not p.measured]
    if measured:
        ax.scatter([p.intensity for p in measured], [p.macs_per_cycle for p in measured],
                   color="tab:blue", zorder=3, label="layers (measured cycles)")
    if estimated:
        ax.scatter([p.intensity for p in estimated], [p.macs_per_cycle for p in estimated],
                   color="tab:orange", marker="s", zorder=3, label="layers (estimated)")
    for p in points:
        ax.annotate(p.name.split("+")[0][:18], (p.intensity, p.macs_per_cycle), fontsize=7,
                    textcoords="offset points", xytext=(4, -8))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("arithmetic intensity (MACs per DRAM byte)")
    ax.set_ylabel("achieved MACs per cycle")
    ax.set_title(title)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=110)
        plt.close(fig)
    return fig
