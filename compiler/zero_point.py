"""Input zero points on the accelerator: the bias fold and the border correction.

A quantized conv sums ``(x - zx) * w`` over its window, the padding being the zero point
``zx`` (a real 0), as ONNX's QLinearConv and ConvInteger define it.  The GEMM core sums
``x * w`` and the DMA pads with 0, so the kit computes the same sum as

    ``sum(x * w)  -  zx * sum(w)  +  zx * sum(w over the taps that fall in the padding)``

* the middle term is constant per output channel: folded into the int32 bias at compile
  time (:func:`folded_bias`), and with the bias into the requantization's clamp and
  post-offset where that is exact (:func:`accelerator_requant`: no bias add at all);
* the last term is zero inside the image and, at the border, depends only on which kernel
  taps fall outside: each output row has a row class (taps above / below the image), each
  column a column class, and each (row class, column class) pair but the inner one is a
  *pattern* (:class:`~vta.compiler.workload.PadPatterns`, a fact of the workload's
  geometry).  Its value per output channel is one constant row per
  pattern (:func:`pad_correction_rows`); the epilogue adds it to the border rows only
  (one ALU uop per border row, :mod:`vta.compiler.lower`).

:func:`pad_correction_map` spells the last term out per output element (for the numpy
reference of the epilogue).
"""

from __future__ import annotations

import numpy as np

from .requant import Requant, fold_bias
from .workload import Conv2dWorkload, PadPatterns, pad_patterns

__all__ = ["folded_bias", "accelerator_requant", "pad_correction_rows", "pad_correction_map"]


def folded_bias(bias: np.ndarray | None, weight: np.ndarray, x_zero_point: int
                ) -> np.ndarray:
    """``bias - zx * sum(w)`` per output channel (int64; the caller wraps it to int32)."""
    o = weight.shape[0]
    b = np.zeros(o, np.int64) if bias is None else np.asarray(bias, np.int64)
    if x_zero_point == 0:
        return b
    return b - np.int64(x_zero_point) * weight.reshape(o, -1).astype(np.int64).sum(axis=1)


def accelerator_requant(requant: Requant, bias: np.ndarray | None, weight: np.ndarray,
                        x_zero_point: int) -> tuple[Requant, np.ndarray | None]:
    """What the accelerator applies to its sums of ``x' * w`` (``x'``: the input padded with
    its zero point -- the DMA pads with 0, the border rows are corrected) so that a layer
    computes ``requant(sum((x - zx) * w) + bias)``.

    Returns the requantization and the int32 bias to add first (:func:`folded_bias`,
    wrapped), or None for no bias add: none is needed, or the bias folds into the clamp and
    post-offset (:func:`~vta.compiler.requant.fold_bias`, exact because ``|sum(x' * w)| <=
    128 * sum(|w|)`` per output channel) -- one ALU instruction and one bias load fewer,
    the same results.  ``weight``: output channels first.
    """
    if bias is None and x_zero_point == 0:
        return requant, None
    total = folded_bias(bias, weight, x_zero_point)
    o = weight.shape[0]
    bound = 128 * np.abs(weight.reshape(o, -1).astype(np.int64)).sum(axis=1)
    folded = fold_bias(requant, total, bound)
    if folded is not None:
        return folded, None
    return requant, total.astype(np.int32)     # numpy's cast wraps modulo 2**32


def _tap_mask(pattern: tuple[tuple[int, int], tuple[int, int]], kh: int, kw: int
              ) -> np.ndarray:
    (above, below), (left, right) = pattern
    inside = np.zeros((kh, kw), bool)
    inside[above:kh - below, left:kw - right] = True
    return ~inside


def pad_correction_rows(weight: np.ndarray, x_zero_point: int, patterns: PadPatterns
                        ) -> np.ndarray:
    """``zx * sum(w over the padded taps)`` per (pattern, output channel): int64
    ``(len(patterns), O)``."""
    o, _, kh, kw = weight.shape
    taps = weight.astype(np.int64).sum(axis=1)            # (O, KH, KW)
    out = np.zeros((len(patterns), o), np.int64)
    for i, pattern in enumerate(patterns.patterns):
        out[i] = taps[:, _tap_mask(pattern, kh, kw)].sum(axis=1) * x_zero_point
    return out


def pad_correction_map(weight: np.ndarray, x_zero_point: int, w: Conv2dWorkload
                       ) -> np.ndarray:
    """The correction per output element, int64 ``(N, O, OH, OW)``."""
    patterns = pad_patterns(w)
    rows = pad_correction_rows(weight, x_zero_point, patterns)
    out = np.zeros((w.batch, weight.shape[0], w.out_height, w.out_width), np.int64)
    for oh in range(w.out_height):
        for ow in range(w.out_width):
            p = patterns.index(oh, ow)
            if p is not None:
                out[:, :, oh, ow] = rows[p]
    return out
