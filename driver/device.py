"""The one device protocol every backend implements: :class:`Device` and :class:`Buffer`.

A device is the accelerator plus the DRAM it reads: the host allocates physically
contiguous :class:`Buffer` objects, copies data in and out, and starts runs of instructions
that sit in such a buffer.  Callers (the runtime, the CLI, the compiler) only use the public
methods below, so a simulator and a board are interchangeable.

A backend implements the primitives (``_alloc``, ``_free``, ``_run``, ``read_reg``,
``write_reg``, optionally ``_flush``/``_invalidate``/``_close``); the public methods
check arguments once, here, and turn misuse into one-line :class:`DeviceError` messages.

Coherence: the host writes through :meth:`Buffer.view` (or :meth:`Device.copy_to_device`)
and must :meth:`Device.flush` before the device reads; after the device writes, it must
:meth:`Device.invalidate` before reading.  ``copy_to_device`` flushes and
``copy_from_device`` invalidates by themselves; on coherent backends (every simulator)
both are no-ops.
"""

from __future__ import annotations

import abc
import time
from typing import Any

import numpy as np
from vta.hw.config import VTAConfig

from .errors import DeviceError
from .result import RunResult

__all__ = ["Device", "Buffer", "DEFAULT_TIMEOUT"]

DEFAULT_TIMEOUT = 60.0
"""Seconds :meth:`Device.run` waits by default before raising ``DeviceTimeout``."""


class Buffer:
    """A physically contiguous block of device memory.

    Members
    -------
    device:
        The owning :class:`Device`.
    addr:
        Physical (device) byte address of the first byte.
    nbytes:
        Size in bytes.
    handle:
        Backend object behind the buffer (e.g. a PYNQ buffer), or ``None``.

    A buffer is a context manager that frees itself on exit.  Using a freed buffer raises
    :class:`DeviceError`.
    """

    __slots__ = ("device", "addr", "nbytes", "handle", "_host", "_freed")

    def __init__(self, device: Device, addr: int, nbytes: int, host: np.ndarray,
                 handle: Any = None) -> None:
        self.device = device
        self.addr = addr
        self.nbytes = nbytes
        self.handle = handle
        self._host = host
        self._freed = False

    @property
    def freed(self) -> bool:
        return self._freed

    def _live(self) -> np.ndarray:
        if self._freed:
            raise DeviceError(f"buffer at {self.addr:#x} ({self.nbytes} bytes) was already "
                              f"freed")
        return self._host

    def view(self, dtype: Any = np.uint8) -> np.ndarray:
        """The host's view of the whole buffer (no copy) as ``dtype``.

        Raises :class:`DeviceError` when the buffer size is not a multiple of the item size.
        """
        host = self._live()
        dtype = np.dtype(dtype)
        if self.nbytes % dtype.itemsize:
            raise DeviceError(f"buffer of {self.nbytes} bytes cannot be viewed as {dtype} "
                              f"({dtype.itemsize}-byte items)")
        return host.view(dtype)

    def copy_in(self, array: Any, offset: int = 0) -> None:
        """Copy ``array``'s bytes in at byte ``offset`` and flush (see ``copy_to_device``)."""
        self.device.copy_to_device(self, array, offset)

    def copy_out(self, nbytes: int | None = None, offset: int = 0) -> np.ndarray:
        """Invalidate and return a uint8 copy (see ``copy_from_device``)."""
        return self.device.copy_from_device(self, nbytes, offset)

    def flush(self) -> None:
        self.device.flush(self)

    def invalidate(self) -> None:
        self.device.invalidate(self)

    def free(self) -> None:
        """Return the memory to the device; freeing twice is an error."""
        self.device.free(self)

    def __enter__(self) -> Buffer:
        return self

    def __exit__(self, *exc: object) -> None:
        if not self._freed:
            self.free()

    def __repr__(self) -> str:
        state = ", freed" if self._freed else ""
        return f"Buffer(addr={self.addr:#x}, nbytes={self.nbytes}{state})"


