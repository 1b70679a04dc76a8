"""The functional simulator's fast paths: GEMM/ALU plans, plan caches, schedule shortcut.

Plans are checked against integer-only oracles (int64 ``np.add.at`` for GEMM, the
reference interpreter's per-element ALU for ALU) on index patterns chosen to hit every
branch: matmul factoring with row/column/batch axes, repeated destinations, uneven uop
groups, reductions longer than float32 holds exactly, int32 wrap-around, BATCH > 1.
Whole programs run against the slow reference interpreter.
"""

import numpy as np
import pytest
from vta.hw import VTAConfig, isa
from vta.hw.insn_stream import InsnStream
from vta.hw.isa import AluOp, MemType
from vta.hw.pipeline import COMPUTE, LOAD, STORE
from vta.sim import fsim_compute as fc
from vta.sim import reference
from vta.sim.dram import Dram
from vta.sim.fsim import FsimError, FunctionalSimulator
from vta.sim.progen import random_program

from tests.sim.fsim_programs import Machine

RNG = np.random.default_rng(77)


# ------------------------------------------------------------------------ GEMM plans
class Srams:
    """SRAM contents plus the float mirrors the plans read."""

    def __init__(self, depth=256, batch=1, block=16, *, extreme=False, acc_near_max=False):
        if extreme:
            # Odd values of one sign: every product is odd and positive, so partial sums
            # beyond 2**24 lose their low bits in float32 (multiples of 2**14 would not).
            self.inp = RNG.choice(np.array([-127, -125, -123], np.int8), (depth, batch, block))
            self.wgt = RNG.choice(np.array([-127, -121, -119], np.int8), (depth, block, block))
        else:
            self.inp = RNG.integers(-128, 128, (depth, batch, block), dtype=np.int8)
            self.wgt = RNG.integers(-128, 128, (depth, block, block), dtype=np.int8)
        if acc_near_max:
            self.acc = RNG.integers(2**31 - 1000, 2**31, (depth, batch, block),
                                    dtype=np.int64).astype(np.int32)
        else:
            self.acc = RNG.integers(-2**31, 2**31, (depth, batch, block),
                                    dtype=np.int64).astype(np.int32)
        self.out = RNG.integers(-128, 128, self.acc.shape, dtype=np.int8)
        self.inp_f = self.inp.astype(np.float32)
        self.wgt_t = np.ascontiguousarray(self.wgt.transpose(0, 2, 1), dtype=np.float32)

    def run_plan(self, dst, src, wid):
        acc, out = self.acc.copy(), self.out.copy()
        plan = fc.plan_gemm(dst, src, wid)
        if plan is not None:
            plan.run(acc, out, self.inp_f, self.wgt_t)
        return acc, out, plan

    def oracle(self, dst, src, wid):
        """Integer-only: int64 products, np.add.at, low 32 bits; OUT = low 8 bits."""
        acc = self.acc.astype(np.int64)
        out = self.out.copy()
        d, s, w = dst.reshape(-1), src.reshape(-1), wid.reshape(-1)
        prod = np.einsum("nbi,noi->nbo", self.inp[s].astype(np.int64),
                         self.wgt[w].astype(np.int64))
        np.add.at(acc, d, prod)
        acc32 = (acc & 0xFFFFFFFF).astype(np.uint32).view(np.int32)
        rows = np.unique(d)
        out[rows] = acc32[rows].astype(np.int8)
        untouched = np.setdiff1d(np.arange(acc.shape[0]), rows)
        acc32[untouched] = self.acc[untouched]
        return acc32, out


def loop_nest(uops, loops):
    """(I, J, K) index arrays of a kernel: uops ``[(dst, src, wgt)]``, loops
    ``[(extent, dst_f, src_f, wgt_f)]`` (outer, inner)."""
    loops = list(loops) + [(1, 0, 0, 0)] * (2 - len(loops))
    (ni, *fo), (nj, *fi) = loops
    u = np.array(uops, dtype=np.int64).T               # (3, K)
    i = np.arange(ni)[:, None, None]
    j = np.arange(nj)[None, :, None]
    return [u[k][None, None, :] + i * fo[k] + j * fi[k] for k in range(3)]


