"""pysim (the gateware in the Amaranth simulator) against fsim, bit for bit.

The same programs -- directed TVM-style ones and random valid ones from
:mod:`vta.sim.progen` -- run on the pysim device and on the functional simulator from the
same DRAM image; the whole DRAM must be identical afterwards and the GEMM/ALU uop,
instruction and written-byte counters equal.  (DMA_RD_BYTES differs by design: the
hardware reads whole bus beats, fsim counts element bytes.)  ``VTA_PYSIM_PROGRAMS`` sets
the number of random programs (default 240, in batches so ``pytest -n`` spreads them).

The directed programs and a quarter as many random ones also run on the FPGA-lean build
of the same configuration (``GEMM_DSP_PACK``, ``ALU_TENSOR_II = 2``): different multipliers
and pipeline timing, the same bits; and on the co-design build (``GEMM_OVERWRITE``,
``ALU_OVERLAP``: the overwrite flag, a GEMM and an ALU unit on two accumulator banks),
where :mod:`vta.sim.progen` draws overwriting GEMMs and ALU work beside GEMMs.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from vta.driver import DeviceTimeout, open_device
from vta.hw import VTAConfig, isa
from vta.hw.isa import MemType
from vta.sim.progen import random_program

from tests.sim.pysim_programs import DIRECTED, assert_same

CONFIG = VTAConfig.preset("tiny")
LEAN = CONFIG.replace(GEMM_DSP_PACK=True, ALU_TENSOR_II=2)
CODESIGN = CONFIG.replace(GEMM_OVERWRITE=True, ALU_OVERLAP=True)
N_RANDOM = int(os.environ.get("VTA_PYSIM_PROGRAMS", "240"))
BATCHES = 8


@pytest.fixture(scope="module")
def device():
    dev = open_device("pysim", CONFIG, dram_bytes=2 << 20)
    yield dev
    dev.close()


@pytest.fixture(scope="module")
def lean_device():
    dev = open_device("pysim", LEAN, dram_bytes=2 << 20)
    yield dev
    dev.close()


@pytest.fixture(scope="module")
def codesign_device():
    dev = open_device("pysim", CODESIGN, dram_bytes=2 << 20)
    yield dev
    dev.close()


@pytest.mark.parametrize("build", ["device", "lean_device", "codesign_device"])
@pytest.mark.parametrize("name", sorted(DIRECTED))
def test_directed_program(request, build, name):
    device = request.getfixturevalue(build)
    program = DIRECTED[name](device.config, device.memory, np.random.default_rng(7))
    result = assert_same(device, program, name)
    assert result.cycles > 0
    program.free(device.memory)


def _random_programs(device, seeds) -> None:
    for seed in seeds:
        rng = np.random.default_rng(1000 + seed)
        program = random_program(device.config, rng, device.memory, n_blocks=1 + seed % 3,
                                 virtual_threads=bool(seed % 2), size=12 + seed % 13,
                                 acc_8bit=seed % 3 == 0)
        assert_same(device, program, f"random program seed {1000 + seed}")
        program.free(device.memory)


@pytest.mark.slow
@pytest.mark.parametrize("batch", range(BATCHES))
def test_random_programs(device, batch):
    _random_programs(device, range(batch, N_RANDOM, BATCHES))


@pytest.mark.slow
@pytest.mark.parametrize("batch", range(2))
def test_random_programs_lean_build(lean_device, batch):
    _random_programs(lean_device, range(batch, N_RANDOM // 4, 2))


@pytest.mark.slow
@pytest.mark.parametrize("batch", range(2))
def test_random_programs_codesign_build(codesign_device, batch):
    _random_programs(codesign_device, range(batch, N_RANDOM // 4, 2))


def test_lean_build_takes_two_cycles_per_tensor_alu_uop(device, lean_device):
    """Same program, both builds: an ALU instruction of n tensor-operand uops issues
    them in 2n - 1 cycles instead of n on the lean build; immediate ones cost the same.
    ``alu_tensor`` has five such instructions with 37 uops: 32 cycles more."""
    cycles = {}
    for dev in (device, lean_device):
        program = DIRECTED["alu_tensor"](dev.config, dev.memory, np.random.default_rng(7))
        cycles[dev.config.ALU_TENSOR_II] = assert_same(dev, program, "alu_tensor").cycles
        program.free(dev.memory)
    assert cycles[2] - cycles[1] == 37 - 5, cycles


def test_missing_token_is_a_deadlock_naming_the_waiting_module():
    dev = open_device("pysim", CONFIG, dram_bytes=1 << 20)
    try:
        # Compute pops a load->compute token that nothing ever pushes.
        insns = [isa.Load(memory_type=MemType.UOP, pop_prev=1), isa.Finish()]
        buf = dev.alloc(64)
        buf.copy_in(isa.encode(insns, CONFIG))
        with pytest.raises(DeviceTimeout) as err:
            dev.run(buf.addr, len(insns), timeout=30)
        assert str(err.value) == ("deadlock before FINISH: compute blocked at instruction 0 "
                                  "(LOAD UOP) waiting for a load->compute token")
        assert dev.read_reg(0x20) < 100          # found within a few cycles
    finally:
        dev.close()
