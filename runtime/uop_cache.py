"""Which micro-kernels sit in the accelerator's uop buffer: :class:`UopCache`.

Kernels occupy contiguous uop-buffer ranges.  A kernel used again while resident costs no
LOAD UOP; a new kernel goes into the first gap large enough, and when none is, the least
recently used kernels are evicted until one is.  Eviction is always safe: LOAD UOP and the
GEMM/ALU instructions that read uops all run in order on the compute module, so a kernel's
last user has executed before the load that overwrites it.
"""

from __future__ import annotations

from collections import OrderedDict

from .errors import CommandError
from .uop_kernel import UopKernel

__all__ = ["UopCache"]


class UopCache:
    """Residency of kernels in a uop buffer of ``depth`` entries (LRU replacement).

    Members
    -------
    hits, loads, evictions:
        Counters since creation.
    """

    def __init__(self, depth: int) -> None:
        self.depth = depth
        self._resident: OrderedDict[UopKernel, tuple[int, int]] = OrderedDict()
        self.hits = 0
        self.loads = 0
        self.evictions = 0

    def lookup(self, kernel: UopKernel) -> tuple[int, int] | None:
        """The ``(begin, end)`` range of a resident kernel (marking it used), else None."""
        loc = self._resident.get(kernel)
        if loc is not None:
            self._resident.move_to_end(kernel)
            self.hits += 1
        return loc

    def place(self, kernel: UopKernel) -> tuple[int, int]:
        """Choose a range for ``kernel``, evicting LRU kernels as needed; return it."""
        n = kernel.size
        if n > self.depth:
            raise CommandError(f"micro-kernel {kernel.key!r} has {n} uops, more than the uop "
                               f"buffer holds ({self.depth})")
        begin = self._gap(n)
        while begin is None:
            self._resident.popitem(last=False)
            self.evictions += 1
            begin = self._gap(n)
        loc = (begin, begin + n)
        self._resident[kernel] = loc
        self.loads += 1
        return loc

    def _gap(self, n: int) -> int | None:
        end = 0
        for b, e in sorted(self._resident.values()):
            if b - end >= n:
                return end
            end = e
        return end if self.depth - end >= n else None

    def clear(self) -> None:
        """Forget every resident kernel (the buffer's contents are unknown)."""
        self._resident.clear()

    def resident(self) -> dict[UopKernel, tuple[int, int]]:
        """Resident kernels and their ranges, least recently used first."""
        return dict(self._resident)
