"""Turning stored results into design points: figures, the Pareto front, table, CSV, plot.

A :class:`DesignPoint` joins a configuration's rows -- the estimate and the cycle-accurate
run of a workload, the resources on a board's part -- into the figures a hardware designer
compares: cycles (measured where Verilator ran, else estimated), GEMM utilization, DRAM
bytes, latency of the workload per image at the config's clock, GOPS, LUT/FF/BRAM/DSP and
the fits verdict, GOPS per DSP, and the cost model's error against Verilator.

:func:`pareto_front` marks the points no other point beats on every objective (all
minimised; default latency against LUT, BRAM and DSP) among those that ran and fit.
"""

from __future__ import annotations

import csv
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from vta.hw.config import VTAConfig
from vta.hw.errors import VTAError

__all__ = ["DesignPoint", "design_points", "pareto_front", "format_table", "write_csv",
           "format_errors",
           "plot_front", "model_error", "OBJECTIVES", "DEFAULT_OBJECTIVES"]

OBJECTIVES = ("latency_ms", "cycles", "lut", "ff", "bram36", "dsp", "dram_mb", "sram_kib",
              "macs_per_cycle")
"""Fields :func:`pareto_front` can minimise (``latency`` is accepted for ``latency_ms``)."""
DEFAULT_OBJECTIVES = ("latency_ms", "lut", "bram36", "dsp")


@dataclass
class DesignPoint:
    """One configuration, workload and board with every figure the database holds."""

    label: str
    board: str
    workload: str
    config_digest: str
    config: dict[str, Any]
    status: str = "ok"
    reason: str = ""
    est_cycles: int | None = None
    cycles: int | None = None           # measured by Verilator
    macs: int | None = None
    dram_bytes: int | None = None
    lut: int | None = None
    ff: int | None = None
    bram36: float | None = None
    dsp: int | None = None
    fits: bool | None = None
    verdict: str = ""
    err_median: float | None = None
    err_max: float | None = None
    layer_errors: dict[str, float] = field(default_factory=dict)
    pareto: bool = False

    @property
    def vta_config(self) -> VTAConfig:
        return VTAConfig.from_dict(self.config)

    @property
    def best_cycles(self) -> int | None:
        """Measured cycles where Verilator ran, else the estimate."""
        return self.cycles if self.cycles else self.est_cycles

    @property
    def clock_mhz(self) -> int:
        return int(self.config["CLOCK_MHZ"])

    @property
    def latency_ms(self) -> float | None:
        """The workload's time per image at the config's clock."""
        c = self.best_cycles
        return c / (self.clock_mhz * 1e3) if c else None

    @property
    def utilization(self) -> float | None:
        c = self.best_cycles
        if not c or not self.macs:
            return None
        return self.macs / (c * self.vta_config.macs_per_cycle)

    @property
    def gops(self) -> float | None:
        """Useful int8 operations (2 per MAC) per second, in billions."""
        lat = self.latency_ms
        return 2 * self.macs / (lat * 1e-3) / 1e9 if lat and self.macs else None

    @property
    def gops_per_dsp(self) -> float | None:
        g = self.gops
        return g / self.dsp if g is not None and self.dsp else None

    @property
    def dram_mb(self) -> float | None:
        return self.dram_bytes / 1e6 if self.dram_bytes is not None else None

    @property
    def sram_kib(self) -> int:
        c = self.vta_config
        return (c.uop_buff_size + c.inp_buff_size + c.wgt_buff_size + c.acc_buff_size
                + c.out_buff_size) // 1024

    @property
    def macs_per_cycle(self) -> int:
        return self.vta_config.macs_per_cycle

    def value(self, name: str) -> float | None:
        v = getattr(self, name)
        return None if v is None else float(v)

    def as_row(self) -> dict[str, Any]:
        """Every figure as a flat dict (the CSV columns)."""
        d = {k: v for k, v in asdict(self).items() if k not in ("config", "layer_errors")}
        for name in ("latency_ms", "utilization", "gops", "gops_per_dsp", "dram_mb",
                     "sram_kib", "macs_per_cycle", "clock_mhz"):
            d[name] = getattr(self, name)
        d.update({f"cfg_{k}": v for k, v in self.config.items()})
        return d


def design_points(rows: Sequence[dict[str, Any]]) -> list[DesignPoint]:
    """Join result rows into points: one per (config, workload, board); the newest row of
    each level wins."""
    by_config: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for row in rows:
        by_config.setdefault(row["config_digest"], {}).setdefault(row["level"], []).append(row)
    points: list[DesignPoint] = []
    for digest, levels in by_config.items():
        res_rows = {r["board"]: r for r in levels.get("resources", [])}
        work_rows: dict[str, dict[str, dict[str, Any]]] = {}
        for level in ("estimate", "cycles"):
            for r in levels.get(level, []):
                work_rows.setdefault(r["workload"], {})[level] = r
        any_row = next(iter(res_rows.values()), None) or next(
            r for lv in work_rows.values() for r in lv.values())
        boards = list(res_rows) or [any_row["board"]]
        workloads = list(work_rows) or [""]
        for board in boards:
            for workload in workloads:
                got = dict(work_rows.get(workload, {}))
                if board in res_rows:
                    got["resources"] = res_rows[board]
                points.append(_point(digest, board, workload, got))
    return points