def conv_kernel(toc=2, toh=3, tow=4, tic=2, kh=3, kw=3, stride=1, abase=5, ibase=3,
                wbase=7):
    """The compiler's conv2d GEMM: uops over (ic, kh, kw, ow), loops over oc and oh."""
    tih, tiw = (toh - 1) * stride + kh, (tow - 1) * stride + kw
    uops = [(abase + ow, ibase + ic * tih * tiw + y * tiw + z + ow * stride,
             wbase + ic * kh * kw + y * kw + z)
            for ic in range(tic) for y in range(kh) for z in range(kw) for ow in range(tow)]
    loops = [(toc, toh * tow, 0, tic * kh * kw), (toh, tow, stride * tiw, 0)]
    return loop_nest(uops, loops)


def check_gemm(sr: Srams, idx, *, expect: str | None = None):
    acc, out, plan = sr.run_plan(*idx)
    want_acc, want_out = sr.oracle(*idx)
    assert np.array_equal(acc, want_acc)
    assert np.array_equal(out, want_out)
    if expect == "flat":
        assert plan.flat is not None
    elif expect == "reduce":
        assert plan.flat is None and plan.starts is not None
    elif expect is not None:
        assert plan.flat is None and plan.starts is None
        assert isinstance(plan.target, slice) == (expect == "slice")
    return plan


@pytest.mark.parametrize("stride", [1, 2])
def test_conv_kernel_is_one_matmul(stride):
    idx = conv_kernel(stride=stride)
    plan = check_gemm(Srams(), idx, expect="slice")
    nb, nm, nn, nr = plan.shape
    assert (nb, nm, nn, nr) == (1, 3 * 4, 2, 2 * 9)     # rows oh*ow, columns oc, taps


def test_dense_kernel_rows_and_columns():
    """The bench's dense micro-kernel: one destination, loops over rows and out blocks."""
    tk, tr, tn = 5, 4, 3
    uops = [(0, k, k) for k in range(tk)]
    idx = loop_nest(uops, [(tr, tn, tk, 0), (tn, 1, 0, tk)])
    plan = check_gemm(Srams(), idx, expect="slice")
    assert plan.shape == (1, tr, tn, tk)


def test_batch_axis_when_source_and_weight_both_vary():
    uops = [(0, 0, 0), (0, 1, 1), (1, 2, 0), (1, 3, 1)]
    idx = loop_nest(uops, [(3, 2, 4, 2), (2, 6, 0, 7)])
    plan = check_gemm(Srams(), idx)
    assert plan.shape[0] > 1


def test_permuted_destinations_use_a_slice():
    """oc outer in hardware but rows ordered (oh, ow, oc) in the matmul: one permutation."""
    uops = [(ow, ow + t, t) for t in range(3) for ow in range(4)]
    idx = loop_nest(uops, [(3, 4 * 5, 0, 3), (5, 4, 4, 0)])   # dst = oc*20 + oh*4 + ow
    plan = check_gemm(Srams(), idx, expect="slice")
    assert plan.perm is None or plan.perm.size == 60


def test_scattered_destinations():
    uops = [(3 * ow, ow + t, t) for t in range(2) for ow in range(5)]
    idx = loop_nest(uops, [(2, 60, 0, 2), (3, 17, 5, 0)])
    check_gemm(Srams(), idx, expect="index")


def test_duplicate_destinations_across_loop_iterations():
    """dst_factor 0 on a loop that walks sources and weights: rows repeat, summed once."""
    uops = [(ow, ow + t, t) for t in range(2) for ow in range(3)]
    idx = loop_nest(uops, [(4, 0, 6, 2), (2, 3, 9, 0)])
    check_gemm(Srams(), idx, expect="reduce")


