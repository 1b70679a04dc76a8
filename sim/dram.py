"""A byte-addressed physical memory with an aligned allocator.

Every simulated device (fsim, pysim, verilator, the simulated PYNQ device) serves DRAM from
one :class:`Dram`: the driver allocates physically contiguous buffers in it, the host
copies in and out through numpy views, and the simulators read and write the same bytes
(the Verilator model gets the array's address, so nothing is copied per run).

Physical addresses start at ``base`` (not 0, so a null address is never valid) and the
address space stays below 4 GiB times the smallest element size, as the ISA's 32-bit
``dram_base`` field requires.
"""

from __future__ import annotations

import bisect

import numpy as np
from vta.hw.errors import VTAError

__all__ = ["Dram", "DramError"]


class DramError(VTAError):
    """Out of device memory, a bad free, or an access outside allocated DRAM."""


class Dram:
    """``size`` bytes of simulated DRAM at physical addresses ``[base, base + size)``.

    Parameters
    ----------
    size:
        Bytes of memory (rounded up to a page).
    base:
        Physical address of the first byte; a multiple of 4096.
    """

    PAGE = 4096

    def __init__(self, size: int = 256 << 20, base: int = 0x1000_0000) -> None:
        if size <= 0:
            raise DramError(f"DRAM size must be positive, not {size}")
        if base % self.PAGE:
            raise DramError(f"DRAM base must be a multiple of {self.PAGE}, not {base:#x}")
        size = -(-size // self.PAGE) * self.PAGE
        self.base = base
        self.size = size
        self.mem = np.zeros(size, dtype=np.uint8)
        # Free list of (offset, length), sorted by offset and coalesced; live blocks by offset.
        self._free: list[tuple[int, int]] = [(0, size)]
        self._live: dict[int, int] = {}

    # ------------------------------------------------------------------ allocation
    def alloc(self, nbytes: int, align: int = 64) -> int:
        """Allocate ``nbytes`` contiguous bytes aligned to ``align``; return the address.

        Raises :class:`DramError` naming the request and the largest free block when the
        memory cannot hold it.
        """
        if nbytes <= 0:
            raise DramError(f"allocation size must be positive, not {nbytes}")
        if align <= 0 or align & (align - 1):
            raise DramError(f"alignment must be a power of two, not {align}")
        for i, (off, length) in enumerate(self._free):
            start = -(-(self.base + off) // align) * align - self.base
            end = start + nbytes
            if end <= off + length:
                pieces = []
                if start > off:
                    pieces.append((off, start - off))
                if end < off + length:
                    pieces.append((end, off + length - end))
                self._free[i:i + 1] = pieces
                self._live[start] = nbytes
                return self.base + start
        largest = max((length for _, length in self._free), default=0)
        raise DramError(f"out of device memory: cannot allocate {nbytes} bytes "
                        f"(aligned to {align}); largest free block is {largest} bytes of "
                        f"{self.size} in total, {self.bytes_in_use} in use")

    def reserve(self, addr: int, nbytes: int) -> int:
        """Allocate exactly ``[addr, addr + nbytes)`` (e.g. to load a DRAM image); return addr.

        Raises :class:`DramError` when any byte of the range is outside memory or in use.
        """
        if nbytes <= 0:
            raise DramError(f"reservation size must be positive, not {nbytes}")
        start = self._offset(addr, nbytes)
        end = start + nbytes
        for i, (off, length) in enumerate(self._free):
            if off <= start and end <= off + length:
                pieces = [(off, start - off)] if start > off else []
                if end < off + length:
                    pieces.append((end, off + length - end))
                self._free[i:i + 1] = pieces
                self._live[start] = nbytes
                return addr
        raise DramError(f"cannot reserve [{addr:#x}, {addr + nbytes:#x}): part of it is "
                        f"already allocated")

    def free(self, addr: int) -> None:
        """Free a block returned by :meth:`alloc`."""
        off = addr - self.base
        nbytes = self._live.pop(off, None)
        if nbytes is None:
            raise DramError(f"free of {addr:#x}: not an allocated block")
        i = bisect.bisect_left(self._free, (off, 0))
        self._free.insert(i, (off, nbytes))
        # Coalesce with the neighbours.
        if i + 1 < len(self._free) and off + nbytes == self._free[i + 1][0]:
            self._free[i] = (off, nbytes + self._free[i + 1][1])
            del self._free[i + 1]
        if i > 0 and self._free[i - 1][0] + self._free[i - 1][1] == off:
            self._free[i - 1] = (self._free[i - 1][0], self._free[i - 1][1] + self._free[i][1])
            del self._free[i]

    def reset(self) -> None:
        """Free every block and zero the memory."""
        self._free = [(0, self.size)]
        self._live.clear()
        self.mem[:] = 0

    @property
    def bytes_in_use(self) -> int:
        return sum(self._live.values())

    # ------------------------------------------------------------------ access
    def _offset(self, addr: int, nbytes: int) -> int:
        off = addr - self.base
        if off < 0 or nbytes < 0 or off + nbytes > self.size:
            raise DramError(f"DRAM access [{addr:#x}, {addr + nbytes:#x}) is outside device "
                            f"memory [{self.base:#x}, {self.base + self.size:#x})")
        return off

    def view(self, addr: int, nbytes: int) -> np.ndarray:
        """A writable uint8 view of ``nbytes`` at ``addr`` (no copy)."""
        off = self._offset(addr, nbytes)
        return self.mem[off:off + nbytes]

    def read(self, addr: int, nbytes: int) -> bytes:
        return self.view(addr, nbytes).tobytes()

    def write(self, addr: int, data: bytes | bytearray | memoryview | np.ndarray) -> None:
        buf = np.frombuffer(bytes(data), dtype=np.uint8) if not isinstance(data, np.ndarray) \
            else data.reshape(-1).view(np.uint8)
        self.view(addr, buf.size)[:] = buf

    def contains(self, addr: int, nbytes: int = 1) -> bool:
        off = addr - self.base
        return 0 <= off and off + nbytes <= self.size
