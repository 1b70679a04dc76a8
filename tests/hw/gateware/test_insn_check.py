"""The gateware's static instruction checks agree with vta.hw.program_errors, word by word."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.sim import Simulator
from vta.hw import isa
from vta.hw.config import VTAConfig
from vta.hw.gateware.insn_check import InsnCheck
from vta.hw.isa import MemType
from vta.hw.program_errors import ProgramError, check_instruction


def _valid_instructions(c: VTAConfig) -> list:
    return [isa.Load(memory_type=MemType.INP, sram_base=2, dram_base=9, y_size=2, x_size=3,
                     x_stride=3, y_pad_0=1, x_pad_1=2, pop_next=1, push_next=1),
            isa.Load(memory_type=MemType.UOP, sram_base=c.uop_depth - 4, y_size=1, x_size=4,
                     x_stride=4, push_prev=1),
            isa.Load(memory_type=MemType.ACC_8BIT, y_size=1, x_size=1, x_stride=1),
            isa.Store(sram_base=c.out_depth - 6, y_size=2, x_size=3, x_stride=3, pop_prev=1),
            isa.Gemm(uop_bgn=1, uop_end=c.uop_depth, iter_out=3, iter_in=2, pop_prev=1),
            isa.Alu(alu_opcode=3, use_imm=1, imm=-2, uop_end=3, iter_out=1, iter_in=1,
                    push_next=1),
            isa.Finish()]


def _cases(c: VTAConfig, n: int, seed: int):
    """Valid instructions with one to three random fields replaced by random values."""
    rng = np.random.default_rng(seed)
    layout = isa.layout_for(c)
    base = _valid_instructions(c)
    for _ in range(n):
        insn = base[int(rng.integers(len(base)))]
        word = isa.encode_one(insn, c)
        fields = layout.formats[insn.OPCODE]
        for _ in range(int(rng.integers(0, 4))):
            f = fields[int(rng.integers(len(fields)))]
            value = int(rng.integers(0, 1 << f.width))
            if rng.integers(4) == 0:       # small values are where the limits are
                value = int(rng.integers(0, 8)) & ((1 << f.width) - 1)
            word = (word & ~(((1 << f.width) - 1) << f.lsb)) | (value << f.lsb)
        count = int(rng.integers(1, 6))
        index = int(rng.integers(0, count))
        yield word, index, count


def _expected(word: int, index: int, count: int, c: VTAConfig):
    try:
        check_instruction(word, index, count, c)
    except ProgramError as e:
        return int(e.kind)
    return None


@pytest.mark.parametrize("config", [VTAConfig.preset("tiny"), VTAConfig.preset("default"),
                                    VTAConfig.preset("tiny").replace(ALU_MUL=True),
                                    VTAConfig.preset("k26")],
                         ids=["tiny", "default", "tiny-mul", "k26-wide-isa"])
def test_hardware_checks_match_the_program_checks(config):
    dut = InsnCheck(config)
    cases = list(_cases(config, 600, seed=config.LOG_BLOCK + config.ALU_MUL))
    got = []

    async def bench(ctx):
        for word, index, count in cases:
            ctx.set(dut.word, word)
            ctx.set(dut.index, index)
            ctx.set(dut.count, count)
            got.append(int(ctx.get(dut.kind)) if ctx.get(dut.error) else None)

    sim = Simulator(dut)
    sim.add_testbench(bench)
    sim.run()
    want = [_expected(w, i, n, config) for w, i, n in cases]
    bad = [(hex(w), i, n, g, e) for (w, i, n), g, e in zip(cases, got, want, strict=True)
           if g != e]
    assert not bad, bad[:5]
    kinds = {e for e in want if e is not None}
    assert len(kinds) >= 6 and None in want       # the sample reaches most checks


def test_valid_instructions_pass():
    c = VTAConfig.preset("default")
    for insn in _valid_instructions(c):
        last = isinstance(insn, isa.Finish)
        assert check_instruction(insn, 1 if last else 0, 2, c) == insn
