"""The random program generator: deterministic, valid for every preset, feature-complete."""

import numpy as np
import pytest
from vta.hw import PRESETS, VTAConfig, VTAError, isa
from vta.hw.isa import AluOp, MemType
from vta.sim.dram import Dram
from vta.sim.fsim import FunctionalSimulator
from vta.sim.progen import random_program


def make(preset="tiny", seed=0, **kw):
    cfg = VTAConfig.preset(preset)
    dram = Dram(1 << 20)
    return cfg, dram, random_program(cfg, np.random.default_rng(seed), dram, **kw)


def test_deterministic_from_the_rng():
    _, d1, p1 = make(seed=5, virtual_threads=True)
    _, d2, p2 = make(seed=5, virtual_threads=True)
    assert p1.insns == p2.insns and p1.uops == p2.uops and p1.outputs == p2.outputs
    assert np.array_equal(d1.mem, d2.mem)
    _, d3, p3 = make(seed=6, virtual_threads=True)
    assert p3.insns != p1.insns


@pytest.mark.parametrize("preset", sorted(PRESETS))
@pytest.mark.parametrize("virtual_threads", [False, True])
def test_valid_for_every_preset(preset, virtual_threads):
    for seed in range(3):
        cfg, dram, prog = make(preset, seed, virtual_threads=virtual_threads)
        stats = FunctionalSimulator(cfg, dram).run(prog.insn_addr, prog.insn_count)
        assert stats.insns["FINISH"] == 1
        assert isinstance(prog.insns[-1], isa.Finish)
        assert prog.insn_count == len(prog.insns)
        assert isa.decode(dram.read(prog.insn_addr, prog.insn_count * cfg.insn_bytes),
                          cfg) == prog.insns


def test_tiny_programs_stay_small_and_size_knob_scales():
    counts = [make(seed=s)[2].insn_count for s in range(20)]
    assert 15 <= min(counts) and max(counts) <= 60
    big = make(seed=0, n_blocks=10, size=64)[2]
    assert big.insn_count > max(counts)
    for insn in big.insns:
        if isinstance(insn, isa.Load) and insn.x_size:
            rows = insn.y_pad_0 + insn.y_size + insn.y_pad_1
            assert rows * (insn.x_pad_0 + insn.x_size + insn.x_pad_1) <= 64


def test_covers_the_instruction_set():
    """Across a few seeds: every ALU op with imm and tensor, pads on every side, resets,
    NOPs, every load type, both token directions of every channel."""
    seen = set()
    for seed in range(30):
        _, _, prog = make(seed=seed, virtual_threads=bool(seed % 2), alu_mul=True,
                          acc_8bit=True)
        for insn in prog.insns:
            if isinstance(insn, isa.Alu):
                seen.add(("alu", AluOp(insn.alu_opcode).name, insn.use_imm))
            elif isinstance(insn, isa.Gemm):
                seen.add(("gemm", insn.reset))
            elif isinstance(insn, (isa.Load, isa.Store)):
                kind = type(insn).__name__
                if insn.x_size == 0:
                    seen.add(("nop", kind))
                else:
                    seen.add((kind, MemType(insn.memory_type).name))
                for pad in ("y_pad_0", "y_pad_1", "x_pad_0", "x_pad_1"):
                    if getattr(insn, pad):
                        seen.add(("pad", pad))
            for flag in ("pop_prev", "pop_next", "push_prev", "push_next"):
                if getattr(insn, flag):
                    seen.add((type(insn).__name__, flag))
    for op in ("MIN", "MAX", "ADD", "SHR", "MUL"):
        assert ("alu", op, 0) in seen and ("alu", op, 1) in seen
    assert {("gemm", 0), ("gemm", 1), ("nop", "Load")} <= seen
    for mt in ("UOP", "INP", "WGT", "ACC", "ACC_8BIT"):
        assert ("Load", mt) in seen
    assert ("Store", "OUT") in seen
    assert {("pad", p) for p in ("y_pad_0", "y_pad_1", "x_pad_0", "x_pad_1")} <= seen
    assert {("Store", "pop_prev"), ("Store", "push_prev"), ("Load", "pop_next"),
            ("Load", "push_next"), ("Load", "pop_prev")} <= seen


def test_free_releases_dram():
    _, dram, prog = make(seed=1)
    assert dram.bytes_in_use > 0
    prog.free(dram)
    assert dram.bytes_in_use == 0


def test_bad_knobs():
    with pytest.raises(VTAError, match="n_blocks and size must be positive"):
        make(n_blocks=0)
