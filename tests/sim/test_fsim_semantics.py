"""Hand-written programs against numpy references (what TVM's VTA unit tests cover).

Every program also runs on the slow reference interpreter (``check_reference=True``),
which must agree on DRAM and every SRAM.
"""

import numpy as np
import pytest
from vta.hw import isa
from vta.hw.insn_stream import InsnStream
from vta.hw.isa import AluOp, MemType
from vta.hw.pipeline import COMPUTE, LOAD, STORE

from tests.sim.fsim_programs import Machine

RNG = np.random.default_rng(1234)


def acc_data(m: Machine, n: int, lo=-(1 << 20), hi=1 << 20) -> np.ndarray:
    c = m.cfg
    return RNG.integers(lo, hi, (n, c.batch, c.block_out), dtype=np.int64).astype(np.int32)


def store_tail(m: Machine, s: InsnStream, n: int, sram_base: int = 0) -> int:
    """compute -> store token, STORE n OUT rows, token back, FINISH; return the dram base."""
    out = m.zeros(MemType.OUT, n)
    s.dep_push(COMPUTE, STORE)
    s.dep_pop(COMPUTE, STORE)
    s.emit(isa.Store(memory_type=MemType.OUT, sram_base=sram_base, dram_base=out,
                     y_size=1, x_size=n, x_stride=n))
    s.dep_push(STORE, COMPUTE)
    s.dep_pop(STORE, COMPUTE)
    s.commit_pending_pop(COMPUTE)
    s.emit(isa.Finish())
    return out


def acc_stream(m: Machine, a: np.ndarray, uop: isa.Uop) -> InsnStream:
    """A stream that loads ``uop`` into UOP[0] and ``a`` into ACC[0:n]."""
    n = a.shape[0]
    s = InsnStream()
    s.emit(m.uop_load([uop]))
    s.emit(isa.Load(memory_type=MemType.ACC, dram_base=m.put(MemType.ACC, a),
                    y_size=1, x_size=n, x_stride=n))
    return s


def alu_program(m: Machine, a: np.ndarray, op: int, *, imm: int | None = None,
                b: np.ndarray | None = None) -> tuple[InsnStream, int]:
    """ACC[0:n] = a (and ACC[n:2n] = b); ALU over rows 0..n-1; store OUT rows 0..n-1."""
    n = a.shape[0]
    s = acc_stream(m, a, isa.Uop(dst_idx=0, src_idx=n))
    if b is not None:
        s.emit(isa.Load(memory_type=MemType.ACC, sram_base=n,
                        dram_base=m.put(MemType.ACC, b), y_size=1, x_size=n,
                        x_stride=n))
    s.emit(isa.Alu(uop_bgn=0, uop_end=1, iter_out=n, iter_in=1,
                   dst_factor_out=1, src_factor_out=1, alu_opcode=op,
                   use_imm=int(imm is not None), imm=imm or 0))
    return s, store_tail(m, s, n)


def np_alu(op: int, a: np.ndarray, b) -> np.ndarray:
    a64, b64 = a.astype(np.int64), np.asarray(b, dtype=np.int64)
    if op == AluOp.MIN:
        r = np.minimum(a64, b64)
    elif op == AluOp.MAX:
        r = np.maximum(a64, b64)
    elif op == AluOp.ADD:
        r = a64 + b64
    elif op == AluOp.MUL:
        r = a64 * b64
    else:
        amount = b64 & 31
        amount = np.where(amount >= 16, amount - 32, amount)
        r = np.where(amount >= 0, a64 >> np.maximum(amount, 0), a64 << np.maximum(-amount, 0))
    return (r & 0xFFFFFFFF).astype(np.uint32).view(np.int32)


