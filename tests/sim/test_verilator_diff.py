"""The Verilated ``vta_top`` against the functional simulator, bit for bit, per config.

The directed TVM-style programs and random valid programs of the gateware's differential
suite (tests/sim/pysim_programs.py, :mod:`vta.sim.progen`) run on the ``verilator`` device
and on fsim from the same DRAM image: the whole DRAM must be identical afterwards and the
GEMM/ALU uop, instruction and written-byte counters equal.  Each device has one fsim
alongside that runs the same history, because SRAMs keep their contents across runs in
hardware (a program that reads rows it never wrote sees the previous program's data).
Configs: ``tiny``, ``default``, ``pynq`` and ``ultra96`` (identical Verilog, e.g. ``default``
and ``pynq`` when the gateware does not specialise on the target, shares one cached build).
``VTA_VERILATOR_PROGRAMS`` sets the random programs per config (default 40).

A cold build of a 16x16 config takes minutes on 2 cores; it happens once per machine (the
per-user cache), so a CI run pays it once per configuration.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from vta.driver import DeviceTimeout, open_device
from vta.hw import VTAConfig, isa
from vta.hw.isa import MemType
from vta.sim.dram import Dram
from vta.sim.fsim import FunctionalSimulator
from vta.sim.progen import Program, random_program

from tests.sim.pysim_programs import DIRECTED, assert_matches

pytestmark = pytest.mark.slow

CONFIGS = ("tiny", "default", "pynq", "ultra96")
N_RANDOM = int(os.environ.get("VTA_VERILATOR_PROGRAMS", "40"))
_devices: dict[str, object] = {}
_golden: dict[int, tuple[FunctionalSimulator, Dram]] = {}


def assert_same(device, program: Program, what: str):
    """Run on the device and on its shadow fsim; DRAM and counters must agree exactly."""
    if id(device) not in _golden:
        ref = Dram(device.memory.size, base=device.memory.base)
        _golden[id(device)] = (FunctionalSimulator(device.config, ref), ref)
    fsim, ref = _golden[id(device)]
    ref.mem[:] = device.memory.mem
    result = device.run(program.insn_addr, program.insn_count, timeout=120)
    stats = fsim.run(program.insn_addr, program.insn_count)
    assert_matches(device, result, stats, ref, what)
    return result


@pytest.fixture(scope="session")
def verilator_device():
    """One verilator device per config for the whole session (built once, then cached)."""
    def get(name: str):
        if name not in _devices:
            _devices[name] = open_device("verilator", name, dram_bytes=4 << 20,
                                         progress=False)
        return _devices[name]
    yield get
    for dev in _devices.values():
        dev.close()
    _devices.clear()
    _golden.clear()


@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("name", sorted(DIRECTED))
def test_directed_program(verilator_device, config, name):
    dev = verilator_device(config)
    program = DIRECTED[name](dev.config, dev.memory, np.random.default_rng(7))
    result = assert_same(dev, program, f"{name} on {config}")
    assert result.cycles > 0 and result.stats.sim_cycles >= result.cycles
    program.free(dev.memory)


@pytest.mark.parametrize("config", CONFIGS)
def test_random_programs(verilator_device, config):
    dev = verilator_device(config)
    for seed in range(N_RANDOM):
        rng = np.random.default_rng(5000 + seed)
        program = random_program(dev.config, rng, dev.memory, n_blocks=1 + seed % 4,
                                 virtual_threads=bool(seed % 2), size=8 + seed % 17)
        assert_same(dev, program, f"random program seed {5000 + seed} on {config}")
        program.free(dev.memory)


def test_counters_and_table(verilator_device):
    dev = verilator_device("tiny")
    program = DIRECTED["gemm_requant"](dev.config, dev.memory, np.random.default_rng(3))
    result = assert_same(dev, program, "gemm_requant")
    c = result.counters
    assert c["COMPUTE_BUSY"] <= result.cycles and c["LOAD_BUSY"] <= result.cycles
    assert c["DMA_RD_BYTES"] >= program.insn_count * dev.config.insn_bytes
    assert result.stats.dram["write_bytes"] == c["DMA_WR_BYTES"]
    assert result.stats.dram["read_bytes"] == c["DMA_RD_BYTES"]
    util = result.gemm_utilization(dev.config)
    # Useful MACs come from the program's words (read from simulated memory): the reset
    # uops GEMM_UOPS also counts are left out.
    assert result.macs is not None
    assert 0 < util == result.macs / (result.cycles * dev.config.macs_per_cycle)
    assert util < c["GEMM_UOPS"] / result.cycles
    assert "GEMM_UOPS" in result.table()
    table = result.stats.table()
    assert "GEMM utilization" in table and "DMA bandwidth" in table
    assert result.stats.dma_bandwidth() == pytest.approx(
        (c["DMA_RD_BYTES"] + c["DMA_WR_BYTES"]) / result.cycles)
    program.free(dev.memory)


def test_missing_token_is_a_deadlock_and_the_device_stays_usable():
    dev = open_device("verilator", "tiny", dram_bytes=1 << 20, progress=False)
    dev.slice_cycles = 2000
    try:
        insns = [isa.Load(memory_type=MemType.UOP, pop_prev=1), isa.Finish()]
        buf = dev.alloc(64)
        buf.copy_in(isa.encode(insns, dev.config))
        with pytest.raises(DeviceTimeout) as err:
            dev.run(buf.addr, len(insns), timeout=60)
        assert str(err.value) == ("deadlock before FINISH: compute blocked at instruction 0 "
                                  "(LOAD UOP) waiting for a load->compute token")
        # The hardware stopped cleanly: the next run works without a reset.
        good = [isa.Finish()]
        buf.copy_in(isa.encode(good, dev.config))
        assert dev.run(buf.addr, 1, timeout=10).counters["INSN_DONE"] == 1
        dev.reset()
        assert dev.run(buf.addr, 1, timeout=10).counters["INSN_DONE"] == 1
    finally:
        dev.close()


def test_verilog_file_option_and_bus_mismatch(verilator_device, tmp_path):
    from vta.driver import DeviceError

    tiny = verilator_device("tiny")
    vfile = tmp_path / "vta_top.v"
    vfile.write_text(tiny.built.library.with_name("vta_top.v").read_text())
    dev = open_device("verilator", "tiny", verilog=vfile, dram_bytes=1 << 20, progress=False)
    assert dev.built.digest == tiny.built.digest
    dev.close()
    with pytest.raises(DeviceError, match="bus is 64 bits but config .* BUS_WIDTH=128"):
        open_device("verilator", VTAConfig.preset("tiny").replace(BUS_WIDTH=128),
                    verilog=vfile, progress=False)


def test_slow_dram_changes_cycles_not_answers(verilator_device):
    """Long latency, a quarter bus of bandwidth and one burst at a time: same DRAM result."""
    from vta.sim.verilator import DramTiming

    dev = verilator_device("tiny")
    cycles = []
    for timing in (DramTiming.for_config(dev.config),
                   DramTiming(read_latency=100, write_latency=60, bytes_per_cycle=2,
                              max_reads=1, max_writes=1)):
        dev.model.set_timing(timing)
        program = random_program(dev.config, np.random.default_rng(77), dev.memory,
                                 n_blocks=3, virtual_threads=True, size=20)
        cycles.append(assert_same(dev, program, f"timing {timing}").cycles)
        program.free(dev.memory)
    dev.model.set_timing(DramTiming.for_config(dev.config))
    assert cycles[1] > 2 * cycles[0]