def test_duplicate_destinations_everywhere():
    """Every uop of every iteration writes row 9: one long reduction into one row."""
    uops = [(9, t, t) for t in range(7)]
    idx = loop_nest(uops, [(5, 0, 7, 0), (3, 0, 0, 7)])
    check_gemm(Srams(), idx)


def test_uneven_uop_groups_fall_back():
    uops = [(0, 1, 2), (0, 3, 4), (1, 5, 6), (2, 7, 8), (2, 9, 10), (2, 11, 12)]
    idx = loop_nest(uops, [(3, 3, 12, 13), (2, 9, 1, 0)])
    check_gemm(Srams(), idx, expect="flat")


def test_random_index_patterns():
    for _ in range(25):
        k = int(RNG.integers(1, 12))
        uops = [tuple(int(v) for v in RNG.integers(0, 20, 3)) for _ in range(k)]
        loops = [(int(RNG.integers(1, 5)), *(int(v) for v in RNG.integers(0, 6, 3)))
                 for _ in range(2)]
        check_gemm(Srams(), loop_nest(uops, loops))


def test_reduction_longer_than_float32_holds():
    """150 taps x 16 = 2400 odd positive terms near 2**14: sums near 2**25, past float32's
    exact range (2**24), so the reduction must be split."""
    uops = [(ow, t * 2 + ow, t) for t in range(150) for ow in range(2)]
    idx = loop_nest(uops, [(1, 0, 0, 0)])
    sr = Srams(depth=400, extreme=True)
    sr.acc[:] = 0
    acc, _, _ = sr.run_plan(*idx)
    assert acc[0, 0, 0] > 2**25
    check_gemm(sr, idx)


def test_accumulator_wraps_around():
    idx = conv_kernel()
    sr = Srams(extreme=True, acc_near_max=True)
    acc, _, _ = sr.run_plan(*idx)
    assert (acc[5:5 + 24] < 0).all()                   # positive sums pushed past 2**31
    check_gemm(sr, idx)


@pytest.mark.parametrize("batch,block", [(2, 8), (4, 4)])
def test_batched_tiles(batch, block):
    sr = Srams(batch=batch, block=block)
    check_gemm(sr, conv_kernel())
    check_gemm(sr, loop_nest([(0, 1, 2), (1, 1, 3)], [(3, 2, 4, 0), (2, 6, 0, 5)]))
    check_gemm(sr, loop_nest([(0, 1, 2), (0, 3, 4), (1, 5, 6)], [(2, 2, 7, 7)]))


def test_reset_plan_zeroes_rows():
    sr = Srams()
    acc, out = sr.acc.copy(), sr.out.copy()
    dst = loop_nest([(4, 0, 0), (6, 0, 0)], [(3, 10, 0, 0), (2, 1, 0, 0)])[0]
    fc.plan_reset(dst).run(acc, out)
    rows = np.unique(dst)
    assert not acc[rows].any() and not out[rows].any()
    rest = np.setdiff1d(np.arange(acc.shape[0]), rows)
    assert np.array_equal(acc[rest], sr.acc[rest]) and np.array_equal(out[rest], sr.out[rest])
    assert fc.plan_reset(dst[:0]) is None and fc.plan_gemm(dst[:0], dst[:0], dst[:0]) is None


# ------------------------------------------------------------------------- ALU plans
def alu_oracle(acc, out, dst, src, op, imm):
    """Uop by uop on Python ints with the reference interpreter's ALU."""
    acc, out = acc.astype(np.int64).tolist(), out.tolist()
    for d, s in zip(dst.reshape(-1).tolist(), (dst if src is None else src).reshape(-1).tolist(),
                    strict=True):
        for b in range(len(acc[d])):
            for o in range(len(acc[d][b])):
                operand = imm if src is None else acc[s][b][o]
                v = reference._alu(op, acc[d][b][o], operand)
                acc[d][b][o] = v
                out[d][b][o] = reference.low8(v)
    return np.array(acc, np.int64).astype(np.int32), np.array(out, np.int8)


