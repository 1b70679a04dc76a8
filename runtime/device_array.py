"""Arrays in device memory with numpy conversion: :class:`DeviceArray`.

Example::

    a = DeviceArray.from_numpy(device, np.arange(64, dtype=np.int8))
    a.numpy()          # copy back (invalidates first)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from vta.driver.device import Buffer, Device

from .errors import CommandError

__all__ = ["DeviceArray", "array", "empty", "default_alignment"]


def default_alignment(device: Device) -> int:
    """Alignment every element type of the config divides (at least 64 bytes)."""
    c = device.config
    largest = max(64, c.inp_elem_bytes, c.wgt_elem_bytes, c.acc_elem_bytes,
                  c.out_elem_bytes, c.uop_elem_bytes)
    return 1 << (largest - 1).bit_length()


class DeviceArray:
    """A typed, shaped array in one device :class:`~vta.driver.device.Buffer`.

    Parameters
    ----------
    device:
        The device (or anything with a ``device`` attribute, e.g. a CommandQueue).
    shape, dtype:
        numpy shape and dtype of the array.
    align:
        Byte alignment (default :func:`default_alignment`, so every ISA element type can
        address the array).

    Members
    -------
    buffer, addr, nbytes, shape, dtype, device.
    """

    def __init__(self, device: Any, shape: tuple[int, ...] | int, dtype: Any,
                 *, align: int | None = None) -> None:
        device = getattr(device, "device", device)
        if not isinstance(device, Device):
            raise CommandError(f"DeviceArray needs a Device or CommandQueue, not "
                               f"{type(device).__name__}")
        self.shape = (int(shape),) if isinstance(shape, (int, np.integer)) \
            else tuple(int(s) for s in shape)
        if any(s < 0 for s in self.shape):
            raise CommandError(f"array shape must be non-negative, not {self.shape}")
        self.dtype = np.dtype(dtype)
        self.nbytes = math.prod(self.shape) * self.dtype.itemsize
        self.device = device
        self.buffer: Buffer = device.alloc(max(self.nbytes, 1),
                                           align or default_alignment(device))

    @classmethod
    def from_numpy(cls, device: Any, data: Any, dtype: Any = None) -> DeviceArray:
        """Allocate and copy ``data`` in (converted to ``dtype`` when given)."""
        arr = np.ascontiguousarray(data, dtype=dtype)
        out = cls(device, arr.shape, arr.dtype)
        out.copy_from(arr)
        return out

    @property
    def addr(self) -> int:
        return self.buffer.addr

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    def copy_from(self, data: Any) -> None:
        """Copy a numpy array of the same shape in (cast to this dtype) and flush."""
        arr = np.asarray(data)
        if arr.shape != self.shape:
            raise CommandError(f"cannot copy an array of shape {arr.shape} into a device "
                               f"array of shape {self.shape}")
        if self.nbytes:
            self.buffer.copy_in(np.ascontiguousarray(arr, dtype=self.dtype))

    def numpy(self) -> np.ndarray:
        """A host copy (the buffer is invalidated first)."""
        raw = self.buffer.copy_out(self.nbytes) if self.nbytes else np.zeros(0, np.uint8)
        return raw.view(self.dtype).reshape(self.shape)

    def free(self) -> None:
        self.buffer.free()

    def __enter__(self) -> DeviceArray:
        return self

    def __exit__(self, *exc: object) -> None:
        if not self.buffer.freed:
            self.free()

    def __repr__(self) -> str:
        return f"DeviceArray(shape={self.shape}, dtype={self.dtype}, addr={self.addr:#x})"


def array(device: Any, data: Any, dtype: Any = None) -> DeviceArray:
    """A device array holding a copy of ``data`` (``device`` may be a CommandQueue)."""
    return DeviceArray.from_numpy(device, data, dtype)


def empty(device: Any, shape: tuple[int, ...] | int, dtype: Any) -> DeviceArray:
    """An uninitialised device array."""
    return DeviceArray(device, shape, dtype)
