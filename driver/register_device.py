"""Register-programmed devices (pysim, verilator, pynq): the SPEC section 7 run protocol.

:class:`RegisterDevice` implements :meth:`Device.run` once for every backend that talks to
the accelerator through its AXI4-Lite control registers (:mod:`vta.hw.regmap`):

1. write ``INSN_ADDR_LO``/``INSN_ADDR_HI`` and ``INSN_COUNT``;
2. write ``CTRL`` = start;
3. wait for ``CTRL`` done through :meth:`RegisterDevice._wait_done`, which the subclass
   implements (a simulator advances simulated time, a board polls MMIO), within the
   wall-clock ``timeout`` and, on simulators, a cycle limit;
4. if ``ERROR`` is set the hardware stopped on an invalid program: raise the
   :class:`~.errors.DeviceProgramError` fsim raises for it (:mod:`.program_fault`);
5. otherwise read ``CYCLES_LO``/``CYCLES_HI`` and every counter of
   :data:`vta.hw.regmap.COUNTERS`.

A run that does not finish in time is stopped with CTRL abort (the hardware empties its
pipeline, so the next run starts clean) -- or, if even that does not end it, the device
is reset -- and raises :class:`DeviceTimeout` naming where each module was.  Memory comes
from a Dram-like ``self.memory`` the subclass creates (see
:class:`~vta.driver.dram_device.DramDevice`); a board backend overrides the memory
primitives instead.
"""

from __future__ import annotations

import abc
import time

import numpy as np
from vta.hw.isa import count_gemm_uops
from vta.hw.regmap import BY_NAME, COUNTERS, CTRL_ABORT, CTRL_DONE, CTRL_START

from .cycle_budget import cycle_budget
from .dram_device import DramDevice
from .errors import DeviceError, DeviceProgramError, DeviceTimeout
from .program_fault import ProgramWords, describe_positions, read_fault
from .result import RunResult

__all__ = ["RegisterDevice", "ABORT_CYCLES", "ABORT_SECONDS", "check_max_cycles"]

#: Simulated cycles and seconds an aborted run may take to stop (the instructions it is
#: executing finish their DMA); past them the device is reset.
ABORT_CYCLES = 1 << 20
ABORT_SECONDS = 1.0


def _reg(name: str) -> int:
    return BY_NAME[name].offset


class RegisterDevice(DramDevice):
    """Base of register-programmed backends: subclasses implement the three primitives.

    Subclasses implement :meth:`read_reg`, :meth:`write_reg`, :meth:`_wait_done` and
    :meth:`reset`, and may override :meth:`_stats` to attach backend extras to the result and
    :attr:`max_cycles` (simulators: ``"auto"`` derives a cycle limit from each program,
    :func:`~.cycle_budget.cycle_budget`; an integer is a fixed limit; ``None`` none).
    """

    timed = True
    max_cycles: int | str | None = None

    @abc.abstractmethod
    def _wait_done(self, deadline: float | None, max_cycles: int | None = None) -> bool:
        """Wait until ``CTRL`` reads done; return False once ``time.perf_counter()`` passes
        ``deadline`` (``None``: no limit) or ``max_cycles`` cycles have been simulated
        since the call (``None``: no limit; boards ignore it)."""

    def _stats(self) -> object:
        """Backend extras attached to :attr:`RunResult.stats` (default ``None``)."""
        return None

    def _read(self, name: str) -> int:
        return self.read_reg(_reg(name))

    def _run(self, insn_addr: int, insn_count: int, timeout: float | None) -> RunResult:
        code = self._program_code(insn_addr, insn_count)
        limit = self._cycle_limit(code)
        self.write_reg(_reg("INSN_ADDR_LO"), insn_addr & 0xFFFF_FFFF)
        self.write_reg(_reg("INSN_ADDR_HI"), insn_addr >> 32)
        self.write_reg(_reg("INSN_COUNT"), insn_count)
        self.write_reg(_reg("CTRL"), CTRL_START)
        deadline = None if timeout is None else time.perf_counter() + timeout
        if not self._wait_done(deadline, limit):
            raise self._stop(insn_addr, insn_count, code, timeout, limit)
        if self._read("ERROR"):
            program = ProgramWords(code, self.config) if code is not None else None
            fault = read_fault(self._read, program, self.config, self._memory_range(),
                               insn_addr)
            raise DeviceProgramError.of(fault, self.kind)
        cycles = self._read("CYCLES_LO") | self._read("CYCLES_HI") << 32
        counters = {name: self._read(name) for name in COUNTERS}
        return RunResult(self.kind, insn_count, cycles, counters, stats=self._stats(),
                         macs=self._program_macs(code))

    def _cycle_limit(self, code: bytes | None) -> int | None:
        limit = self.max_cycles
        if limit == "auto":
            return None if code is None else cycle_budget(code, self.config)
        return limit

    def _stop(self, insn_addr: int, insn_count: int, code: bytes | None,
              timeout: float | None, limit: int | None) -> DeviceTimeout:
        """Stop a run that did not finish; the error to raise says where it was."""
        program = ProgramWords(code, self.config) if code is not None else None
        where = describe_positions(self._read, program)
        self.write_reg(_reg("CTRL"), CTRL_ABORT)
        stopped = self._wait_done(time.perf_counter() + ABORT_SECONDS, ABORT_CYCLES)
        if not stopped:
            self.reset()
        within = [f"{timeout} s" if timeout is not None else None,
                  f"{limit:,} cycles" if limit is not None else None]
        return DeviceTimeout(
            f"{self.kind}: run of {insn_count} instructions at {insn_addr:#x} did not finish "
            f"within {' or '.join(w for w in within if w)}: {where}"
            + ("" if stopped else "; the device was reset"))

    def _program_code(self, insn_addr: int, insn_count: int) -> bytes | None:
        """The program's bytes: from a buffer this device allocated, else (simulated
        memory) straight from the memory; ``None`` where the host cannot see them."""
        nbytes = insn_count * self.config.insn_bytes
        for buf in self._buffers.values():
            if buf.addr <= insn_addr and insn_addr + nbytes <= buf.addr + buf.nbytes:
                start = insn_addr - buf.addr
                return buf.view(np.uint8)[start:start + nbytes].tobytes()
        memory = getattr(self, "memory", None)
        if memory is not None and memory.contains(insn_addr, nbytes):
            return memory.read(insn_addr, nbytes)
        return None

    def _program_macs(self, code: bytes | None) -> int | None:
        """Useful MACs of the program just run, counted from its instruction words.

        The GEMM_UOPS counter includes reset uops; the words tell them apart exactly.
        ``None`` when the program is not in a buffer this device allocated.
        """
        if code is None:
            return None
        mac_uops, _ = count_gemm_uops(code, self.config)
        return mac_uops * self.config.macs_per_cycle

    def _memory_range(self) -> tuple[int, int]:
        """``(first byte, end)`` of device memory, for DRAM error messages."""
        memory = getattr(self, "memory", None)
        if memory is None:
            return (0, 1 << 64)
        return memory.base, memory.base + memory.size

    def done(self) -> bool:
        """Whether ``CTRL`` reads done (for ``_wait_done`` implementations)."""
        return bool(self.read_reg(_reg("CTRL")) & CTRL_DONE)


def check_max_cycles(value: object) -> int | str | None:
    """A ``max_cycles`` option: ``"auto"``, ``None`` or a positive integer."""
    if value is None or value == "auto":
        return value
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise DeviceError(f"max_cycles must be a positive integer, 'auto' or None, "
                          f"not {value!r}")
    return value