def check_alu(dst, src, op, imm=None, *, mode=None, depth=64):
    acc = RNG.integers(-2**31, 2**31, (depth, 1, 8), dtype=np.int64).astype(np.int32)
    if op == AluOp.SHR and src is not None:
        acc[np.unique(src)] = RNG.integers(-16, 16, (np.unique(src).size, 1, 8))
    out = RNG.integers(-128, 128, acc.shape, dtype=np.int8)
    want_acc, want_out = alu_oracle(acc, out, dst, src, op, imm)
    plan = fc.plan_alu(dst, src)
    plan.run(acc, out, op, imm, 5)
    assert np.array_equal(acc, want_acc)
    assert np.array_equal(out, want_out)
    if mode:
        assert plan.mode == mode
    return plan


OPS = [AluOp.MIN, AluOp.MAX, AluOp.ADD, AluOp.SHR, AluOp.MUL]


@pytest.mark.parametrize("op", OPS, ids=lambda o: AluOp(o).name)
def test_alu_vector_with_bias_rows(op):
    """The conv epilogue: every tile row once, the source a per-channel bias row."""
    dst, src, _ = loop_nest([(x, 40, 0) for x in range(4)], [(2, 12, 1, 0), (3, 4, 0, 0)])
    check_alu(dst, src, op, mode="vector")


@pytest.mark.parametrize("op", OPS, ids=lambda o: AluOp(o).name)
@pytest.mark.parametrize("imm", [-17, -3, 0, 5, 31, 0x7FFF, -0x8000])
def test_alu_immediate(op, imm):
    dst = loop_nest([(x, 0, 0) for x in range(5)], [(3, 5, 0, 0)])[0]
    check_alu(dst, None, op, imm, mode="vector")


def test_alu_permuted_and_scattered_destinations():
    dst, src, _ = loop_nest([(0, 50, 0), (1, 51, 0)], [(4, 2, 2, 0), (2, 8, 0, 0)])
    plan = check_alu(dst, src, AluOp.ADD, mode="vector")
    assert isinstance(plan.target, slice) and not isinstance(plan.src, slice)
    dst, src, _ = loop_nest([(0, 50, 0), (1, 51, 0)], [(4, 2, 2, 0)])
    plan = check_alu(dst, src, AluOp.MIN, mode="vector")
    assert isinstance(plan.target, slice) and isinstance(plan.src, slice)
    dst, src, _ = loop_nest([(0, 50, 0), (3, 51, 0)], [(4, 7, 1, 0)])
    check_alu(dst, src, AluOp.MAX, mode="vector")


def test_alu_source_is_own_destination():
    dst = loop_nest([(x, x, 0) for x in range(6)], [(2, 6, 6, 0)])[0]
    check_alu(dst, dst, AluOp.ADD, mode="vector")          # doubles every row


@pytest.mark.parametrize("op", [AluOp.ADD, AluOp.SHR, AluOp.MUL], ids=lambda o: AluOp(o).name)
def test_alu_duplicate_destinations_run_in_rounds(op):
    dst, src, _ = loop_nest([(0, 30, 0), (1, 31, 0), (0, 32, 0)], [(3, 0, 3, 0), (2, 1, 0, 0)])
    check_alu(dst, src, op, mode="rounds")
    check_alu(dst, None, op, 3, mode="rounds")


def test_alu_overlapping_destination_and_source_is_sequential():
    """A prefix sum: uop k reads the row uop k-1 wrote."""
    dst, src, _ = loop_nest([(1, 0, 0)], [(10, 1, 1, 0)])
    check_alu(dst, src, AluOp.ADD, mode="sequential")
    dst, src, _ = loop_nest([(0, 1, 0), (1, 0, 0)], [(3, 2, 2, 0)])   # swap pairs
    check_alu(dst, src, AluOp.MAX, mode="sequential")


