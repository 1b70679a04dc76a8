"""ctypes binding of a compiled simulator library (see harness.cpp for the C side).

:class:`VerilatorModel` is one instance of the Verilated design with its AXI DRAM model
serving a :class:`~vta.sim.dram.Dram` in place (the C side gets the numpy array's address),
AXI4-Lite register access, and a run loop that stays in C until the design raises CTRL
done or a cycle limit passes.  :meth:`VerilatorModel.run` executes a VTA program with the
register protocol of SPEC section 7 and returns the hardware counters.
"""

from __future__ import annotations

import ctypes
import time
from dataclasses import dataclass, field
from pathlib import Path

from vta.hw import regmap
from vta.hw.config import VTAConfig
from vta.hw.errors import VTAError
from vta.sim.dram import Dram

from .build import BuiltModel

__all__ = ["VerilatorModel", "VerilatorError", "CycleLimitError", "DramTiming", "SimRun"]

_OK, _LIMIT, _LITE_TIMEOUT, _DRAM_ERROR, _NO_TRACE = 0, 1, -1, -2, -3
_STAT_NAMES = ("read_bytes", "write_bytes", "read_bursts", "write_bursts", "read_beats",
               "write_beats", "r_stall_cycles", "w_wait_cycles", "error_bursts")


class VerilatorError(VTAError):
    """The simulated design misbehaved: a bus error, a protocol error or no response."""


class CycleLimitError(VerilatorError):
    """A run did not raise done within its cycle limit; the message reads STATUS."""


@dataclass(frozen=True)
class DramTiming:
    """Timing of the AXI DRAM model.

    Parameters
    ----------
    read_latency:
        Cycles from a read address handshake to the first data beat.
    write_latency:
        Cycles from a write burst's last data beat to its response.
    bytes_per_cycle:
        Sustained bytes per cycle in each direction; 0 means one full bus beat per cycle.
    max_reads, max_writes:
        Bursts the slave accepts before it stops taking addresses.
    """

    read_latency: int = 32
    write_latency: int = 32
    bytes_per_cycle: int = 0
    max_reads: int = 8
    max_writes: int = 8

    def __post_init__(self) -> None:
        for name in ("read_latency", "write_latency", "bytes_per_cycle"):
            value = getattr(self, name)
            if not isinstance(value, int) or not 0 <= value < 1 << 31:
                raise VerilatorError(f"DramTiming.{name} must be an integer >= 0, not {value!r}")
        for name in ("max_reads", "max_writes"):
            value = getattr(self, name)
            if not isinstance(value, int) or not 1 <= value <= 1024:
                raise VerilatorError(f"DramTiming.{name} must be in [1, 1024], not {value!r}")

    @classmethod
    def for_config(cls, config: VTAConfig) -> DramTiming:
        """The board's defaults: ``DRAM_LATENCY`` both ways, full bus bandwidth, 8 bursts.

        The Zynq HP ports accept 8 outstanding reads; at the configured clocks the bus
        (not the DDR) limits bandwidth on every supported board.
        """
        return cls(read_latency=config.DRAM_LATENCY, write_latency=config.DRAM_LATENCY)