# ------------------------------------------------------------------- load / store
def test_acc_load_alu_noop_store():
    """TVM's save/load-out test: ACC load, SHR by 0 (a no-op that narrows), store."""
    m = Machine()
    a = acc_data(m, 40)
    s, out = alu_program(m, a, AluOp.SHR, imm=0)
    stats = m.run(s, check_reference=True)
    assert np.array_equal(m.sim.acc[:40], a)
    assert np.array_equal(m.read_out(out, 40), a.astype(np.int8))
    assert stats.insns["STORE"] == 1 and stats.bytes_written["OUT"] == 40 * 16
    assert stats.bytes_read["ACC"] == 40 * 64


def test_acc_load_then_store_stores_stale_out():
    """STORE reads OUT: a LOAD ACC without a write-back leaves OUT as it was."""
    m = Machine()
    s = InsnStream()
    s.emit(isa.Load(memory_type=MemType.ACC, dram_base=m.put(MemType.ACC,
                                   acc_data(m, 4)), y_size=1, x_size=4, x_stride=4))
    out = store_tail(m, s, 4)
    m.run(s)
    assert not m.read_out(out, 4).any()


PADS = [dict(y_pad_0=2), dict(y_pad_1=3), dict(x_pad_0=1), dict(x_pad_1=2),
        dict(y_pad_0=1, y_pad_1=2, x_pad_0=3, x_pad_1=1)]


@pytest.mark.parametrize("pads", PADS, ids=lambda p: "+".join(p))
@pytest.mark.parametrize("mt", [MemType.INP, MemType.WGT, MemType.ACC])
def test_padded_load(mt, pads):
    m = Machine()
    c = m.cfg
    y, x, stride = 3, 5, 7
    shape = {MemType.INP: (c.batch, c.block_in), MemType.WGT: (c.block_out, c.block_in),
             MemType.ACC: (c.batch, c.block_out)}[mt]
    dtype = np.int32 if mt == MemType.ACC else np.int8
    src = RNG.integers(-100, 100, (y, stride) + shape).astype(dtype)
    base = m.put(mt, src)
    s = InsnStream()
    stage = COMPUTE if mt == MemType.ACC else LOAD
    s.emit(isa.Load(memory_type=mt, sram_base=5, dram_base=base, y_size=y, x_size=x,
                    x_stride=stride, **pads))
    if stage == LOAD:
        s.dep_push(LOAD, COMPUTE)
        s.dep_pop(LOAD, COMPUTE)
        s.commit_pending_pop(COMPUTE)
    s.emit(isa.Finish())
    buf = {MemType.INP: m.sim.inp, MemType.WGT: m.sim.wgt, MemType.ACC: m.sim.acc}[mt]
    buf[...] = 77                           # padding must overwrite, not skip
    m.run(s)
    p = {k: pads.get(k, 0) for k in ("y_pad_0", "y_pad_1", "x_pad_0", "x_pad_1")}
    want = np.pad(src[:, :x], ((p["y_pad_0"], p["y_pad_1"]), (p["x_pad_0"], p["x_pad_1"]))
                  + ((0, 0),) * len(shape))
    n = want.shape[0] * want.shape[1]
    assert np.array_equal(buf[5:5 + n], want.reshape((n,) + shape))
    assert (buf[:5] == 77).all() and (buf[5 + n:] == 77).all()


def test_acc_8bit_load_sign_extends():
    m = Machine()
    c = m.cfg
    src = RNG.integers(-128, 128, (6, c.batch, c.block_out), dtype=np.int8)
    s = InsnStream()
    s.emit(isa.Load(memory_type=MemType.ACC_8BIT, sram_base=3,
                    dram_base=m.put(MemType.ACC_8BIT, src), y_size=2, x_size=3,
                    x_stride=3, x_pad_0=1))
    s.emit(isa.Finish())
    stats = m.run(s, check_reference=True)
    want = np.pad(src.astype(np.int32).reshape(2, 3, c.batch, c.block_out),
                  ((0, 0), (1, 0), (0, 0), (0, 0)))
    assert np.array_equal(m.sim.acc[3:11], want.reshape(8, c.batch, c.block_out))
    assert stats.bytes_read["ACC_8BIT"] == 6 * c.out_elem_bytes


