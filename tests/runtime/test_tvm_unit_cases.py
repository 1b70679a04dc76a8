"""TVM's VTA unit tests (test_vta_insn.py) again, with the streams built by the runtime.

Each case loads data, computes on the accelerator and stores, through CommandQueue calls
only; results are compared bit for bit with numpy on the fsim backend.
"""

import numpy as np
import pytest
from vta.hw.isa import AluOp, MemType
from vta.runtime import COMPUTE, LOAD, STORE

ACC, INP, WGT, OUT = MemType.ACC, MemType.INP, MemType.WGT, MemType.OUT


def _store_after_compute(q, sram, dst, offset, x, y, stride):
    q.dep_push(COMPUTE, STORE)
    q.dep_pop(COMPUTE, STORE)
    q.store_buffer_2d(sram, OUT, dst, offset, x, y, stride)
    q.dep_push(STORE, COMPUTE)
    q.dep_pop(STORE, COMPUTE)


def _alu_all(q, key, op, n, imm=None, src_offset=0):
    """``ACC[i] = op(ACC[i], imm or ACC[src_offset + i])`` for i < n."""
    def record(k):
        with k.loop(n, 1, 1):
            k.alu(op, 0, src_offset, imm=imm)
    q.push_alu_op(key, record)


def _shr(a, s):
    """The hardware's SHR: signed low 5 bits; negative shifts left (mod 2**32)."""
    s = ((s & 31) ^ 16) - 16
    left = (a.astype(np.int64) << np.maximum(-s, 0)).astype(np.uint64).astype(np.uint32)
    return np.where(s >= 0, a >> np.maximum(s, 0), left.view(np.int32))


def test_save_load_out(qd, rng):
    c = qd.config
    n = 8
    x = rng.integers(-(1 << 31), 1 << 31, (n, c.batch, c.block_out), dtype=np.int64)
    x = x.astype(np.int32)
    xd, yd = qd.array(x), qd.empty((n, c.batch, c.block_out), np.int8)
    qd.load_buffer_2d(xd, 0, n, 1, n, 0, 0, 0, 0, 0, ACC)
    _alu_all(qd, "shr0", AluOp.SHR, n, imm=0)       # narrows ACC into OUT
    _store_after_compute(qd, 0, yd, 0, n, 1, n)
    result = qd.synchronize()
    assert np.array_equal(yd.numpy(), x.astype(np.int8))
    assert result.counters["ALU_UOPS"] == n


def test_padded_load(qd, rng):
    c = qd.config
    rows, cols = 3, 5
    yb, ya, xb, xa = 1, 2, 3, 1
    x = rng.integers(-1000, 1000, (rows, cols, c.batch, c.block_out)).astype(np.int32)
    ho, wo = rows + yb + ya, cols + xb + xa
    xd, yd = qd.array(x), qd.empty((ho, wo, c.batch, c.block_out), np.int8)
    qd.load_buffer_2d(xd, 0, cols, rows, cols, xb, yb, xa, ya, 0, ACC)
    _alu_all(qd, "shr0", AluOp.SHR, ho * wo, imm=0)
    _store_after_compute(qd, 0, yd, 0, ho * wo, 1, ho * wo)
    qd.synchronize()
    expect = np.pad(x, ((yb, ya), (xb, xa), (0, 0), (0, 0))).astype(np.int8)
    assert np.array_equal(yd.numpy(), expect)


def test_gemm(qd, rng):
    c = qd.config
    o, n, m = 2, 4, 3            # batch blocks, reduction blocks, output blocks
    data = rng.integers(-128, 128, (o, n, c.batch, c.block_in), dtype=np.int8)
    weight = rng.integers(-128, 128, (m, n, c.block_out, c.block_in), dtype=np.int8)
    dd, wd = qd.array(data), qd.array(weight)
    out = qd.empty((o, m, c.batch, c.block_out), np.int8)
    qd.load_buffer_2d(dd, 0, o * n, 1, o * n, 0, 0, 0, 0, 0, INP)
    qd.load_buffer_2d(wd, 0, m * n, 1, m * n, 0, 0, 0, 0, 0, WGT)
    qd.dep_push(LOAD, COMPUTE)
    qd.dep_pop(LOAD, COMPUTE)

    def reset(k):
        with k.loop(o, m, 0, 0):
            with k.loop(m, 1, 0, 0):
                k.gemm(0, 0, 0, reset=True)
    qd.push_gemm_op("reset", reset)

    def gemm(k):                   # ACC[i*m + j] += INP[i*n + r] . WGT[j*n + r]^T
        with k.loop(o, m, n, 0):
            with k.loop(n, 0, 1, 1):
                for j in range(m):
                    k.gemm(j, 0, j * n)
    qd.push_gemm_op("gemm", gemm)
    _alu_all(qd, "shr8", AluOp.SHR, o * m, imm=8)
    _alu_all(qd, "max", AluOp.MAX, o * m, imm=-128)
    _alu_all(qd, "min", AluOp.MIN, o * m, imm=127)
    _store_after_compute(qd, 0, out, 0, o * m, 1, o * m)
    result = qd.synchronize()
    acc = np.einsum("onbi,mnki->ombk", data.astype(np.int32), weight.astype(np.int32))
    assert np.array_equal(out.numpy(), np.clip(acc >> 8, -128, 127).astype(np.int8))
    assert result.macs == o * m * n * c.macs_per_cycle