@dataclass
class SimRun:
    """The outcome of :meth:`VerilatorModel.run`: counters read from the registers.

    ``cycles`` is the hardware CYCLES counter (start to done); ``sim_cycles`` the cycles
    the simulation advanced (register traffic and done polling included); ``counters``
    every name in :data:`vta.hw.regmap.COUNTERS`; ``dram`` the DRAM model's own traffic
    statistics; ``wall_time`` seconds spent in C.
    """

    cycles: int
    sim_cycles: int
    counters: dict[str, int]
    dram: dict[str, int]
    wall_time: float
    config: VTAConfig | None = None
    extra: dict[str, float] = field(default_factory=dict)

    def gemm_utilization(self, config: VTAConfig | None = None) -> float:
        """GEMM_UOPS x MACs per uop / (cycles x BATCH x BLOCK_IN x BLOCK_OUT).

        Reset uops count as uops in the hardware counter, so this is an upper bound when a
        program zeroes accumulators with GEMM reset.
        """
        config = config or self.config
        if config is None or self.cycles == 0:
            return 0.0
        return self.counters.get("GEMM_UOPS", 0) / self.cycles

    def dma_bandwidth(self) -> float:
        """DMA bytes (read + written) per cycle."""
        if self.cycles == 0:
            return 0.0
        return (self.counters.get("DMA_RD_BYTES", 0)
                + self.counters.get("DMA_WR_BYTES", 0)) / self.cycles

    def cycles_per_second(self) -> float:
        """Simulated cycles per wall-clock second."""
        return self.sim_cycles / self.wall_time if self.wall_time > 0 else 0.0

    def table(self) -> str:
        """The counters and derived figures as aligned text."""
        rows = [("cycles", f"{self.cycles:,}")]
        for name in regmap.COUNTERS:
            rows.append((name, f"{self.counters.get(name, 0):,}"))
        for mod in ("LOAD", "COMPUTE", "STORE"):
            busy = self.counters.get(f"{mod}_BUSY", 0)
            if self.cycles:
                rows.append((f"{mod.lower()} busy", f"{100 * busy / self.cycles:.1f} %"))
        rows.append(("GEMM utilization", f"{100 * self.gemm_utilization():.1f} %"))
        rows.append(("DMA bandwidth", f"{self.dma_bandwidth():.2f} B/cycle"))
        if self.config is not None and self.cycles:
            secs = self.cycles / (self.config.CLOCK_MHZ * 1e6)
            rows.append((f"time at {self.config.CLOCK_MHZ} MHz", f"{secs * 1e3:.3f} ms"))
        rows.append(("simulation speed", f"{self.cycles_per_second() / 1e6:.2f} M cycles/s"))
        width = max(len(k) for k, _ in rows)
        return "\n".join(f"{k:<{width}}  {v:>16}" for k, v in rows)


def _load(path: Path) -> ctypes.CDLL:
    lib = ctypes.CDLL(str(path))
    vp, u32, u64 = ctypes.c_void_p, ctypes.c_uint32, ctypes.c_uint64
    sigs = {
        "vsim_new": ([], vp), "vsim_free": ([vp], None),
        "vsim_features": ([ctypes.POINTER(u32)], ctypes.c_int),
        "vsim_set_memory": ([vp, vp, u64, u64], None),
        "vsim_set_timing": ([vp, u32, u32, u32, u32, u32], None),
        "vsim_reset": ([vp, u32], None),
        "vsim_step": ([vp, u64], ctypes.c_int),
        "vsim_reg_write": ([vp, u32, u32, u64], ctypes.c_int),
        "vsim_reg_read": ([vp, u32, ctypes.POINTER(u32), u64], ctypes.c_int),
        "vsim_run_until_done": ([vp, u64], ctypes.c_int),
        "vsim_cycle": ([vp], u64), "vsim_fast_ticks": ([vp], u64),
        "vsim_quiet_ticks": ([vp], u64),
        "vsim_interrupt": ([vp], ctypes.c_bool),
        "vsim_error": ([vp], ctypes.c_char_p),
        "vsim_stats": ([vp, ctypes.POINTER(u64)], None), "vsim_clear_stats": ([vp], None),
        "vsim_trace_open": ([vp, ctypes.c_char_p, u64, u64], ctypes.c_int),
        "vsim_trace_close": ([vp], None),
    }
    for name, (args, res) in sigs.items():
        fn = getattr(lib, name)
        fn.argtypes = args
        fn.restype = res
    return lib


