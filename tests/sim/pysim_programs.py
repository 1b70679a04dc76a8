"""Directed TVM-style programs and the pysim-vs-fsim comparison used by the pysim tests.

Each directed program is built on :class:`vta.sim.progen.InsnStream` (so dependency tokens
are balanced by construction) and placed in a :class:`~vta.sim.dram.Dram`; it returns a
:class:`~vta.sim.progen.Program`.
"""

from __future__ import annotations

import numpy as np
from vta.hw import VTAConfig, isa
from vta.hw.insn_stream import InsnStream
from vta.hw.isa import AluOp, MemType
from vta.hw.pipeline import COMPUTE, LOAD, STORE
from vta.sim.dram import Dram
from vta.sim.fsim import FunctionalSimulator
from vta.sim.progen import Program

L, C, S = LOAD, COMPUTE, STORE


class Placer:
    """Allocates and fills DRAM regions in element units, remembering every block."""

    def __init__(self, config: VTAConfig, dram: Dram, rng: np.random.Generator) -> None:
        self.cfg, self.dram, self.rng = config, dram, rng
        self.allocations: list[int] = []
        self.outputs: list[tuple[int, int]] = []

    def put(self, mt: int, raw: np.ndarray) -> int:
        eb = self.cfg.elem_bytes(mt)
        raw = np.ascontiguousarray(raw).view(np.uint8).reshape(-1)
        assert raw.size % eb == 0
        addr = self.dram.alloc(raw.size, max(eb, self.cfg.bus_bytes))
        self.allocations.append(addr)
        self.dram.write(addr, raw)
        return addr // eb

    def random(self, mt: int, n: int) -> int:
        eb = self.cfg.elem_bytes(mt)
        if mt == MemType.ACC:
            data = self.rng.integers(-2000, 2000, n * eb // 4, dtype=np.int32)
        else:
            data = self.rng.integers(-128, 128, n * eb, dtype=np.int8)
        return self.put(mt, data)

    def uops(self, uops: list[isa.Uop]) -> int:
        return self.put(MemType.UOP, np.frombuffer(isa.encode_uops(uops, self.cfg), np.uint8))

    def output(self, n: int) -> int:
        eb = self.cfg.out_elem_bytes
        base = self.put(MemType.OUT, np.full(n * eb, 0xA5, np.uint8))
        self.outputs.append((base * eb, n * eb))
        return base

    def finish(self, s: InsnStream) -> Program:
        # Drain the tokens the last round left towards load and compute, then FINISH.
        s.dep_pop(C, L)
        s.commit_pending_pop(L)
        s.dep_pop(S, C)
        s.commit_pending_pop(C)
        s.emit(isa.Finish())
        data = isa.encode(s.insns, self.cfg)
        addr = self.dram.alloc(len(data), 64)
        self.allocations.append(addr)
        self.dram.write(addr, data)
        return Program(addr, len(s.insns), s.insns, [], self.outputs, self.allocations)


def gemm_requant(config: VTAConfig, dram: Dram, rng: np.random.Generator) -> Program:
    """A padded INP tile times four weight tiles, reset + GEMM loop nest, requantization."""
    p = Placer(config, dram, rng)
    inp = p.random(MemType.INP, 12)
    wgt = p.random(MemType.WGT, 4)
    gemm_uops = [isa.Uop(dst_idx=k, src_idx=k, wgt_idx=k) for k in range(4)]
    alu_uops = [isa.Uop(dst_idx=k, src_idx=k) for k in range(4)]
    uop = p.uops(gemm_uops + alu_uops)
    out = p.output(16)
    s = InsnStream()
    # 4 rows x 4 columns: one zero row above, one below, one zero column on the left.
    s.emit(isa.Load(memory_type=MemType.INP, sram_base=0, dram_base=inp, y_size=2,
                    x_size=3, x_stride=4, y_pad_0=1, y_pad_1=1, x_pad_0=1))
    s.emit(isa.Load(memory_type=MemType.WGT, sram_base=0, dram_base=wgt, y_size=1,
                    x_size=4, x_stride=4))
    s.dep_push(L, C)
    s.dep_pop(L, C)
    s.emit(isa.Load(memory_type=MemType.UOP, sram_base=0, dram_base=uop, y_size=1,
                    x_size=8, x_stride=8))
    nest = dict(uop_bgn=0, uop_end=4, iter_out=4, iter_in=1, dst_factor_out=4,
                src_factor_out=4)
    s.emit(isa.Gemm(reset=1, **nest))
    s.emit(isa.Gemm(**nest, wgt_factor_in=0))
    s.emit(isa.Gemm(uop_bgn=0, uop_end=4, iter_out=2, iter_in=2, dst_factor_out=8,
                    dst_factor_in=4, src_factor_out=4, src_factor_in=8, wgt_factor_out=1))
    alu = dict(uop_bgn=4, uop_end=8, iter_out=4, iter_in=1, dst_factor_out=4,
               src_factor_out=4, use_imm=1)
    s.emit(isa.Alu(alu_opcode=AluOp.SHR, imm=3, **alu))
    s.emit(isa.Alu(alu_opcode=AluOp.ADD, imm=-5, **alu))
    s.emit(isa.Alu(alu_opcode=AluOp.MAX, imm=0, **alu))
    s.emit(isa.Alu(alu_opcode=AluOp.MIN, imm=127, **alu))
    s.dep_push(C, S)
    s.dep_push(C, L)
    s.dep_pop(C, S)
    s.emit(isa.Store(sram_base=0, dram_base=out, y_size=4, x_size=4, x_stride=4))
    s.dep_push(S, C)
    return p.finish(s)


def alu_tensor(config: VTAConfig, dram: Dram, rng: np.random.Generator) -> Program:
    """LOAD ACC with padding, tensor-operand ALU ops, negative shifts, strided stores."""
    p = Placer(config, dram, rng)
    acc = p.random(MemType.ACC, 24)
    uops = [isa.Uop(dst_idx=k, src_idx=k + 8) for k in range(8)]
    uop = p.uops(uops)
    out = p.output(40)
    s = InsnStream()
    s.dep_push(L, C)          # nothing to load: a NOP carries the token
    s.dep_pop(L, C)
    s.emit(isa.Load(memory_type=MemType.UOP, sram_base=0, dram_base=uop, y_size=1,
                    x_size=8, x_stride=8))
    s.emit(isa.Load(memory_type=MemType.ACC, sram_base=0, dram_base=acc, y_size=3,
                    x_size=6, x_stride=8, x_pad_0=1, x_pad_1=1, y_pad_1=1))
    nest = dict(uop_bgn=0, uop_end=8, iter_out=1, iter_in=1)
    s.emit(isa.Alu(alu_opcode=AluOp.ADD, **nest))
    s.emit(isa.Alu(alu_opcode=AluOp.MIN, **nest))
    s.emit(isa.Alu(alu_opcode=AluOp.MAX, uop_bgn=0, uop_end=4, iter_out=2, iter_in=1,
                   dst_factor_out=4, src_factor_out=4))
    s.emit(isa.Alu(alu_opcode=AluOp.SHR, **nest))
    s.emit(isa.Alu(alu_opcode=AluOp.SHR, use_imm=1, imm=-3, uop_bgn=0, uop_end=8,
                   iter_out=4, iter_in=1, dst_factor_out=8))
    # Back-to-back updates of the same row (hazard forwarding).
    s.emit(isa.Alu(alu_opcode=AluOp.ADD, use_imm=1, imm=1000, uop_bgn=0, uop_end=1,
                   iter_out=6, iter_in=1))
    s.emit(isa.Alu(alu_opcode=AluOp.ADD, uop_bgn=0, uop_end=1, iter_out=5, iter_in=1))
    s.dep_push(C, S)
    s.dep_push(C, L)
    s.dep_pop(C, S)
    s.emit(isa.Store(sram_base=0, dram_base=out, y_size=4, x_size=8, x_stride=10))
    s.emit(isa.Store(sram_base=0, dram_base=out + 8, y_size=1, x_size=2, x_stride=2))
    s.dep_push(S, C)
    return p.finish(s)


DIRECTED = {"gemm_requant": gemm_requant, "alu_tensor": alu_tensor}


def run_on_both(device, program: Program) -> tuple[object, object, Dram]:
    """Run ``program`` on ``device`` and on fsim from the same DRAM image.

    Returns (device result, fsim stats, the fsim DRAM).
    """
    dram = device.memory
    ref = Dram(dram.size, base=dram.base)
    ref.mem[:] = dram.mem
    result = device.run(program.insn_addr, program.insn_count, timeout=120)
    stats = FunctionalSimulator(device.config, ref).run(program.insn_addr, program.insn_count)
    return result, stats, ref


def assert_matches(device, result, stats, ref: Dram, what: str) -> None:
    """The device's DRAM equals fsim's (``ref``) and the GEMM/ALU/instruction/written-byte
    counters of the run equal fsim's ``stats``."""
    dram = device.memory
    if not np.array_equal(dram.mem, ref.mem):
        diff = np.flatnonzero(dram.mem != ref.mem)
        raise AssertionError(f"{what}: DRAM differs at {diff.size} bytes, first at "
                             f"{dram.base + int(diff[0]):#x}")
    expect = stats.counters()
    for name in ("GEMM_UOPS", "ALU_UOPS", "INSN_DONE", "DMA_WR_BYTES"):
        assert result.counters[name] == expect[name], (what, name, result.counters, expect)


def assert_same(device, program: Program, what: str) -> object:
    """Run on pysim and fsim; DRAM and GEMM/ALU/instruction counters must agree exactly."""
    result, stats, ref = run_on_both(device, program)
    assert_matches(device, result, stats, ref, what)
    return result
