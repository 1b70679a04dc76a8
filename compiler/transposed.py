"""A transposed convolution (ONNX ``ConvTranspose``) as ``stride_h x stride_w`` ordinary
convolutions, none of which multiplies the zeros of a zero-stuffed input.

Output row ``Y`` of a transposed convolution with stride ``s`` and top pad ``p`` receives
``x[q - m] * w[r + m * s]`` for the *phase* ``r = (Y + p) mod s`` and ``q = (Y + p - r) /
s``: the taps ``r, r + s, r + 2s, ...`` of the kernel, sliding over the *input* with
stride 1.  So each phase ``(rh, rw)`` is an ordinary convolution of the input with the
flipped sub-kernel of its taps; its outputs land ``s`` rows and columns apart in the full
output (:attr:`~vta.compiler.workload.Conv2dWorkload.out_scatter`, which the STORE DMA
places with its row pitch).  Every multiply is a real one: ``stride^2`` sub-convolutions
do the work of one, where the zero-stuffed form would do ``stride^2`` times as much.

:func:`phases` plans the sub-convolutions of a node (or says why the accelerator cannot run
it); :func:`phase_weight` cuts a phase's weight out of the ``(C, O / groups, KH, KW)``
transposed weight.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import ScheduleError
from .windows import pads as canonical_pads
from .windows import pair, transposed_out

__all__ = ["Phase", "phases", "phase_weight"]


@dataclass(frozen=True)
class Phase:
    """One sub-convolution: the output phase ``(rh, rw)``, its taps per axis (``(first,
    count)``: taps ``first, first + s, ...``), and its conv2d geometry.

    Members
    -------
    phase:
        ``(rh, rw)``.
    taps:
        ``((first_h, count_h), (first_w, count_w))``.
    size:
        Output rows and columns of the sub-convolution.
    pad_begin, pad_end:
        Its (top, left) and (bottom, right) padding.
    offset:
        Row and column of its first output in the full output.
    """

    phase: tuple[int, int]
    taps: tuple[tuple[int, int], tuple[int, int]]
    size: tuple[int, int]
    pad_begin: tuple[int, int]
    pad_end: tuple[int, int]
    offset: tuple[int, int]


def _axis(size: int, kernel: int, stride: int, pad: int, out: int, r: int
          ) -> tuple[tuple[int, int], int, int, int, int] | None:
    """Phase ``r`` along one axis: ((first tap, taps), outputs, pad before, pad after,
    offset of the first output); None when it has no output."""
    taps = -(-(kernel - r) // stride) if r < kernel else 0
    q0 = -(-(pad - r) // stride)                  # first q with Y = q*s + r - pad >= 0
    first = q0 * stride + r - pad
    n = -(-(out - first) // stride) if first < out else 0
    if n <= 0:
        return None
    return (r, taps), n, taps - 1 - q0, q0 + n - size, first


def phases(in_hw: tuple[int, int], kernel: tuple[int, int], strides: object, pads: object,
           dilations: object = 1, output_padding: object = 0) -> list[Phase] | str:
    """The sub-convolutions of a transposed convolution, or why the accelerator cannot run
    it this way (dilation, a stride larger than the kernel, pads that crop whole input
    rows or exceed the DMA pad fields)."""
    sh, sw = pair(strides)
    pt, pl, pb, pr = canonical_pads(pads)
    if pair(dilations) != (1, 1):
        return f"dilations {pair(dilations)}: the sub-convolution split takes undilated " \
               "transposed kernels"
    oph, opw = pair(output_padding)
    out = (transposed_out(in_hw[0], kernel[0], sh, pt, pb, 1, oph),
           transposed_out(in_hw[1], kernel[1], sw, pl, pr, 1, opw))
    if sh > kernel[0] or sw > kernel[1]:
        return f"strides {(sh, sw)} larger than the kernel {kernel}: outputs no tap reaches"
    plan = []
    for rh in range(sh):
        ah = _axis(in_hw[0], kernel[0], sh, pt, out[0], rh)
        for rw in range(sw):
            aw = _axis(in_hw[1], kernel[1], sw, pl, out[1], rw)
            if ah is None or aw is None:
                continue
            p = Phase((rh, rw), (ah[0], aw[0]), (ah[1], aw[1]), (ah[2], aw[2]),
                      (ah[3], aw[3]), (ah[4], aw[4]))
            for b, e, t in zip(p.pad_begin, p.pad_end, (ah[0][1], aw[0][1]), strict=True):
                if b < 0 or e < 0:
                    return (f"pads {(pt, pl, pb, pr)} crop whole input rows or columns of "
                            f"phase {p.phase}")
                if max(b, e) >= t or max(b, e) > 15:
                    return f"phase {p.phase} needs padding {max(b, e)} (at most " \
                           f"{min(t - 1, 15)})"
            plan.append(p)
    return plan


def phase_weight(weight: np.ndarray, groups: int, strides: object, phase: Phase
                 ) -> np.ndarray:
    """The ``(O, C / groups, th, tw)`` conv weight of ``phase`` from the ``(C, O / groups,
    KH, KW)`` transposed weight: its taps, flipped (a correlation over the input)."""
    sh, sw = pair(strides)
    c, og = weight.shape[:2]
    cg = c // groups
    (fh, th), (fw, tw) = phase.taps
    rows = [fh + (th - 1 - t) * sh for t in range(th)]
    cols = [fw + (tw - 1 - u) * sw for u in range(tw)]
    sub = weight[:, :, rows][:, :, :, cols]                 # (C, O/g, th, tw)
    # (g, C/g, O/g, ...) -> (g, O/g, C/g, ...) -> (O, C/g, th, tw)
    out = sub.reshape(groups, cg, og, th, tw).transpose(0, 2, 1, 3, 4)
    return np.ascontiguousarray(out.reshape(groups * og, cg, th, tw))


def check_phases(plan: list[Phase] | str) -> list[Phase]:
    """``plan`` if it is a list of phases, else a ScheduleError with its reason."""
    if isinstance(plan, str):
        raise ScheduleError(plan)
    return plan
