"""How long a simulator runs between two looks at the wall clock.

A simulated device advances its model in slices of cycles and checks the run's deadline
between them.  A fixed slice is either too short for a fast model (call overhead) or far
too long for a slow or loaded one (Verilator's 2^21 cycles took 7 s at 0.3 M cycles/s,
so a 0.5 s timeout fired after 14 s).  :class:`SliceSizer` sizes each slice from the speed
measured so far: about :data:`CHECK_SECONDS` of simulation, never past the deadline by
more than that, between ``floor`` and ``cap`` cycles.
"""

from __future__ import annotations

import time

__all__ = ["SliceSizer", "CHECK_SECONDS"]

#: Seconds of simulation between two looks at the deadline (when there is one).
CHECK_SECONDS = 0.05


class SliceSizer:
    """Slice lengths for one wait: :meth:`next` before a slice, :meth:`ran` after it.

    ``rate`` is the first guess of the model's speed in cycles per second; without a
    deadline every slice is ``cap`` cycles.
    """

    def __init__(self, cap: int, floor: int, rate: float) -> None:
        self.cap, self.floor = cap, floor
        self.rate = float(rate)
        self._started = 0.0

    def next(self, deadline: float | None) -> int:
        """Cycles to simulate before the deadline is checked again."""
        self._started = time.perf_counter()
        if deadline is None:
            return self.cap
        seconds = min(CHECK_SECONDS, max(0.0, deadline - self._started))
        return min(self.cap, max(self.floor, int(self.rate * seconds)))

    def ran(self, cycles: int) -> None:
        """Record that the slice just run simulated ``cycles`` cycles."""
        seconds = time.perf_counter() - self._started
        if cycles > 0 and seconds > 1e-4:
            self.rate = cycles / seconds
