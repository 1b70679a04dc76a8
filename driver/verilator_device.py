"""The ``verilator`` backend: the cycle-accurate simulator of the generated Verilog.

The device builds (or finds in the cache) the Verilated ``vta_top`` of its configuration
with :mod:`vta.sim.verilator`, serves a :class:`~vta.sim.dram.Dram` to its AXI master in
place, and runs programs with the register protocol of :class:`RegisterDevice`; waiting for
done happens inside C (:meth:`VerilatorModel.run_until_done`), in slices of
about 50 ms of simulation (:mod:`.sim_slices`, at most ``slice_cycles``) so the wall-clock
timeout is honoured within a fraction of a second, up to the run's cycle limit
(``max_cycles``, default derived from each program).  Invalid programs raise the
:class:`~.errors.DeviceProgramError` fsim raises, read from the hardware's error
registers; DRAM accesses outside the memory are answered with AXI error responses, which
the hardware flags.  ``RunResult.cycles`` is the hardware's CYCLES counter;
``RunResult.stats`` is a :class:`VerilatorStats`.

Inside :meth:`VerilatorDevice.recording` every run also samples the performance counters
every ``window`` cycles (:mod:`vta.sim.verilator.counter_sampler`) and adds its windows to
a :class:`~vta.sim.timeline.Timeline`: when each module was busy, waiting on a token or
idle, written as Chrome/Perfetto trace JSON.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vta.hw.config import VTAConfig
from vta.hw.errors import VTAError
from vta.sim.dram import Dram
from vta.sim.timeline import RunTimeline, Timeline, windows_from_samples

from .errors import DeviceError
from .register_device import RegisterDevice, check_max_cycles
from .result import RunResult, SimStats
from .sim_slices import SliceSizer

__all__ = ["VerilatorDevice", "VerilatorStats", "open_device"]


@dataclass
class VerilatorStats(SimStats):
    """Simulator extras of one run (:class:`~.result.SimStats`, ``sim_seconds`` being the
    wall time spent in the C run loop) plus ``cpu_seconds``, the CPU time of that loop
    (the speed on an otherwise idle core), and ``dram``, the DRAM model's traffic
    counters (bytes, bursts, beats, stall cycles).
    """

    dram: dict[str, int] = field(default_factory=dict)
    cpu_seconds: float = 0.0
    cycles: int = 0
    counters: dict[str, int] = field(default_factory=dict)
    config: VTAConfig | None = None

    def dma_bandwidth(self) -> float:
        """DMA bytes (read + written) per accelerator cycle."""
        total = self.counters.get("DMA_RD_BYTES", 0) + self.counters.get("DMA_WR_BYTES", 0)
        return total / self.cycles if self.cycles else 0.0

    def table(self) -> str:
        """Counters with the derived figures: busy shares, GEMM utilization, DMA bandwidth,
        time at the configured clock, simulation speed."""
        from vta.sim.verilator.model import SimRun

        return SimRun(self.cycles, self.sim_cycles, self.counters, self.dram,
                      self.sim_seconds, self.config).table()

    @property
    def cycles_per_cpu_second(self) -> float:
        """Simulated cycles per CPU second (unaffected by other load on the machine)."""
        return self.sim_cycles / self.cpu_seconds if self.cpu_seconds > 0 else 0.0


class VerilatorDevice(RegisterDevice):
    """``vta_top`` compiled by Verilator, behind the Device protocol.

    Parameters
    ----------
    config:
        Hardware configuration (the Verilog is generated and built for it once, then cached).
    dram_bytes:
        Size of the simulated DRAM (allocated lazily by the OS).
    dram:
        An existing :class:`~vta.sim.dram.Dram` to serve instead.
    timing:
        A :class:`vta.sim.verilator.DramTiming`; the board defaults of ``config`` if omitted.
    trace:
        ``"vcd"`` or ``"fst"`` to build a tracing model (see :meth:`trace`).
    verilog:
        Simulate this Verilog file instead of generating ``vta_top`` for ``config``.
    progress:
        Show progress bars while building.
    max_cycles:
        Simulated cycles after which a run counts as hung: ``"auto"`` (default) derives
        them from each program (:func:`~.cycle_budget.cycle_budget`), ``None`` leaves
        only the wall-clock timeout.

    Raises
    ------
    DeviceError
        When the simulator cannot be built (missing compiler, make or Verilator; a build
        error), with the build's one-line reason.
    """

    kind = "verilator"
    clock = staticmethod(time.thread_time)     # the timeout counts simulator CPU seconds
    clock_name = "s of simulator CPU time"
    timed = True
    slice_cycles = 1 << 21

    def __init__(self, config: VTAConfig, *, dram_bytes: int = 256 << 20,
                 dram: Dram | None = None, timing: Any = None, trace: str | None = None,
                 verilog: str | Path | None = None, progress: bool = True,
                 max_cycles: int | str | None = "auto") -> None:
        super().__init__(config)
        self.max_cycles = check_max_cycles(max_cycles)
        self._slices = SliceSizer(self.slice_cycles, 1 << 12, 1e6)
        self._timeline: Timeline | None = None
        self._samples: list[tuple[int, dict[str, int]]] = []
        from vta.sim.verilator import build_for_config, build_library
        from vta.sim.verilator.model import VerilatorModel

        try:
            if verilog is not None:
                self.built = build_library(Path(verilog), trace=trace, progress=progress)
            else:
                self.built = build_for_config(config, trace=trace, progress=progress)
            if self.built.bus_bytes * 8 != config.BUS_WIDTH:
                raise DeviceError(f"the Verilog's bus is {self.built.bus_bytes * 8} bits but "
                                  f"config {config.name} has BUS_WIDTH={config.BUS_WIDTH}")
            self.memory = dram if dram is not None else Dram(dram_bytes)
            self.model = VerilatorModel(self.built, self.memory, timing=timing, config=config)
        except DeviceError:
            raise
        except VTAError as e:
            raise DeviceError(f"verilator backend unavailable: {e}") from None

    # ------------------------------------------------------------------ registers
    def read_reg(self, offset: int) -> int:
        self._check_open()
        try:
            return self.model.read_reg(offset)
        except VTAError as e:
            raise DeviceError(f"verilator: {e}") from None

    def write_reg(self, offset: int, value: int) -> None:
        self._check_open()
        if not isinstance(value, int) or not 0 <= value < 1 << 32:
            raise DeviceError(f"register value must be a 32-bit unsigned integer, "
                              f"not {value!r}")
        try:
            self.model.write_reg(offset, value)
        except VTAError as e:
            raise DeviceError(f"verilator: {e}") from None

    # ------------------------------------------------------------------ running
    @contextlib.contextmanager
    def recording(self, timeline: Timeline | None = None, *, window: int = 256,
                  label: str = "run") -> Iterator[Timeline]:
        """Record a timeline of every run inside the ``with`` block.

        Runs are labelled with ``timeline.label`` (``label`` at first; a caller such as a
        compiled model sets it per layer).  The counters are sampled every ``window``
        cycles; the runs' cycle counts are unchanged.
        """
        self._check_open()
        tl = timeline if timeline is not None else Timeline.for_config(
            self.config, name=f"VTA {self.config.name} (verilator)", window=window)
        tl.label = label if timeline is None else tl.label
        saved = self._timeline
        self._timeline = tl
        try:
            yield tl
        finally:
            self._timeline = saved

    def _wait_done(self, deadline: float | None, max_cycles: int | None = None) -> bool:
        t0, c0 = time.perf_counter(), time.thread_time()
        stop = None if max_cycles is None else self.model.cycle + max_cycles
        slices = self._slices
        slices.cap = self.slice_cycles
        try:
            while True:
                n = slices.next(deadline)
                if stop is not None:
                    n = min(n, stop - self.model.cycle)
                    if n <= 0:
                        return False
                before = self.model.cycle
                if self._timeline is not None:
                    from vta.sim.verilator.counter_sampler import sample_until_done

                    done = sample_until_done(self.model, self._timeline.window, n,
                                             self._samples)
                else:
                    done = self.model.run_until_done(n)
                slices.ran(self.model.cycle - before)
                if done:
                    return True
                if deadline is not None and self.clock() > deadline:
                    return False
        except VTAError as e:
            self.model.reset()          # a protocol error leaves the bus mid-burst
            raise DeviceError(f"verilator: {e}; the simulated hardware was reset") from None
        finally:
            self._sim_seconds = time.perf_counter() - t0
            self._cpu_seconds = time.thread_time() - c0

    def _run(self, insn_addr: int, insn_count: int, timeout: float | None) -> RunResult:
        self.model.clear_dram_stats()
        begin = self.model.cycle
        self._sim_seconds = self._cpu_seconds = 0.0
        self._samples = []
        result = super()._run(insn_addr, insn_count, timeout)
        if self._timeline is not None:
            cycles = result.cycles or 0
            self._timeline.add(RunTimeline(
                self._timeline.label, cycles,
                windows_from_samples(self._samples, cycles, result.counters),
                dict(result.counters)))
        result.stats = VerilatorStats(self.model.cycle - begin, self._sim_seconds,
                                      self.model.dram_stats(), self._cpu_seconds,
                                      result.cycles or 0, dict(result.counters), self.config)
        return result

    def reset(self) -> None:
        """Reset the simulated hardware (its SRAMs keep their contents, as on a board;
        memory and buffers are kept)."""
        self._check_open()
        self.model.reset()

    def trace(self, path: str | Path, start: int = 0, stop: int = 1 << 62) -> None:
        """Dump simulated cycles ``[start, stop)`` (see ``self.model.cycle``) to ``path``.

        Needs a device opened with ``trace="vcd"`` or ``"fst"``.
        """
        try:
            self.model.trace(path, start, stop)
        except VTAError as e:
            raise DeviceError(f"verilator: {e}") from None

    def _close(self) -> None:
        model = getattr(self, "model", None)
        if model is not None:
            model.close()


def open_device(config: VTAConfig, **options: Any) -> VerilatorDevice:
    """Backend entry point of ``vta.driver.open_device("verilator", ...)``."""
    return VerilatorDevice(config, **options)
