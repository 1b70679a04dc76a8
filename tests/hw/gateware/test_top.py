"""vta_top end to end in pysim: throughput and overlap measured from the counters.

Item 6 of the accelerator issue: a long GEMM instruction sustains about one uop per cycle,
the ALU about one per cycle (immediate and tensor operands), and load, compute and store
overlap when the tokens allow it.  Throughput is measured as the difference of the CYCLES
counter between two programs that differ only in the uop count of one instruction, so
fixed costs (fetch, DMA latency, pipeline fill) cancel.  Every run is also checked
against fsim.
"""

from __future__ import annotations

import numpy as np
import pytest
from vta.driver import open_device
from vta.hw import VTAConfig, isa
from vta.hw.insn_stream import InsnStream
from vta.hw.isa import AluOp, MemType
from vta.hw.pipeline import COMPUTE as C
from vta.hw.pipeline import LOAD as L
from vta.hw.pipeline import STORE as S
from vta.hw.regmap import BY_NAME, CTRL_DONE, CTRL_IDLE
from vta.sim.dram import Dram
from vta.sim.fsim import FunctionalSimulator

CONFIG = VTAConfig.preset("tiny")


@pytest.fixture(scope="module")
def device():
    dev = open_device("pysim", CONFIG, dram_bytes=1 << 20)
    yield dev
    dev.close()


def put(dev, mt: int, raw: np.ndarray, allocs: list) -> int:
    eb = CONFIG.elem_bytes(mt)
    raw = np.ascontiguousarray(raw).view(np.uint8).reshape(-1)
    buf = dev.alloc(raw.size, max(eb, CONFIG.bus_bytes))
    buf.copy_in(raw)
    allocs.append(buf)
    return buf.addr // eb


def run_checked(dev, s: InsnStream, allocs: list):
    """Finish the stream, run it on pysim and fsim, compare DRAM; return the result."""
    s.emit(isa.Finish())
    code = isa.encode(s.insns, CONFIG)
    buf = dev.alloc(len(code), 64)
    buf.copy_in(code)
    allocs.append(buf)
    ref = Dram(dev.memory.size, base=dev.memory.base)
    ref.mem[:] = dev.memory.mem
    result = dev.run(buf.addr, len(s.insns), timeout=120)
    stats = FunctionalSimulator(CONFIG, ref).run(buf.addr, len(s.insns))
    assert np.array_equal(dev.memory.mem, ref.mem)
    assert result.counters["GEMM_UOPS"] == stats.gemm_uops
    assert result.counters["ALU_UOPS"] == stats.alu_uops
    for b in allocs:
        b.free()
    return result


def one_instruction(dev, kind: str, n_uops: int):
    """Load operands, then one GEMM/ALU instruction of ``n_uops`` uops (4 uops x loop)."""
    rng = np.random.default_rng(3)
    allocs: list = []
    inp = put(dev, MemType.INP, rng.integers(-128, 128, 64 * 4, dtype=np.int8), allocs)
    wgt = put(dev, MemType.WGT, rng.integers(-128, 128, 4 * 16, dtype=np.int8), allocs)
    acc = put(dev, MemType.ACC, rng.integers(-999, 999, 64 * 4, dtype=np.int32), allocs)
    uops = [isa.Uop(dst_idx=k, src_idx=k + 1, wgt_idx=k) for k in range(4)]
    uop = put(dev, MemType.UOP, np.frombuffer(isa.encode_uops(uops, CONFIG), np.uint8),
              allocs)
    s = InsnStream()
    s.emit(isa.Load(memory_type=MemType.INP, dram_base=inp, y_size=1, x_size=64,
                    x_stride=64))
    s.emit(isa.Load(memory_type=MemType.WGT, dram_base=wgt, y_size=1, x_size=4,
                    x_stride=4))
    s.dep_push(L, C)
    s.dep_pop(L, C)
    s.emit(isa.Load(memory_type=MemType.UOP, dram_base=uop, y_size=1, x_size=4,
                    x_stride=4))
    s.emit(isa.Load(memory_type=MemType.ACC, dram_base=acc, y_size=1, x_size=64,
                    x_stride=64))
    # iter_out x iter_in x 4 uops, rows wrap inside 64 rows of ACC / INP.
    nest = dict(uop_bgn=0, uop_end=4, iter_out=n_uops // 16, iter_in=4, dst_factor_out=0,
                dst_factor_in=4, src_factor_out=1, src_factor_in=4)
    if kind == "gemm":
        s.emit(isa.Gemm(**nest, wgt_factor_out=0))
    elif kind == "alu_imm":
        s.emit(isa.Alu(alu_opcode=AluOp.ADD, use_imm=1, imm=-7, **nest))
    else:
        s.emit(isa.Alu(alu_opcode=AluOp.MAX, **nest))
    return run_checked(dev, s, allocs)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["gemm", "alu_imm", "alu_tensor"])
