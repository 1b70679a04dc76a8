"""Random valid programs: the fast simulator must agree with the slow reference exactly."""

import numpy as np
import pytest
from vta.hw import VTAConfig
from vta.sim.dram import Dram
from vta.sim.fsim import FunctionalSimulator
from vta.sim.progen import random_program
from vta.sim.reference import ReferenceSimulator

from tests.sim.fsim_programs import assert_same_state


def differential(preset: str, seed: int, **kw) -> None:
    cfg = VTAConfig.preset(preset)
    dram = Dram(1 << 20)
    prog = random_program(cfg, np.random.default_rng(seed), dram, **kw)
    ref_dram = Dram(dram.size)
    ref_dram.mem[:] = dram.mem
    fsim = FunctionalSimulator(cfg, dram, alu_mul=kw.get("alu_mul", False))
    ref = ReferenceSimulator(cfg, ref_dram, alu_mul=kw.get("alu_mul", False))
    fsim.run(prog.insn_addr, prog.insn_count)
    ref.run(prog.insn_addr, prog.insn_count)
    assert_same_state(fsim, ref)
    assert any(any(b) for b in prog.read_outputs(dram)), "program stored nothing but zeros"


@pytest.mark.parametrize("seed", range(24))
@pytest.mark.parametrize("virtual_threads", [False, True], ids=["1thread", "2threads"])
def test_tiny(seed, virtual_threads):
    differential("tiny", seed, virtual_threads=virtual_threads, alu_mul=seed % 2 == 1,
                 acc_8bit=seed % 3 == 0)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("virtual_threads", [False, True], ids=["1thread", "2threads"])
def test_default(seed, virtual_threads):
    differential("default", 100 + seed, virtual_threads=virtual_threads,
                 alu_mul=seed % 2 == 0, acc_8bit=True)


@pytest.mark.parametrize("seed", range(4))
def test_larger_programs(seed):
    differential("tiny", 1000 + seed, n_blocks=6, size=64, virtual_threads=bool(seed % 2))


def test_batched_config():
    """BATCH > 1 exercises the (BATCH, BLOCK) tile shapes of every path."""
    cfg = VTAConfig(LOG_BATCH=1, LOG_BLOCK=3, LOG_UOP_BUFF_SIZE=12, LOG_INP_BUFF_SIZE=12,
                    LOG_WGT_BUFF_SIZE=13, LOG_ACC_BUFF_SIZE=14)
    for seed in range(4):
        dram = Dram(1 << 20)
        prog = random_program(cfg, np.random.default_rng(seed), dram, virtual_threads=True)
        ref_dram = Dram(dram.size)
        ref_dram.mem[:] = dram.mem
        fsim, ref = FunctionalSimulator(cfg, dram), ReferenceSimulator(cfg, ref_dram)
        fsim.run(prog.insn_addr, prog.insn_count)
        ref.run(prog.insn_addr, prog.insn_count)
        assert_same_state(fsim, ref)
