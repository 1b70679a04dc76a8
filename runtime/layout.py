"""Packed tensor layouts the accelerator reads, and back.

VTA tiles activations and weights so one SRAM element is one contiguous block:

* activations ``NCHW`` <-> ``NCHW{b}n{c}c``: shape ``(N/b, C/c, H, W, b, c)`` with ``b`` =
  BATCH and ``c`` = BLOCK_IN (or BLOCK_OUT for outputs);
* weights ``OIHW`` <-> ``OIHW{o}o{i}i``: shape ``(O/o, I/i, H, W, o, i)`` with ``o`` =
  BLOCK_OUT and ``i`` = BLOCK_IN;
* matrices ``(M, K)`` <-> ``(M/m, K/k, m, k)`` (dense layers, GEMM).

Packing zero-pads the channel (and batch) axes up to a multiple of the block; unpacking
crops back to the requested size.  Every function returns a new contiguous array.
"""

from __future__ import annotations

import numpy as np

from .errors import CommandError

__all__ = ["pad_axis", "pack_nchw", "unpack_nchw", "pack_oihw", "unpack_oihw",
           "pack_matrix", "unpack_matrix", "round_up"]


def round_up(n: int, block: int) -> int:
    """The smallest multiple of ``block`` that is at least ``n``."""
    return -(-n // block) * block


def _check(name: str, x: np.ndarray, ndim: int, blocks: dict[str, int]) -> None:
    if x.ndim != ndim:
        raise CommandError(f"{name} expects a {ndim}-D array, not shape {x.shape}")
    for key, b in blocks.items():
        if not isinstance(b, (int, np.integer)) or b <= 0:
            raise CommandError(f"{name}: {key} must be a positive integer, not {b!r}")


def pad_axis(x: np.ndarray, axis: int, block: int) -> np.ndarray:
    """Zero-pad ``axis`` of ``x`` up to a multiple of ``block``."""
    extra = round_up(x.shape[axis], block) - x.shape[axis]
    if not extra:
        return x
    widths = [(0, 0)] * x.ndim
    widths[axis] = (0, extra)
    return np.pad(x, widths)


def pack_nchw(x: np.ndarray, batch: int, block: int) -> np.ndarray:
    """``NCHW`` -> ``(N/batch, C/block, H, W, batch, block)``, zero-padding N and C."""
    x = np.asarray(x)
    _check("pack_nchw", x, 4, {"batch": batch, "block": block})
    x = pad_axis(pad_axis(x, 0, batch), 1, block)
    n, c, h, w = x.shape
    return np.ascontiguousarray(
        x.reshape(n // batch, batch, c // block, block, h, w).transpose(0, 2, 4, 5, 1, 3))


def unpack_nchw(x: np.ndarray, n: int | None = None, c: int | None = None) -> np.ndarray:
    """``(N/b, C/c, H, W, b, c)`` -> ``NCHW``, cropped to ``n`` and ``c`` when given."""
    x = np.asarray(x)
    if x.ndim != 6:
        raise CommandError(f"unpack_nchw expects a 6-D packed array, not shape {x.shape}")
    nb, cb, h, w, b, blk = x.shape
    out = x.transpose(0, 4, 1, 5, 2, 3).reshape(nb * b, cb * blk, h, w)
    return np.ascontiguousarray(out[:n, :c])


def pack_oihw(w: np.ndarray, block_out: int, block_in: int) -> np.ndarray:
    """``OIHW`` -> ``(O/block_out, I/block_in, H, W, block_out, block_in)``, zero-padded."""
    w = np.asarray(w)
    _check("pack_oihw", w, 4, {"block_out": block_out, "block_in": block_in})
    w = pad_axis(pad_axis(w, 0, block_out), 1, block_in)
    o, i, h, ww = w.shape
    return np.ascontiguousarray(
        w.reshape(o // block_out, block_out, i // block_in, block_in, h, ww)
        .transpose(0, 2, 4, 5, 1, 3))


def unpack_oihw(w: np.ndarray, o: int | None = None, i: int | None = None) -> np.ndarray:
    """``(O/bo, I/bi, H, W, bo, bi)`` -> ``OIHW``, cropped to ``o`` and ``i`` when given."""
    w = np.asarray(w)
    if w.ndim != 6:
        raise CommandError(f"unpack_oihw expects a 6-D packed array, not shape {w.shape}")
    ob, ib, h, ww, bo, bi = w.shape
    out = w.transpose(0, 4, 1, 5, 2, 3).reshape(ob * bo, ib * bi, h, ww)
    return np.ascontiguousarray(out[:o, :i])


def pack_matrix(a: np.ndarray, row_block: int, col_block: int) -> np.ndarray:
    """``(M, K)`` -> ``(M/row_block, K/col_block, row_block, col_block)``, zero-padded."""
    a = np.asarray(a)
    _check("pack_matrix", a, 2, {"row_block": row_block, "col_block": col_block})
    a = pad_axis(pad_axis(a, 0, row_block), 1, col_block)
    m, k = a.shape
    return np.ascontiguousarray(
        a.reshape(m // row_block, row_block, k // col_block, col_block).transpose(0, 2, 1, 3))


def unpack_matrix(a: np.ndarray, m: int | None = None, k: int | None = None) -> np.ndarray:
    """``(M/m, K/k, m, k)`` -> ``(M, K)``, cropped to ``m`` and ``k`` when given."""
    a = np.asarray(a)
    if a.ndim != 4:
        raise CommandError(f"unpack_matrix expects a 4-D packed array, not shape {a.shape}")
    mb, kb, rm, rk = a.shape
    return np.ascontiguousarray(a.transpose(0, 2, 1, 3).reshape(mb * rm, kb * rk)[:m, :k])
