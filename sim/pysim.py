"""pysim: the Amaranth simulator running the accelerator's gateware on a Python DRAM.

:class:`PySim` simulates :class:`vta.hw.gateware.top.VTACore` (``vta_top`` without its
clock/reset pins) with

- :class:`vta.sim.axi_dram.AxiDram` serving a :class:`vta.sim.dram.Dram` on the AXI master
  port (first beat ``config.DRAM_LATENCY`` cycles after the address, then one beat per
  cycle),
- :class:`vta.sim.axi_lite_host.AxiLiteHost` for register access from plain Python calls
  (:meth:`PySim.read_reg`, :meth:`PySim.write_reg`), and
- an optional VCD waveform dump.

The simulation advances only inside those calls and :meth:`PySim.wait_done`, so the
driver backend (:mod:`vta.driver.pysim_device`) runs programs with the same register
protocol as a board.  It is slow (a few thousand cycles per second on the ``tiny``
config): use it for short programs and differential tests; use Verilator for long runs.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from vta.hw.config import VTAConfig
from vta.hw.errors import VTAError

from .axi_dram import AxiDram
from .axi_lite_host import AxiLiteHost
from .dram import Dram

__all__ = ["PySim", "PySimError"]

_PERIOD = 1e-8   # nominal 100 MHz; only waveform time stamps depend on it


class PySimError(VTAError):
    """The harness was misused (e.g. a call after :meth:`PySim.close`)."""


class _Port:
    """The flat ``prefix + NAME`` ports of the core, seen as one interface object."""

    def __init__(self, core: Any, prefix: str) -> None:
        self._core = core
        self._prefix = prefix

    def __getattr__(self, name: str) -> Any:
        return getattr(self._core, self._prefix + name)


class PySim:
    """The accelerator in the Amaranth simulator, driven by synchronous Python calls.

    Parameters
    ----------
    config:
        Hardware configuration (use ``tiny``: the simulator is slow).
    dram:
        The memory the accelerator's AXI master reads and writes.
    latency:
        DRAM read latency in cycles (default ``config.DRAM_LATENCY``).
    vcd:
        Path of a VCD waveform to write (closed by :meth:`close`); slows simulation.

    Raises
    ------
    ConfigError
        An invalid configuration (before elaboration).
    """

    def __init__(self, config: VTAConfig, dram: Dram, *, latency: int | None = None,
                 vcd: str | Path | None = None) -> None:
        os.environ.setdefault("AMARANTH_USE_YOSYS", "builtin")
        from amaranth.sim import Simulator
        from vta.hw.gateware.top import VTACore
        from vta.hw.ports import CONTROL_PREFIX, MEMORY_PREFIX

        self.config = config
        self.dram = dram
        self.core = VTACore(config)
        self.sim = Simulator(self.core)
        self.sim.add_clock(_PERIOD)
        self.memory = AxiDram(dram, _Port(self.core, MEMORY_PREFIX), config.bus_bytes,
                              latency=config.DRAM_LATENCY if latency is None else latency)
        self.memory.record_bursts = False
        self.sim.add_process(self.memory.process)
        self.host = AxiLiteHost(_Port(self.core, CONTROL_PREFIX))
        self._ops: deque[list[Any]] = deque()    # [coroutine function, result, done]
        self.sim.add_testbench(self._host_loop, background=True)
        self._vcd = None
        if vcd is not None:
            self._vcd = self.sim.write_vcd(str(vcd))
            self._vcd.__enter__()
        self.sim_seconds = 0.0
        self._closed = False
        self.sim.advance()      # start the processes now, so none is left unawaited

    # ------------------------------------------------------------------ the host coroutine
    async def _host_loop(self, ctx: Any) -> None:
        while True:
            if self._ops:
                op = self._ops[0]
                op[1] = await op[0](ctx)
                op[2] = True
                self._ops.popleft()
            else:
                await ctx.tick()

    def _call(self, fn: Callable[[Any], Awaitable[Any]]) -> Any:
        if self._closed:
            raise PySimError("pysim simulation is closed")
        op = [fn, None, False]
        self._ops.append(op)
        t0 = time.perf_counter()
        advance = self.sim.advance
        while not op[2]:
            advance()
        self.sim_seconds += time.perf_counter() - t0
        return op[1]

    # ------------------------------------------------------------------ public calls
    @property
    def cycle(self) -> int:
        """Clock cycles simulated so far."""
        return self.memory.cycle

    def read_reg(self, offset: int) -> int:
        """Read a control register through the AXI4-Lite port."""
        return self._call(lambda ctx: self.host.read(ctx, offset))

    def write_reg(self, offset: int, value: int) -> None:
        """Write a control register through the AXI4-Lite port."""
        self._call(lambda ctx: self.host.write(ctx, offset, value))

    def wait_done(self, max_cycles: int) -> bool:
        """Simulate until the run ends (CTRL leaves running) or ``max_cycles`` pass.

        Returns whether the run ended.  An access outside the memory is answered with an
        error response (recorded in ``self.memory.errors``), which the hardware flags.
        """
        running = self.core.ctrl.running

        async def wait(ctx: Any) -> bool:
            if not ctx.get(running):
                return True
            n = 0
            async for _, _, value in ctx.tick().sample(running):
                n += 1
                if not value or n >= max_cycles:
                    break
            return not ctx.get(running)

        return bool(self._call(wait))

    def reset(self) -> None:
        """Return the hardware to its power-on state (DRAM contents are kept).

        The way out after a run that never finished: the modules still hold the
        instructions they were waiting on.  A waveform being written ends here (it holds
        everything up to the reset; simulated time restarts at zero).
        """
        if self._closed:
            raise PySimError("pysim simulation is closed")
        if self._vcd is not None:
            self._vcd.__exit__(None, None, None)
            self._vcd = None
        self._ops.clear()
        self.sim.reset()
        self.sim.advance()      # start the restarted processes (no unawaited coroutines)

    def close(self) -> None:
        """Finish the waveform file (if any); further calls raise :class:`PySimError`."""
        if self._vcd is not None:
            self._vcd.__exit__(None, None, None)
            self._vcd = None
        self._closed = True
