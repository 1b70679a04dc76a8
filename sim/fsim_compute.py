"""Whole-array numpy kernels of the functional simulator's compute module (GEMM and ALU).

Each function executes ONE GEMM or ALU instruction whose loop nest has already been
expanded into index arrays of shape ``(iter_out, iter_in, n_uops)`` (sequential order is
row-major over that shape) and checked against the SRAM depths.  The results are exactly
those of executing the uops one after another:

* GEMM: products of int8 tiles are computed with float BLAS where every value is an exact
  integer (a dot product of ``BLOCK_IN <= 64`` int8 pairs is below 2**21, and sums over at
  most ``_F32_TERMS`` of them stay below 2**24); sums across uops are formed in float64
  (exact below 2**53) and added to the int32 accumulator with wrap-around.  Accumulating
  several uops into the same ACC row is order-independent, so a reduction is exact.
* ALU: applied in "rounds" (the r-th write to every destination row in round r), which is
  exact whenever no uop reads a row another uop of the instruction writes; otherwise the
  instruction is replayed uop by uop.

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

__all__ = ["gemm_reset", "gemm_accumulate", "alu_execute", "alu_apply", "single_thread_blas"]

# Bound on the elements a temporary may hold before work is split into chunks.
_CHUNK_ELEMS = 1 << 22


_blas_controller = None


def single_thread_blas() -> contextlib.AbstractContextManager:
    """Context in which BLAS runs on one thread.

    The matmuls here are small (tens of rows); multi-threaded OpenBLAS on them collapses
    when the cores are shared (pytest -n 2, RTL simulators, other users): a 32x256x1024
    sgemm took 30 ms with two threads on a busy 2-core machine and 0.5 ms with one.
    """
    global _blas_controller
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:            # pragma: no cover - a declared dependency
        return contextlib.nullcontext()
    if _blas_controller is None:
        _blas_controller = ThreadpoolController()
    return _blas_controller.limit(limits=1, user_api="blas")


def gemm_reset(acc: np.ndarray, out: np.ndarray, dst: np.ndarray) -> None:
    """Zero ``ACC[dst]`` and ``OUT[dst]`` (the GEMM ``reset`` flag)."""
    rows = np.unique(dst)
    acc[rows] = 0
    out[rows] = 0


def gemm_accumulate(acc: np.ndarray, out: np.ndarray, inp_f: np.ndarray, wgt_t: np.ndarray,
                    dst: np.ndarray, src: np.ndarray, wid: np.ndarray) -> None:
    """``ACC[dst] += INP[src] . WGT[wid]^T`` for every index triple, then narrow to OUT.

    Parameters
    ----------
    acc, out:
        The ACC and OUT SRAMs, ``(depth, BATCH, BLOCK_OUT)`` int32 and int8.
    inp_f, wgt_t:
        float32 mirrors of the INP SRAM ``(depth, BATCH, BLOCK_IN)`` and of the WGT SRAM
        with every tile transposed, ``(depth, BLOCK_IN, BLOCK_OUT)``.
    dst, src, wid:
        int64 index arrays of shape ``(I, J, K)`` (loop out, loop in, uop), in range.
    """
    n_i, n_j, n_k = dst.shape
    if dst.size == 0:
        return
    found = None
    if np.all(dst[0, 0, :] == dst[0, 0, 0]) and _uops_share_dst(dst):
        found = _gemm_shared_dst(inp_f, wgt_t, dst, src, wid)
    if found is not None:
        rows, sums = found
    else:
        rows, sums = _gemm_generic(inp_f, wgt_t, dst.reshape(-1), src.reshape(-1),
                                   wid.reshape(-1))
    _accumulate_rows(acc, out, rows, sums)


def _uops_share_dst(dst: np.ndarray) -> bool:
    """True when every uop of the kernel writes the same row for a given (i, j)."""
    return bool(np.all(dst == dst[:, :, :1]))


def _f32_exact(n_terms: int, block_in: int) -> bool:
    # |int8 * int8| <= 2**14; a sum of n_terms * block_in of them must stay below 2**24.
    return n_terms * block_in * (1 << 14) < (1 << 24)


def _varies(a: np.ndarray) -> tuple[bool, bool]:
    """Whether an (I, J, K) index array changes along the i and along the j axis."""
    return (a.shape[0] > 1 and not np.all(a == a[:1]),
            a.shape[1] > 1 and not np.all(a == a[:, :1]))


def _gemm_shared_dst(inp_f, wgt_t, dst, src, wid):
    """All uops of one (i, j) write one row: an im2col matmul.

    The loop axes are sorted by what varies along them: the source only (matmul rows),
    the weights (a batch of matmuls, the source broadcast when it does not vary) or
    neither (the result is broadcast).
    """
    n_i, n_j, n_k = dst.shape
    batch, block_in = inp_f.shape[1], inp_f.shape[2]
    block_out = wgt_t.shape[2]
    size = (n_i, n_j)
    s_var, w_var = _varies(src), _varies(wid)
    axes_b = [a for a in (0, 1) if s_var[a] and w_var[a]]
    axes_r = [a for a in (0, 1) if s_var[a] and not w_var[a]]
    axes_c = [a for a in (0, 1) if w_var[a] and not s_var[a]]
    axes_n = [a for a in (0, 1) if not s_var[a] and not w_var[a]]
    nb = int(np.prod([size[a] for a in axes_b]))
    nr = int(np.prod([size[a] for a in axes_r]))
    nc = int(np.prod([size[a] for a in axes_c]))
    if nb * n_k * block_in * (nr * batch + nc * block_out) > 8 * _CHUNK_ELEMS:
        return None
    exact32 = _f32_exact(n_k, block_in)
    xs = src[:n_i if s_var[0] else 1, :n_j if s_var[1] else 1]
    ws = wid[:n_i if w_var[0] else 1, :n_j if w_var[1] else 1]
    rest_x = [a for a in (0, 1) if a not in axes_b + axes_r]
    rest_w = [a for a in (0, 1) if a not in axes_b + axes_c]
    x = inp_f[xs]                                        # (Is, Js, K, BATCH, BLOCK_IN)
    x = x.transpose(axes_b + axes_r + rest_x + [3, 2, 4]).reshape(nb, 1, nr * batch,
                                                                   n_k * block_in)
    w = wgt_t[ws]                                        # (Iw, Jw, K, BLOCK_IN, BLOCK_OUT)
    w = w.transpose(axes_b + axes_c + rest_w + [2, 3, 4]).reshape(nb, nc, n_k * block_in,
                                                                   block_out)
    if not exact32:
        x, w = x.astype(np.float64), w.astype(np.float64)
    y = np.matmul(x, w)                                  # (nb, nc, nr * BATCH, BLOCK_OUT)
    labels: list = axes_b + axes_c + axes_r + ["b", "o"]
    y = y.reshape([size[a] for a in axes_b] + [size[a] for a in axes_c]
                  + [size[a] for a in axes_r] + [batch, block_out])
    for a in axes_n:
        y = y[..., None]
        labels.append(a)
    y = y.transpose([labels.index(0), labels.index(1), labels.index("b"), labels.index("o")])
    sums = np.broadcast_to(y, (n_i, n_j, batch, block_out))
    return dst[:, :, 0].reshape(-1), sums.reshape(-1, batch, block_out)


def _gemm_generic(inp_f, wgt_t, dst, src, wid):
    """Any index pattern: group uops by weight tile, one batched matmul, reduce by row."""
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
    """``ACC[rows] += sums`` (rows may repeat) with int32 wrap-around; refresh OUT rows."""
    rows = np.asarray(rows).reshape(-1)
    sums = sums.reshape(rows.size, *acc.shape[1:])
    if np.bincount(rows, minlength=1).max() > 1:
        uniq, inverse = np.unique(rows, return_inverse=True)
        flat = sums.reshape(rows.size, -1)
        merged = np.empty((uniq.size, flat.shape[1]), dtype=np.float64)
        for lane in range(flat.shape[1]):
            merged[:, lane] = np.bincount(inverse, weights=flat[:, lane], minlength=uniq.size)
        rows, sums = uniq, merged.reshape(uniq.size, *acc.shape[1:])
    new = (acc[rows] + sums.astype(np.int64)).astype(np.int32)   # low 32 bits: wrap-around
    acc[rows] = new
    out[rows] = new.astype(out.dtype)     # keeps the low 8 bits: plain truncation


# --------------------------------------------------------------------------------- ALU
def alu_apply(op: int, a: np.ndarray, b: np.ndarray, log_acc_width: int) -> np.ndarray:
    """One ALU operation per lane on int32 arrays (``b`` broadcasts); int32 result.

    MIN/MAX are signed, ADD and MUL wrap modulo 2**32, SHR is described in the module
    docstring.
    """
    if op == AluOp.MIN:
        return np.minimum(a, b)
    if op == AluOp.MAX:
        return np.maximum(a, b)
    if op == AluOp.ADD:
        return (a.astype(np.int64) + b).astype(np.int32)
    if op == AluOp.SHR:
        bits = 1 << log_acc_width
        half = bits >> 1
        amount = np.asarray(b, dtype=np.int64) & (bits - 1)
        amount = np.where(amount >= half, amount - bits, amount)
        right = a >> np.clip(amount, 0, None).astype(np.int32)
        left = (a.astype(np.int64) << np.clip(-amount, 0, None)).astype(np.int32)
        return np.where(amount >= 0, right, left).astype(np.int32)
    if op == AluOp.MUL:
        return (a.astype(np.int64) * b).astype(np.int32)
    raise ValueError(f"ALU opcode {op} has no implementation")


def alu_execute(acc: np.ndarray, out: np.ndarray, dst: np.ndarray, src: np.ndarray,
                op: int, imm: int | None, log_acc_width: int) -> None:
    """``ACC[dst] = op(ACC[dst], imm if imm is not None else ACC[src])``, uop by uop.

    ``dst`` and ``src`` are flat int64 row indices in sequential order, already checked.
    """
    if dst.size == 0:
        return
    if imm is None and np.any((src != dst) & np.isin(src, dst)):
        _alu_sequential(acc, out, dst, src, op, imm, log_acc_width)
        return
    order = np.argsort(dst, kind="stable")
    d_sorted = dst[order]
    starts = np.flatnonzero(np.concatenate(([True], d_sorted[1:] != d_sorted[:-1])))
    counts = np.diff(np.append(starts, d_sorted.size))
    occurrence = np.empty(dst.size, dtype=np.int64)
    occurrence[order] = np.arange(dst.size) - np.repeat(starts, counts)
    # Round r applies the r-th write of every row; rows within a round are distinct.
    by_round = np.argsort(occurrence, kind="stable")
    bounds = np.searchsorted(occurrence[by_round], np.arange(int(counts.max()) + 1))
    bounds = np.append(bounds, dst.size)
    b_imm = None if imm is None else np.int32(imm)
    for r in range(bounds.size - 1):
        sel = by_round[bounds[r]:bounds[r + 1]]
        d = dst[sel]
        b = b_imm if imm is not None else acc[src[sel]]
        res = alu_apply(op, acc[d], b, log_acc_width)
        acc[d] = res
        out[d] = res.astype(out.dtype)


def _alu_sequential(acc, out, dst, src, op, imm, log_acc_width) -> None:
    """Uop-by-uop replay for instructions that read rows they also write."""
    for d, s in zip(dst.tolist(), src.tolist(), strict=True):
        b = np.int32(imm) if imm is not None else acc[s].copy()
        res = alu_apply(op, acc[d], b, log_acc_width)
        acc[d] = res
        out[d] = res.astype(out.dtype)
