"""Differential fuzzing of a device against the functional simulator.

:func:`fuzz_device` runs random programs on a device and on fsim from the same memory
image and compares them:

* *valid* programs (:func:`vta.sim.progen.random_program`): the device's whole DRAM after
  the run must equal fsim's, and the GEMM/ALU uop, instruction and written-byte counters
  must agree.  The fsim shadow runs every valid program the device runs, in order, so
  both SRAM histories are the same.
* *invalid* programs: a valid program with one mutation (:func:`vta.sim.progen_mutate.mutate`)
  on a second device instance and shadow.  Both must end the same way: success, or the
  same :class:`~vta.hw.program_errors.ErrorKind` with the same message.  Before each, both
  zero their UOP buffer (the one SRAM whose contents decide errors: GEMM/ALU indices), since
  a device that stopped on an error has executed a different prefix than fsim.

Program ``i`` of a run draws everything from ``numpy.random.default_rng((seed, i))`` (valid)
or ``(seed, i, 1)`` (invalid), so one program reproduces alone.

Outcomes must not depend on the machine's load, so device runs are bounded in simulated
cycles (the device's ``max_cycles="auto"``: :func:`~.cycle_budget.cycle_budget`), not by a
wall-clock timeout unless one is given.  A mutation can turn a word into a legal but huge
loop nest (a LOAD read as a GEMM of 68 x 512 x 512 uops: 17.8 M cycles, two minutes of
Verilator under load, where a 120 s timeout used to report a "timeout" against fsim's
answer); mutants whose cycle budget exceeds :data:`MAX_MUTANT_CYCLES` are not run, and
counted as skipped.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from vta.hw import isa
from vta.hw.errors import VTAError
from vta.hw.isa import MemType
from vta.hw.program_errors import ProgramError
from vta.sim.dram import Dram
from vta.sim.fsim import FunctionalSimulator
from vta.sim.progen import random_program
from vta.sim.progen_mutate import mutate

from .cycle_budget import cycle_budget
from .device import Device
from .errors import DeviceProgramError, DeviceTimeout

__all__ = ["fuzz_device", "FuzzStats", "Mismatch", "COMPARED_COUNTERS", "MAX_MUTANT_CYCLES"]

#: Counters every device must report exactly as fsim computes them.
COMPARED_COUNTERS = ("GEMM_UOPS", "ALU_UOPS", "INSN_DONE", "DMA_WR_BYTES")
#: Mutants whose cycle budget is larger are skipped (none of the 10,000 of seed 2026
#: on tiny or default).
MAX_MUTANT_CYCLES = 1 << 30


@dataclass
class Mismatch:
    """One program on which the device and fsim disagree."""

    index: int
    what: str            # "valid", or "invalid: <mutation>"
    fsim: str
    device: str


@dataclass
class FuzzStats:
    """What :func:`fuzz_device` ran and found."""

    kind: str
    config: str
    seed: int
    valid: int = 0
    invalid: int = 0
    outcomes: Counter = field(default_factory=Counter)   # invalid programs: outcome class
    skipped: int = 0     # mutants over MAX_MUTANT_CYCLES, not run
    mismatches: list[Mismatch] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def programs(self) -> int:
        return self.valid + self.invalid


class _Shadow:
    """fsim on a copy of a device's memory (same base and size, same addresses)."""

    def __init__(self, device: Device) -> None:
        mem = device.memory
        self.device = device
        self.dram = Dram(mem.size, base=mem.base)
        self.sim = FunctionalSimulator(device.config, self.dram)

    def sync(self) -> None:
        self.dram.mem[:] = self.device.memory.mem


def _outcome_device(run: Callable[[], object]) -> tuple[str, str]:
    try:
        run()
    except DeviceProgramError as e:
        return e.kind.name, str(e)
    except DeviceTimeout as e:
        return "timeout", str(e)
    except VTAError as e:
        return "device error", str(e)
    return "ok", ""


def _outcome_fsim(run: Callable[[], object]) -> tuple[str, str]:
    try:
        run()
    except ProgramError as e:
        return e.kind.name, str(e)
    except VTAError as e:
        return "fsim error", str(e)
    return "ok", ""


def _program(config, rng: np.random.Generator, dram: Dram):
    return random_program(config, rng, dram, n_blocks=int(rng.integers(1, 5)),
                          virtual_threads=bool(rng.integers(2)), alu_mul=config.ALU_MUL,
                          acc_8bit=bool(rng.integers(2)))