def test_strided_store_and_uop_persistence_across_runs():
    """Uops stay resident between runs; STORE writes rows with a pitch."""
    m = Machine()
    a = acc_data(m, 6)
    first = InsnStream()
    first.emit(m.uop_load([isa.Uop(dst_idx=0, src_idx=0)], sram_base=100))
    first.emit(isa.Finish())
    m.run(first)
    s = InsnStream()
    s.emit(isa.Load(memory_type=MemType.ACC, dram_base=m.put(MemType.ACC, a),
                    y_size=1, x_size=6, x_stride=6))
    s.emit(isa.Alu(uop_bgn=100, uop_end=101, iter_out=6, iter_in=1,
                   dst_factor_out=1, alu_opcode=AluOp.ADD, use_imm=1, imm=1))
    out = m.zeros(MemType.OUT, 9)
    s.dep_push(COMPUTE, STORE)
    s.dep_pop(COMPUTE, STORE)
    s.emit(isa.Store(memory_type=MemType.OUT, dram_base=out, y_size=2, x_size=3,
                     x_stride=4))
    s.dep_push(STORE, COMPUTE)
    s.dep_pop(STORE, COMPUTE)
    s.commit_pending_pop(COMPUTE)
    s.emit(isa.Finish())
    m.run(s, check_reference=True)
    got = m.read_out(out, 9)
    want = (a + 1).astype(np.int8)
    assert np.array_equal(got[0:3], want[0:3]) and np.array_equal(got[4:7], want[3:6])
    assert not got[3].any() and not got[7:].any()


# ------------------------------------------------------------------- GEMM
def blocked_gemm(m: Machine, rows: int, kb: int, nb: int, shift: int, clip: bool = True):
    """A (rows x kb blocks) . B^T (nb x kb blocks) >> shift, clipped to [0, 127]."""
    c = m.cfg
    a = RNG.integers(-128, 128, (rows, kb, c.batch, c.block_in), dtype=np.int8)
    b = RNG.integers(-128, 128, (nb, kb, c.block_out, c.block_in), dtype=np.int8)
    s = InsnStream()
    s.emit(isa.Load(memory_type=MemType.INP, dram_base=m.put(MemType.INP, a),
                    y_size=rows, x_size=kb, x_stride=kb))
    s.emit(isa.Load(memory_type=MemType.WGT, dram_base=m.put(MemType.WGT, b),
                    y_size=nb, x_size=kb, x_stride=kb))
    s.dep_push(LOAD, COMPUTE)
    uops = [isa.Uop(dst_idx=0, src_idx=k, wgt_idx=k) for k in range(kb)]
    uops += [isa.Uop(dst_idx=0, src_idx=0)]
    s.emit(m.uop_load(uops))
    s.emit(isa.Gemm(reset=1, uop_bgn=kb, uop_end=kb + 1, iter_out=rows * nb,
                    iter_in=1, dst_factor_out=1))
    s.dep_pop(LOAD, COMPUTE)
    s.emit(isa.Gemm(uop_bgn=0, uop_end=kb, iter_out=rows, iter_in=nb,
                    dst_factor_out=nb, dst_factor_in=1, src_factor_out=kb,
                    wgt_factor_in=kb))
    alu = dict(uop_bgn=kb, uop_end=kb + 1, iter_out=rows * nb, iter_in=1, dst_factor_out=1,
               src_factor_out=1, use_imm=1)
    s.emit(isa.Alu(alu_opcode=AluOp.SHR, imm=shift, **alu))
    if clip:
        s.emit(isa.Alu(alu_opcode=AluOp.MAX, imm=0, **alu))
        s.emit(isa.Alu(alu_opcode=AluOp.MIN, imm=127, **alu))
    out = store_tail(m, s, rows * nb)
    prod = np.einsum("rkbi,nkoi->rnbo", a.astype(np.int64), b.astype(np.int64)) >> shift
    if clip:
        prod = np.clip(prod, 0, 127)
    return s, out, prod.reshape(rows * nb, c.batch, c.block_out)