def test_alu_random_patterns():
    for _ in range(30):
        k = int(RNG.integers(1, 5))
        uops = [(int(RNG.integers(0, 12)), int(RNG.integers(0, 24)), 0) for _ in range(k)]
        loops = [(int(RNG.integers(1, 4)), int(RNG.integers(0, 4)), int(RNG.integers(0, 4)), 0)
                 for _ in range(2)]
        dst, src, _ = loop_nest(uops, loops)
        op = OPS[int(RNG.integers(0, 5))]
        check_alu(dst, src, op)
        check_alu(dst, None, op, int(RNG.integers(-40, 40)))


# ------------------------------------------------------------------- whole programs
def conv_program(m: Machine, uops, loops, n_inp, n_wgt, *, acc_rows=64,
                 reload_uops=None, reload_data=False):
    """Load INP/WGT, reset ACC, run the GEMM kernel, SHR, store; optionally run the same
    GEMM instruction again after replacing the uops (or INP/WGT data) at the same place."""
    c = m.cfg
    s = InsnStream()
    kernels = [uops] + ([reload_uops] if reload_uops else [])
    rounds = 2 if (reload_uops or reload_data) else 1
    gemm = isa.Gemm(uop_bgn=0, uop_end=len(uops), iter_out=loops[0][0],
                    iter_in=loops[1][0], dst_factor_out=loops[0][1],
                    dst_factor_in=loops[1][1], src_factor_out=loops[0][2],
                    src_factor_in=loops[1][2], wgt_factor_out=loops[0][3],
                    wgt_factor_in=loops[1][3])
    reset = isa.Gemm(reset=1, uop_bgn=len(uops), uop_end=len(uops) + 1, iter_out=acc_rows,
                     iter_in=1, dst_factor_out=1)
    for r in range(rounds):
        body = kernels[min(r, len(kernels) - 1)]
        s.emit(m.uop_load([isa.Uop(*u) for u in body] + [isa.Uop()]))
        if r == 0:
            s.emit(reset)
        if r == 0 or reload_data:
            if r == 1:
                s.dep_pop(COMPUTE, LOAD)      # the first GEMM has read INP/WGT
            inp = RNG.integers(-128, 128, (n_inp, c.batch, c.block_in), dtype=np.int8)
            wgt = RNG.integers(-128, 128, (n_wgt, c.block_out, c.block_in), dtype=np.int8)
            s.emit(isa.Load(memory_type=MemType.INP, dram_base=m.put(
                MemType.INP, inp), y_size=1, x_size=n_inp, x_stride=n_inp))
            s.emit(isa.Load(memory_type=MemType.WGT, dram_base=m.put(
                MemType.WGT, wgt), y_size=1, x_size=n_wgt, x_stride=n_wgt))
            s.dep_push(LOAD, COMPUTE)
            s.dep_pop(LOAD, COMPUTE)
        s.emit(gemm)
        if r == 0 and rounds == 2 and reload_data:
            s.dep_push(COMPUTE, LOAD)
    s.emit(isa.Alu(uop_bgn=len(uops), uop_end=len(uops) + 1,
                   iter_out=acc_rows, iter_in=1, dst_factor_out=1,
                   alu_opcode=AluOp.SHR, use_imm=1, imm=7))
    out = m.zeros(MemType.OUT, acc_rows)
    s.dep_push(COMPUTE, STORE)
    s.dep_pop(COMPUTE, STORE)
    s.emit(isa.Store(memory_type=MemType.OUT, dram_base=out, y_size=1,
                     x_size=acc_rows, x_stride=acc_rows))
    s.dep_push(STORE, COMPUTE)
    s.dep_pop(STORE, COMPUTE)
    s.commit_pending_pop(COMPUTE)
    s.emit(isa.Finish())
    return s


