"""Whole-array numpy kernels of the functional simulator's compute module (GEMM and ALU).

A GEMM or ALU instruction together with the uop kernel it reads is turned once into a
*plan* (:func:`plan_gemm`, :func:`plan_reset`, :func:`plan_alu`) from its loop nest
expanded into index arrays of shape ``(iter_out, iter_in, n_uops)`` (sequential order is
row-major over that shape, indices already checked against the SRAM depths).  Running a
plan gives exactly the result of executing the uops one after another; the simulator
caches plans because compilers repeat the same instruction on every tile.

GEMM plans factor the index triples into a matrix product.  The uops of the kernel are
grouped by destination row (``C`` groups of ``R`` uops each, kept in uop order); every
triple is then ``(i, j, c, r)`` and each of the axes ``i``, ``j``, ``c`` is a *row* axis
(the weight index does not change along it), a *column* axis (the source does not), or a
*batch* axis (both change).  ``r`` is the reduction.  One float32 BLAS matmul per batch
entry, ``X (rows x R*BLOCK_IN) . W (R*BLOCK_IN x columns*BLOCK_OUT)``, computes every
destination at once (an im2col convolution, a blocked dense layer).  It is exact: int8
products are at most 2**14 in magnitude, so a sum of at most 1024 of them (every partial
sum, in any order, with or without FMA) is an integer below 2**24, which float32 holds
exactly; longer reductions are split into chunks of 1024 terms whose results are added as
int32.  Sums land in the int32 accumulator with wrap-around (int32 arithmetic is modulo
2**32, so adding chunks, duplicates and the old value in any order gives the same low 32
bits as the uop-by-uop order).  Destination rows repeated within an instruction are
summed first (``np.add.reduceat``).  A kernel whose groups differ in size falls back to
grouping the uops by weight tile and reducing by row.

A GEMM with ``overwrite`` (the ``GEMM_OVERWRITE`` extension) writes each product instead of
adding it: a destination the instruction writes several times keeps its last uop's product,
so the plan keeps only the last uop per destination (:func:`plan_gemm` with
``overwrite``).

ALU plans run as one vector operation when every destination row is written once and no
uop reads a row another uop writes; in "rounds" (the r-th write to every row in round r)
when rows repeat but nothing read is written by another uop; otherwise uop by uop.

The SHR definition used by :func:`alu_apply` (shared with the hardware): the shift amount is
the low ``LOG_ACC_WIDTH`` bits of the operand read as a signed number (``-16 .. 15`` for a
32-bit accumulator, exactly TVM's HLS ``ap_int<LOG_ACC_WIDTH>``); a non-negative amount
shifts arithmetically right, a negative one shifts left by its magnitude, modulo 2**32.
This agrees with TVM's C++ functional simulator for every operand in ``[-16, 15]``.
"""

from __future__ import annotations

import contextlib

import numpy as np
from vta.hw.isa import AluOp

__all__ = ["GemmPlan", "ResetPlan", "AluPlan", "plan_gemm", "plan_reset", "plan_alu",
           "alu_apply", "single_thread_blas", "blas_threads", "F32_EXACT_TERMS"]

# Bound on the elements a temporary may hold before work is split into chunks.
_CHUNK_ELEMS = 1 << 22
# int8 x int8 products summed in float32 stay exact for this many terms (1024 * 2**14 =
# 2**24, the largest integer range float32 holds exactly).
F32_EXACT_TERMS = 1024

_blas_controller = None


def blas_threads(n: int) -> contextlib.AbstractContextManager:
    """Context in which BLAS runs on ``n`` threads (a no-op without threadpoolctl)."""
    global _blas_controller
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:            # pragma: no cover - a declared dependency
        return contextlib.nullcontext()
    if _blas_controller is None:
        _blas_controller = ThreadpoolController()
    return _blas_controller.limit(limits=n, user_api="blas")


def single_thread_blas() -> contextlib.AbstractContextManager:
    """Context in which BLAS runs on one thread.

    The matmuls of compiled programs are small (a few hundred rows); multi-threaded
    OpenBLAS on them collapses when the cores are shared (pytest -n 2, RTL simulators,
    other users): a 32x256x1024 sgemm took 30 ms with two threads on a busy 2-core machine
    and 0.5 ms with one.
    """
    return blas_threads(1)