def _point(digest: str, board: str, workload: str, got: dict[str, dict[str, Any]]
           ) -> DesignPoint:
    first = next(iter(got.values()))
    p = DesignPoint(first["label"], board, workload.split("@")[0], digest, first["config"])
    reasons = [f"{lv}: {r['reason']}" for lv, r in got.items() if r["status"] == "failed"]
    if reasons:
        p.status, p.reason = "failed", "; ".join(reasons)
    est = got.get("estimate", {}).get("metrics") or {}
    cyc = got.get("cycles", {}).get("metrics") or {}
    res = got.get("resources", {}).get("metrics") or {}
    p.est_cycles = est.get("cycles")
    p.macs = est.get("macs") or cyc.get("macs")
    p.dram_bytes = cyc.get("dram_bytes") or est.get("dram_bytes")
    p.cycles = cyc.get("cycles")
    if cyc:
        p.err_median, p.err_max = cyc.get("err_median"), cyc.get("err_max")
        p.layer_errors = {name: (m["est_cycles"] - m["cycles"]) / m["cycles"]
                          for name, m in cyc.get("layers", {}).items() if m.get("cycles")}
    if res:
        p.lut, p.ff, p.bram36, p.dsp = res["lut"], res["ff"], res["bram36"], res["dsp"]
        p.fits, p.verdict = bool(res["fits"]), res["verdict"]
    return p


def _objective(name: str) -> str:
    name = {"latency": "latency_ms", "bram": "bram36"}.get(name.strip().lower(),
                                                           name.strip().lower())
    if name not in OBJECTIVES:
        raise VTAError(f"unknown Pareto objective {name!r}; objectives are "
                       f"latency, {', '.join(OBJECTIVES[1:])}")
    return name


def pareto_front(points: Sequence[DesignPoint],
                 objectives: Sequence[str] = DEFAULT_OBJECTIVES) -> list[DesignPoint]:
    """Mark and return the points on the Pareto front of ``objectives`` (minimised).

    Candidates are points that ran without failure, have every objective, and fit their
    part when resources are known.  Objectives no candidate has are left out (e.g. LUTs
    when the sweep ran no ``resources`` level).
    """
    names = [_objective(o) for o in objectives]
    for p in points:
        p.pareto = False
    cands = [p for p in points if p.status == "ok" and p.fits is not False
             and p.latency_ms is not None]
    names = [n for n in names if any(p.value(n) is not None for p in cands)]
    if not names:
        return []
    cands = [p for p in cands if all(p.value(n) is not None for n in names)]
    front = []
    for p in cands:
        pv = [p.value(n) for n in names]
        dominated = any(
            all(qv <= v for qv, v in zip(q_vals, pv, strict=True))
            and any(qv < v for qv, v in zip(q_vals, pv, strict=True))
            for q in cands if q is not p
            for q_vals in [[q.value(n) for n in names]])
        if not dominated:
            p.pareto = True
            front.append(p)
    return front


def model_error(points: Sequence[DesignPoint]) -> dict[str, Any] | None:
    """The cost model's per-layer error against Verilator over every point that has both:
    median and max of |estimate - measured| / measured, and the worst (point, layer)."""
    errs = [(abs(e), p, layer) for p in points for layer, e in p.layer_errors.items()]
    if not errs:
        return None
    worst = max(errs, key=lambda t: t[0])
    return {"layers": len(errs), "points": len({id(p) for _, p, _ in errs}),
            "median": statistics.median(e for e, _, _ in errs), "max": worst[0],
            "worst": f"{worst[1].label} {worst[2]}"}


def format_errors(points: Sequence[DesignPoint]) -> str:
    """Per layer, the cost model's signed error against Verilator over the points that
    have both (median, min, max, and the point of the largest miss)."""
    by_layer: dict[str, list[tuple[float, DesignPoint]]] = {}
    for p in points:
        for layer, e in p.layer_errors.items():
            by_layer.setdefault(layer, []).append((e, p))
    if not by_layer:
        return "no point has both an estimate and a Verilator measurement"
    head = f"{'layer':<8}{'points':>7}{'median':>9}{'min':>8}{'max':>8}  largest miss at"
    lines = [head, "-" * len(head)]
    for layer, errs in by_layer.items():
        values = sorted(e for e, _ in errs)
        worst = max(errs, key=lambda t: abs(t[0]))
        lines.append(f"{layer:<8}{len(values):>7}{statistics.median(values):>+9.1%}"
                     f"{values[0]:>+8.1%}{values[-1]:>+8.1%}  {worst[1].label}")
    lines.append("error = (estimate - measured) / measured; negative: the model is "
                 "optimistic")
    return "\n".join(lines)