def test_long_instruction_sustains_one_uop_per_cycle(device, kind):
    short = one_instruction(device, kind, 64)
    long = one_instruction(device, kind, 320)
    counter = "GEMM_UOPS" if kind == "gemm" else "ALU_UOPS"
    d_uops = long.counters[counter] - short.counters[counter]
    d_cycles = long.cycles - short.cycles
    assert d_uops == 256
    rate = d_uops / d_cycles
    print(f"{kind}: {d_uops} extra uops took {d_cycles} extra cycles: {rate:.3f} uops/cycle")
    assert rate >= 0.95


def double_buffered(dev, blocks: int):
    """TVM's two-thread pattern: load/compute/store of neighbouring blocks may overlap."""
    rng = np.random.default_rng(5)
    allocs: list = []
    n = 48                                            # INP/OUT elements per block
    inp = put(dev, MemType.INP, rng.integers(-128, 128, blocks * n * 4, dtype=np.int8),
              allocs)
    wgt = put(dev, MemType.WGT, rng.integers(-128, 128, 2 * 16, dtype=np.int8), allocs)
    out_buf = dev.alloc(blocks * n * 4, 64)
    allocs.append(out_buf)
    out = out_buf.addr // 4
    uops = [isa.Uop(dst_idx=h * n + k, src_idx=h * n + k, wgt_idx=h) for h in range(2)
            for k in range(4)]
    uop = put(dev, MemType.UOP, np.frombuffer(isa.encode_uops(uops, CONFIG), np.uint8),
              allocs)
    s = InsnStream()
    s.emit(isa.Load(memory_type=MemType.WGT, dram_base=wgt, y_size=1, x_size=2,
                    x_stride=2))
    for b in range(blocks):
        h = b % 2
        if b >= 2:
            s.dep_pop(C, L)
        s.emit(isa.Load(memory_type=MemType.INP, sram_base=h * n, dram_base=inp + b * n,
                        y_size=1, x_size=n, x_stride=n))
        s.dep_push(L, C)
        s.dep_pop(L, C)
        if b >= 2:
            s.dep_pop(S, C)
        if b == 0:
            s.emit(isa.Load(memory_type=MemType.UOP, dram_base=uop, y_size=1, x_size=8,
                            x_stride=8))
        nest = dict(uop_bgn=4 * h, uop_end=4 * h + 4, iter_out=n // 4, iter_in=1,
                    dst_factor_out=4, src_factor_out=4)
        s.emit(isa.Gemm(reset=1, **nest))
        s.emit(isa.Gemm(**nest))
        s.emit(isa.Alu(alu_opcode=AluOp.SHR, use_imm=1, imm=4, **nest))
        s.dep_push(C, L)
        s.dep_push(C, S)
        s.dep_pop(C, S)
        s.emit(isa.Store(sram_base=h * n, dram_base=out + b * n, y_size=1, x_size=n,
                         x_stride=n))
        s.dep_push(S, C)
    for _ in range(2):
        s.dep_pop(C, L)
        s.commit_pending_pop(L)
        s.dep_pop(S, C)
        s.commit_pending_pop(C)
    return run_checked(dev, s, allocs)


@pytest.mark.slow
def test_load_compute_store_overlap(device):
    result = double_buffered(device, 6)
    r, cycles = result.counters, result.cycles
    active = {m: r[f"{m}_BUSY"] - r[f"{m}_STALL"] for m in ("LOAD", "COMPUTE", "STORE")}
    print(f"{cycles} cycles; active cycles {active}; "
          f"sum/cycles = {sum(active.values()) / cycles:.2f}")
    # Without overlap the modules' active cycles would add up to at most the run's cycles.
    assert sum(active.values()) > 1.3 * cycles


def test_registers_after_a_run(device):
    device.write_reg(BY_NAME["IER"].offset, 1)
    device.write_reg(BY_NAME["GIE"].offset, 1)
    result = one_instruction(device, "alu_imm", 16)
    assert device.read_reg(BY_NAME["CTRL"].offset) == CTRL_DONE | CTRL_IDLE
    assert device.read_reg(BY_NAME["ISR"].offset) == 1
    assert result.counters["INSN_DONE"] == 6     # 4 loads, the ALU, FINISH
    assert result.counters["DMA_WR_BYTES"] == 0
    assert result.counters["FETCH_BUSY"] > 0
    assert device.read_reg(BY_NAME["STATUS"].offset) == 0
    device.write_reg(BY_NAME["ISR"].offset, 1)
    assert device.read_reg(BY_NAME["ISR"].offset) == 0
