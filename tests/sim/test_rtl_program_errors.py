"""Bad programs flagged by the gateware: every error class on pysim (tiny, and tiny with
the co-design knobs: two compute units) and Verilator (default) raises fsim's exact
error, stops cleanly and leaves the device usable.

For each program of :data:`tests.sim.bad_programs.BAD_PROGRAMS` the RTL device and fsim
get the same memory image; both must raise a :class:`DeviceProgramError` (a
``DeviceDeadlock`` for a deadlock) of the same kind, index and message.  A valid program
then runs on the same RTL device and writes what fsim writes.  Cycle limits and host
aborts, ``reset()`` on every device and the speed of deadlock detection are checked too.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from vta.driver import DeviceDeadlock, DeviceProgramError, DeviceTimeout, open_device
from vta.hw import VTAConfig, isa
from vta.hw.program_errors import ErrorKind

from tests.sim.bad_programs import BAD_PROGRAMS, Pair, good_program

pytestmark = pytest.mark.slow

CODESIGN = VTAConfig.preset("tiny").replace(GEMM_OVERWRITE=True, ALU_OVERLAP=True)
DEVICES = {"pysim": ("pysim", "tiny"), "verilator": ("verilator", "default"),
           "pysim-codesign": ("pysim", CODESIGN)}
_pairs: dict[str, Pair] = {}


@pytest.fixture(scope="module", params=sorted(DEVICES))
def pair(request):
    name = request.param
    if name not in _pairs:
        kind, config = DEVICES[name]
        options = {"progress": False} if kind == "verilator" else {}
        rtl = open_device(kind, config, dram_bytes=1 << 20, **options)
        _pairs[name] = Pair(rtl, open_device("fsim", config, dram_bytes=1 << 20))
    yield _pairs[name]


def teardown_module() -> None:
    for p in _pairs.values():
        p.rtl.close()
        p.fsim.close()
    _pairs.clear()


def _assert_works(pair: Pair) -> None:
    code, (out_rtl, out_fsim) = good_program(pair)
    rtl, fsim = pair.run(code)
    assert not isinstance(rtl, Exception), rtl
    assert rtl.counters["INSN_DONE"] == fsim.counters["INSN_DONE"]
    assert np.array_equal(out_rtl.view(), out_fsim.view())
    out_rtl.free()
    out_fsim.free()


@pytest.mark.parametrize("case", sorted(BAD_PROGRAMS))
def test_rtl_raises_fsims_error_and_recovers(pair, case):
    kind, build = BAD_PROGRAMS[case]
    code = build(pair)
    t0 = time.perf_counter()
    rtl, fsim = pair.run(code)
    seconds = time.perf_counter() - t0
    assert isinstance(fsim, DeviceProgramError), fsim
    assert isinstance(rtl, DeviceProgramError), rtl
    assert type(rtl) is type(fsim) and rtl.kind == fsim.kind == kind
    assert (str(rtl), rtl.index) == (str(fsim), fsim.index)
    assert "\n" not in str(rtl) and rtl.device == pair.rtl.kind
    if kind == ErrorKind.DEADLOCK:
        assert isinstance(rtl, DeviceDeadlock) and isinstance(rtl, DeviceTimeout)
        assert seconds < 1.0 or pair.rtl.kind == "pysim"   # found at once, not timed out
    _assert_works(pair)


def test_deadlock_is_found_in_a_few_cycles(pair):
    """The hardware notices a deadlock by itself: the run ends within ~100 cycles of
    stalling, far below any cycle limit or timeout."""
    code = BAD_PROGRAMS["deadlock"][1](pair)
    buf = pair.rtl.alloc(len(code), 64)
    buf.copy_in(code)
    before = pair.rtl.read_reg(0x20)
    with pytest.raises(DeviceDeadlock):
        pair.rtl.run(buf.addr, len(code) // pair.config.insn_bytes, timeout=600)
    cycles = pair.rtl.read_reg(0x20)          # CYCLES_LO of the stopped run
    assert cycles < 300, (before, cycles)
    buf.free()


def test_cycle_limit_stops_a_long_run_and_the_next_run_works(pair):
    """A legal but long GEMM past ``max_cycles``: the driver aborts it (the hardware cuts the
    loop short and drains), raises a timeout naming where each module was, and the
    device runs the next program without a reset."""
    loop = isa.Gemm(uop_end=1, iter_out=4000, iter_in=4000)
    code = isa.encode([isa.Gemm(), loop, isa.Finish()], pair.config)
    buf = pair.rtl.alloc(len(code), 64)
    buf.copy_in(code)
    pair.rtl.max_cycles = 3000
    try:
        with pytest.raises(DeviceTimeout, match=r"did not finish within .*3,000 cycles: "
                                                r"compute busy; fetch routed 3 of 3 .*compute "
                                                r"took 2 \(last: instruction 1 GEMM\)"):
            pair.rtl.run(buf.addr, 3, timeout=600)
    finally:
        pair.rtl.max_cycles = "auto"
        buf.free()
    _assert_works(pair)


def test_reset_exists_and_keeps_memory(pair):
    for dev in (pair.rtl, pair.fsim):
        buf = dev.alloc(64)
        buf.copy_in(np.arange(64, dtype=np.uint8))
        dev.reset()
        assert np.array_equal(buf.view(), np.arange(64, dtype=np.uint8))
        buf.free()
    _assert_works(pair)


def test_timeout_aborts_and_the_next_run_works(pair):
    """With no cycle limit a run past its timeout (seconds of simulator CPU time) is aborted
    (not left running to wedge the device) soon after the deadline -- the simulators look
    at the clock every ~50 ms of simulation, not every 2^21 cycles (7 s on a loaded
    machine) --
    ``DeviceTimeout`` names where each module was, and the next run works at once,
    without a reset."""
    loop = isa.Gemm(uop_end=1, iter_out=16383, iter_in=16383)       # 268M cycles
    code = isa.encode([isa.Gemm(), loop, isa.Finish()], pair.config)
    buf = pair.rtl.alloc(len(code), 64)
    buf.copy_in(code)
    pair.rtl.max_cycles = None
    t0 = time.thread_time()
    try:
        with pytest.raises(DeviceTimeout, match=r"did not finish within 0.2 s of simulator "
                                                r"CPU time: compute busy; "
                                                r".*compute took 2 \(last: instruction 1 "
                                                r"GEMM\)") as e:
            pair.rtl.run(buf.addr, 3, timeout=0.2)
        assert time.thread_time() - t0 < 2.0     # CPU seconds: the same on a loaded machine
        assert "reset" not in str(e.value)            # the abort stopped it
    finally:
        pair.rtl.max_cycles = "auto"
        buf.free()
    t0 = time.perf_counter()
    _assert_works(pair)
    assert time.perf_counter() - t0 < 30