def _fmt(v: Any, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def format_table(points: Sequence[DesignPoint]) -> str:
    """The points as text, fastest first; ``*`` marks the Pareto front."""
    width = max([len("config")] + [len(p.label) for p in points]) + 2
    head = (f"  {'config':<{width}}{'board':<10}{'est.cyc':>11}{'cycles':>11}{'err':>6}"
            f"{'util':>6}{'ms':>8}{'GOPS':>7}{'LUT':>7}{'BRAM':>7}{'DSP':>5}{'GOPS/DSP':>9}"
            f"  fits")
    lines = [head, "-" * len(head)]

    def order(p: DesignPoint) -> tuple:
        return (p.status != "ok", p.latency_ms if p.latency_ms is not None else 1e30)

    for p in sorted(points, key=order):
        mark = "*" if p.pareto else " "
        if p.status != "ok" and p.best_cycles is None and p.lut is None:
            lines.append(f"{mark} {p.label:<{width}}{p.board:<10}failed: {p.reason}")
            continue
        fits = "-" if p.fits is None else ("yes" if p.fits else "NO")
        err = None if p.err_median is None else 100 * p.err_max
        lines.append(
            f"{mark} {p.label:<{width}}{p.board:<10}{_fmt(p.est_cycles, ',d'):>11}"
            f"{_fmt(p.cycles, ',d'):>11}{_fmt(err, '.1f'):>6}{_fmt(p.utilization, '.3f'):>6}"
            f"{_fmt(p.latency_ms, '.3f'):>8}{_fmt(p.gops, '.1f'):>7}{_fmt(p.lut, 'd'):>7}"
            f"{_fmt(p.bram36, 'g'):>7}{_fmt(p.dsp, 'd'):>5}{_fmt(p.gops_per_dsp, '.3f'):>9}"
            f"  {fits}" + (f"  ({p.reason})" if p.status != "ok" else ""))
    lines.append("err: the cost model's worst layer error against Verilator, %; "
                 "* on the Pareto front")
    return "\n".join(lines)


def write_csv(points: Sequence[DesignPoint], path: str | Path) -> Path:
    """Every point's figures (and config keys) as CSV."""
    path = Path(path)
    rows = [p.as_row() for p in points]
    names = list(rows[0]) if rows else ["label"]
    try:
        with open(path, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=names)
            w.writeheader()
            w.writerows(rows)
    except OSError as e:
        raise VTAError(f"cannot write {path}: {e.strerror}") from None
    return path


def plot_front(points: Sequence[DesignPoint], path: str | Path | None = None, *,
               x: str | None = None) -> Any:
    """Latency against a resource (``x``: default DSP, else the SRAM size when no
    resources ran), every point grey, the Pareto front in colour (a staircase through
    the points that are optimal on these two axes alone), points that do not fit crossed.
    Written to ``path`` when given; returns the figure."""
    try:
        import matplotlib

        if path is not None:
            matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise VTAError("plotting needs matplotlib: pip install matplotlib") from None
    ran = [p for p in points if p.latency_ms is not None]
    if not ran:
        raise VTAError("no point of the sweep has a latency: nothing to plot")
    if x is None:
        x = "dsp" if any(p.dsp is not None for p in ran) else "sram_kib"
    x = _objective(x)
    ran = [p for p in ran if p.value(x) is not None]
    if not ran:
        raise VTAError(f"no point has {x}: nothing to plot against it")
    front = sorted((p for p in ran if p.pareto), key=lambda p: p.value(x))
    fig, ax = plt.subplots(figsize=(8, 5))
    ok = [p for p in ran if p.fits is not False]
    bad = [p for p in ran if p.fits is False]
    ax.scatter([p.value(x) for p in ok], [p.latency_ms for p in ok], color="0.6",
               label="design points")
    if bad:
        ax.scatter([p.value(x) for p in bad], [p.latency_ms for p in bad], marker="x",
                   color="tab:red", label="does not fit the part")
    if front:
        ax.scatter([p.value(x) for p in front], [p.latency_ms for p in front],
                   color="tab:blue", zorder=3, label="Pareto front (all objectives)")
        # The staircase of the points no other beats on these two axes alone.
        flat = [p for p in front if not any(
            q.value(x) <= p.value(x) and q.latency_ms <= p.latency_ms
            and (q.value(x), q.latency_ms) != (p.value(x), p.latency_ms) for q in front)]
        ax.step([p.value(x) for p in flat], [p.latency_ms for p in flat], where="post",
                color="tab:blue", lw=1)
        for p in front:
            ax.annotate(p.label, (p.value(x), p.latency_ms), fontsize=7,
                        textcoords="offset points", xytext=(4, 4))
    ax.set_xlabel({"dsp": "DSP blocks", "lut": "LUTs", "bram36": "BRAM36 blocks",
                   "sram_kib": "on-chip SRAM (KiB)"}.get(x, x))
    ax.set_ylabel("latency per image (ms, at the config clock)")
    ax.set_title(f"VTA design space: {ran[0].workload or 'workload'}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=110)
        plt.close(fig)
    return fig
