"""A window of a VCD waveform as a picture: chosen signals against clock cycles.

:func:`read_vcd` reads the value changes of the signals whose hierarchical names end with
the given suffixes (``load.busy``, ``status``) from a VCD file such as the Amaranth
simulator (``open_device("pysim", vcd=...)``) or a tracing Verilator model writes;
:func:`plot_waveform` draws cycles ``[start, stop)`` of them, one lane each (1-bit signals
as steps, wider ones as hex values).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vta.hw.errors import VTAError

__all__ = ["Waveform", "read_vcd", "plot_waveform"]


class Waveform:
    """Value changes of some signals: ``changes[name] = [(time, value), ...]``, the clock
    period in VCD time units, and each signal's width."""

    def __init__(self, changes: dict[str, list[tuple[int, int]]], widths: dict[str, int],
                 period: int) -> None:
        self.changes = changes
        self.widths = widths
        self.period = period

    def value_at(self, name: str, time: int) -> int:
        value = 0
        for t, v in self.changes[name]:
            if t > time:
                break
            value = v
        return value


def read_vcd(path: str | Path, signals: Sequence[str], clock: str = "clk") -> Waveform:
    """The signals of ``path`` whose full names end with each of ``signals`` (the first
    match each), and the clock period measured on the signal named ``clock``."""
    try:
        text = Path(path).read_text()
    except OSError as e:
        raise VTAError(f"cannot read waveform {path}: {e.strerror}") from None
    scope: list[str] = []
    ids: dict[str, list[str]] = {}
    widths: dict[str, int] = {}
    lines = iter(text.splitlines())
    for line in lines:
        words = line.split()
        if not words:
            continue
        if words[0] == "$scope":
            scope.append(words[2])
        elif words[0] == "$upscope":
            scope.pop()
        elif words[0] == "$var":
            name = ".".join([*scope, words[4]])
            ids.setdefault(words[3], []).append(name)
            widths[name] = int(words[2])
        elif words[0] == "$enddefinitions":
            break
    wanted: dict[str, str] = {}        # full name -> requested suffix
    for suffix in [*signals, clock]:
        match = next((n for names in ids.values() for n in names
                      if n == suffix or n.endswith("." + suffix)), None)
        if match is None:
            raise VTAError(f"no signal ending in {suffix!r} in {path}")
        wanted[match] = suffix
    by_id = {code: [n for n in names if n in wanted] for code, names in ids.items()}
    changes: dict[str, list[tuple[int, int]]] = {s: [] for s in wanted.values()}
    time = 0
    for line in lines:
        if not line:
            continue
        head = line[0]
        if head == "#":
            time = int(line[1:])
            continue
        if head in "01xzXZ":
            value, code = (1 if head == "1" else 0), line[1:].strip()
        elif head in "bB":
            bits, code = line[1:].split()
            value = int(bits.replace("x", "0").replace("z", "0"), 2)
        else:
            continue
        for name in by_id.get(code, ()):
            changes[wanted[name]].append((time, value))
    rises = [t for t, v in changes[clock] if v == 1]
    period = rises[1] - rises[0] if len(rises) > 1 else 1
    out_widths = {wanted[n]: widths[n] for n in wanted}
    return Waveform(changes, out_widths, period)


def plot_waveform(wave: Waveform, signals: Sequence[str], start: int, stop: int,
                  path: str | Path | None = None, *, title: str = "") -> Any:
    """Cycles ``[start, stop)`` of ``signals`` (names as given to :func:`read_vcd`)."""
    try:
        import matplotlib

        if path is not None:
            matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise VTAError("plotting needs matplotlib: pip install matplotlib") from None
    if stop <= start:
        raise VTAError(f"an empty window: cycles {start}..{stop}")
    first = min((t for t, _ in wave.changes[signals[0]]), default=0)
    fig, ax = plt.subplots(figsize=(11, 0.55 * len(signals) + 1.2))
    cycles = list(range(start, stop + 1))
    for i, name in enumerate(signals):
        y = len(signals) - 1 - i
        values = [wave.value_at(name, first + c * wave.period) for c in cycles]
        if wave.widths[name] == 1:
            ax.step(cycles, [y + 0.7 * v for v in values], where="post", color="tab:blue")
        else:
            ax.plot(cycles, [y + 0.35] * len(cycles), color="tab:gray", lw=0.5)
            last = None
            for c, v in zip(cycles[:-1], values[:-1], strict=True):
                if v != last:
                    ax.axvline(c, ymin=0, ymax=1, color="0.85", lw=0.5)
                    ax.text(c + 0.2, y + 0.3, f"{v:x}", fontsize=7)
                    last = v
    ax.set_yticks([len(signals) - 1 - i + 0.35 for i in range(len(signals))], signals)
    ax.set_xlabel("cycle")
    ax.set_xlim(start, stop)
    ax.set_title(title or f"cycles {start}..{stop}", fontsize=10)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=110)
        plt.close(fig)
    return fig