def conv_uops(toc=2, toh=2, tow=3, tic=2, kh=3, kw=3):
    tih, tiw = toh + kh - 1, tow + kw - 1
    uops = [(ow, ic * tih * tiw + y * tiw + z + ow, ic * kh * kw + y * kw + z)
            for ic in range(tic) for y in range(kh) for z in range(kw) for ow in range(tow)]
    loops = [(toc, toh * tow, 0, tic * kh * kw), (toh, tow, tiw, 0)]
    return uops, loops, tic * tih * tiw, toc * tic * kh * kw


def test_conv_program_matches_reference():
    m = Machine()
    uops, loops, n_inp, n_wgt = conv_uops()
    stats = m.run(conv_program(m, uops, loops, n_inp, n_wgt), check_reference=True)
    assert stats.gemm_uops - stats.gemm_reset_uops == len(uops) * 2 * 2


def test_same_gemm_word_with_new_uops_gets_a_new_plan():
    """Plans are cached by the uop contents: reloading the kernel changes the result."""
    m = Machine()
    uops, loops, n_inp, n_wgt = conv_uops()
    other = [(d, (s + 1) % n_inp, (w + 2) % n_wgt) for d, s, w in uops]
    m.run(conv_program(m, uops, loops, n_inp, n_wgt, reload_uops=other),
          check_reference=True)


def test_same_gemm_word_sees_reloaded_data():
    """INP/WGT reloads refresh the float mirrors the plans read."""
    m = Machine()
    uops, loops, n_inp, n_wgt = conv_uops()
    m.run(conv_program(m, uops, loops, n_inp, n_wgt, reload_data=True), check_reference=True)


def test_repeated_runs_reuse_plans_exactly():
    m = Machine("tiny")
    uops, loops, n_inp, n_wgt = conv_uops(toc=2, toh=2, tow=2, tic=1)
    s = conv_program(m, uops, loops, n_inp, n_wgt, acc_rows=8)
    first = m.run(s, check_reference=True)
    second = m.run(s, check_reference=True)                 # cached entries and plans
    assert first == second


def test_batched_config_program():
    cfg = VTAConfig(LOG_BATCH=1, LOG_BLOCK=3, LOG_UOP_BUFF_SIZE=12, LOG_INP_BUFF_SIZE=12,
                    LOG_WGT_BUFF_SIZE=13, LOG_ACC_BUFF_SIZE=14)
    m = Machine(cfg)
    uops, loops, n_inp, n_wgt = conv_uops(toc=2, toh=2, tow=3, tic=1)
    m.run(conv_program(m, uops, loops, n_inp, n_wgt), check_reference=True)


def test_strided_load_ending_at_dram_end():
    """A row pitch wider than the row whose last row ends at the last DRAM byte."""
    m = Machine("tiny", dram_bytes=1 << 16)
    c = m.cfg
    eb = c.inp_elem_bytes
    y, x, pitch = 3, 2, 5
    span = ((y - 1) * pitch + x) * eb
    base = (m.dram.base + m.dram.size - span) // eb
    data = RNG.integers(-128, 128, span, dtype=np.int8)
    m.dram.write(base * eb, data.view(np.uint8))
    s = InsnStream()
    s.emit(isa.Load(memory_type=MemType.INP, dram_base=base, y_size=y, x_size=x,
                    x_stride=pitch, x_pad_0=1))
    s.dep_push(LOAD, COMPUTE)
    s.dep_pop(LOAD, COMPUTE)
    s.commit_pending_pop(COMPUTE)
    s.emit(isa.Finish())
    m.run(s, check_reference=True)
    rows = data.reshape(-1)
    want = np.stack([rows[r * pitch * eb:(r * pitch + x) * eb] for r in range(y)])
    got = m.sim.inp[:y * (x + 1)].reshape(y, x + 1, -1)
    assert np.array_equal(got[:, 1:].reshape(y, -1), want) and not got[:, 0].any()


