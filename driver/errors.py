"""Errors of the driver layer: every one is a :class:`~vta.hw.errors.VTAError`.

Out-of-memory comes from the device memory itself (:class:`vta.sim.dram.DramError` for the
simulated devices); it is a ``VTAError`` too, so callers catch one base class.
"""

from __future__ import annotations

from vta.hw.errors import VTAError

__all__ = ["DeviceError", "DeviceTimeout"]


class DeviceError(VTAError):
    """A device cannot be opened or used: unknown kind, missing tool, bad buffer or register."""


class DeviceTimeout(DeviceError):  # noqa: N818 - the name callers know
    """A run did not finish: the message names what each module was waiting on."""
