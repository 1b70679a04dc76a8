"""The ``fsim`` backend: the numpy functional simulator behind the Device protocol.

Runs are synchronous and untimed (``RunResult.cycles`` is ``None``); the result carries the
simulator's counters, its :class:`~vta.sim.fsim.FsimStats` and the useful MAC count.  An
invalid program raises :class:`~.errors.DeviceProgramError` with the simulator's message
(every device raises the same); a deadlock, found at once, is a
:class:`~.errors.DeviceDeadlock` (also a :class:`DeviceTimeout`), so ``timeout`` is never
needed and is ignored.  :meth:`FsimDevice.reset` zeroes the SRAMs (power-on state).

Registers are emulated minimally so register-level code runs here too: ``INSN_ADDR_LO/HI``,
``INSN_COUNT``, ``GIE``, ``IER`` hold what is written; writing ``CTRL`` start runs the
program at once; ``CTRL`` then reads done|idle, ``ISR`` bit 0 is set when ``IER`` bit 0 is
(write 1 to clear), the counters read the last run's values, ``CYCLES_LO/HI`` and ``STATUS``
read 0.
"""

from __future__ import annotations

from typing import Any

from vta.hw.config import VTAConfig
from vta.hw.program_errors import ProgramError
from vta.hw.regmap import BY_NAME, CTRL_DONE, CTRL_IDLE, CTRL_START, REGISTERS
from vta.sim.dram import Dram

from .dram_device import DramDevice
from .errors import DeviceError, DeviceProgramError
from .result import RunResult

__all__ = ["FsimDevice", "open_device"]

_BY_OFFSET = {r.offset: r for r in REGISTERS}


class FsimDevice(DramDevice):
    """The functional simulator as a device.

    Parameters
    ----------
    config:
        Hardware configuration.
    dram_bytes:
        Size of the simulated DRAM (default 256 MiB, allocated lazily by the OS).
    dram:
        An existing :class:`~vta.sim.dram.Dram` to use instead.
    """

    kind = "fsim"
    timed = False

    def __init__(self, config: VTAConfig, *, dram_bytes: int = 256 << 20,
                 dram: Dram | None = None) -> None:
        super().__init__(config)
        try:
            from vta.sim.fsim import FunctionalSimulator
        except ImportError as e:
            raise DeviceError(f"fsim backend unavailable: cannot import vta.sim.fsim ({e})") \
                from None
        self.memory = dram if dram is not None else Dram(dram_bytes)
        self.sim = FunctionalSimulator(config, self.memory)
        self._regs: dict[str, int] = {r.name: 0 for r in REGISTERS}
        self._regs["CTRL"] = CTRL_IDLE

    def _run(self, insn_addr: int, insn_count: int, timeout: float | None) -> RunResult:
        try:
            stats = self.sim.run(insn_addr, insn_count)
        except ProgramError as e:
            raise DeviceProgramError.of(e, self.kind) from None
        counters = dict(stats.counters())
        self._regs.update({k: v & 0xFFFF_FFFF for k, v in counters.items() if k in BY_NAME})
        self._regs["CTRL"] = CTRL_IDLE | CTRL_DONE
        if self._regs["IER"] & 1:
            self._regs["ISR"] |= 1
        return RunResult(self.kind, insn_count, None, counters, stats=stats,
                         macs=stats.macs(self.config))

    def reset(self) -> None:
        """Zero every SRAM, as after power-on (memory is kept)."""
        self._check_open()
        self.sim.reset()

    # ------------------------------------------------------------------ registers
    def _register(self, offset: Any) -> str:
        reg = _BY_OFFSET.get(offset) if isinstance(offset, int) else None
        if reg is None:
            raise DeviceError(f"no control register at offset {offset!r}; see "
                              f"vta.hw.regmap.REGISTERS")
        return reg.name

    def read_reg(self, offset: int) -> int:
        self._check_open()
        return self._regs[self._register(offset)]

    def write_reg(self, offset: int, value: int) -> None:
        self._check_open()
        name = self._register(offset)
        if not isinstance(value, int) or not 0 <= value < 1 << 32:
            raise DeviceError(f"register {name} takes a 32-bit unsigned value, not {value!r}")
        access = BY_NAME[name].access
        if access == "ro":
            raise DeviceError(f"register {name} is read-only")
        if access == "w1c":
            self._regs[name] &= ~value
            return
        if name == "CTRL":
            if value & CTRL_START:
                self._regs["CTRL"] = 0
                addr = self._regs["INSN_ADDR_LO"] | self._regs["INSN_ADDR_HI"] << 32
                self.run(addr, self._regs["INSN_COUNT"], timeout=None)
            return
        self._regs[name] = value


def open_device(config: VTAConfig, **options: Any) -> FsimDevice:
    """Backend entry point of ``vta.driver.open_device("fsim", ...)``."""
    return FsimDevice(config, **options)