def _check_valid(device: Device, shadow: _Shadow, index: int, rng: np.random.Generator,
                 timeout: float | None, stats: FuzzStats) -> None:
    prog = _program(device.config, rng, device.memory)
    try:
        shadow.sync()
        try:
            result = device.run(prog.insn_addr, prog.insn_count, timeout=timeout)
        except VTAError as e:
            stats.mismatches.append(Mismatch(index, "valid", "ok", f"{type(e).__name__}: {e}"))
            return
        try:
            expect = shadow.sim.run(prog.insn_addr, prog.insn_count).counters()
        except VTAError as e:
            stats.mismatches.append(Mismatch(index, "valid", f"{type(e).__name__}: {e}", "ok"))
            return
        mem, ref = device.memory.mem, shadow.dram.mem
        if not np.array_equal(mem, ref):
            diff = np.flatnonzero(mem != ref)
            stats.mismatches.append(Mismatch(
                index, "valid", "DRAM", f"DRAM differs at {diff.size} bytes, first at "
                f"{device.memory.base + int(diff[0]):#x}"))
            return
        bad = {k: (result.counters[k], expect[k]) for k in COMPARED_COUNTERS
               if result.counters[k] != expect[k]}
        if bad:
            stats.mismatches.append(Mismatch(index, "valid", "counters",
                                             f"counters (device, fsim): {bad}"))
    finally:
        prog.free(device.memory)


class _UopScrub:
    """A program zeroing the UOP buffer, on a device and its shadow."""

    def __init__(self, device: Device) -> None:
        c = device.config
        self.device = device
        self.zeros = device.alloc(c.uop_depth * c.uop_elem_bytes, 64)
        self.zeros.copy_in(np.zeros(self.zeros.nbytes, np.uint8))
        code = isa.encode([isa.Load(memory_type=MemType.UOP,
                                    dram_base=self.zeros.addr // c.uop_elem_bytes, y_size=1,
                                    x_size=c.uop_depth, x_stride=c.uop_depth), isa.Finish()],
                          c)
        self.code = device.alloc(len(code), 64)
        self.code.copy_in(code)

    def run(self, shadow: _Shadow, timeout: float | None) -> None:
        shadow.sync()
        self.device.run(self.code.addr, 2, timeout=timeout)
        shadow.sim.run(self.code.addr, 2)


def _check_invalid(device: Device, shadow: _Shadow, scrub: _UopScrub, index: int,
                   rng: np.random.Generator, timeout: float | None, stats: FuzzStats
                   ) -> bool:
    """Run mutant ``index`` on both; False if it was skipped (over MAX_MUTANT_CYCLES)."""
    prog = _program(device.config, rng, device.memory)
    try:
        change = mutate(prog, device.config, device.memory, rng)
        code = device.memory.read(change.insn_addr,
                                  change.insn_count * device.config.insn_bytes)
        if cycle_budget(code, device.config) > MAX_MUTANT_CYCLES:
            stats.skipped += 1
            return False
        what = f"invalid: {change.kind} of instruction {change.index} ({change.detail})"
        scrub.run(shadow, timeout)
        shadow.sync()
        got = _outcome_device(lambda: device.run(change.insn_addr, change.insn_count,
                                                 timeout=timeout))
        want = _outcome_fsim(lambda: shadow.sim.run(change.insn_addr, change.insn_count))
        stats.outcomes[want[0]] += 1
        if got != want:
            stats.mismatches.append(Mismatch(index, what, f"{want[0]}: {want[1]}",
                                             f"{got[0]}: {got[1]}"))
        return True
    finally:
        prog.free(device.memory)


def fuzz_device(open_device: Callable[[], Device], *, valid: int, invalid: int, seed: int = 0,
                first: int = 0, timeout: float | None = None,
                progress: Callable[[], None] | None = None) -> FuzzStats:
    """Fuzz the devices ``open_device()`` returns (two: one for valid programs, one for
    invalid ones) against fsim; programs ``first`` to ``first + valid`` (and
    ``+ invalid``) of ``seed``.  ``timeout`` (seconds per run, default none) makes the
    outcome depend on the simulator's speed; the devices' cycle limits bound every run.
    ``progress`` is called after each program."""
    t0 = time.perf_counter()
    stats = FuzzStats("", "", seed)
    if valid:
        main = open_device()
        stats.kind, stats.config = main.kind, main.config.name
        try:
            shadow = _Shadow(main)
            for i in range(first, first + valid):
                _check_valid(main, shadow, i, np.random.default_rng((seed, i)), timeout,
                             stats)
                stats.valid += 1
                if progress:
                    progress()
        finally:
            main.close()
    if invalid:
        other = open_device()
        stats.kind, stats.config = other.kind, other.config.name
        try:
            shadow = _Shadow(other)
            scrub = _UopScrub(other)
            for i in range(first, first + invalid):
                if _check_invalid(other, shadow, scrub, i,
                                  np.random.default_rng((seed, i, 1)), timeout, stats):
                    stats.invalid += 1
                if progress:
                    progress()
        finally:
            other.close()
    stats.seconds = time.perf_counter() - t0
    return stats