# ------------------------------------------------------------------- scheduling
@pytest.mark.parametrize("seed", range(8))
def test_stream_order_shortcut_equals_scheduler(seed):
    """When the prefix-sum check accepts stream order, the hardware scheduler agrees."""
    cfg = VTAConfig.preset("tiny")
    dram = Dram(1 << 20)
    prog = random_program(cfg, np.random.default_rng(seed), dram, n_blocks=5,
                          virtual_threads=bool(seed % 2))
    sim = FunctionalSimulator(cfg, dram)
    entries = sim._decode(dram.read(prog.insn_addr, prog.insn_count * cfg.insn_bytes))
    fast, fail_fast = sim._order(entries)
    full, fail_full = sim._schedule(entries)
    assert list(fast) == list(full) and fail_fast is None and fail_full is None


def test_out_of_stream_order_program():
    """Compute pops a token a later load pushes: the scheduler runs the load first."""
    m = Machine("tiny")
    c = m.cfg
    inp = RNG.integers(-128, 128, (4, c.batch, c.block_in), dtype=np.int8)
    s = InsnStream()
    s.dep_pop(LOAD, COMPUTE)
    s.emit(isa.Load(memory_type=MemType.UOP, sram_base=0,
                    dram_base=m.put_uops([isa.Uop()]), y_size=1, x_size=1,
                    x_stride=1))
    s.emit(isa.Load(memory_type=MemType.INP, dram_base=m.put(MemType.INP, inp),
                    y_size=1, x_size=4, x_stride=4))
    s.dep_push(LOAD, COMPUTE)
    s.emit(isa.Finish())
    addr = m.place(s.insns)
    entries = m.sim._decode(m.dram.read(addr, len(s.insns) * c.insn_bytes))
    order, failure = m.sim._order(entries)
    assert list(order) == [1, 0] and failure is None
    m.run(s, check_reference=True)
    assert np.array_equal(m.sim.inp[:4], inp)


# ------------------------------------------------------------------- BLAS threads
@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_blas_threads_must_be_positive(bad):
    with pytest.raises(FsimError, match="blas_threads must be a positive integer"):
        FunctionalSimulator(VTAConfig.preset("tiny"), Dram(1 << 16), blas_threads=bad)


def test_two_blas_threads_give_the_same_result():
    from vta.compiler.bench.fsim_throughput import run_benchmark
    res = run_benchmark(VTAConfig.preset("default"), 64, 2048, 64, repeat=1, blas_threads=2)
    assert res.macs == 64 * 2048 * 64                   # checked against numpy inside


# ------------------------------------------------------------------- cache limits
def test_plan_budget_eviction_keeps_results_exact(monkeypatch):
    """A budget smaller than one plan: every plan is dropped and rebuilt, still exact."""
    from vta.sim import fsim
    monkeypatch.setattr(fsim, "_PLAN_BUDGET", 8)
    m = Machine()
    uops, loops, n_inp, n_wgt = conv_uops()
    other = [(d, (s + 1) % n_inp, (w + 2) % n_wgt) for d, s, w in uops]
    m.run(conv_program(m, uops, loops, n_inp, n_wgt, reload_uops=other),
          check_reference=True)
    assert m.sim._plan_elems <= max(8, max(fsim._plan_size(p) for p in m.sim._plans.values()))


def test_instruction_cache_eviction_mid_program(monkeypatch):
    """The decoded-word cache overflows while decoding one program: still exact."""
    from vta.sim import fsim
    monkeypatch.setattr(fsim, "_ENTRY_CACHE", 3)
    m = Machine()
    uops, loops, n_inp, n_wgt = conv_uops()
    s = conv_program(m, uops, loops, n_inp, n_wgt, reload_data=True)
    first = m.run(s, check_reference=True)
    assert len(m.sim._entries) <= 3
    assert m.run(s, check_reference=True) == first