@pytest.mark.parametrize("op", [AluOp.MIN, AluOp.MAX, AluOp.ADD, AluOp.SHR])
@pytest.mark.parametrize("use_imm", [True, False])
def test_alu(qd, rng, op, use_imm):
    c = qd.config
    n = 16
    shape = (n, c.batch, c.block_out)
    a = rng.integers(-(1 << 20), 1 << 20, shape).astype(np.int32)
    if op == AluOp.SHR:
        b = rng.integers(-16, 16, shape).astype(np.int32)
        imm = int(rng.integers(0, 16))
    else:
        b = rng.integers(-(1 << 20), 1 << 20, shape).astype(np.int32)
        imm = int(rng.integers(-(1 << 15), 1 << 15))
    ad, bd, out = qd.array(a), qd.array(b), qd.empty(shape, np.int8)
    qd.load_buffer_2d(ad, 0, n, 1, n, 0, 0, 0, 0, 0, ACC)
    qd.load_buffer_2d(bd, 0, n, 1, n, 0, 0, 0, 0, n, ACC)
    _alu_all(qd, ("alu", op, use_imm), op, n, imm=imm if use_imm else None, src_offset=n)
    _store_after_compute(qd, 0, out, 0, n, 1, n)
    qd.synchronize()
    operand = np.full(shape, imm, np.int32) if use_imm else b
    expect = {AluOp.MIN: np.minimum, AluOp.MAX: np.maximum,
              AluOp.ADD: lambda x, y: (x.astype(np.int64) + y).astype(np.int32),
              AluOp.SHR: _shr}[op](a, operand)
    assert np.array_equal(out.numpy(), expect.astype(np.int8))


@pytest.mark.parametrize("name, ops, expect", [
    ("relu", [("max0", AluOp.MAX, 0), ("min127", AluOp.MIN, 127)],
     lambda a: np.clip(a, 0, 127)),
    ("shift_and_scale", [("add8", AluOp.ADD, 8), ("shr4", AluOp.SHR, 4)],
     lambda a: (a + 8) >> 4),
])
def test_alu_immediate_chains(qd, rng, name, ops, expect):
    """TVM's test_relu and test_shift_and_scale: immediate ALU ops over 32 ACC rows."""
    c = qd.config
    n = 32
    hi = 1000 if name == "relu" else 1 << 16
    a = rng.integers(-hi, hi, (n, c.batch, c.block_out)).astype(np.int32)
    ad, out = qd.array(a), qd.empty(a.shape, np.int8)
    qd.load_buffer_2d(ad, 0, n, 1, n, 0, 0, 0, 0, 0, ACC)
    for key, op, imm in ops:
        _alu_all(qd, key, op, n, imm=imm)
    _store_after_compute(qd, 0, out, 0, n, 1, n)
    qd.synchronize()
    assert np.array_equal(out.numpy(), expect(a).astype(np.int8))


def test_runtime_array(qd, rng):
    for dtype in (np.int8, np.int32, np.uint8):
        a = rng.integers(0, 100, (3, 7, 5)).astype(dtype)
        d = qd.array(a)
        assert d.shape == a.shape and d.dtype == dtype and d.addr % 256 == 0
        assert np.array_equal(d.numpy(), a)
        d.free()
    e = qd.empty((2, 2), np.int32)
    e.copy_from(np.eye(2, dtype=np.int32))
    assert np.array_equal(e.numpy(), np.eye(2))
