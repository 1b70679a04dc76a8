"""Register-programmed devices (pysim, verilator, pynq): the SPEC section 7 run protocol.

:class:`RegisterDevice` implements :meth:`Device.run` once for every backend that talks to
the accelerator through its AXI4-Lite control registers (:mod:`vta.hw.regmap`):

1. write ``INSN_ADDR_LO``/``INSN_ADDR_HI`` and ``INSN_COUNT``;
2. write ``CTRL`` = start;
3. wait for ``CTRL`` done through :meth:`RegisterDevice._wait_done`, which the subclass
   implements (a simulator advances simulated time, a board polls MMIO);
4. read ``CYCLES_LO``/``CYCLES_HI`` and every counter of :data:`vta.hw.regmap.COUNTERS`.

On timeout it reads ``STATUS`` and ``INSN_DONE`` and raises :class:`DeviceTimeout` naming
what each module waits on.  Memory comes from a Dram-like ``self.memory`` the subclass
creates (see :class:`~vta.driver.dram_device.DramDevice`); a board backend overrides the
memory primitives instead.
"""

from __future__ import annotations

import abc
import time

import numpy as np
from vta.hw.isa import count_gemm_uops
from vta.hw.regmap import BY_NAME, COUNTERS, CTRL_DONE, CTRL_START, describe_status

from .dram_device import DramDevice
from .errors import DeviceTimeout
from .result import RunResult

__all__ = ["RegisterDevice"]


def _reg(name: str) -> int:
    return BY_NAME[name].offset


class RegisterDevice(DramDevice):
    """Base of register-programmed backends: subclasses implement the three primitives.

    Subclasses implement :meth:`read_reg`, :meth:`write_reg` and :meth:`_wait_done`, and
    may override :meth:`_stats` to attach backend extras to the result.
    """

    timed = True

    @abc.abstractmethod
    def _wait_done(self, deadline: float | None) -> bool:
        """Wait until ``CTRL`` reads done; return False once ``time.perf_counter()`` passes
        ``deadline`` (``None``: no limit) without it."""

    def _stats(self) -> object:
        """Backend extras attached to :attr:`RunResult.stats` (default ``None``)."""
        return None

    def _run(self, insn_addr: int, insn_count: int, timeout: float | None) -> RunResult:
        self.write_reg(_reg("INSN_ADDR_LO"), insn_addr & 0xFFFF_FFFF)
        self.write_reg(_reg("INSN_ADDR_HI"), insn_addr >> 32)
        self.write_reg(_reg("INSN_COUNT"), insn_count)
        self.write_reg(_reg("CTRL"), CTRL_START)
        deadline = None if timeout is None else time.perf_counter() + timeout
        if not self._wait_done(deadline):
            status = self.read_reg(_reg("STATUS"))
            done = self.read_reg(_reg("INSN_DONE"))
            raise DeviceTimeout(
                f"{self.kind}: run of {insn_count} instructions at {insn_addr:#x} did not "
                f"finish within {timeout} s: {describe_status(status)}; {done} of "
                f"{insn_count} instructions done")
        cycles = self.read_reg(_reg("CYCLES_LO")) | self.read_reg(_reg("CYCLES_HI")) << 32
        counters = {name: self.read_reg(_reg(name)) for name in COUNTERS}
        return RunResult(self.kind, insn_count, cycles, counters, stats=self._stats(),
                         macs=self._program_macs(insn_addr, insn_count))

    def _program_macs(self, insn_addr: int, insn_count: int) -> int | None:
        """Useful MACs of the program just run, counted from its instruction words.

        The GEMM_UOPS counter includes reset uops; the words tell them apart exactly.
        ``None`` when the program is not in a buffer this device allocated.
        """
        nbytes = insn_count * self.config.insn_bytes
        for buf in self._buffers.values():
            if buf.addr <= insn_addr and insn_addr + nbytes <= buf.addr + buf.nbytes:
                start = insn_addr - buf.addr
                words = buf.view(np.uint8)[start:start + nbytes]
                mac_uops, _ = count_gemm_uops(words.tobytes(), self.config)
                return mac_uops * self.config.macs_per_cycle
        return None

    def done(self) -> bool:
        """Whether ``CTRL`` reads done (for ``_wait_done`` implementations)."""
        return bool(self.read_reg(_reg("CTRL")) & CTRL_DONE)
