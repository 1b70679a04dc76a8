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


def _pack_4d(name: str, x: np.ndarray, blocks: dict[str, int]) -> np.ndarray:
    """``(A, B, H, W)`` -> ``(A/a, B/b, H, W, a, b)`` for the two block sizes of ``blocks``."""
    x = np.asarray(x)
    _check(name, x, 4, blocks)
    ba, bb = blocks.values()
    x = pad_axis(pad_axis(x, 0, ba), 1, bb)
    n, c, h, w = x.shape
    return np.ascontiguousarray(
        x.reshape(n // ba, ba, c // bb, bb, h, w).transpose(0, 2, 4, 5, 1, 3))


def _unpack_4d(name: str, x: np.ndarray, a: int | None, b: int | None) -> np.ndarray:
    """``(A/a, B/b, H, W, a, b)`` -> ``(A, B, H, W)``, cropped to ``a`` and ``b``."""
    x = np.asarray(x)
    if x.ndim != 6:
        raise CommandError(f"{name} expects a 6-D packed array, not shape {x.shape}")
    na, nb, h, w, ba, bb = x.shape
    out = x.transpose(0, 4, 1, 5, 2, 3).reshape(na * ba, nb * bb, h, w)
    return np.ascontiguousarray(out[:a, :b])


def pack_nchw(x: np.ndarray, batch: int, block: int) -> np.ndarray:
    """``NCHW`` -> ``(N/batch, C/block, H, W, batch, block)``, zero-padding N and C."""
    return _pack_4d("pack_nchw", x, {"batch": batch, "block": block})


def unpack_nchw(x: np.ndarray, n: int | None = None, c: int | None = None) -> np.ndarray:
    """``(N/b, C/c, H, W, b, c)`` -> ``NCHW``, cropped to ``n`` and ``c`` when given."""
    return _unpack_4d("unpack_nchw", x, n, c)


def pack_oihw(w: np.ndarray, block_out: int, block_in: int) -> np.ndarray:
    """``OIHW`` -> ``(O/block_out, I/block_in, H, W, block_out, block_in)``, zero-padded."""
    return _pack_4d("pack_oihw", w, {"block_out": block_out, "block_in": block_in})


def unpack_oihw(w: np.ndarray, o: int | None = None, i: int | None = None) -> np.ndarray:
    """``(O/bo, I/bi, H, W, bo, bi)`` -> ``OIHW``, cropped to ``o`` and ``i`` when given."""
    return _unpack_4d("unpack_oihw", w, o, i)


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
