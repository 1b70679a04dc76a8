"""The ``pysim`` backend: the Amaranth gateware in the Amaranth simulator.

Programs run through the register protocol of :class:`RegisterDevice` on
:class:`vta.sim.pysim.PySim`; the wall-clock timeout is honoured between slices of
about 50 ms of simulation (:mod:`.sim_slices`, at most ``slice_cycles`` cycles), and
``max_cycles`` bounds a run in simulated time (default: derived from each program).  An
invalid program raises the :class:`~.errors.DeviceProgramError` fsim raises, from the
hardware's error registers; a run past its limits is aborted (the hardware stops cleanly)
and raises :class:`DeviceTimeout` naming where each module was.  Either way the device
stays usable; :meth:`PysimDevice.reset` returns it to power-on state.
``RunResult.cycles`` is the hardware's CYCLES counter; ``RunResult.stats`` is a
:class:`~.result.SimStats`.
"""

from __future__ import annotations

import time
from pathlib import Path

from vta.hw.config import VTAConfig
from vta.sim.dram import Dram
from vta.sim.pysim import PySim

from .errors import DeviceError
from .register_device import RegisterDevice, check_max_cycles
from .result import SimStats
from .sim_slices import SliceSizer

__all__ = ["PysimDevice", "open_device"]


class PysimDevice(RegisterDevice):
    """``vta_top``'s gateware in the Amaranth simulator, behind the Device protocol.

    Parameters
    ----------
    config:
        Hardware configuration (``tiny`` recommended: the simulator is slow).
    dram_bytes:
        Size of the simulated DRAM.
    dram:
        An existing :class:`~vta.sim.dram.Dram` to serve instead.
    latency:
        DRAM read latency in cycles (default ``config.DRAM_LATENCY``).
    vcd:
        Write a VCD waveform of everything simulated to this path.
    max_cycles:
        Simulated cycles after which a run counts as hung: ``"auto"`` (default) derives
        them from each program (:func:`~.cycle_budget.cycle_budget`), ``None`` leaves
        only the timeout.
    slice_cycles:
        The most cycles simulated between two wall-clock checks (with a deadline a slice
        lasts about 50 ms of simulation, see :mod:`.sim_slices`).

    Raises
    ------
    DeviceError
        A bad option.
    """

    kind = "pysim"
    clock = staticmethod(time.thread_time)     # the timeout counts simulator CPU seconds
    clock_name = "s of simulator CPU time"

    def __init__(self, config: VTAConfig, *, dram_bytes: int = 16 << 20,
                 dram: Dram | None = None, latency: int | None = None,
                 vcd: str | Path | None = None, max_cycles: int | str | None = "auto",
                 slice_cycles: int = 2000) -> None:
        super().__init__(config)
        max_cycles = check_max_cycles(max_cycles)
        if not isinstance(slice_cycles, int) or slice_cycles <= 0:
            raise DeviceError(f"slice_cycles must be a positive integer, not {slice_cycles!r}")
        self.memory = dram if dram is not None else Dram(dram_bytes)
        self.sim = PySim(config, self.memory, latency=latency, vcd=vcd)
        self.max_cycles = max_cycles
        self.slice_cycles = slice_cycles
        self._slices = SliceSizer(slice_cycles, 50, 3000)
        self._run_start = (0, 0.0)

    def read_reg(self, offset: int) -> int:
        return self.sim.read_reg(offset)

    def write_reg(self, offset: int, value: int) -> None:
        if offset == 0 and value & 1:    # CTRL start: a run starts now
            self._run_start = (self.sim.cycle, self.sim.sim_seconds)
            self.sim.memory.errors.clear()
        self.sim.write_reg(offset, value)

    def _wait_done(self, deadline: float | None, max_cycles: int | None = None) -> bool:
        start = self.sim.cycle
        self._slices.cap = self.slice_cycles
        while True:
            n = self._slices.next(deadline)
            if max_cycles is not None:
                n = min(n, max_cycles - (self.sim.cycle - start))
                if n <= 0:
                    return False
            before = self.sim.cycle
            done = self.sim.wait_done(n)
            self._slices.ran(self.sim.cycle - before)
            if done:
                return True
            if deadline is not None and self.clock() > deadline:
                return False

    def reset(self) -> None:
        """Reset the simulated hardware, as reloading the bitstream would on a board
        (DRAM and buffers are kept)."""
        self._check_open()
        self.sim.reset()

    def _stats(self) -> SimStats:
        cycles, seconds = self._run_start
        return SimStats(self.sim.cycle - cycles, self.sim.sim_seconds - seconds)

    def _close(self) -> None:
        self.sim.close()


def open_device(config: VTAConfig, **options) -> PysimDevice:
    """Open a pysim device for ``config`` (options as :class:`PysimDevice`)."""
    return PysimDevice(config, **options)
