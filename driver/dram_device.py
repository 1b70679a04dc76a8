"""Devices whose DRAM is a host object with an allocator: every simulator backend.

:class:`DramDevice` implements the memory half of the :class:`~vta.driver.device.Device`
protocol over a *Dram-like* object (:class:`vta.sim.dram.Dram` or anything with the same
``alloc(nbytes, align) -> addr``, ``free(addr)``, ``view(addr, nbytes)`` methods); the
subclass creates it and assigns ``self.memory``.  Memory is coherent: flush and invalidate
are no-ops.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from .device import Buffer, Device
from .errors import DeviceError

__all__ = ["DramDevice", "DramLike"]


class DramLike(Protocol):
    """What :class:`DramDevice` needs from its memory (``vta.sim.dram.Dram`` has it)."""

    def alloc(self, nbytes: int, align: int = 64) -> int: ...

    def free(self, addr: int) -> None: ...

    def view(self, addr: int, nbytes: int) -> np.ndarray: ...


class DramDevice(Device):
    """A device whose memory is ``self.memory`` (a :class:`DramLike`), set by the subclass."""

    memory: DramLike

    def _alloc(self, nbytes: int, align: int) -> tuple[int, np.ndarray, Any]:
        addr = self.memory.alloc(nbytes, align)
        return addr, self.memory.view(addr, nbytes), None

    def _free(self, buf: Buffer) -> None:
        self.memory.free(buf.addr)

    def buffer_at(self, addr: int, nbytes: int) -> Buffer:
        """Allocate exactly ``[addr, addr + nbytes)`` (to place a DRAM image).

        Raises :class:`DeviceError` when the memory cannot reserve fixed ranges, and the
        memory's own error when the range is outside it or in use.
        """
        self._check_open()
        reserve = getattr(self.memory, "reserve", None)
        if reserve is None:
            raise DeviceError(f"{self.kind} device memory cannot place buffers at fixed "
                              f"addresses")
        if nbytes <= 0:
            raise DeviceError(f"buffer size must be positive, not {nbytes}")
        reserve(addr, nbytes)
        buf = Buffer(self, addr, nbytes, self.memory.view(addr, nbytes))
        self._buffers[addr] = buf
        return buf
