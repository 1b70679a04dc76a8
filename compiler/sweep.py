"""Design-space sweeps: how a hardware configuration would run a workload, before building it.

A sweep takes configurations (usually variations of a preset: GEMM block, buffer sizes,
DRAM latency, bus width) and, for each, lets the kernel compiler schedule every ResNet-18
convolution C2-C11 (SPEC section 8) with its cost model: cycles, GEMM utilization, DRAM
traffic, instructions and the time per image at the config's clock.  The estimate is the
one the scheduler optimises; ``vta bench resnet18-layers --device verilator --config FILE``
checks it against the cycle-accurate simulator for any point worth building.

``vta bench sweep`` prints the table and can plot it; ``notebooks/design_sweep.ipynb``
does the same interactively.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vta.hw.config import VTAConfig
from vta.hw.errors import ConfigError, VTAError

from .cost_model import estimate
from .epilogue import Epilogue
from .errors import ScheduleError
from .search import schedule_conv2d
from .workload import RESNET18_CONVS, resnet18_workload

__all__ = ["SweepPoint", "sweep", "variants", "plot", "REQUANT", "C2_C11", "format_table"]

REQUANT = Epilogue(bias=True, shift=8, clip=(0, 127))
"""The requantization every ResNet-18 convolution ends with: + bias, >> shift, clip."""

C2_C11 = tuple(f"C{i}" for i in range(2, 12))


@dataclass(frozen=True)
class SweepPoint:
    """The estimate of one configuration on a set of layers (``fits`` False: no tiling)."""

    config: VTAConfig
    label: str
    layers: tuple[str, ...]
    macs: int
    cycles: int
    dram_bytes: int
    instructions: int
    fits: bool
    note: str = ""

    @property
    def utilization(self) -> float:
        """Useful MACs / (cycles x peak MACs per cycle)."""
        if not self.fits or not self.cycles:
            return 0.0
        return self.macs / (self.cycles * self.config.macs_per_cycle)

    @property
    def milliseconds(self) -> float:
        """Time of the layers at the config's clock."""
        return self.cycles / (self.config.CLOCK_MHZ * 1e3)

    @property
    def sram_kib(self) -> int:
        c = self.config
        return (c.uop_buff_size + c.inp_buff_size + c.wgt_buff_size + c.acc_buff_size
                + c.out_buff_size) // 1024


def variants(base: VTAConfig | str = "default", *,
             rejected: list[tuple[str, str]] | None = None,
             **axes: Sequence[Any]) -> list[VTAConfig]:
    """Every combination of ``axes`` (config keys -> values) applied to ``base``.

    Combinations the config rejects (e.g. fields that no longer fit the instruction word)
    are left out and, when ``rejected`` is a list, appended to it as ``(changes, reason)``;
    an unknown key is an error naming it.
    """
    cfg = VTAConfig.load(base)
    known = set(cfg.to_dict())
    for key in axes:
        if key not in known:
            raise ConfigError(f"unknown config key {key!r} in a sweep; known keys are "
                              f"{', '.join(sorted(known))}")
    keys = list(axes)
    out = []
    for values in itertools.product(*(axes[k] for k in keys)):
        changes = dict(zip(keys, values, strict=True))
        try:
            out.append(cfg.replace(**changes))
        except ConfigError as e:
            if rejected is not None:
                rejected.append((",".join(f"{k}={v}" for k, v in changes.items()), str(e)))
    return out


def _label(cfg: VTAConfig, base: VTAConfig | None) -> str:
    if base is None:
        return cfg.name
    changed = [f"{k}={v}" for k, v in cfg.to_dict().items() if getattr(base, k) != v]
    return ",".join(changed) or "base"


def sweep(configs: Iterable[VTAConfig], layers: Sequence[str] = C2_C11, *,
          epilogue: Epilogue = REQUANT, base: VTAConfig | None = None,
          progress: Any = None) -> list[SweepPoint]:
    """Schedule ``layers`` on each configuration and return one :class:`SweepPoint` each.

    ``progress`` is an optional callable taking each finished point (e.g. a bar update).
    """
    for name in layers:
        if name not in RESNET18_CONVS:
            raise VTAError(f"unknown ResNet-18 layer {name!r}; expected C1..C11")
    points = []
    for cfg in configs:
        macs = cycles = dram = insns = 0
        note, fits = "", True
        for name in layers:
            w = resnet18_workload(name)
            try:
                est = estimate(w, schedule_conv2d(w, cfg, epilogue), cfg, epilogue)
            except ScheduleError as e:
                fits, note = False, f"{name}: {e}"
                break
            macs += w.macs
            cycles += est.cycles
            dram += est.dram_bytes
            insns += est.instructions
        point = SweepPoint(cfg, _label(cfg, base), tuple(layers), macs, cycles, dram, insns,
                           fits, note)
        points.append(point)
        if progress is not None:
            progress(point)
    return points


def format_table(points: Sequence[SweepPoint]) -> str:
    """A readable table of a sweep, best utilization first."""
    width = max([len("config")] + [len(p.label) for p in points]) + 2
    head = (f"{'config':<{width}}{'MAC/cyc':>8}{'SRAM KiB':>9}{'cycles':>12}{'util':>7}"
            f"{'ms@clk':>8}{'DRAM MB':>9}{'insns':>8}")
    rows = [head, "-" * len(head)]
    for p in sorted(points, key=lambda p: -p.utilization):
        if not p.fits:
            rows.append(f"{p.label:<{width}}{p.config.macs_per_cycle:>8}{p.sram_kib:>9}"
                        f"  does not fit ({p.note})")
            continue
        rows.append(f"{p.label:<{width}}{p.config.macs_per_cycle:>8}{p.sram_kib:>9}"
                    f"{p.cycles:>12,}{p.utilization:>7.3f}{p.milliseconds:>8.2f}"
                    f"{p.dram_bytes / 1e6:>9.1f}{p.instructions:>8,}")
    return "\n".join(rows)


def plot(points: Sequence[SweepPoint], path: str | Path | None = None) -> Any:
    """Utilization and time per image of each point, as a matplotlib figure.

    Written to ``path`` (PNG, SVG, PDF by suffix) when given.  Needs matplotlib (the dev
    extra); its absence is a one-line error.
    """
    try:
        import matplotlib

        if path is not None:
            matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise VTAError("plotting needs matplotlib: pip install matplotlib") from None
    pts = [p for p in points if p.fits]
    if not pts:
        raise VTAError("no configuration in the sweep fits the workload: nothing to plot")
    fig, (ax_u, ax_t) = plt.subplots(1, 2, figsize=(11, 0.35 * len(pts) + 1.8),
                                     sharey=True)
    labels = [p.label for p in pts]
    ax_u.barh(labels, [p.utilization for p in pts], color="tab:blue")
    ax_u.set_xlabel("GEMM utilization (estimated)")
    ax_u.set_xlim(0, 1)
    ax_t.barh(labels, [p.milliseconds for p in pts], color="tab:orange")
    ax_t.set_xlabel(f"ms for {pts[0].layers[0]}-{pts[0].layers[-1]} at the config clock")
    fig.suptitle("VTA design sweep: ResNet-18 convolutions")
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=110)
        plt.close(fig)
    return fig
