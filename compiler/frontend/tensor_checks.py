"""Honest checks of the numbers entering a model: inputs, calibration data and weights.

A NaN or an infinity cannot be quantized: int8 with a power-of-two scale has no code for
it, and numpy turns it into 0 or a wrapped value without a word, which makes a whole
output garbage that is still bit-exact to the (equally wrong) quantized reference.  So
every array crossing into the kit is checked here, once, and a bad one is a
:class:`~.errors.ModelError` naming the tensor and the first bad index:

* :func:`check_tensor` -- a real-valued numeric array (no complex, string, object or
  datetime data) whose float values are all finite;
* :func:`check_scale_range` -- a tensor's magnitude that int8 with a power-of-two scale
  can represent (``127 * 2**31``; beyond it everything would saturate silently);
* :func:`check_calibration_sample` -- one calibration sample: its arrays as above, with the
  input shapes, in messages that say it is calibration data.

The one exception is opt-in: :func:`saturate_nonfinite` (``nonfinite="saturate"`` where an
API offers it) maps NaN to 0 and +/-inf to the largest finite float32 of that sign, so they
quantize to 0 and the int8 extremes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .errors import ModelError

__all__ = ["check_tensor", "check_scale_range", "check_calibration_sample",
           "saturate_nonfinite", "NONFINITE_POLICIES", "MAX_QUANTIZABLE"]

#: What to do with NaN/inf in inputs: refuse (default) or saturate.
NONFINITE_POLICIES = ("error", "saturate")
#: The largest magnitude int8 with a power-of-two scale (at most 2**31) represents.
MAX_QUANTIZABLE = 127.0 * 2.0 ** 31


def check_tensor(what: str, value: object, *, nonfinite: str = "error") -> np.ndarray:
    """``value`` as an array, checked: numbers only, and finite unless ``nonfinite`` is
    ``"saturate"`` (then NaN/inf are saturated, see :func:`saturate_nonfinite`).

    ``what`` names the tensor in messages (``"input 'image'"``, ``"weight 'fc.weight'"``).

    Raises
    ------
    ModelError
        A complex, string, object or other non-numeric array, or a NaN or infinity (the
        message gives the first one's index and how many there are).
    """
    if nonfinite not in NONFINITE_POLICIES:
        raise ModelError(f"nonfinite must be one of {', '.join(NONFINITE_POLICIES)}, "
                         f"not {nonfinite!r}")
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError) as e:
        raise ModelError(f"{what} is not an array of numbers ({e})") from None
    kind = arr.dtype.kind
    if kind == "c":
        raise ModelError(f"{what} is complex ({arr.dtype}); the model takes real numbers "
                         f"(pass the real part, or the magnitude, explicitly)")
    if kind not in "fiub":
        raise ModelError(f"{what} holds {_kind_name(arr.dtype)} ({arr.dtype}); expected "
                         f"real numbers (float or integer)")
    if kind != "f":
        return arr
    bad = ~np.isfinite(arr)
    if not bad.any():
        return arr
    if nonfinite == "saturate":
        return saturate_nonfinite(arr)
    first = tuple(int(i) for i in np.argwhere(bad)[0])
    where = first if arr.ndim != 1 else first[0]
    raise ModelError(f"{what} has {int(bad.sum())} non-finite value(s), the first "
                     f"{arr[first]} at index {where}; NaN and infinity cannot be quantized "
                     f"(clean the data, or saturate it: nonfinite='saturate', "
                     f"vta run --nonfinite saturate)")


def saturate_nonfinite(arr: np.ndarray) -> np.ndarray:
    """A copy of ``arr`` with NaN -> 0 and +/-inf -> the largest finite value of that sign
    (so they quantize to 0 and to the int8 extremes)."""
    info = np.finfo(arr.dtype)
    return np.nan_to_num(arr, nan=0.0, posinf=info.max, neginf=info.min)


def check_scale_range(what: str, magnitude: float) -> None:
    """Refuse a tensor whose largest magnitude int8 with a power-of-two scale cannot hold.

    Raises
    ------
    ModelError
        ``magnitude`` is not finite or exceeds :data:`MAX_QUANTIZABLE`.
    """
    if not np.isfinite(magnitude) or magnitude > MAX_QUANTIZABLE:
        raise ModelError(f"{what} reaches magnitude {magnitude:.3g}, beyond what int8 with a "
                         f"power-of-two scale holds ({MAX_QUANTIZABLE:.3g}); rescale the "
                         f"model or its data")


def check_calibration_sample(graph: Any, sample: Any, index: int) -> None:
    """Check calibration sample ``index`` of ``graph`` (a :class:`~.graph.Graph`; one array
    for a one-input graph, or a dict by input name): numbers, finite, each input's shape.

    Raises
    ------
    ModelError
        Naming the sample and the input: non-numeric or non-finite data, a wrong shape.
    """
    arrays = sample if isinstance(sample, Mapping) else \
        ({graph.inputs[0]: sample} if len(graph.inputs) == 1 else {})
    for name, value in arrays.items():
        if name not in graph.inputs:
            continue            # the graph's own check names unknown inputs
        what = f"calibration sample {index} for input {name!r}"
        arr = check_tensor(what, value)
        want = graph.types[name].shape
        if arr.shape != tuple(want):
            raise ModelError(f"{what} has shape {list(arr.shape)}, expected {list(want)} "
                             f"(several samples: one array with an extra leading "
                             f"dimension, or a list)")


def _kind_name(dtype: np.dtype) -> str:
    return {"U": "strings", "S": "bytes", "O": "Python objects", "M": "dates",
            "m": "time spans", "V": "raw records"}.get(dtype.kind, f"{dtype.kind!r} data")
