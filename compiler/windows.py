"""Sliding-window attributes (kernel, strides, pads) in canonical form, and the output size.

Every convolution and pooling in the kit -- graph nodes, the numpy reference, the workloads
of the kernel compiler, the CPU kernels -- takes these in one convention: an int is the same
value on both spatial axes, a pair is ``(height, width)``; pads may also be four values
``(top, left, bottom, right)``, a pair meaning symmetric padding.  Malformed values raise
``ValueError`` naming ``what``; callers re-raise it as their own one-line error (naming the
node or the argument).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["pair", "pads", "window_out"]


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


def window_out(size: int, kernel: int, stride: int, pad_before: int = 0,
               pad_after: int = 0) -> int:
    """Output positions of a window of ``kernel`` sliding by ``stride`` over ``size`` padded
    inputs (``<= 0``: the window does not fit; the caller reports it)."""
    return (size + pad_before + pad_after - kernel) // stride + 1
