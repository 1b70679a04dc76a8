"""Load + compute + store on random valid programs: DRAM bit-identical to the functional
simulator, same GEMM/ALU uop counts, with and without a stalling bus."""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import numpy as np
import pytest
from vta.hw import VTAConfig
from vta.sim.dram import Dram

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from simhelpers import random_program, run_datapath, run_fsim  # noqa: E402

TINY = VTAConfig.preset("tiny")
CONFIGS = {
    "tiny": TINY,
    "tiny-128bit": TINY.replace(BUS_WIDTH=128),
    "batch4-mul": TINY.replace(LOG_BATCH=2, ALU_MUL=True),
}


def _differential(config: VTAConfig, seed: int) -> None:
    rng = np.random.default_rng(seed)
    dram = Dram(1 << 18)
    program = random_program(config, dram, rng, blocks=2)
    ref = copy.deepcopy(dram)
    stats = run_fsim(config, ref, program)
    res = run_datapath(config, dram, program, stall=0.25 if seed % 2 else 0.0, seed=seed)
    assert res.finished, f"seed {seed}: not finished after {res.cycles} cycles"
    diff = np.flatnonzero(dram.mem != ref.mem)
    assert diff.size == 0, f"seed {seed}: {diff.size} DRAM bytes differ (first {diff[0]})"
    assert (res.gemm_uops, res.alu_uops) == (stats.gemm_uops, stats.alu_uops)
    assert stats.bytes_written["OUT"] > 0


@pytest.mark.parametrize("name", list(CONFIGS))
def test_random_programs_quick(name):
    for seed in range(2):
        _differential(CONFIGS[name], 1000 + seed)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CONFIGS))
def test_random_programs(name):
    for seed in range(10):
        _differential(CONFIGS[name], seed)
