"""Sliding-window attributes (kernel, strides, pads) in canonical form, and the output size.

Every convolution and pooling in the kit -- graph nodes, the numpy reference, the workloads
of the kernel compiler, the CPU kernels -- takes these in one convention: an int is the same
value on both spatial axes, a pair is ``(height, width)``; pads may also be four values
``(top, left, bottom, right)``, a pair meaning symmetric padding.  Malformed values raise
``ValueError`` naming ``what``; callers re-raise it as their own one-line error (naming the
node or the argument).

A *dilated* window of ``kernel`` taps ``dilation`` apart spans ``(kernel - 1) * dilation + 1``
inputs (:func:`span`).  Pooling in ``ceil_mode`` counts a last, partial window as long as it
starts inside the input or its leading padding (the rule of PyTorch and ONNX).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["pair", "pads", "span", "window_out", "transposed_out"]


def _is_int(v: Any) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def pair(value: Any, what: str = "value", minimum: int | None = None) -> tuple[int, int]:
    """``value`` (an int or a pair of ints, each at least ``minimum``) as ``(h, w)``.

    Raises
    ------
    ValueError
        for anything else.
    """
    items = (value, value) if _is_int(value) else tuple(value) \
        if isinstance(value, (tuple, list, np.ndarray)) else ()
    if len(items) != 2 or not all(_is_int(v) and (minimum is None or v >= minimum)
                                  for v in items):
        bound = "" if minimum is None else f" >= {minimum}"
        raise ValueError(f"{what} must be an integer{bound} or a pair of them, not {value!r}")
    return int(items[0]), int(items[1])


def pads(value: Any, what: str = "pads") -> tuple[int, int, int, int]:
    """Padding as ``(top, left, bottom, right)`` from an int, a pair or four values.

    Raises
    ------
    ValueError
        for another number of values or a non-integer.
    """
    if _is_int(value):
        return (int(value),) * 4
    items = tuple(value) if isinstance(value, (tuple, list, np.ndarray)) else ()
    if len(items) not in (2, 4) or not all(_is_int(v) for v in items):
        raise ValueError(f"{what} must have 1, 2 or 4 integer values, not {value!r}")
    if len(items) == 2:
        items = items * 2
    return int(items[0]), int(items[1]), int(items[2]), int(items[3])


def span(kernel: int, dilation: int = 1) -> int:
    """Inputs covered by a window of ``kernel`` taps ``dilation`` apart."""
    return (kernel - 1) * dilation + 1


def window_out(size: int, kernel: int, stride: int, pad_before: int = 0,
               pad_after: int = 0, dilation: int = 1, ceil: bool = False) -> int:
    """Output positions of a window of ``kernel`` taps (``dilation`` apart) sliding by
    ``stride`` over ``size`` padded inputs (``<= 0``: the window does not fit; the caller
    reports it).  ``ceil`` keeps a last partial window that starts inside the input or its
    leading padding."""
    room = size + pad_before + pad_after - span(kernel, dilation)
    if not ceil:
        return room // stride + 1
    out = -(-room // stride) + 1
    if out > 1 and (out - 1) * stride >= size + pad_before:
        out -= 1
    return out


def transposed_out(size: int, kernel: int, stride: int, pad_before: int = 0,
                   pad_after: int = 0, dilation: int = 1, output_padding: int = 0) -> int:
    """Output size of a transposed convolution (ONNX ``ConvTranspose``)."""
    return (size - 1) * stride - pad_before - pad_after + span(kernel, dilation) \
        + output_padding