@pytest.mark.parametrize("preset", ["default", "tiny"])
def test_blocked_gemm_shift_clip(preset):
    m = Machine(preset)
    s, out, want = blocked_gemm(m, rows=4, kb=3, nb=2, shift=8)
    stats = m.run(s, check_reference=True)
    assert np.array_equal(m.read_out(out, 8), want.astype(np.int8))
    assert stats.gemm_uops == 4 * 2 * 3 + 8 and stats.gemm_reset_uops == 8
    assert stats.macs(m.cfg) == 4 * 2 * 3 * m.cfg.macs_per_cycle
    assert stats.alu_uops == 3 * 8
    counters = stats.counters()
    assert counters["GEMM_UOPS"] == 32 and counters["INSN_DONE"] == sum(stats.insns.values())
    assert counters["DMA_WR_BYTES"] == 8 * m.cfg.out_elem_bytes


def test_big_gemm_matches_numpy():
    """Thousands of uops in one instruction (the vectorised paths), exact int32."""
    m = Machine()
    s, out, want = blocked_gemm(m, rows=64, kb=16, nb=32, shift=0, clip=False)
    m.run(s)
    assert np.array_equal(m.sim.acc[:64 * 32], want.astype(np.int32))
    assert np.array_equal(m.read_out(out, 64 * 32), want.astype(np.int8))


def test_gemm_wraps_int32_and_accumulates_duplicate_rows():
    """Several uops (and loop iterations) hitting one ACC row; int32 wrap-around."""
    m = Machine()
    c = m.cfg
    inp = np.full((4, c.batch, c.block_in), 127, np.int8)
    wgt = np.full((4, c.block_out, c.block_in), 127, np.int8)
    start = np.full((2, c.batch, c.block_out), (1 << 31) - 1000, np.int32)
    s = InsnStream()
    s.emit(isa.Load(memory_type=MemType.INP, dram_base=m.put(MemType.INP, inp),
                    y_size=1, x_size=4, x_stride=4))
    s.emit(isa.Load(memory_type=MemType.WGT, dram_base=m.put(MemType.WGT, wgt),
                    y_size=1, x_size=4, x_stride=4))
    s.dep_push(LOAD, COMPUTE)
    s.emit(m.uop_load([isa.Uop(0, 0, 0), isa.Uop(1, 1, 1), isa.Uop(0, 2, 3)]))
    s.emit(isa.Load(memory_type=MemType.ACC, dram_base=m.put(MemType.ACC, start),
                    y_size=1, x_size=2, x_stride=2))
    s.dep_pop(LOAD, COMPUTE)
    s.emit(isa.Gemm(uop_bgn=0, uop_end=3, iter_out=3, iter_in=2,
                    src_factor_in=1, wgt_factor_out=0))
    out = store_tail(m, s, 2)
    m.run(s, check_reference=True)
    dot = 127 * 127 * c.block_in
    want = np.array([(1 << 31) - 1000 + 12 * dot, (1 << 31) - 1000 + 6 * dot], np.int64)
    want = (want & 0xFFFFFFFF).astype(np.uint32).view(np.int32)
    assert np.array_equal(m.sim.acc[:2, 0, 0], want)
    assert np.array_equal(m.read_out(out, 2)[:, 0, 0], want.astype(np.int8))


# ------------------------------------------------------------------- ALU
OPS = [AluOp.MIN, AluOp.MAX, AluOp.ADD, AluOp.SHR, AluOp.MUL]


@pytest.mark.parametrize("op", OPS, ids=lambda o: AluOp(o).name)
@pytest.mark.parametrize("operand", ["imm", "tensor"])
def test_alu_op(op, operand):
    m = Machine(alu_mul=True)
    a = acc_data(m, 12, -(1 << 31), 1 << 31)
    if operand == "imm":
        imm = -5 if op == AluOp.SHR else int(RNG.integers(-(1 << 15), 1 << 15))
        s, out = alu_program(m, a, op, imm=imm)
        want = np_alu(op, a, imm)
    else:
        b = acc_data(m, 12, -(1 << 31), 1 << 31)
        s, out = alu_program(m, a, op, b=b)
        want = np_alu(op, a, b)
    m.run(s, check_reference=True)
    assert np.array_equal(m.sim.acc[:12], want)
    assert np.array_equal(m.read_out(out, 12), want.astype(np.int8))