# ------------------------------------------------------------------------------ rows
def _row_target(rows: np.ndarray) -> tuple[slice | np.ndarray, np.ndarray | None]:
    """How to address distinct ``rows`` (in result order): ``(target, permutation)``.

    ``target`` is a slice when the rows form a contiguous range (after reordering the
    results by ``permutation``, or with ``permutation`` None when already ascending),
    otherwise the row index array itself (``permutation`` None).
    """
    lo = int(rows.min())
    if rows.size == int(rows.max()) - lo + 1:          # distinct rows: a full range
        if rows.size == 1 or bool(np.all(rows[1:] > rows[:-1])):
            return slice(lo, lo + rows.size), None
        return slice(lo, lo + rows.size), np.argsort(rows).astype(np.intp)
    return rows.astype(np.intp), None


def _write_rows(acc: np.ndarray, out: np.ndarray, target, values: np.ndarray) -> None:
    """``ACC[target] = values`` (int32) and ``OUT[target] = low bits of values``."""
    if isinstance(target, slice):
        acc[target] = values
        np.copyto(out[target], values, casting="unsafe")   # keeps the low bits
    else:
        acc[target] = values
        out[target] = values.astype(out.dtype)


# ------------------------------------------------------------------------------ GEMM
class ResetPlan:
    """A GEMM with ``reset``: zero the addressed ACC and OUT rows."""

    __slots__ = ("target",)

    def __init__(self, target) -> None:
        self.target = target

    def run(self, acc: np.ndarray, out: np.ndarray) -> None:
        acc[self.target] = 0
        out[self.target] = 0


def plan_reset(dst: np.ndarray) -> ResetPlan | None:
    """The plan of a reset GEMM over ``dst`` (any shape); None when it addresses nothing."""
    if dst.size == 0:
        return None
    rows = np.unique(dst)
    target, _ = _row_target(rows)
    return ResetPlan(target)


def _varies(a: np.ndarray, axis: int) -> bool:
    """Whether ``a`` changes along ``axis``."""
    if a.shape[axis] <= 1:
        return False
    first = np.take(a, [0], axis=axis)
    return not bool(np.all(a == first))


class GemmPlan:
    """``ACC[dst] += INP[src] . WGT[wgt]^T`` for the index triples of one instruction.

    Build with :func:`plan_gemm`; :meth:`run` executes it against the SRAMs.
    """

    __slots__ = ("src", "wgt", "shape", "perm", "starts", "target", "flat", "overwrite")

    def __init__(self, overwrite: bool = False) -> None:
        self.src = self.wgt = self.perm = self.starts = self.flat = None
        self.shape = (0, 0, 0, 0)
        self.target = None
        self.overwrite = overwrite

    def run(self, acc: np.ndarray, out: np.ndarray, inp_f: np.ndarray,
            wgt_t: np.ndarray) -> None:
        """Execute on ``acc``/``out`` (``(depth, BATCH, BLOCK_OUT)`` int32/int8) given the
        float32 mirrors ``inp_f`` ``(depth, BATCH, BLOCK_IN)`` and ``wgt_t`` (weight tiles
        transposed, ``(depth, BLOCK_IN, BLOCK_OUT)``)."""
        if self.flat is not None:
            dst, src, wid = self.flat
            rows, sums = _gemm_generic(inp_f, wgt_t, dst, src, wid)
            if self.overwrite:
                _write_rows(acc, out, rows, sums.astype(np.int64).astype(np.int32))
            else:
                _accumulate_rows(acc, out, rows, sums)
            return
        nb, nm, nn, nr = self.shape
        batch, block_in = inp_f.shape[1], inp_f.shape[2]
        block_out = wgt_t.shape[2]
        x = inp_f.take(self.src, axis=0)               # (B, M, R, BATCH, BLOCK_IN)
        if batch > 1:
            x = x.transpose(0, 1, 3, 2, 4)
        x = x.reshape(nb, nm * batch, nr * block_in)
        w = wgt_t.take(self.wgt, axis=0)               # (B, N, R, BLOCK_IN, BLOCK_OUT)
        if nn > 1:
            w = w.transpose(0, 2, 3, 1, 4)
        w = w.reshape(nb, nr * block_in, nn * block_out)
        if nb == 1:
            x, w = x[0], w[0]
        y = _exact_matmul(x, w, block_in)                  # int32 (..., M*BATCH, N*BO)
        y = y.reshape(nb, nm, batch, nn, block_out)
        if batch > 1 and nn > 1:
            y = y.transpose(0, 1, 3, 2, 4)
        y = y.reshape(nb * nm * nn, batch, block_out)
        if self.perm is not None:
            y = y.take(self.perm, axis=0)
        if self.starts is not None:
            y = np.add.reduceat(y, self.starts, axis=0)    # int32: wraps modulo 2**32
        t = self.target
        if self.overwrite:
            _write_rows(acc, out, t, y)
        elif isinstance(t, slice):
            a = acc[t]
            np.add(a, y, out=a)
            np.copyto(out[t], a, casting="unsafe")
        else:
            new = acc[t]
            np.add(new, y, out=new)
            acc[t] = new
            out[t] = new.astype(out.dtype)


