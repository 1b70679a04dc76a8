"""Sampling the performance counters of a running Verilator model, for timelines.

While a program runs, :func:`sample_until_done` advances the model ``window`` cycles at a
time and reads, through the AXI4-Lite port as a driver would, ``CTRL``, every counter of
:data:`vta.hw.regmap.COUNTERS` and then ``CYCLES``.  Register reads do not disturb the
accelerator (they use the control port only), so the run's cycle count is the same as
without sampling; the samples turn into a :class:`vta.sim.timeline.Timeline` with
:func:`vta.sim.timeline.windows_from_samples`.
"""

from __future__ import annotations

from vta.hw import regmap

from .model import VerilatorModel

__all__ = ["sample_until_done", "SAMPLED"]

SAMPLED: tuple[str, ...] = tuple(n for n in regmap.COUNTERS if n != "INSN_DONE")
"""Counters read at every window edge (busy, stall, uops and DMA bytes)."""

_CTRL = regmap.BY_NAME["CTRL"].offset
_CYCLES_LO = regmap.BY_NAME["CYCLES_LO"].offset
_CYCLES_HI = regmap.BY_NAME["CYCLES_HI"].offset
_OFFSETS = tuple((name, regmap.BY_NAME[name].offset) for name in SAMPLED)


def sample_until_done(model: VerilatorModel, window: int, max_cycles: int,
                      samples: list[tuple[int, dict[str, int]]]) -> bool:
    """Run until CTRL reads done (True) or ``max_cycles`` simulated cycles have passed.

    Appends one ``(CYCLES, counters)`` pair per window to ``samples`` (the counters are
    cumulative since the run's start).
    """
    stop = model.cycle + max_cycles
    while model.cycle < stop:
        model.step(window)
        done = bool(model.read_reg(_CTRL) & regmap.CTRL_DONE)
        counters = {name: model.read_reg(off) for name, off in _OFFSETS}
        # CYCLES last: the window's edge is never earlier than any counter it closes.
        cycles = model.read_reg(_CYCLES_LO) | model.read_reg(_CYCLES_HI) << 32
        samples.append((cycles, counters))
        if done:
            return True
    return False