@pytest.mark.parametrize("imm", [0, 1, 8, 15, -1, -16, 16, 31, -17, 0x7FFF, -0x8000])
def test_shr_definition(imm):
    """SHR shifts by the low LOG_ACC_WIDTH bits read as signed: [-16, 15], negative = left."""
    m = Machine()
    a = np.array([[[-(1 << 31), -12345, -1, 0, 1, 77, 1 << 20, (1 << 31) - 1] * 2]],
                 np.int32).reshape(1, 1, 16)
    s, _ = alu_program(m, a, AluOp.SHR, imm=imm)
    m.run(s, check_reference=True)
    amount = ((imm & 31) ^ 16) - 16
    want = [(v >> amount) if amount >= 0 else ((v << -amount) & 0xFFFFFFFF) for v in
            a.reshape(-1).tolist()]
    want = np.array(want, np.int64).astype(np.uint32).view(np.int32)
    assert np.array_equal(m.sim.acc[0].reshape(-1), want)


def test_relu():
    m = Machine()
    a = acc_data(m, 20)
    s, out = alu_program(m, a, AluOp.MAX, imm=0)
    m.run(s, check_reference=True)
    assert np.array_equal(m.sim.acc[:20], np.maximum(a, 0))


def test_shift_and_scale():
    """TVM's shift-and-scale: (x >> s) + scale, then narrow."""
    m = Machine()
    a = acc_data(m, 16)
    s = acc_stream(m, a, isa.Uop(dst_idx=0, src_idx=0))
    nest = dict(uop_bgn=0, uop_end=1, iter_out=4, iter_in=4, dst_factor_out=4, dst_factor_in=1,
                use_imm=1)
    s.emit(isa.Alu(alu_opcode=AluOp.SHR, imm=6, **nest))
    s.emit(isa.Alu(alu_opcode=AluOp.ADD, imm=-24, **nest))
    out = store_tail(m, s, 16)
    m.run(s, check_reference=True)
    want = (a >> 6) - 24
    assert np.array_equal(m.read_out(out, 16), want.astype(np.int8))


def test_alu_reads_rows_written_earlier_in_the_same_instruction():
    """A running sum along rows: uop k reads row k-1 written by uop k-1 (sequential)."""
    m = Machine()
    a = acc_data(m, 10)
    s = acc_stream(m, a, isa.Uop(dst_idx=1, src_idx=0))
    s.emit(isa.Alu(uop_bgn=0, uop_end=1, iter_out=9, iter_in=1,
                   dst_factor_out=1, src_factor_out=1, alu_opcode=AluOp.ADD))
    store_tail(m, s, 10)
    m.run(s, check_reference=True)
    assert np.array_equal(m.sim.acc[:10], np.cumsum(a, axis=0, dtype=np.int64).astype(np.int32))


def test_alu_repeated_destination_applies_in_order():
    """The same row written by every uop: imm ops apply once per uop, tensor max-pools."""
    m = Machine()
    a = acc_data(m, 8)
    s = acc_stream(m, a, isa.Uop(dst_idx=0, src_idx=1))
    s.emit(isa.Alu(uop_bgn=0, uop_end=1, iter_out=7, iter_in=1,
                   src_factor_out=1, alu_opcode=AluOp.MAX))
    s.emit(isa.Alu(uop_bgn=0, uop_end=1, iter_out=3, iter_in=1,
                   alu_opcode=AluOp.SHR, use_imm=1, imm=1))
    store_tail(m, s, 8)
    m.run(s, check_reference=True)
    assert np.array_equal(m.sim.acc[0], a.max(axis=0) >> 3)
