"""Errors of the driver layer: every one is a :class:`~vta.hw.errors.VTAError`.

Out-of-memory comes from the device memory itself (:class:`vta.sim.dram.DramError` for the
simulated devices); it is a ``VTAError`` too, so callers catch one base class.

An invalid program is a :class:`DeviceProgramError` on every device, with the message and
:class:`~vta.hw.program_errors.ErrorKind` fsim gives for it (fsim finds it in software, the
RTL devices and boards read it from the hardware's error registers); a deadlock is also a
:class:`DeviceTimeout`, as a program that never finishes always was.
"""

from __future__ import annotations

from vta.hw.errors import VTAError
from vta.hw.program_errors import ErrorKind, ProgramError

__all__ = ["DeviceError", "DeviceTimeout", "DeviceProgramError", "DeviceDeadlock"]


class DeviceError(VTAError):
    """A device cannot be opened or used: unknown kind, missing tool, bad buffer or register."""


class DeviceTimeout(DeviceError):  # noqa: N818 - the name callers know
    """A run did not finish: the message names what each module was waiting on."""


class DeviceProgramError(DeviceError, ProgramError):
    """The device rejected the program: ``kind`` and ``index`` as
    :class:`~vta.hw.program_errors.ProgramError`, ``device`` the backend that found it."""

    def __init__(self, message: str, kind: ErrorKind, index: int | None = None, *,
                 device: str = "") -> None:
        ProgramError.__init__(self, message, kind, index)
        self.device = device

    @classmethod
    def of(cls, err: ProgramError, device: str) -> DeviceProgramError:
        """The device error for ``err`` (a deadlock becomes a :class:`DeviceDeadlock`)."""
        if err.kind == ErrorKind.DEADLOCK:
            return DeviceDeadlock(str(err), err.kind, err.index, device=device)
        return cls(str(err), err.kind, err.index, device=device)


class DeviceDeadlock(DeviceProgramError, DeviceTimeout):  # noqa: N818 - like DeviceTimeout
    """The program deadlocked: no module can proceed before FINISH (the hardware noticed at
    once, or fsim computed it); the message names each blocked module and channel."""