class VerilatorModel:
    """One simulated instance of a compiled design, serving ``dram``'s memory in place.

    Parameters
    ----------
    built:
        The library from :func:`~vta.sim.verilator.build.build_library` (or its path).
    dram:
        The memory the design's AXI master reads and writes (``dram.mem`` is used in place).
    timing:
        DRAM model timing; :meth:`DramTiming.for_config` of ``config`` when omitted.
    config:
        The VTA configuration, for defaults and derived figures (optional for other designs).
    lite_timeout:
        Cycles an AXI4-Lite register access may take before it is an error.
    """

    def __init__(self, built: BuiltModel | str | Path, dram: Dram, *,
                 timing: DramTiming | None = None, config: VTAConfig | None = None,
                 lite_timeout: int = 1000) -> None:
        path = built.library if isinstance(built, BuiltModel) else Path(built)
        self._lib = _load(path)
        self.config = config
        self.dram = dram
        self.lite_timeout = lite_timeout
        bus = ctypes.c_uint32()
        self.features = self._lib.vsim_features(ctypes.byref(bus))
        self.bus_bytes = bus.value
        self._h = self._lib.vsim_new()
        if not self._h:
            raise VerilatorError(f"cannot create a model instance from {path}")
        self._mem = dram.mem        # keep the array alive while C holds its address
        self._lib.vsim_set_memory(self._h, dram.mem.ctypes.data, dram.base, dram.size)
        if timing is None:
            timing = DramTiming.for_config(config) if config is not None else DramTiming()
        self.set_timing(timing)
        self.reset()

    # ------------------------------------------------------------------ life cycle
    def close(self) -> None:
        """Free the C++ model (closes an open trace)."""
        if getattr(self, "_h", None):
            self._lib.vsim_free(self._h)
            self._h = None

    def __enter__(self) -> VerilatorModel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass

    def _handle(self) -> int:
        if not self._h:
            raise VerilatorError("the Verilator model is closed")
        if self.dram.mem is not self._mem:     # the Dram got a new array: follow it
            self._mem = self.dram.mem
            self._lib.vsim_set_memory(self._h, self._mem.ctypes.data, self.dram.base,
                                      self.dram.size)
        return self._h

    def set_timing(self, timing: DramTiming) -> None:
        """Change the DRAM model's timing (takes effect for new bursts)."""
        self.timing = timing
        self._lib.vsim_set_timing(self._handle(), timing.read_latency, timing.write_latency,
                                  timing.bytes_per_cycle, timing.max_reads, timing.max_writes)

    def reset(self, cycles: int = 4) -> None:
        """Hold ``ap_rst_n`` low for ``cycles`` cycles; drops bursts in flight and errors."""
        self._lib.vsim_reset(self._handle(), cycles)

    # ------------------------------------------------------------------ access
    @property
    def cycle(self) -> int:
        """Cycles simulated since the model was created."""
        return self._lib.vsim_cycle(self._handle())

    @property
    def fast_cycles(self) -> int:
        """Cycles simulated with one evaluation of the model instead of two (the low clock
        phase skipped: see ``harness.cpp``); 0 in builds without the feature."""
        return self._lib.vsim_fast_ticks(self._handle())

    @property
    def quiet_cycles(self) -> int:
        """Of :attr:`fast_cycles`, those whose inputs equalled the last evaluation's, so the
        model ran only its clocked regions (see ``harness.cpp``); 0 without the feature."""
        return self._lib.vsim_quiet_ticks(self._handle())

    @property
    def clocked_evaluation(self) -> bool:
        """Whether this build evaluates cycles with unchanged inputs without the
        input-combinational region (bit 3 of the library's features)."""
        return bool(self.features & 8)

    @property
    def single_evaluation(self) -> bool:
        """Whether this build simulates quiet cycles with one evaluation (bit 2 of the
        library's features)."""
        return bool(self.features & 4)

    @property
    def interrupt(self) -> bool:
        return bool(self._lib.vsim_interrupt(self._handle()))

    def _check(self, status: int, what: str) -> None:
        if status == _OK:
            return
        message = (self._lib.vsim_error(self._h) or b"").decode(errors="replace")
        if status == _DRAM_ERROR:
            raise VerilatorError(f"{what}: {message} (cycle {self.cycle})")
        if status == _LITE_TIMEOUT:
            raise VerilatorError(f"{what}: {message}")
        raise VerilatorError(f"{what}: status {status} {message}")

    def write_reg(self, offset: int, value: int) -> None:
        """Write a 32-bit register through the AXI4-Lite port."""
        if offset % 4 or not 0 <= offset < regmap.REGMAP_BYTES:
            raise VerilatorError(f"register offset must be a multiple of 4 below "
                                 f"{regmap.REGMAP_BYTES:#x}, not {offset:#x}")
        self._check(self._lib.vsim_reg_write(self._handle(), offset, value & 0xFFFF_FFFF,
                                             self.lite_timeout), f"write {offset:#x}")

    def read_reg(self, offset: int) -> int:
        """Read a 32-bit register through the AXI4-Lite port."""
        if offset % 4 or not 0 <= offset < regmap.REGMAP_BYTES:
            raise VerilatorError(f"register offset must be a multiple of 4 below "
                                 f"{regmap.REGMAP_BYTES:#x}, not {offset:#x}")
        value = ctypes.c_uint32()
        self._check(self._lib.vsim_reg_read(self._handle(), offset, ctypes.byref(value),
                                            self.lite_timeout), f"read {offset:#x}")
        return value.value

    def step(self, cycles: int) -> None:
        """Advance ``cycles`` clock cycles."""
        self._check(self._lib.vsim_step(self._handle(), cycles), "step")

    def run_until_done(self, max_cycles: int) -> bool:
        """Poll CTRL in C until done (True) or ``max_cycles`` cycles have passed (False)."""
        status = self._lib.vsim_run_until_done(self._handle(), max_cycles)
        if status == _LIMIT:
            return False
        self._check(status, "run")
        return True

    def dram_stats(self) -> dict[str, int]:
        """The DRAM model's traffic since the last :meth:`clear_dram_stats` or creation."""
        out = (ctypes.c_uint64 * len(_STAT_NAMES))()
        self._lib.vsim_stats(self._handle(), out)
        return dict(zip(_STAT_NAMES, out, strict=True))

    def clear_dram_stats(self) -> None:
        self._lib.vsim_clear_stats(self._handle())

    # ------------------------------------------------------------------ traces
    def trace(self, path: str | Path, start: int = 0, stop: int = 1 << 62) -> None:
        """Record the cycles ``[start, stop)`` (absolute, see :attr:`cycle`) to ``path``.

        Needs a library built with ``trace="vcd"`` or ``"fst"``.
        """
        status = self._lib.vsim_trace_open(self._handle(), str(path).encode(), start, stop)
        if status == _NO_TRACE:
            raise VerilatorError("this model was built without tracing; build it with "
                                 "trace='vcd' or 'fst' (vta sim trace does)")

    def close_trace(self) -> None:
        self._lib.vsim_trace_close(self._handle())

    # ------------------------------------------------------------------ VTA programs
    def start(self, insn_addr: int, insn_count: int) -> None:
        """Program INSN_ADDR/INSN_COUNT and write CTRL start (SPEC section 7)."""
        r = regmap.BY_NAME
        self.write_reg(r["INSN_ADDR_LO"].offset, insn_addr & 0xFFFF_FFFF)
        self.write_reg(r["INSN_ADDR_HI"].offset, insn_addr >> 32)
        self.write_reg(r["INSN_COUNT"].offset, insn_count)
        self.write_reg(r["CTRL"].offset, regmap.CTRL_START)

    def read_counters(self) -> tuple[int, dict[str, int]]:
        """(CYCLES, {counter name: value}) from the registers."""
        r = regmap.BY_NAME
        cycles = self.read_reg(r["CYCLES_LO"].offset) | \
            self.read_reg(r["CYCLES_HI"].offset) << 32
        return cycles, {name: self.read_reg(r[name].offset) for name in regmap.COUNTERS}

    def run(self, insn_addr: int, insn_count: int, *, max_cycles: int = 1 << 40) -> SimRun:
        """Run a program of ``insn_count`` instructions at ``insn_addr`` to completion.

        Raises
        ------
        CycleLimitError
            When done does not rise within ``max_cycles``; names what STATUS reports.
        VerilatorError
            On a DRAM access outside memory or an AXI protocol error.
        """
        self.clear_dram_stats()
        begin = self.cycle
        t0 = time.perf_counter()
        self.start(insn_addr, insn_count)
        if not self.run_until_done(max_cycles):
            status = self.read_reg(regmap.BY_NAME["STATUS"].offset)
            done = self.read_reg(regmap.BY_NAME["INSN_DONE"].offset)
            raise CycleLimitError(
                f"the program did not finish within {max_cycles:,} cycles: "
                f"{regmap.describe_status(status)}; {done} of {insn_count} instructions done")
        wall = time.perf_counter() - t0
        cycles, counters = self.read_counters()
        return SimRun(cycles=cycles, sim_cycles=self.cycle - begin, counters=counters,
                      dram=self.dram_stats(), wall_time=wall, config=self.config)
