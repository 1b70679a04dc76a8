"""Load + compute + store on random valid programs (:mod:`vta.sim.progen`): DRAM
bit-identical to the functional simulator, same GEMM/ALU uop counts, with and without a
stalling bus."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from vta.hw import VTAConfig
from vta.sim.dram import Dram
from vta.sim.progen import random_program

from tests.hw.simhelpers import run_datapath, run_fsim

TINY = VTAConfig.preset("tiny")
CONFIGS = {
    "tiny": TINY,
    "tiny-128bit": TINY.replace(BUS_WIDTH=128),
    "batch4-mul": TINY.replace(LOG_BATCH=2, ALU_MUL=True),
    "batch4-mul-lean": TINY.replace(LOG_BATCH=2, ALU_MUL=True, GEMM_DSP_PACK=True,
                                    ALU_TENSOR_II=2),
}


def _differential(config: VTAConfig, seed: int) -> None:
    rng = np.random.default_rng(seed)
    dram = Dram(1 << 18)
    program = random_program(config, rng, dram, n_blocks=2, virtual_threads=bool(seed % 3),
                             size=16, alu_mul=config.ALU_MUL, acc_8bit=True).insns
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


@pytest.mark.slow
def test_load_compute_store_overlap_when_tokens_allow():
    """Item 6: with double buffering, the load of tile 1 runs during the GEMM of tile 0
    and the store of tile 0 during the GEMM of tile 1 (instruction completion times)."""
    from vta.hw.isa import Finish, Gemm, Load, MemType, Store, Uop, encode_uops

    cfg = TINY
    rng = np.random.default_rng(9)
    dram = Dram(1 << 18)

    def region(nbytes: int, elem: int) -> int:
        addr = dram.alloc(nbytes, align=64)
        dram.write(addr, rng.integers(0, 256, nbytes, dtype=np.uint8))
        return addr // elem

    # uops 0-3 accumulate tile 0 into ACC rows 0-3, uops 4-7 tile 1 into rows 8-11
    uops = encode_uops([Uop(dst_idx=i % 4 + 8 * (i // 4), src_idx=i % 4, wgt_idx=i % 4)
                        for i in range(8)], cfg)
    ubase = region(len(uops), 4)
    dram.write(ubase * 4, uops)
    inp = [region(64 * cfg.inp_elem_bytes, cfg.inp_elem_bytes) for _ in range(2)]
    wgt = region(4 * cfg.wgt_elem_bytes, cfg.wgt_elem_bytes)
    out = [region(4 * cfg.out_elem_bytes, cfg.out_elem_bytes) for _ in range(2)]
    loop = dict(iter_out=16, iter_in=4, src_factor_out=4, src_factor_in=0)
    prog = [
        Load(memory_type=MemType.WGT, dram_base=wgt, y_size=1, x_size=4, x_stride=4),
        Load(memory_type=MemType.INP, sram_base=0, dram_base=inp[0], y_size=1, x_size=64,
             x_stride=64, push_next=1),
        Load(memory_type=MemType.INP, sram_base=64, dram_base=inp[1], y_size=1, x_size=64,
             x_stride=64, push_next=1),
        Load(memory_type=MemType.UOP, dram_base=ubase, y_size=1, x_size=8, x_stride=8,
             pop_prev=1),
        Gemm(reset=1, uop_bgn=0, uop_end=4, iter_out=1, iter_in=1),
        Gemm(uop_bgn=0, uop_end=4, **loop, push_next=1),
        Gemm(reset=1, uop_bgn=4, uop_end=8, iter_out=1, iter_in=1, pop_prev=1),
        Gemm(uop_bgn=4, uop_end=8, **loop, push_next=1),
        Store(sram_base=0, dram_base=out[0], y_size=1, x_size=4, x_stride=4, pop_prev=1),
        Store(sram_base=8, dram_base=out[1], y_size=1, x_size=4, x_stride=4, pop_prev=1),
        Finish(),
    ]
    ref = copy.deepcopy(dram)
    run_fsim(cfg, ref, prog)
    res = run_datapath(cfg, dram, prog, record=True)
    assert res.finished and np.array_equal(dram.mem, ref.mem)
    load, comp, store = (res.insn_done[k] for k in ("load", "compute", "store"))
    gemm0_start, gemm0_end, gemm1_end = comp[1], comp[2], comp[4]
    print(f"\nload done {load}, compute done {comp}, store done {store}")
    assert gemm0_start < load[2] < gemm0_end, (load, comp)     # tile-1 load under GEMM 0
    assert gemm0_end < store[0] < gemm1_end, (store, comp)     # tile-0 store under GEMM 1
