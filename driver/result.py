"""What a device run reports: :class:`RunResult`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from vta.hw.regmap import COUNTERS

if TYPE_CHECKING:
    from vta.hw.config import VTAConfig

__all__ = ["RunResult", "SimStats"]


@dataclass
class SimStats:
    """What a simulating backend adds to a run (``RunResult.stats``): the cycles it
    simulated (register traffic and done polling included) and the wall time spent."""

    sim_cycles: int
    sim_seconds: float

    @property
    def cycles_per_second(self) -> float:
        """Simulated cycles per wall-clock second."""
        return self.sim_cycles / self.sim_seconds if self.sim_seconds > 0 else 0.0


@dataclass
class RunResult:
    """The outcome of one :meth:`Device.run`.

    Members
    -------
    kind:
        The backend that ran (``fsim``, ``pysim``, ``verilator``, ``pynq``).
    insn_count:
        Instructions handed to the device.
    cycles:
        Accelerator cycles from start to done, or ``None`` for an untimed backend (fsim).
    counters:
        Performance counters by their :mod:`vta.hw.regmap` names (``GEMM_UOPS``,
        ``DMA_RD_BYTES``, ...); a backend reports the ones it knows.
    wall_time:
        Host seconds the run took.
    stats:
        Backend extras (e.g. :class:`vta.sim.fsim.FsimStats`), or ``None``.
    macs:
        Useful (non-reset) multiply-accumulates, where the backend knows them.
    """

    kind: str
    insn_count: int
    cycles: int | None
    counters: dict[str, int] = field(default_factory=dict)
    wall_time: float = 0.0
    stats: Any = None
    macs: int | None = None

    @classmethod
    def combine(cls, results: list[RunResult]) -> RunResult:
        """One result summing several runs (e.g. a runtime's automatic synchronisations).

        Counters, instructions, wall time and MACs add up; cycles add up when every run
        was timed (else ``None``); ``stats`` is the list of the runs' stats.
        """
        if not results:
            raise ValueError("combine needs at least one result")
        if len(results) == 1:
            return results[0]
        counters: dict[str, int] = {}
        for r in results:
            for k, v in r.counters.items():
                counters[k] = counters.get(k, 0) + v
        cycles = None if any(r.cycles is None for r in results) else \
            sum(r.cycles for r in results)  # type: ignore[misc]
        macs = None if any(r.macs is None for r in results) else \
            sum(r.macs for r in results)  # type: ignore[misc]
        return cls(results[0].kind, sum(r.insn_count for r in results), cycles, counters,
                   sum(r.wall_time for r in results), [r.stats for r in results], macs)

    def gemm_utilization(self, config: VTAConfig) -> float | None:
        """Useful MACs / (cycles x peak MACs per cycle); ``None`` where cycles are unknown.

        Useful MACs are :attr:`macs` when the backend reports them, otherwise every GEMM
        uop (reset uops included, so an upper bound) times ``config.macs_per_cycle``.
        """
        if not self.cycles:
            return None
        macs = self.macs
        if macs is None:
            macs = self.counters.get("GEMM_UOPS", 0) * config.macs_per_cycle
        return macs / (self.cycles * config.macs_per_cycle)

    def table(self) -> str:
        """A readable two-column text table of the run."""
        rows = [("device", self.kind), ("instructions", str(self.insn_count)),
                ("cycles", "n/a (untimed)" if self.cycles is None else str(self.cycles)),
                ("wall time", f"{self.wall_time * 1e3:.3f} ms")]
        if self.macs is not None:
            rows.append(("MACs", str(self.macs)))
        names = [n for n in COUNTERS if n in self.counters]
        names += sorted(n for n in self.counters if n not in COUNTERS)
        rows += [(name, str(self.counters[name])) for name in names]
        width = max(len(name) for name, _ in rows)
        return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)