def _exact_matmul(x: np.ndarray, w: np.ndarray, block_in: int) -> np.ndarray:
    """``x . w`` of float32 integer matrices as exact int32 (modulo 2**32)."""
    k = x.shape[-1]
    if k <= F32_EXACT_TERMS:
        return np.matmul(x, w).astype(np.int32)
    step = (F32_EXACT_TERMS // block_in) * block_in
    if step == 0:                   # tiles wider than 1024: float64 is exact to 2**53
        return np.matmul(x.astype(np.float64), w.astype(np.float64)).astype(np.int64) \
            .astype(np.int32)
    total = None
    for a in range(0, k, step):
        part = np.matmul(x[..., a:a + step], w[..., a:a + step, :]).astype(np.int32)
        total = part if total is None else np.add(total, part, out=total)
    return total


def plan_gemm(dst: np.ndarray, src: np.ndarray, wid: np.ndarray,
              overwrite: bool = False) -> GemmPlan | None:
    """The plan of a (non-reset) GEMM from its ``(I, J, K)`` index arrays; None if empty.

    The arrays hold the ACC, INP and WGT index of every uop execution and are already
    range-checked.  ``overwrite``: each uop writes its product instead of adding it.
    """
    n_i, n_j, n_k = dst.shape
    if dst.size == 0:
        return None
    plan = GemmPlan(overwrite)
    if overwrite:
        flat = dst.reshape(-1)
        last = flat.size - 1 - np.unique(flat[::-1], return_index=True)[1]
        if last.size < flat.size:      # repeated rows: only each row's last uop counts
            last.sort()
            plan.flat = (flat[last], src.reshape(-1)[last], wid.reshape(-1)[last])
            return plan
    kernel_dst = dst[0, 0]
    order = np.argsort(kernel_dst, kind="stable")
    groups, counts = np.unique(kernel_dst, return_counts=True)
    if not bool(np.all(counts == counts[0])):
        plan.flat = (dst.reshape(-1), src.reshape(-1), wid.reshape(-1))
        return plan
    n_c, n_r = groups.size, int(counts[0])
    shape4 = (n_i, n_j, n_c, n_r)
    src4 = src[:, :, order].reshape(shape4)
    wgt4 = wid[:, :, order].reshape(shape4)
    dst3 = dst[:, :, order].reshape(shape4)[..., 0]
    roles = []
    for axis in range(3):
        s_var, w_var = _varies(src4, axis), _varies(wgt4, axis)
        roles.append("b" if s_var and w_var else "n" if w_var else "m")
    axes_b = [a for a in range(3) if roles[a] == "b"]
    axes_m = [a for a in range(3) if roles[a] == "m"]
    axes_n = [a for a in range(3) if roles[a] == "n"]
    size = shape4
    nb = int(np.prod([size[a] for a in axes_b], dtype=np.int64))
    nm = int(np.prod([size[a] for a in axes_m], dtype=np.int64))
    nn = int(np.prod([size[a] for a in axes_n], dtype=np.int64))
    # src does not change along column axes, wgt not along row axes: take index 0 there.
    s = src4[tuple(slice(None) if roles[a] != "n" else slice(0, 1) for a in range(3))]
    s = s.transpose(axes_b + axes_m + axes_n + [3]).reshape(nb, nm, n_r)
    w = wgt4[tuple(slice(None) if roles[a] != "m" else slice(0, 1) for a in range(3))]
    w = w.transpose(axes_b + axes_n + axes_m + [3]).reshape(nb, nn, n_r)
    rows = dst3.transpose(axes_b + axes_m + axes_n).reshape(-1)
    plan.src, plan.wgt = s.astype(np.intp), w.astype(np.intp)
    plan.shape = (nb, nm, nn, n_r)
    uniq = np.unique(rows)
    if uniq.size == rows.size:
        plan.target, plan.perm = _row_target(rows)
    else:
        # Repeated destinations: sort results by row, sum each run, add once per row.
        perm = np.argsort(rows, kind="stable")
        srt = rows[perm]
        plan.starts = np.flatnonzero(np.concatenate(([True], srt[1:] != srt[:-1])))
        plan.perm = perm.astype(np.intp)
        plan.target, _ = _row_target(uniq)
    return plan


def _gemm_generic(inp_f, wgt_t, dst, src, wid):
    """Any index pattern: group uops by weight tile, one batched matmul, reduce by row.

    Exact while one weight tile's group needs no reduction (products of single tiles are
    below 2**21) and row sums stay below 2**53 (float64).
    """
    batch, block_in = inp_f.shape[1], inp_f.shape[2]
    block_out = wgt_t.shape[2]
    order = np.argsort(wid, kind="stable")
    ws = wid[order]
    starts = np.flatnonzero(np.concatenate(([True], ws[1:] != ws[:-1])))
    counts = np.diff(np.append(starts, ws.size))
    n_groups, longest = starts.size, int(counts.max())
    # Pad every group to the longest with a row index that reads zeros (appended below).
    zero_row = inp_f.shape[0]
    padded = np.full((n_groups, longest), zero_row, dtype=np.int64)
    slot = np.arange(ws.size) - np.repeat(starts, counts)
    group = np.repeat(np.arange(n_groups), counts)
    padded[group, slot] = src[order]
    inp_z = np.concatenate((inp_f, np.zeros((1,) + inp_f.shape[1:], inp_f.dtype)))
    products = np.empty((ws.size, batch, block_out), dtype=np.float32)
    w_all = wgt_t[ws[starts]]                            # (G, BLOCK_IN, BLOCK_OUT)
    per = max(1, _CHUNK_ELEMS // max(1, longest * batch * block_in))
    for g0 in range(0, n_groups, per):
        g1 = min(n_groups, g0 + per)
        x = inp_z[padded[g0:g1]].reshape(g1 - g0, longest * batch, block_in)
        y = np.matmul(x, w_all[g0:g1]).reshape(g1 - g0, longest, batch, block_out)
        sel = slice(starts[g0], starts[g1] if g1 < n_groups else ws.size)
        products[sel] = y[group[sel] - g0, slot[sel]]
    d_sorted = dst[order]
    lanes = products.reshape(ws.size, batch * block_out)
    rows = np.unique(d_sorted)
    compact = np.searchsorted(rows, d_sorted)
    sums = np.empty((rows.size, batch * block_out), dtype=np.float64)
    for lane in range(batch * block_out):
        sums[:, lane] = np.bincount(compact, weights=lanes[:, lane], minlength=rows.size)
    return rows, sums.reshape(rows.size, batch, block_out)


def _accumulate_rows(acc, out, rows, sums) -> None:
    """``ACC[rows] += sums`` (distinct rows) with int32 wrap-around; refresh OUT rows."""
    new = (acc[rows] + sums.astype(np.int64)).astype(np.int32)   # low 32 bits: wrap-around
    acc[rows] = new
    out[rows] = new.astype(out.dtype)     # keeps the low 8 bits: plain truncation


# --------------------------------------------------------------------------------- ALU
def alu_apply(op: int, a: np.ndarray, b, log_acc_width: int) -> np.ndarray:
    """One ALU operation per lane on int32 arrays (``b`` broadcasts); int32 result.

    ``b`` is an int32 array or an integer immediate.  MIN/MAX are signed, ADD and MUL
    wrap modulo 2**32, SHR is described in the module docstring.
    """
    if op == AluOp.MIN:
        return np.minimum(a, b).astype(np.int32, copy=False)
    if op == AluOp.MAX:
        return np.maximum(a, b).astype(np.int32, copy=False)
    if op == AluOp.ADD:
        return (a.astype(np.int64) + b).astype(np.int32)
    if op == AluOp.SHR:
        bits = 1 << log_acc_width
        half = bits >> 1
        if np.ndim(b) == 0:                # an immediate: one shift for every lane
            amount = int(b) & (bits - 1)
            amount = amount - bits if amount >= half else amount
            if amount >= 0:
                return (a >> amount).astype(np.int32, copy=False)
            return (a.astype(np.int64) << -amount).astype(np.int32)
        amount = np.asarray(b, dtype=np.int64) & (bits - 1)
        amount = np.where(amount >= half, amount - bits, amount)
        right = a >> np.clip(amount, 0, None).astype(np.int32)
        left = (a.astype(np.int64) << np.clip(-amount, 0, None)).astype(np.int32)
        return np.where(amount >= 0, right, left).astype(np.int32)
    if op == AluOp.MUL:
        return (a.astype(np.int64) * b).astype(np.int32)
    raise ValueError(f"ALU opcode {op} has no implementation")


class AluPlan:
    """``ACC[dst] = op(ACC[dst], imm or ACC[src])`` for the uops of one ALU instruction.

    Build with :func:`plan_alu`; :meth:`run` executes it for an opcode and immediate.
    """

    __slots__ = ("mode", "target", "src", "rounds", "pairs")

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.target = self.src = None
        self.rounds: list = []
        self.pairs: list = []

    def run(self, acc: np.ndarray, out: np.ndarray, op: int, imm: int | None,
            log_acc_width: int) -> None:
        """Execute with opcode ``op`` and the immediate ``imm`` (None: read ``ACC[src]``)."""
        b_imm = None if imm is None else np.int32(imm)
        if self.mode == "vector":
            t = self.target
            a = acc[t]
            b = b_imm if imm is not None else acc[self.src] if isinstance(self.src, slice) \
                else acc.take(self.src, axis=0)
            _write_rows(acc, out, t, alu_apply(op, a, b, log_acc_width))
        elif self.mode == "rounds":
            for t, s in self.rounds:
                b = b_imm if imm is not None else acc.take(s, axis=0)
                _write_rows(acc, out, t, alu_apply(op, acc[t], b, log_acc_width))
        else:
            for d, s in self.pairs:
                b = b_imm if imm is not None else acc[s].copy()
                res = alu_apply(op, acc[d], b, log_acc_width)
                acc[d] = res
                out[d] = res.astype(out.dtype)


def plan_alu(dst: np.ndarray, src: np.ndarray | None) -> AluPlan | None:
    """The plan of an ALU instruction from its index arrays (any shape, sequential order);
    ``src`` None for an immediate operand.  None when it addresses nothing."""
    dst = dst.reshape(-1).astype(np.intp)
    if dst.size == 0:
        return None
    src = None if src is None else src.reshape(-1).astype(np.intp)
    if src is not None and bool(np.any((src != dst) & np.isin(src, dst))):
        plan = AluPlan("sequential")          # a uop reads a row another uop writes
        plan.pairs = list(zip(dst.tolist(), (src if src is not None else dst).tolist(),
                              strict=True))
        return plan
    order = np.argsort(dst, kind="stable")
    d_sorted = dst[order]
    starts = np.flatnonzero(np.concatenate(([True], d_sorted[1:] != d_sorted[:-1])))
    if starts.size == dst.size:               # every row written once: one vector step
        plan = AluPlan("vector")
        plan.target, perm = _row_target(dst)
        if src is not None:
            s = src if perm is None else src[perm]
            plan.src = s
            if s.size == 1 or (bool(np.all(s[1:] == s[:-1] + 1))):
                plan.src = slice(int(s[0]), int(s[0]) + s.size)
        return plan
    counts = np.diff(np.append(starts, d_sorted.size))
    occurrence = np.empty(dst.size, dtype=np.int64)
    occurrence[order] = np.arange(dst.size) - np.repeat(starts, counts)
    # Round r applies the r-th write of every row; rows within a round are distinct.
    by_round = np.argsort(occurrence, kind="stable")
    bounds = np.searchsorted(occurrence[by_round], np.arange(int(counts.max()) + 1))
    bounds = np.append(bounds, dst.size)
    plan = AluPlan("rounds")
    for r in range(bounds.size - 1):
        sel = by_round[bounds[r]:bounds[r + 1]]
        plan.rounds.append((dst[sel], None if src is None else src[sel]))
    return plan
