"""The int8 numpy reference: the exact results the accelerator and the CPU kernels reproduce.

Each arithmetic fact of the kit's integer ops is written here once:

* products of int8 summed into int32 with two's-complement wrap-around
  (:func:`exact_matmul`, :func:`wrap32`), as :func:`conv2d` (NCHW x OIHW, zero padding,
  dilation, groups), :func:`conv_transpose2d` (NCHW x IOHW, ONNX ``ConvTranspose``),
  :func:`dense` (``(..., K) x (M, K)^T``) and :func:`matmul` (two activations, batched);
* input zero points: :func:`conv2d` and :func:`dense` sum ``(x - x_zero_point) * w``, the
  padding of a convolution being the zero point (a real 0), as ONNX's ConvInteger and
  QLinearConv do;
* the requantization every integer layer ends with (:func:`rescale`): ``wrap32(acc +
  offset)``, arithmetic ``>> shift``, clip -- :func:`requantize` casts the clipped result
  to int8; its general fixed-point form with a multiplier, a clamp and per-channel values
  (:func:`requantize_channels`, parameters in :class:`~vta.compiler.requant.Requant`);
* the rescaled residual add ``qadd``: ``wrap32((a << lshift_a) + (b << lshift_b))`` then
  the same requantization (:func:`qadd`, :func:`qrescale` with one operand);
* the accelerator's fused epilogue (:class:`~vta.compiler.epilogue.Epilogue`) as those
  steps in its order, cast to int8 by truncation like the OUT buffer
  (:func:`apply_epilogue`).

The graph interpreter (:mod:`vta.compiler.frontend.interpreter`) gives each quantized op its
meaning with these functions; the operator tests compare the accelerator against them bit
for bit.  Layouts are the framework ones: NCHW activations, OIHW weights.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .epilogue import Epilogue
from .errors import OperatorError
from .requant import Requant
from .windows import pads as canonical_pads
from .windows import pair, span, transposed_out, window_out

__all__ = ["check_int_array", "wrap32", "exact_matmul", "im2col", "conv2d", "conv_transpose2d",
           "dense", "matmul", "rescale", "requantize", "requantize_channels", "qadd",
           "qrescale", "apply_epilogue", "conv2d_epilogue", "dense_epilogue"]

_WEIGHT_DTYPES = (np.int8, np.int16)
"""Weights: int8 (the accelerator's), or int16 for weights whose zero point does not fit
int8 once subtracted (CPU only)."""


def check_int_array(name: str, array: Any, dtype: type | tuple[type, ...], ndim: int
                    ) -> np.ndarray:
    """Return ``array`` if it is an ndarray of ``dtype`` (or one of several) with ``ndim``
    dims, else raise.

    Raises
    ------
    OperatorError
        naming the argument, what it was and what was expected.
    """
    dtypes = dtype if isinstance(dtype, tuple) else (dtype,)
    names = " or ".join(np.dtype(d).name for d in dtypes)
    if not isinstance(array, np.ndarray):
        raise OperatorError(f"{name} must be a numpy array of {names}, "
                            f"not {type(array).__name__}")
    if array.dtype not in dtypes:
        raise OperatorError(f"{name} must have dtype {names}, not "
                            f"{array.dtype.name} (the accelerator computes int8 x int8 -> "
                            f"int32)")
    if array.ndim != ndim:
        raise OperatorError(f"{name} must have {ndim} dimensions, not shape {array.shape}")
    return array


def wrap32(x: Any) -> np.ndarray:
    """Two's-complement wrap of an integer array to int32 (numpy casts wrap modulo 2**32)."""
    return np.asarray(x).astype(np.int64).astype(np.int32)


def exact_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Integer ``a @ b`` exactly, wrapped to int32.

    float64 BLAS is exact here: int8 x int8 products are at most 2**14 in magnitude, so
    every partial sum of fewer than 2**38 terms stays below 2**53.
    """
    if a.shape[-1] >= 1 << 38:  # pragma: no cover - keeps the exactness argument honest
        raise OperatorError(f"a reduction of {a.shape[-1]} terms is too long for the exact "
                            "reference")
    return wrap32(np.matmul(a.astype(np.float64), b.astype(np.float64)).astype(np.int64))


def im2col(x: np.ndarray, kernel: tuple[int, int], strides: tuple[int, int],
           pads: tuple[int, int, int, int], pad_value: float | int = 0,
           dilations: tuple[int, int] = (1, 1)) -> np.ndarray:
    """NCHW ``x`` -> its windows ``(N, OH, OW, C, KH, KW)`` (padded with ``pad_value``; taps
    ``dilations`` apart)."""
    pt, pl, pb, pr = pads
    if any(pads):
        x = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)), constant_values=pad_value)
    (kh, kw), (dh, dw) = kernel, dilations
    win = sliding_window_view(x, ((kh - 1) * dh + 1, (kw - 1) * dw + 1), axis=(2, 3))
    win = win[:, :, ::strides[0], ::strides[1], ::dh, ::dw]
    return win.transpose(0, 2, 3, 1, 4, 5)


def _zero_point(x_zero_point: Any) -> int:
    if isinstance(x_zero_point, bool) or not isinstance(x_zero_point, (int, np.integer)) \
            or not -128 <= x_zero_point <= 127:
        raise OperatorError(f"the input zero point must be an int8 value, not "
                            f"{x_zero_point!r}")
    return int(x_zero_point)


def conv2d(data: np.ndarray, weight: np.ndarray, stride: Any = 1, padding: Any = 0,
           dilation: Any = 1, groups: int = 1, x_zero_point: int = 0) -> np.ndarray:
    """int8 NCHW x int8 (or int16) OIHW -> int32 NCHW convolution of ``data -
    x_zero_point`` (padded with zeros, i.e. ``data`` padded with its zero point), with
    wrap-around sums.

    ``stride`` and ``dilation`` are an int or a pair; ``padding`` an int, a pair or ``(top,
    left, bottom, right)``; with ``groups`` the weight is ``(O, C / groups, KH, KW)`` and
    output channel ``o`` reads the input channels of group ``o // (O / groups)``.

    Raises
    ------
    OperatorError
        for a dtype other than int8, mismatched channels, a bad stride or padding, or a
        kernel larger than the padded input.
    """
    check_int_array("data", data, np.int8, 4)
    check_int_array("weight", weight, _WEIGHT_DTYPES, 4)
    zx = _zero_point(x_zero_point)
    try:
        strides = pair(stride, "stride", 1)
        dil = pair(dilation, "dilation", 1)
        pt, pl, pb, pr = canonical_pads(padding, "padding")
    except ValueError as e:
        raise OperatorError(str(e)) from None
    if min(pt, pl, pb, pr) < 0:
        raise OperatorError(f"padding must not be negative, not {padding!r}")
    n, c, h, w = data.shape
    o, cg, kh, kw = weight.shape
    if groups < 1 or c % groups or o % groups or cg * groups != c:
        per = "" if groups == 1 else " per group"
        raise OperatorError(f"weight has {cg} input channels{per}, data has {c}"
                            + ("" if groups == 1 else f" in {groups} groups"))
    if window_out(h, kh, strides[0], pt, pb, dil[0]) <= 0 or \
            window_out(w, kw, strides[1], pl, pr, dil[1]) <= 0:
        raise OperatorError(f"kernel {kh}x{kw} is larger than the padded input "
                            f"{h + pt + pb}x{w + pl + pr}")
    x = data if zx == 0 else data.astype(np.int16) - np.int16(zx)
    win = im2col(x, (kh, kw), strides, (pt, pl, pb, pr), 0, dil)
    nb, oh, ow = win.shape[:3]
    og = o // groups
    outs = []
    for g in range(groups):
        cols = win[:, :, :, g * cg:(g + 1) * cg].reshape(nb * oh * ow, cg * kh * kw)
        outs.append(exact_matmul(cols, weight[g * og:(g + 1) * og].reshape(og, -1).T))
    acc = outs[0] if groups == 1 else np.concatenate(outs, axis=1)
    return np.ascontiguousarray(acc.reshape(nb, oh, ow, o).transpose(0, 3, 1, 2))


def conv_transpose2d(data: np.ndarray, weight: np.ndarray, stride: Any = 1,
                     padding: Any = 0, output_padding: Any = 0, dilation: Any = 1,
                     groups: int = 1) -> np.ndarray:
    """int8 NCHW x int8 ``(C, O / groups, KH, KW)`` -> int32 NCHW transposed convolution
    (ONNX ``ConvTranspose``): input ``(y, x)`` scatters ``x * w[ky, kx]`` to output
    ``(y * stride - pad_top + ky * dilation, ...)``; ``output_padding`` extends the output
    at the bottom and right.  Sums wrap to int32.

    Raises
    ------
    OperatorError
        for bad dtypes, channels, attributes, or an empty output.
    """
    check_int_array("data", data, np.int8, 4)
    check_int_array("weight", weight, np.int8, 4)
    try:
        sh, sw = pair(stride, "stride", 1)
        dh, dw = pair(dilation, "dilation", 1)
        oph, opw = pair(output_padding, "output_padding", 0)
        pt, pl, pb, pr = canonical_pads(padding, "padding")
    except ValueError as e:
        raise OperatorError(str(e)) from None
    n, c, h, w = data.shape
    cw, og, kh, kw = weight.shape
    if cw != c or groups < 1 or c % groups:
        raise OperatorError(f"weight has {cw} input channels, data has {c} (groups "
                            f"{groups})")
    oh = transposed_out(h, kh, sh, pt, pb, dh, oph)
    ow = transposed_out(w, kw, sw, pl, pr, dw, opw)
    if oh <= 0 or ow <= 0 or min(pt, pl, pb, pr) < 0:
        raise OperatorError(f"transposed convolution of {h}x{w} with kernel {kh}x{kw}, "
                            f"stride {(sh, sw)}, pads {(pt, pl, pb, pr)} has no output")
    cg = c // groups
    # Full output (no cropping) accumulated per tap, then the pads cropped.
    fh, fw = (h - 1) * sh + span(kh, dh) + oph, (w - 1) * sw + span(kw, dw) + opw
    full = np.zeros((n, og * groups, fh + max(0, -pt), fw + max(0, -pl)), np.int64)
    xs = data.astype(np.int64)
    for g in range(groups):
        xg = xs[:, g * cg:(g + 1) * cg]
        wg = weight[g * cg:(g + 1) * cg].astype(np.int64)
        for ky in range(kh):
            for kx in range(kw):
                contrib = np.einsum("nchw,co->nohw", xg, wg[:, :, ky, kx])
                y0, x0 = ky * dh, kx * dw
                full[:, g * og:(g + 1) * og, y0:y0 + (h - 1) * sh + 1:sh,
                     x0:x0 + (w - 1) * sw + 1:sw] += contrib
    return wrap32(full[:, :, pt:pt + oh, pl:pl + ow])


def dense(data: np.ndarray, weight: np.ndarray, x_zero_point: int = 0) -> np.ndarray:
    """int8 (..., K) x int8 (or int16) (M, K) -> int32 (..., M): ``(data - x_zero_point)
    @ weight.T`` with wrap-around."""
    if not isinstance(data, np.ndarray) or data.ndim < 2:
        check_int_array("data", data, np.int8, 2)
    check_int_array("data", data, np.int8, data.ndim)
    check_int_array("weight", weight, _WEIGHT_DTYPES, 2)
    zx = _zero_point(x_zero_point)
    if data.shape[-1] != weight.shape[1]:
        raise OperatorError(f"dense: data has {data.shape[-1]} features, weight expects "
                            f"{weight.shape[1]}")
    return exact_matmul(data.astype(np.int16) - np.int16(zx) if zx else data, weight.T)


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """int8 ``a @ b`` of two activations (numpy's batched matmul rules), int32 with
    wrap-around."""
    check_int_array("a", a, np.int8, a.ndim if isinstance(a, np.ndarray) else 2)
    check_int_array("b", b, np.int8, b.ndim if isinstance(b, np.ndarray) else 2)
    if a.ndim < 2 or b.ndim < 2 or a.shape[-1] != b.shape[-2]:
        raise OperatorError(f"matmul: shapes {list(a.shape)} and {list(b.shape)} do not "
                            "multiply")
    return exact_matmul(a, b)


def _per_channel(value: Any, ndim: int, axis: int) -> Any:
    """A scalar as is; a vector shaped to broadcast along ``axis`` of an ``ndim`` array."""
    v = np.asarray(value, dtype=np.int64)
    if v.ndim == 0 or ndim < 2:
        return v
    shape = [1] * ndim
    shape[axis] = -1
    return v.reshape(shape)


def rescale(acc: Any, offset: Any = 0, shift: Any = 0, clip: tuple[int, int] | None = None,
            axis: int = 1) -> np.ndarray:
    """``clip(wrap32(acc + offset) >> shift)`` as int64: the requantization of an int32
    accumulator.  ``offset`` and ``shift`` are scalars or one value per channel along
    ``axis``; the shift is arithmetic; ``clip`` is ``(lo, hi)`` or None."""
    x = np.asarray(acc).astype(np.int64)
    x = wrap32(x + _per_channel(offset, x.ndim, axis)).astype(np.int64)
    x = x >> _per_channel(shift, x.ndim, axis)
    if clip is not None:
        x = np.minimum(np.maximum(x, clip[0]), clip[1])
    return x


def requantize(acc: Any, offset: Any, shift: Any, lo: int, hi: int) -> np.ndarray:
    """int32 ``acc`` -> int8 (:func:`rescale` clipped to ``[lo, hi]``, channels on axis 1)."""
    return rescale(acc, offset, shift, (lo, hi)).astype(np.int8)


def requantize_channels(acc: Any, offset: Any, requant: Requant, axis: int = 1
                        ) -> np.ndarray:
    """int32 ``acc`` -> int8 through the fixed-point steps of ``requant`` (the ALU's
    instructions in order, each wrapping modulo 2**32; values per channel along ``axis``):
    ``t = wrap32(acc + offset) >> pre_shift``, clamp to ``[acc_lo, acc_hi]``, ``t =
    wrap32(t * multiplier + post_offset) >> shift``, clip to ``[lo, hi]``."""
    x = np.asarray(acc).astype(np.int64)
    channels = x.shape[axis] if x.ndim > 1 else x.shape[0]

    def vec(name: str) -> Any:
        v = requant.vector(name, channels)
        return _per_channel(v, x.ndim, axis) if x.ndim > 1 else v

    x = wrap32(x + _per_channel(offset, x.ndim, axis)).astype(np.int64) >> vec("pre_shift")
    if requant.acc_lo is not None:
        x = np.minimum(np.maximum(x, vec("acc_lo")), vec("acc_hi"))
    if requant.uses_multiplier or any(requant.post_offset):
        x = wrap32(x * vec("multiplier")).astype(np.int64)
        x = wrap32(x + vec("post_offset")).astype(np.int64)
    x = x >> vec("shift")
    return np.minimum(np.maximum(x, requant.lo), requant.hi).astype(np.int8)


def qadd(a: np.ndarray, b: np.ndarray, lshift_a: int, lshift_b: int, offset: int,
         shift: int, lo: int, hi: int) -> np.ndarray:
    """int8 + int8 -> int8: ``wrap32((a << lshift_a) + (b << lshift_b))``, requantized."""
    acc = (a.astype(np.int64) << lshift_a) + (b.astype(np.int64) << lshift_b)
    return requantize(wrap32(acc), offset, shift, lo, hi)


def qrescale(x: np.ndarray, lshift: int, offset: int, shift: int, lo: int,
             hi: int) -> np.ndarray:
    """int8 -> int8 with another scale or clip: :func:`qadd` of one operand."""
    return requantize(wrap32(x.astype(np.int64) << lshift), offset, shift, lo, hi)


def apply_epilogue(acc: np.ndarray, epilogue: Epilogue, bias: np.ndarray | None = None,
                   residual: np.ndarray | None = None, channel_axis: int = 1,
                   rows: Mapping[str, np.ndarray] | None = None,
                   pad_correction: np.ndarray | None = None) -> np.ndarray:
    """Apply ``epilogue`` to an int32 accumulator and cast to int8, as the hardware does.

    Parameters
    ----------
    acc:
        int32 accumulator, channels on ``channel_axis``.
    bias:
        int32 vector of the channel count (needed iff ``epilogue.bias``).
    residual:
        int8 tensor of ``acc``'s shape (needed iff ``epilogue.residual``).
    rows:
        The constant rows by name (``epilogue.const_rows``), int32 per channel.
    pad_correction:
        int32 of ``acc``'s shape added after the bias (needed iff
        ``epilogue.pad_correction``).
    """
    check_int_array("accumulator", acc, np.int32, acc.ndim)
    channels = acc.shape[channel_axis]
    offset: Any = 0
    if epilogue.bias:
        if bias is None:
            raise OperatorError("the epilogue adds a bias but none was given")
        check_int_array("bias", bias, np.int32, 1)
        if bias.shape[0] != channels:
            raise OperatorError(f"bias has {bias.shape[0]} values, expected one per output "
                                f"channel ({channels})")
        offset = bias
    x = wrap32(acc.astype(np.int64) + _per_channel(offset, acc.ndim, channel_axis))
    if epilogue.pad_correction:
        if pad_correction is None or pad_correction.shape != acc.shape:
            raise OperatorError(f"the epilogue adds a zero-point correction: pass one of the "
                                f"accumulator's shape {acc.shape}")
        x = wrap32(x.astype(np.int64) + pad_correction)
    x = x.astype(np.int64)
    if epilogue.requant is not None:
        x = _channel_steps(x, epilogue, rows or {}, channels, channel_axis)
    x = rescale(x, 0, epilogue.shift, epilogue.clip, channel_axis)
    if epilogue.residual:
        if residual is None:
            raise OperatorError("the epilogue adds a residual but none was given")
        check_int_array("residual", residual, np.int8, acc.ndim)
        if residual.shape != acc.shape:
            raise OperatorError(f"residual has shape {residual.shape}, expected the "
                                f"output's {acc.shape}")
        total = wrap32((x << epilogue.lshift)
                       + (residual.astype(np.int64) << epilogue.residual_lshift))
        x = rescale(total, epilogue.residual_offset, epilogue.residual_shift,
                    epilogue.residual_clip)
    return x.astype(np.int8)  # truncation to the low 8 bits, like the OUT buffer


def _channel_steps(x: np.ndarray, epilogue: Epilogue, rows: Mapping[str, np.ndarray],
                   channels: int, axis: int) -> np.ndarray:
    """The fixed-point requantization of ``epilogue.requant`` on int64-held int32 ``x``:
    the summed pre-shifts, the clamp, the multiply and offset (wrapping), the summed
    shifts; each value an immediate or a constant row."""
    req = epilogue.requant
    assert req is not None

    def value(v: int | None, name: str) -> Any:
        if v is not None:
            return v
        if name not in rows:
            raise OperatorError(f"the epilogue reads constant row {name!r}; rows given: "
                                f"{sorted(rows)}")
        r = np.asarray(rows[name], np.int64)
        if r.shape != (channels,):
            raise OperatorError(f"constant row {name!r} must have one value per output "
                                f"channel ({channels}), not shape {r.shape}")
        return _per_channel(r, x.ndim, axis)

    pre = sum((value(v, f"pre{i}") for i, v in enumerate(req.pre_shifts)), 0)
    x = x >> pre
    if req.clamp:
        x = np.minimum(np.maximum(x, value(None, "lo")), value(None, "hi"))
    if req.multiplier != 1:
        x = wrap32(x * value(req.multiplier, "mul")).astype(np.int64)
    if req.post_offset != 0:
        x = wrap32(x + value(req.post_offset, "post")).astype(np.int64)
    shift = sum((value(v, f"shr{i}") for i, v in enumerate(req.shifts)), 0)
    return x >> shift


def conv2d_epilogue(data: np.ndarray, weight: np.ndarray, epilogue: Epilogue,
                    bias: np.ndarray | None = None, residual: np.ndarray | None = None,
                    stride: Any = 1, padding: Any = 0) -> np.ndarray:
    """:func:`conv2d` followed by :func:`apply_epilogue`: int8 NCHW out."""
    return apply_epilogue(conv2d(data, weight, stride, padding), epilogue, bias, residual)


def dense_epilogue(data: np.ndarray, weight: np.ndarray, epilogue: Epilogue,
                   bias: np.ndarray | None = None,
                   residual: np.ndarray | None = None) -> np.ndarray:
    """:func:`dense` followed by :func:`apply_epilogue`: int8 (N, M) out."""
    return apply_epilogue(dense(data, weight), epilogue, bias, residual)
