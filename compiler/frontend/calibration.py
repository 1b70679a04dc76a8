"""Calibration: the range of every float tensor of a graph over sample inputs.

:func:`calibrate` runs the float graph on each sample and summarizes every activation as a
:class:`TensorRange` -- its signed low and high ends (for asymmetric quantization) and a
magnitude ``amax`` (for symmetric quantization) -- with one of :data:`CALIBRATIONS`:

``max``
    the extremes over all samples (every value representable; outliers cost resolution);
``percentile``
    per sample the ``p``-th percentile of ``|x|`` (and the ``100-p``-th / ``p``-th of
    ``x``), averaged over samples: ignores rare outliers;
``entropy``
    the clipping threshold that loses the least information (TensorRT's KL-divergence
    calibration): a 2048-bin histogram of ``|x|`` over all samples; for each candidate
    threshold (every 8 bins) the clipped distribution ``P`` (outliers folded into the last
    bin) is quantized to the int8 levels (``Q``) and the threshold with the smallest
    ``KL(P || Q)`` wins.  Two passes over the samples (the first finds each tensor's
    maximum).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

import numpy as np

from .errors import ModelError
from .graph import Graph
from .interpreter import run_all
from .tensor_checks import check_calibration_sample, check_scale_range

__all__ = ["TensorRange", "calibrate", "CALIBRATIONS", "entropy_threshold"]

CALIBRATIONS = ("max", "percentile", "entropy")
"""Range estimates :func:`calibrate` offers."""

HISTOGRAM_BINS = 2048
"""Bins of the ``entropy`` calibration's histograms."""
_THRESHOLD_STEP = 8
"""Candidate thresholds every this many bins (256 candidates of 2048 bins)."""
_KL_FLOOR = 1e-7
"""Probability given to a bin Q leaves empty where P has mass (keeps KL finite)."""


class TensorRange(NamedTuple):
    """What calibration found for one tensor: the signed ends and the magnitude."""

    lo: float
    hi: float
    amax: float


def _split(graph: Graph, samples: Iterable[Any]) -> list[Any]:
    if isinstance(samples, np.ndarray) and len(graph.inputs) == 1 and \
            samples.ndim == len(graph.types[graph.inputs[0]].shape) + 1:
        return list(samples)
    return list(samples)


def _activations(graph: Graph, sample: Any) -> Iterable[tuple[str, np.ndarray]]:
    for name, value in run_all(graph, sample).items():
        if name not in graph.params and value.dtype == np.float32:
            yield name, value


def calibrate(graph: Graph, samples: Iterable[Any], method: str = "max",
              percentile: float = 99.99, levels: int = 128) -> dict[str, TensorRange]:
    """The :class:`TensorRange` of every float tensor of ``graph`` over ``samples``.

    Parameters
    ----------
    graph:
        A float graph.
    samples:
        Inputs, each an array (one-input graphs) or a dict by input name; a single array
        with one extra leading dimension is split into samples.
    method:
        One of :data:`CALIBRATIONS` (see the module docstring).
    percentile:
        The ``percentile`` method's ``p``.
    levels:
        Quantization levels the ``entropy`` method assumes per sign (128 for symmetric
        int8, 256 for a one-sided asymmetric range).

    Raises
    ------
    ModelError
        for an unknown method, a percentile outside (0, 100], or no samples.
    """
    if method not in CALIBRATIONS:
        raise ModelError(f"calibration must be one of {', '.join(CALIBRATIONS)}, not "
                         f"{method!r}")
    if not 0 < percentile <= 100:
        raise ModelError(f"percentile must be in (0, 100], not {percentile}")
    samples = _split(graph, samples)
    if not samples:
        raise ModelError("calibration needs at least one sample input")
    for i, sample in enumerate(samples):
        check_calibration_sample(graph, sample, i)
    ranges = _ranges(graph, samples, method, percentile, levels)
    for name, r in ranges.items():
        check_scale_range(f"tensor {name!r} (over the calibration samples)", r.amax)
    return ranges


def _ranges(graph: Graph, samples: list[Any], method: str, percentile: float, levels: int
            ) -> dict[str, TensorRange]:
    stats: dict[str, list[tuple[float, float, float]]] = {}
    for sample in samples:
        for name, v in _activations(graph, sample):
            if method == "percentile":
                lo, hi = np.percentile(v, (100 - percentile, percentile))
                amax = np.percentile(np.abs(v), percentile)
            else:
                lo, hi = v.min(), v.max()
                amax = max(-lo, hi)
            stats.setdefault(name, []).append((float(lo), float(hi), float(amax)))
    if method == "percentile":
        return {k: TensorRange(*(float(np.mean(c)) for c in zip(*v, strict=True)))
                for k, v in stats.items()}
    ranges = {k: TensorRange(min(s[0] for s in v), max(s[1] for s in v),
                             max(s[2] for s in v)) for k, v in stats.items()}
    if method == "max":
        return ranges
    hists = {k: np.zeros(HISTOGRAM_BINS, np.int64) for k in ranges}
    for sample in samples:
        for name, v in _activations(graph, sample):
            top = ranges[name].amax
            if top > 0:
                hists[name] += np.histogram(np.abs(v), HISTOGRAM_BINS, (0.0, top))[0]
    out = {}
    for name, r in ranges.items():
        t = entropy_threshold(hists[name], r.amax, levels) if r.amax > 0 else 0.0
        out[name] = TensorRange(max(r.lo, -t), min(r.hi, t), t)
    return out


def entropy_threshold(hist: np.ndarray, top: float, levels: int = 128) -> float:
    """The clipping threshold of a histogram of ``|x|`` over ``[0, top]`` with the least
    KL divergence between the clipped and the quantized distributions."""
    hist = np.asarray(hist, np.float64)
    bins = hist.size
    width = top / bins
    if hist[levels:].sum() == 0:
        return float(top)
    best, best_kl = bins, np.inf
    for i in range(levels, bins + 1, _THRESHOLD_STEP):
        p = hist[:i].copy()
        p[-1] += hist[i:].sum()                       # outliers clipped into the last bin
        # Quantize the first i bins into `levels` groups; spread each group's mass evenly
        # over its non-empty bins.
        edges = np.linspace(0, i, levels + 1).astype(np.int64)
        src = hist[:i]
        nonzero = src != 0
        sums = np.add.reduceat(src, edges[:-1])
        counts = np.add.reduceat(nonzero.astype(np.float64), edges[:-1])
        q = np.repeat(sums / np.maximum(counts, 1.0), np.diff(edges)) * nonzero
        used = p > 0
        ps = p[used] / p.sum()
        qs = np.maximum(q[used] / max(q.sum(), 1e-30), _KL_FLOOR)   # Q's empty bins
        kl = float(np.sum(ps * np.log(ps / qs)))
        if kl < best_kl:
            best, best_kl = i, kl
    return float((best + 0.5) * width) if best < bins else float(top)