class Device(abc.ABC):
    """An accelerator and its DRAM (the protocol of every backend).

    Members
    -------
    config:
        The :class:`~vta.hw.VTAConfig` the device was built for.
    kind:
        Backend name: ``fsim``, ``pysim``, ``verilator`` or ``pynq``.
    run_count:
        Runs completed so far (a runtime uses it to notice another user of the device).
    timed:
        Whether runs report cycles.
    """

    kind: str = "device"
    timed: bool = False

    def __init__(self, config: VTAConfig) -> None:
        if not isinstance(config, VTAConfig):
            raise DeviceError(f"device config must be a VTAConfig, not {type(config).__name__}")
        self.config = config
        self.run_count = 0
        self._closed = False
        self._buffers: dict[int, Buffer] = {}

    # ------------------------------------------------------------------ backend primitives
    @abc.abstractmethod
    def _alloc(self, nbytes: int, align: int) -> tuple[int, np.ndarray, Any]:
        """Allocate; return (physical address, writable uint8 host view, backend handle)."""

    @abc.abstractmethod
    def _free(self, buf: Buffer) -> None:
        """Release the memory of ``buf``."""

    @abc.abstractmethod
    def _run(self, insn_addr: int, insn_count: int, timeout: float | None) -> RunResult:
        """Run and wait; raise ``DeviceTimeout`` when ``timeout`` seconds pass first."""

    @abc.abstractmethod
    def read_reg(self, offset: int) -> int:
        """Read the 32-bit control register at byte ``offset`` (see :mod:`vta.hw.regmap`)."""

    @abc.abstractmethod
    def write_reg(self, offset: int, value: int) -> None:
        """Write the 32-bit control register at byte ``offset``."""

    def _flush(self, buf: Buffer, offset: int, nbytes: int) -> None:  # noqa: B027
        """Make host writes visible to the device (no-op where memory is coherent)."""

    def _invalidate(self, buf: Buffer, offset: int, nbytes: int) -> None:  # noqa: B027
        """Drop stale host cache lines (no-op where memory is coherent)."""

    def _close(self) -> None:  # noqa: B027
        """Release backend resources."""

    # ------------------------------------------------------------------ memory
    def alloc(self, nbytes: int, align: int = 64) -> Buffer:
        """Allocate ``nbytes`` physically contiguous bytes aligned to ``align``.

        Raises
        ------
        DeviceError
            Bad size or alignment, or the device is closed.
        DramError
            (simulated devices) out of device memory; the message names the largest block.
        """
        self._check_open()
        if isinstance(nbytes, bool) or not isinstance(nbytes, (int, np.integer)) or nbytes <= 0:
            raise DeviceError(f"buffer size must be a positive integer, not {nbytes!r}")
        if isinstance(align, bool) or not isinstance(align, (int, np.integer)) or align <= 0 \
                or align & (align - 1):
            raise DeviceError(f"buffer alignment must be a power of two, not {align!r}")
        addr, host, handle = self._alloc(int(nbytes), int(align))
        buf = Buffer(self, addr, int(nbytes), host, handle)
        self._buffers[addr] = buf
        return buf

    def free(self, buf: Buffer) -> None:
        """Free ``buf`` (same as ``buf.free()``)."""
        self._check_buffer(buf)
        self._free(buf)
        buf._freed = True
        self._buffers.pop(buf.addr, None)

    def copy_to_device(self, buf: Buffer, array: Any, offset: int = 0) -> None:
        """Copy the bytes of ``array`` (any numpy array or bytes) into ``buf`` at ``offset``.

        The data is flushed, so the device sees it.  Raises :class:`DeviceError` when the
        data does not fit the buffer.
        """
        host = self._check_buffer(buf)
        data = _as_bytes(array)
        self._check_range(buf, offset, data.size)
        host[offset:offset + data.size] = data
        self._flush(buf, offset, data.size)

    def copy_from_device(self, buf: Buffer, nbytes: int | None = None,
                         offset: int = 0) -> np.ndarray:
        """Invalidate and return a uint8 copy of ``nbytes`` (default: to the end) at ``offset``."""
        host = self._check_buffer(buf)
        if nbytes is None:
            nbytes = buf.nbytes - offset
        self._check_range(buf, offset, nbytes)
        self._invalidate(buf, offset, nbytes)
        return host[offset:offset + nbytes].copy()

    def flush(self, buf: Buffer, offset: int = 0, nbytes: int | None = None) -> None:
        """Make host writes to ``buf`` visible to the device."""
        self._check_buffer(buf)
        nbytes = buf.nbytes - offset if nbytes is None else nbytes
        self._check_range(buf, offset, nbytes)
        self._flush(buf, offset, nbytes)

    def invalidate(self, buf: Buffer, offset: int = 0, nbytes: int | None = None) -> None:
        """Make device writes to ``buf`` visible to the host."""
        self._check_buffer(buf)
        nbytes = buf.nbytes - offset if nbytes is None else nbytes
        self._check_range(buf, offset, nbytes)
        self._invalidate(buf, offset, nbytes)

    # ------------------------------------------------------------------ running
    def run(self, insn_addr: int, insn_count: int, *,
            timeout: float | None = DEFAULT_TIMEOUT) -> RunResult:
        """Run ``insn_count`` instructions stored at physical address ``insn_addr``; wait.

        The program must end with FINISH.  ``timeout`` is in seconds; ``None`` waits for
        ever.

        Raises
        ------
        DeviceError
            Bad address or count, or the device is closed.
        DeviceProgramError
            The program is invalid (:mod:`vta.hw.program_errors`): every device raises the
            same kind and message; a deadlock is a ``DeviceDeadlock``, also a
            ``DeviceTimeout``.  The device stays usable.
        DeviceTimeout
            The run did not finish in time; the message says where each module was.  The
            run was stopped, so the device stays usable.
        """
        self._check_open()
        if isinstance(insn_count, bool) or not isinstance(insn_count, (int, np.integer)) \
                or insn_count <= 0:
            raise DeviceError(f"instruction count must be a positive integer, not "
                              f"{insn_count!r}")
        if insn_count >= 1 << 32:
            raise DeviceError(f"instruction count {insn_count} does not fit the 32-bit "
                              f"INSN_COUNT register")
        n = self.config.insn_bytes
        if not isinstance(insn_addr, (int, np.integer)) or insn_addr <= 0 or insn_addr % n:
            raise DeviceError(f"instruction address must be a positive multiple of {n} "
                              f"(the instruction size), not {insn_addr!r}")
        if timeout is not None and not timeout > 0:
            raise DeviceError(f"timeout must be a positive number of seconds or None, "
                              f"not {timeout!r}")
        start = time.perf_counter()
        result = self._run(int(insn_addr), int(insn_count), timeout)
        result.wall_time = time.perf_counter() - start
        self.run_count += 1
        return result

    # ------------------------------------------------------------------ lifetime
    @abc.abstractmethod
    def reset(self) -> None:
        """Return the accelerator to its power-on state; buffers and memory are kept.

        Never needed after an error (every run that fails leaves the device usable), but
        available on every device.
        """

    def close(self) -> None:
        """Free every buffer and release the backend; further use is an error."""
        if self._closed:
            return
        for buf in list(self._buffers.values()):
            if not buf.freed:
                self.free(buf)
        self._close()
        self._closed = True

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> Device:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.kind} {self.config.name}>"

    # ------------------------------------------------------------------ checks
    def _check_open(self) -> None:
        if self._closed:
            raise DeviceError(f"{self.kind} device is closed")

    def _check_buffer(self, buf: Buffer) -> np.ndarray:
        self._check_open()
        if not isinstance(buf, Buffer):
            raise DeviceError(f"expected a Buffer of this device, not {type(buf).__name__}")
        if buf.device is not self:
            raise DeviceError(f"buffer at {buf.addr:#x} belongs to another device")
        return buf._live()

    @staticmethod
    def _check_range(buf: Buffer, offset: int, nbytes: int) -> None:
        if offset < 0 or nbytes < 0 or offset + nbytes > buf.nbytes:
            raise DeviceError(f"access of {nbytes} bytes at offset {offset} is outside the "
                              f"{buf.nbytes}-byte buffer at {buf.addr:#x}")


def _as_bytes(array: Any) -> np.ndarray:
    if isinstance(array, (bytes, bytearray, memoryview)):
        return np.frombuffer(bytes(array), dtype=np.uint8)
    arr = np.ascontiguousarray(array)
    return arr.reshape(-1).view(np.uint8)
