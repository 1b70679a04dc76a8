"""StoreModule: OUT rows to DRAM (sub-beat elements with byte strobes, multi-beat elements,
strides, odd alignments), bit-exact against the functional simulator."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from amaranth.sim import Simulator
from vta.hw import VTAConfig, isa
from vta.hw.gateware.store import StoreModule
from vta.hw.isa import Alu, AluOp, Finish, Load, MemType, Store, Uop, encode_uops
from vta.sim.dram import Dram

from tests.hw.simhelpers import DmaWriteServer, accept_after_token, run_datapath, run_fsim

TINY = VTAConfig.preset("tiny")
CONFIGS = {
    "tiny": TINY,                                     # OUT 4 B on an 8-byte bus
    "tiny-128bit": TINY.replace(BUS_WIDTH=128),       # OUT 4 B on a 16-byte bus
    "batch4": TINY.replace(LOG_BATCH=2),              # OUT 16 B: two beats per element
}


@pytest.mark.parametrize("name", list(CONFIGS))
@pytest.mark.parametrize("stall", [0.0, 0.3])
def test_stores_match_fsim(name, stall):
    cfg = CONFIGS[name]
    rng = np.random.default_rng(4)
    dram = Dram(1 << 17)
    n = 32
    acc_addr = dram.alloc(n * cfg.acc_elem_bytes, align=64)
    dram.write(acc_addr, rng.integers(0, 256, n * cfg.acc_elem_bytes, dtype=np.uint8))
    code = encode_uops([Uop(dst_idx=i, src_idx=0, wgt_idx=0) for i in range(n)], cfg)
    uop_addr = dram.alloc(len(code), align=64)
    dram.write(uop_addr, code)
    e = cfg.out_elem_bytes
    out = dram.alloc(4096, align=64)
    dram.write(out, rng.integers(0, 256, 4096, dtype=np.uint8))   # neighbours must survive
    ob = out // e
    prog = [
        Load(memory_type=MemType.UOP, dram_base=uop_addr // 4, y_size=1, x_size=n, x_stride=n),
        Load(memory_type=MemType.ACC, dram_base=acc_addr // cfg.acc_elem_bytes, y_size=1,
             x_size=n, x_stride=n),
        # narrow every ACC row into OUT (ADD 0 writes OUT = low byte of each lane)
        Alu(alu_opcode=AluOp.ADD, use_imm=1, imm=0, uop_bgn=0, uop_end=n, iter_out=1,
            iter_in=1, push_next=1),
        Store(sram_base=0, dram_base=ob, y_size=1, x_size=8, x_stride=8, pop_prev=1),
        Store(sram_base=3, dram_base=ob + 17, y_size=3, x_size=3, x_stride=5),
        Store(sram_base=9, dram_base=ob + 41, y_size=2, x_size=1, x_stride=3),
        Store(sram_base=20, dram_base=ob + 60, y_size=1, x_size=0, x_stride=0),   # NOP
        Store(sram_base=12, dram_base=ob + 70, y_size=4, x_size=5, x_stride=5),
        Finish(),
    ]
    ref = copy.deepcopy(dram)
    run_fsim(cfg, ref, prog)
    res = run_datapath(cfg, dram, prog, stall=stall, seed=3)
    assert res.finished
    diff = np.flatnonzero(dram.mem != ref.mem)
    assert diff.size == 0, f"{diff.size} bytes differ, first at offset {diff[0]}"


def test_waits_for_token_and_counts_write_acks():
    """STORE waits for its compute->store token, then pushes only after every write
    request of the instruction was acknowledged."""
    cfg = TINY
    dram = Dram(1 << 16)
    out = dram.alloc(256, align=64)
    word = isa.encode_one(Store(dram_base=out // 4, y_size=3, x_size=2, x_stride=4,
                                pop_prev=1, push_prev=1), cfg)
    dut = StoreModule(cfg)
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    writer = DmaWriteServer(dut.dma, dram, cfg.bus_bytes, latency=6)
    sim.add_process(writer.process)

    async def bench(ctx):
        await accept_after_token(ctx, dut, word, "c2s", "wait_prev", 6)
        acks = 0
        for _ in range(60):
            acks += ctx.get(dut.dma.done)
            if ctx.get(dut.s2c.push):
                break
            await ctx.tick()
        assert ctx.get(dut.s2c.push) and acks == 3
        assert writer.requests == [(out + 16 * r, 1) for r in range(3)]
    sim.add_testbench(bench)
    sim.run()
