"""The graph interpreter: the exact meaning of every op of the graph IR, run in numpy.

Integer ops are the int8 reference's arithmetic (:mod:`vta.compiler.int8_reference`), which
every backend (the VTA kernel compiler, the llvmlite CPU kernels) reproduces bit for bit:

``qconv2d`` / ``qdense``
    :func:`~vta.compiler.int8_reference.conv2d` / :func:`~vta.compiler.int8_reference.dense`
    (``(x - x_zero_point) * w`` summed into int32 with wrap-around, a conv's padding being
    the zero point), then :func:`~vta.compiler.int8_reference.requantize_channels` with the
    node's :class:`~vta.compiler.requant.Requant`: ``wrap32(acc + bias)`` (the int32 bias,
    with the rounding and output zero point folded in), arithmetic ``>> shift`` (one value
    or one per output channel) and a clip -- or the fixed-point steps with a multiplier.
``qadd``
    ``wrap32((a << lshift_a) + (b << lshift_b))``, then the same requantization.
``qrescale``
    the same with one input.
``qconv_transpose2d``
    :func:`~vta.compiler.int8_reference.conv_transpose2d`, then the requantization.
``qmatmul``
    :func:`~vta.compiler.int8_reference.matmul` of two int8 activations, then the
    requantization with the ``offset`` attribute (no bias).
``qlut``
    ``table[x + 128]``: any element-wise function of one int8 tensor, tabulated by the
    quantizer.

The other ops are defined here:

``quantize``
    ``clip(rint(x / float32(scale)) + zero_point, lo, hi)`` in float32 (round half to even;
    ONNX QuantizeLinear).
``dequantize``
    ``float32(q - zero_point) * float32(scale)`` (ONNX DequantizeLinear).
``qcast``
    uint8 ``q`` <-> int8 ``q - 128`` (the same real values: the zero point moves too).
int8 pooling and reductions
    max pool pads with -128; average pool, global average pool and ``reduce_mean`` sum in
    int32 and divide rounding half up: ``floor((sum + count // 2) / count)``.  In
    ``ceil_mode`` a window's count stops at the padded input's border; with
    ``count_include_pad`` it includes the declared pads.
``layer_norm`` (float32)
    in float64: ``s = sum(x)``, ``m = s / n``, ``d = x - m``, ``v = sum(d * d) / n``, ``r =
    1 / sqrt(v + eps)``, ``y = float32((d * r) * scale + bias)``; a sum runs in
    :data:`NORM_LANES` lanes (element ``i`` into lane ``i % 8``, each lane from 0.0 in
    element order, a short last group padded with 0.0), then the lanes in order -- every
    step an IEEE operation, so a kernel doing the same steps (8-wide vectors) matches bit
    for bit.
``resize``
    separable over the two spatial axes, with index and weight tables of
    :func:`resize_tables` (ONNX coordinate transformations); linear interpolation rows
    first, then columns, in float32 (an int8 tensor is rounded back with ``rint``).
softmax (float32)
    ``e = exp_f32(x - max(x))`` (the polynomial :func:`exp_f32`), ``s`` = the sum of
    ``trunc(e * 2**32)`` in int64 (exact, order-free) times ``2**-32`` in float32,
    ``y = e / s``. Within 2 ulp of the true softmax, and reproducible bit for bit.

Float ops follow ONNX semantics in float32 (conv and dense through BLAS).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ..errors import OperatorError
from ..int8_reference import (
    conv2d,
    conv_transpose2d,
    dense,
    im2col,
    matmul,
    qadd,
    qrescale,
    requantize,
    requantize_channels,
)
from ..requant import Requant
from ..windows import pads as canonical_pads
from ..windows import pair, span, transposed_out, window_out
from .errors import ModelError
from .graph import DYNAMIC_QUANTIZE_PARTS, Graph, Node, flatten_axis, slice_ranges
from .tensor_checks import check_tensor

__all__ = ["run", "run_all", "bind_inputs", "conv2d_float", "max_pool", "avg_pool",
           "global_avg_pool", "softmax", "exp_f32", "quantize", "dequantize", "qcast",
           "dynamic_quantize", "sub_zero_point", "node_requant", "OP_IMPLS", "layer_norm",
           "lane_sum", "NORM_LANES", "resize_tables", "resize", "erf",
           "UNARY_IMPLS", "pool_geometry"]


def _window(op: str, kernel: Any, strides: Any, pads: Any
            ) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int, int, int]]:
    """Canonical (kernel, strides, pads) of a pooling or conv; strides default to the
    kernel."""
    try:
        k = pair(kernel, f"{op} kernel", 1)
        return k, pair(k if strides is None else strides, f"{op} strides", 1), \
            canonical_pads(pads, f"{op} pads")
    except ValueError as e:
        raise ModelError(str(e)) from None


def conv2d_float(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None,
                 strides: Any = 1, pads: Any = 0, dilations: Any = 1,
                 groups: int = 1) -> np.ndarray:
    """float32 convolution, NCHW x OIHW (+ bias), grouped and dilated."""
    o, cg, kh, kw = w.shape
    _, st, pd = _window("conv2d", (kh, kw), strides, pads)
    win = im2col(x.astype(np.float32), (kh, kw), st, pd, 0, pair(dilations))
    nb, oh, ow = win.shape[:3]
    og = o // groups
    outs = [win[:, :, :, g * cg:(g + 1) * cg].reshape(nb * oh * ow, -1)
            @ w[g * og:(g + 1) * og].reshape(og, -1).T.astype(np.float32)
            for g in range(groups)]
    out = outs[0] if groups == 1 else np.concatenate(outs, axis=1)
    if b is not None:
        out += b.astype(np.float32)
    return np.ascontiguousarray(out.reshape(nb, oh, ow, o).transpose(0, 3, 1, 2))


def conv_transpose2d_float(node: Node, x: np.ndarray, w: np.ndarray, *b: np.ndarray
                           ) -> np.ndarray:
    """float32 transposed convolution (ONNX ``ConvTranspose``), by scattering each tap."""
    a = node.attr
    sh, sw = pair(a("strides", 1))
    dh, dw = pair(a("dilations", 1))
    pt, pl, pb, pr = canonical_pads(a("pads", 0))
    oph, opw = pair(a("output_padding", 0))
    groups = a("groups", 1)
    n, c, h, wd = x.shape
    _, og, kh, kw = w.shape
    cg = c // groups
    oh = transposed_out(h, kh, sh, pt, pb, dh, oph)
    ow = transposed_out(wd, kw, sw, pl, pr, dw, opw)
    full = np.zeros((n, og * groups, max(oh + pt, (h - 1) * sh + span(kh, dh)),
                     max(ow + pl, (wd - 1) * sw + span(kw, dw))), np.float32)
    for g in range(groups):
        for ky in range(kh):
            for kx in range(kw):
                contrib = np.einsum("nchw,co->nohw", x[:, g * cg:(g + 1) * cg],
                                    w[g * cg:(g + 1) * cg, :, ky, kx])
                full[:, g * og:(g + 1) * og, ky * dh:ky * dh + (h - 1) * sh + 1:sh,
                     kx * dw:kx * dw + (wd - 1) * sw + 1:sw] += contrib
    out = full[:, :, pt:pt + oh, pl:pl + ow]
    if b:
        out = out + b[0].reshape(1, -1, 1, 1)
    return np.ascontiguousarray(out, dtype=np.float32)


# ---------------------------------------------------------------------- pooling
def pool_geometry(shape: tuple[int, ...], kernel: Any, strides: Any, pads: Any,
                  dilations: Any = 1, ceil_mode: bool = False
                  ) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int, int, int],
                             tuple[int, int], tuple[int, int]]:
    """(kernel, strides, pads, dilations, output size) of a pooling window over the NCHW
    ``shape``; in ``ceil_mode`` the bottom/right pads are extended so the last partial
    window is complete (the extension is not part of the declared pads)."""
    k, st, pd = _window("pool", kernel, strides, pads)
    d = pair(dilations)
    h, w = shape[2:]
    out = (window_out(h, k[0], st[0], pd[0], pd[2], d[0], ceil_mode),
           window_out(w, k[1], st[1], pd[1], pd[3], d[1], ceil_mode))
    return k, st, pd, d, out


def _extended(pd: tuple[int, int, int, int], shape: tuple[int, ...], k: tuple[int, int],
              st: tuple[int, int], d: tuple[int, int], out: tuple[int, int]
              ) -> tuple[int, int, int, int]:
    """Pads with the bottom/right extended to cover ``out`` windows."""
    pb = max(pd[2], (out[0] - 1) * st[0] + span(k[0], d[0]) - shape[2] - pd[0])
    pr = max(pd[3], (out[1] - 1) * st[1] + span(k[1], d[1]) - shape[3] - pd[1])
    return pd[0], pd[1], pb, pr


def max_pool(x: np.ndarray, kernel: Any, strides: Any = None, pads: Any = 0,
             dilations: Any = 1, ceil_mode: bool = False) -> np.ndarray:
    """Max pooling over NCHW; padding never wins (pads with the dtype's minimum)."""
    k, st, pd, d, out = pool_geometry(x.shape, kernel, strides if strides is not None
                                      else kernel, pads, dilations, ceil_mode)
    low = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min
    win = im2col(x, k, st, _extended(pd, x.shape, k, st, d, out), low, d)
    return np.ascontiguousarray(win.max(axis=(4, 5)).transpose(0, 3, 1, 2))


def _rounded_div(total: np.ndarray, count: np.ndarray | int) -> np.ndarray:
    return np.floor_divide(total + np.asarray(count) // 2, count)


def avg_pool(x: np.ndarray, kernel: Any, strides: Any = None, pads: Any = 0,
             count_include_pad: bool = False, dilations: Any = 1,
             ceil_mode: bool = False) -> np.ndarray:
    """Average pooling over NCHW; int8 divides rounding half up (see module docstring)."""
    k, st, pd, d, out = pool_geometry(x.shape, kernel, strides if strides is not None
                                      else kernel, pads, dilations, ceil_mode)
    ext = _extended(pd, x.shape, k, st, d, out)
    acc_dtype = np.float32 if x.dtype.kind == "f" else np.int32
    win = im2col(x.astype(acc_dtype), k, st, ext, 0, d)
    total = win.sum(axis=(4, 5), dtype=acc_dtype).transpose(0, 3, 1, 2)
    h, w = x.shape[2:]
    if count_include_pad:   # the declared padded area counts, the ceil overhang does not
        mask = np.zeros((1, 1, h + pd[0] + pd[2], w + pd[1] + pd[3]), np.int32)
        mask[...] = 1
        mask = np.pad(mask, ((0, 0), (0, 0), (0, ext[2] - pd[2]), (0, ext[3] - pd[3])))
        count = im2col(mask, k, st, (0, 0, 0, 0), 0, d).sum(axis=(4, 5)).transpose(0, 3, 1, 2)
    else:
        ones = np.ones((1, 1) + x.shape[2:], dtype=np.int32)
        count = im2col(ones, k, st, ext, 0, d).sum(axis=(4, 5)).transpose(0, 3, 1, 2)
    if x.dtype.kind == "f":
        return np.ascontiguousarray(total / np.asarray(count, dtype=np.float32))
    return np.ascontiguousarray(_rounded_div(total, count).astype(x.dtype))


def global_avg_pool(x: np.ndarray) -> np.ndarray:
    """Mean over the spatial axes, keeping them as 1s; int8 rounds as :func:`avg_pool`."""
    return reduce_mean(x, tuple(range(2, x.ndim)), True)


def reduce_mean(x: np.ndarray, axes: tuple[int, ...], keepdims: bool = True) -> np.ndarray:
    """Mean over ``axes``; int8 sums in int32 and divides rounding half up."""
    count = int(np.prod([x.shape[a] for a in axes]))
    if x.dtype.kind == "f":
        return x.mean(axis=axes, keepdims=keepdims, dtype=np.float32)
    total = x.sum(axis=axes, keepdims=keepdims, dtype=np.int32)
    return _rounded_div(total, count).astype(x.dtype)


# ---------------------------------------------------------------------- element-wise
_ERF_P = 0.3275911
_ERF_A = (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)


def erf(x: np.ndarray) -> np.ndarray:
    """The error function in float32 (computed in float64 with Abramowitz and Stegun's
    7.1.26, absolute error below 1.5e-7)."""
    v = np.asarray(x, dtype=np.float64)
    a = np.abs(v)
    t = 1.0 / (1.0 + _ERF_P * a)
    poly = t * (_ERF_A[0] + t * (_ERF_A[1] + t * (_ERF_A[2] + t * (_ERF_A[3]
                                                                   + t * _ERF_A[4]))))
    return (np.sign(v) * (1.0 - poly * np.exp(-a * a))).astype(np.float32)


def _f(v: Any) -> np.float32:
    return np.float32(v)


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(_f(0), x).astype(np.float32)


def _gelu(n: Node, x: np.ndarray) -> np.ndarray:
    if n.attr("approximate", "none") == "tanh":
        inner = _f(math.sqrt(2 / math.pi)) * (x + _f(0.044715) * x * x * x)
        return _f(0.5) * x * (_f(1) + np.tanh(inner))
    return _f(0.5) * x * (_f(1) + erf(x * _f(1 / math.sqrt(2))))


def _elu(x: np.ndarray, alpha: float) -> np.ndarray:
    return np.where(x > 0, x, _f(alpha) * (np.exp(np.minimum(x, _f(0))) - _f(1)))


UNARY_IMPLS: dict[str, Callable[..., np.ndarray]] = {
    "sigmoid": lambda n, x: _f(1) / (_f(1) + np.exp(-x)),
    "tanh": lambda n, x: np.tanh(x),
    "exp": lambda n, x: np.exp(x),
    "log": lambda n, x: np.log(x),
    "erf": lambda n, x: erf(x),
    "sqrt": lambda n, x: np.sqrt(x),
    "reciprocal": lambda n, x: _f(1) / x,
    "neg": lambda n, x: -x,
    "abs": lambda n, x: np.abs(x),
    "softplus": lambda n, x: _softplus(x),
    "mish": lambda n, x: x * np.tanh(_softplus(x)),
    "hard_sigmoid": lambda n, x: np.clip(_f(n.attr("alpha", 0.2)) * x
                                         + _f(n.attr("beta", 0.5)), _f(0), _f(1)),
    "hard_swish": lambda n, x: x * np.clip(x * _f(1 / 6) + _f(0.5), _f(0), _f(1)),
    "leaky_relu": lambda n, x: np.where(x >= 0, x, _f(n.attr("alpha", 0.01)) * x),
    "elu": lambda n, x: _elu(x, n.attr("alpha", 1.0)),
    "selu": lambda n, x: _f(n.attr("gamma", 1.0507009873554805)) * _elu(
        x, n.attr("alpha", 1.6732632423543772)),
    "gelu": _gelu,
}
"""``op -> fn(node, x)``: the float32 meaning of each unary op (:data:`.graph.UNARY_OPS`)."""


NORM_LANES = 8
"""Lanes of the sums of :func:`layer_norm` (the vector width its kernel uses)."""


def lane_sum(v: np.ndarray) -> np.ndarray:
    """Row sums of a float64 ``(rows, n)`` array in :data:`NORM_LANES` lanes, then the
    lanes in order (the summation order of :func:`layer_norm`); shape ``(rows, 1)``."""
    rows, n = v.shape
    groups = -(-n // NORM_LANES)
    padded = np.zeros((rows, groups * NORM_LANES))
    padded[:, :n] = v
    lanes = np.zeros((rows, NORM_LANES))
    for g in range(groups):
        lanes += padded[:, g * NORM_LANES:(g + 1) * NORM_LANES]
    total = lanes[:, 0].copy()
    for lane in range(1, NORM_LANES):
        total += lanes[:, lane]
    return total[:, None]


def layer_norm(x: np.ndarray, scale: np.ndarray, bias: np.ndarray | None, axis: int = -1,
               epsilon: float = 1e-5) -> np.ndarray:
    """Layer normalization over the axes from ``axis`` on, in the exact steps of the module
    docstring."""
    axis %= x.ndim
    rows = int(np.prod(x.shape[:axis], dtype=np.int64))
    v = np.asarray(x, np.float32).astype(np.float64).reshape(rows, -1)
    n = v.shape[1]
    mean = lane_sum(v) / n
    d = v - mean
    var = lane_sum(d * d) / n
    r = 1.0 / np.sqrt(var + float(np.float32(epsilon)))
    y = (d * r) * scale.astype(np.float64).reshape(1, -1)
    if bias is not None:
        y = y + bias.astype(np.float64).reshape(1, -1)
    return y.astype(np.float32).reshape(x.shape)


# ---------------------------------------------------------------------- resize
def _source_coords(out_size: int, in_size: int, scale: float, mode: str) -> np.ndarray:
    x = np.arange(out_size, dtype=np.float64)
    if mode == "half_pixel":
        return (x + 0.5) / scale - 0.5
    if mode == "pytorch_half_pixel":
        return (x + 0.5) / scale - 0.5 if out_size > 1 else np.zeros(out_size)
    if mode == "align_corners":
        return x * (in_size - 1) / (out_size - 1) if out_size > 1 else np.zeros(out_size)
    if mode == "asymmetric":
        return x / scale
    if mode == "tf_half_pixel_for_nn":
        return (x + 0.5) / scale
    raise ModelError(f"resize coordinate_transformation_mode {mode!r} is not supported "
                     "(half_pixel, pytorch_half_pixel, align_corners, asymmetric, "
                     "tf_half_pixel_for_nn)")


def resize_tables(in_size: int, out_size: int, scale: float, mode: str = "nearest",
                  coordinate_mode: str = "half_pixel", nearest_mode: str = "round_prefer_floor"
                  ) -> tuple[np.ndarray, ...]:
    """Per output position along one axis: ``(index,)`` for nearest, ``(i0, i1, w0, w1)``
    (float32 weights) for linear interpolation, after ONNX's coordinate transformation."""
    src = _source_coords(out_size, in_size, scale, coordinate_mode)
    if mode == "nearest":
        frac = src - np.floor(src)
        if nearest_mode == "round_prefer_floor":
            idx = np.where(frac == 0.5, np.floor(src), np.round(src))
        elif nearest_mode == "round_prefer_ceil":
            idx = np.where(frac == 0.5, np.ceil(src), np.round(src))
        elif nearest_mode == "floor":
            idx = np.floor(src)
        elif nearest_mode == "ceil":
            idx = np.ceil(src)
        else:
            raise ModelError(f"resize nearest_mode {nearest_mode!r} is not supported")
        return (np.clip(idx, 0, in_size - 1).astype(np.int64),)
    src = np.clip(src, 0, in_size - 1)
    i0 = np.floor(src).astype(np.int64)
    i1 = np.minimum(i0 + 1, in_size - 1)
    w1 = (src - i0).astype(np.float32)
    return i0, i1, (np.float32(1) - w1).astype(np.float32), w1


def resize_node_tables(node: Node, shape: tuple[int, ...]) -> list[tuple[np.ndarray, ...]]:
    """The tables of a ``resize`` node for its two spatial axes."""
    sizes = node.attr("sizes")
    scales = node.attr("scales") or tuple(o / i for o, i in zip(sizes, shape, strict=True))
    return [resize_tables(shape[a], sizes[a], float(scales[a]), node.attr("mode", "nearest"),
                          node.attr("coordinate_transformation_mode", "half_pixel"),
                          node.attr("nearest_mode", "round_prefer_floor"))
            for a in (2, 3)]


def resize(node: Node, x: np.ndarray) -> np.ndarray:
    """A ``resize`` node on NCHW ``x`` (see the module docstring)."""
    ty, tx = resize_node_tables(node, x.shape)
    if len(ty) == 1:
        return np.ascontiguousarray(x[:, :, ty[0]][:, :, :, tx[0]])
    v = x.astype(np.float32)
    rows = v[:, :, ty[0]] * ty[2][:, None] + v[:, :, ty[1]] * ty[3][:, None]
    out = rows[:, :, :, tx[0]] * tx[2] + rows[:, :, :, tx[1]] * tx[3]
    if x.dtype.kind == "f":
        return out
    info = np.iinfo(x.dtype)
    return np.clip(np.rint(out), info.min, info.max).astype(x.dtype)


# ---------------------------------------------------------------------- softmax
_LOG2E = np.float32(1.44269504088896341)
_LN2_HI = np.float32(0.693359375)
_LN2_LO = np.float32(-2.12194440e-4)
EXP_POLY = tuple(np.float32(c) for c in (1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3,
                                         4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1))
"""Coefficients of the exp polynomial (Cephes ``expf``), highest power first."""
EXP_MIN = np.float32(-87.0)
"""Inputs below this give exactly 0 from :func:`exp_f32`."""
SUM_SCALE = np.float32(2.0 ** 32)


def exp_f32(x: np.ndarray) -> np.ndarray:
    """``exp(x)`` in float32 for ``x <= 0``, exactly the sequence the CPU kernel runs.

    ``k = rint(x * log2(e))``, ``r = (x - k*ln2_hi) - k*ln2_lo``, ``p = 1 + r + r*r*P(r)``
    (Horner, no fused multiply-add), ``exp = p * 2**k``; 0 below :data:`EXP_MIN`.
    """
    x = np.asarray(x, dtype=np.float32)
    xc = np.maximum(x, EXP_MIN)
    k = np.rint(xc * _LOG2E)
    r = (xc - k * _LN2_HI) - k * _LN2_LO
    p = EXP_POLY[0]
    for c in EXP_POLY[1:]:
        p = p * r + c
    p = (p * (r * r) + r) + np.float32(1.0)
    two_k = ((k.astype(np.int32) + 127) << 23).view(np.float32)
    return np.where(x < EXP_MIN, np.float32(0.0), p * two_k)


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """float32 softmax with the exact algorithm of the module docstring."""
    x = np.asarray(x, dtype=np.float32)
    e = exp_f32(x - x.max(axis=axis, keepdims=True))
    total = (e * SUM_SCALE).astype(np.int64).sum(axis=axis, keepdims=True)
    s = total.astype(np.float32) * np.float32(2.0 ** -32)
    return e / s


# ---------------------------------------------------------------------- (de)quantization
def quantize(x: np.ndarray, scale: float, lo: int = -128, hi: int = 127,
             zero_point: int = 0) -> np.ndarray:
    """float32 -> int8: ``clip(rint(x / float32(scale)) + zero_point, lo, hi)``."""
    q = np.rint(np.asarray(x, dtype=np.float32) / np.float32(scale))
    return np.clip(q + np.float32(zero_point), lo, hi).astype(np.int8)


def dequantize(q: np.ndarray, scale: float, zero_point: int = 0) -> np.ndarray:
    """int -> float32: ``float32(q - zero_point) * float32(scale)``."""
    return (q.astype(np.int64) - zero_point).astype(np.float32) * np.float32(scale)


def dynamic_quantize(x: np.ndarray) -> tuple[np.ndarray, np.float32, np.uint8]:
    """ONNX DynamicQuantizeLinear, float32 -> uint8 with the scale and zero point computed
    from ``x`` (in float32, as ONNX's reference and onnxruntime compute them)::

        scale = (max(0, max(x)) - min(0, min(x))) / 255     (1 / 255 when that range is 0)
        zero_point = rint(clip(0 - min(0, min(x)) / scale, 0, 255))
        y = clip(rint(x / scale) + zero_point, 0, 255)

    ``rint`` rounds half to even.  Returns ``(y, scale, zero_point)``.
    """
    x = np.asarray(x, dtype=np.float32)
    hi = np.float32(max(np.float32(0), x.max()))
    lo = np.float32(min(np.float32(0), x.min()))
    scale = np.float32(np.float32(1) if hi == lo else hi - lo) / np.float32(255)
    zp = np.rint(np.clip(np.float32(0) - lo / scale, np.float32(0), np.float32(255)))
    y = np.clip(np.rint(x / scale) + zp, np.float32(0), np.float32(255))
    return y.astype(np.uint8), np.float32(scale), np.uint8(zp)


def sub_zero_point(acc: np.ndarray, zero_point: np.ndarray, sums: np.ndarray) -> np.ndarray:
    """``acc - zero_point * sums`` wrapping in int32: a runtime input zero point taken out
    of integer sums (``sums`` holds the weights' sums that each output adds up)."""
    z = np.int64(np.asarray(zero_point).reshape(-1)[0])
    out = np.asarray(acc, np.int64) - z * np.asarray(sums, np.int64)
    return out.astype(np.int32)


def qcast(q: np.ndarray, dtype: str) -> np.ndarray:
    """uint8 -> int8 (``q - 128``) or int8 -> uint8 (``q + 128``): the top bit flipped."""
    q = np.ascontiguousarray(q)
    return (q.view(np.uint8) ^ np.uint8(0x80)).view(np.dtype(dtype))




# ---------------------------------------------------------------------- op table
def _bias(arrays: tuple[np.ndarray, ...], m: int) -> np.ndarray:
    return arrays[2] if len(arrays) > 2 else np.zeros(m, np.int32)


def node_requant(node: Node) -> Requant:
    """The :class:`~vta.compiler.requant.Requant` of a qconv2d/qdense node."""
    try:
        return Requant.from_attrs(node.attrs)
    except OperatorError as e:
        raise ModelError(f"{node.describe()}: {e}") from None


def _batch_norm(node: Node, x: np.ndarray, g: np.ndarray, b: np.ndarray, m: np.ndarray,
                v: np.ndarray) -> np.ndarray:
    # onnxruntime's order, in float32: s = 1 / sqrt(var + eps) * gamma, y = x * s + (beta -
    # mean * s) (the same value as (x - mean) * s + beta, rounded as the peer rounds it).
    eps = np.float32(node.attr("epsilon", 1e-5))
    scale = ((np.float32(1) / np.sqrt(v + eps)) * g).astype(np.float32)
    shift = (b - m * scale).astype(np.float32)
    shape = (1, -1) + (1,) * (x.ndim - 2)
    return x * scale.reshape(shape) + shift.reshape(shape)


def _quantize_linear(node: Node, x: np.ndarray) -> np.ndarray:
    info = np.iinfo(node.attr("dtype", "int8"))
    y = np.rint(x / np.float32(node.attr("scale"))) + node.attr("zero_point", 0)
    return np.clip(y, info.min, info.max).astype(node.attr("dtype", "int8"))


def _dequantize_linear(node: Node, x: np.ndarray) -> np.ndarray:
    return ((x.astype(np.int32) - node.attr("zero_point", 0)).astype(np.float32)
            * np.float32(node.attr("scale")))


def _dense_float(node: Node, x: np.ndarray, w: np.ndarray, *b: np.ndarray) -> np.ndarray:
    out = x @ w.T
    return out + b[0] if b else out


def _qdense(node: Node, x: np.ndarray, w: np.ndarray, *b: np.ndarray) -> np.ndarray:
    x2 = x.reshape(-1, x.shape[-1])
    acc = dense(x2, w, node.attr("x_zero_point", 0))
    y = _requantized(node, acc, _bias((x, w, *b), w.shape[0]))
    return y.reshape(x.shape[:-1] + (w.shape[0],))


def _requantized(node: Node, acc: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """A qconv2d/qdense's output: requantized, or with ``out_dtype="int32"`` the int32
    sums plus the bias (wrapping)."""
    if node.attr("out_dtype", "int8") == "int32":
        axis = 1 if acc.ndim > 2 else -1
        shape = [1] * acc.ndim
        shape[axis] = -1
        return (acc.astype(np.int64) + bias.astype(np.int64).reshape(shape)).astype(np.int32)
    return requantize_channels(acc, bias, node_requant(node))


def _qconv2d(node: Node, x: np.ndarray, w: np.ndarray, *b: np.ndarray) -> np.ndarray:
    acc = conv2d(x, w, node.attr("strides", 1), node.attr("pads", 0),
                 node.attr("dilations", 1), node.attr("groups", 1),
                 x_zero_point=node.attr("x_zero_point", 0))
    return _requantized(node, acc, _bias((x, w, *b), w.shape[0]))


def _qconv_transpose2d(node: Node, x: np.ndarray, w: np.ndarray, *b: np.ndarray
                       ) -> np.ndarray:
    acc = conv_transpose2d(x, w, node.attr("strides", 1), node.attr("pads", 0),
                           node.attr("output_padding", 0), node.attr("dilations", 1),
                           node.attr("groups", 1))
    return requantize(acc, _bias((x, w, *b), acc.shape[1]), node.attr("shift", 0),
                      node.attr("lo", -128), node.attr("hi", 127))


def _qmatmul(node: Node, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return requantize(matmul(a, b), node.attr("offset", 0), node.attr("shift", 0),
                      node.attr("lo", -128), node.attr("hi", 127))


def _pad(node: Node, x: np.ndarray) -> np.ndarray:
    pads = node.attr("pads")
    r = x.ndim
    width = [(pads[i], pads[i + r]) for i in range(r)]
    mode = node.attr("mode", "constant")
    if mode == "constant":
        return np.pad(x, width, constant_values=np.asarray(node.attr("value", 0), x.dtype))
    return np.pad(x, width, mode=mode)


def _slice(node: Node, x: np.ndarray) -> np.ndarray:
    index = tuple(slice(r.start, r.stop if r.stop >= 0 else None, r.step)
                  for r in slice_ranges(node, x.shape))
    return np.ascontiguousarray(x[index])


def _gather(node: Node, x: np.ndarray, idx: np.ndarray) -> np.ndarray:
    axis = node.attr("axis", 0) % x.ndim
    i = idx.astype(np.int64)
    if i.size and (i.min() < -x.shape[axis] or i.max() >= x.shape[axis]):
        raise ModelError(f"{node.describe()}: an index is out of range for "
                         f"{x.shape[axis]} elements")
    if node.attr("scalar_index"):
        i = i.reshape(())
    return np.take(x, np.where(i < 0, i + x.shape[axis], i), axis=axis)


def _pool(n: Node, x: np.ndarray) -> np.ndarray:
    if n.op == "max_pool":
        return max_pool(x, n.attr("kernel"), n.attr("strides"), n.attr("pads", 0),
                        n.attr("dilations", 1), n.attr("ceil_mode", False))
    return avg_pool(x, n.attr("kernel"), n.attr("strides"), n.attr("pads", 0),
                    n.attr("count_include_pad", False), n.attr("dilations", 1),
                    n.attr("ceil_mode", False))


def _axes_of(n: Node, x: np.ndarray) -> tuple[int, ...]:
    axes = n.attr("axes", None)
    return tuple(range(x.ndim)) if axes is None else tuple(sorted(a % x.ndim for a in axes))


OP_IMPLS: dict[str, Callable[..., np.ndarray]] = {
    "conv2d": lambda n, x, w, *b: conv2d_float(x, w, b[0] if b else None,
                                               n.attr("strides", 1), n.attr("pads", 0),
                                               n.attr("dilations", 1), n.attr("groups", 1)),
    "conv_transpose2d": conv_transpose2d_float,
    "dense": _dense_float,
    "batch_norm": _batch_norm,
    "relu": lambda n, x: np.maximum(x, np.float32(0)),
    "clip": lambda n, x: np.clip(x, np.float32(n.attr("lo")), np.float32(n.attr("hi"))),
    "add": lambda n, a, b: a + b,
    "sub": lambda n, a, b: a - b,
    "mul": lambda n, a, b: a * b,
    "div": lambda n, a, b: a / b,
    "pow": lambda n, a, b: np.power(a, b),
    "prelu": lambda n, x, s: np.where(x >= 0, x, x * s),
    **UNARY_IMPLS,
    "softmax": lambda n, x: softmax(x, n.attr("axis", -1)),
    "layer_norm": lambda n, x, g, *b: layer_norm(x, g, b[0] if b else None,
                                                 n.attr("axis", -1), n.attr("epsilon", 1e-5)),
    "matmul": lambda n, a, b: np.matmul(a, b),
    "cast": lambda n, x: x.astype(np.float32),
    "max_pool": _pool,
    "avg_pool": _pool,
    "global_avg_pool": lambda n, x: global_avg_pool(x),
    "global_max_pool": lambda n, x: x.max(axis=tuple(range(2, x.ndim)), keepdims=True),
    "reduce_mean": lambda n, x: reduce_mean(x, _axes_of(n, x), n.attr("keepdims", True)),
    "reduce_max": lambda n, x: x.max(axis=_axes_of(n, x), keepdims=n.attr("keepdims", True)),
    "flatten": lambda n, x: x.reshape(int(np.prod(x.shape[:flatten_axis(n, x.ndim)])), -1),
    "reshape": lambda n, x: x.reshape(n.attr("shape")),
    "concat": lambda n, *xs: np.concatenate(xs, axis=n.attr("axis", 1)),
    "transpose": lambda n, x: np.ascontiguousarray(x.transpose(n.attr("perm"))),
    "pad": _pad,
    "slice": _slice,
    "resize": resize,
    "gather": _gather,
    "quantize_linear": _quantize_linear,
    "dequantize_linear": _dequantize_linear,
    "quantize": lambda n, x: quantize(x, n.attr("scale"), n.attr("lo", -128),
                                      n.attr("hi", 127), n.attr("zero_point", 0)),
    "dequantize": lambda n, x: dequantize(x, n.attr("scale"), n.attr("zero_point", 0)),
    "qcast": lambda n, x: qcast(x, n.attr("dtype")),
    "dynamic_quantize": lambda n, x: np.asarray(
        dynamic_quantize(x)[DYNAMIC_QUANTIZE_PARTS.index(n.attr("part"))]),
    "sub_zero_point": lambda n, acc, z, sums: sub_zero_point(acc, z, sums),
    "qconv2d": _qconv2d,
    "qconv_transpose2d": _qconv_transpose2d,
    "qdense": _qdense,
    "qmatmul": _qmatmul,
    "qlut": lambda n, x, table: table[x.astype(np.int16) + 128],
    "qadd": lambda n, a, b: qadd(a, b, n.attr("lshift_a", 0), n.attr("lshift_b", 0),
                                 n.attr("offset", 0), n.attr("shift", 0),
                                 n.attr("lo", -128), n.attr("hi", 127)),
    "qrescale": lambda n, x: qrescale(x, n.attr("lshift", 0), n.attr("offset", 0),
                                      n.attr("shift", 0), n.attr("lo", -128),
                                      n.attr("hi", 127)),
}
"""``op -> fn(node, *input_arrays) -> output array``: the reference meaning of each op."""


# ---------------------------------------------------------------------- executor
def bind_inputs(graph: Graph, inputs: Mapping[str, np.ndarray] | np.ndarray, *,
                nonfinite: str = "error") -> dict[str, np.ndarray]:
    """Check and convert runtime inputs (a mapping, or one array for a one-input graph).

    Every input passes :func:`.tensor_checks.check_tensor` (real numbers; NaN/inf refused,
    or saturated with ``nonfinite="saturate"``).

    Raises
    ------
    ModelError
        for a missing or unknown input, a wrong shape, non-numeric data or a NaN/inf.
    """
    if not isinstance(inputs, Mapping):
        if len(graph.inputs) != 1:
            raise ModelError(f"graph {graph.name!r} has inputs {list(graph.inputs)}; pass a "
                             "dict of arrays by name")
        inputs = {graph.inputs[0]: inputs}
    unknown = set(inputs) - set(graph.inputs)
    if unknown:
        raise ModelError(f"graph {graph.name!r} has no input {sorted(unknown)[0]!r} "
                         f"(inputs: {list(graph.inputs)})")
    env = {}
    for name in graph.inputs:
        if name not in inputs:
            raise ModelError(f"graph {graph.name!r}: input {name!r} is missing")
        t = graph.types[name]
        arr = check_tensor(f"input {name!r}", inputs[name], nonfinite=nonfinite)
        if arr.shape != t.shape:
            raise ModelError(f"input {name!r} must have shape {list(t.shape)}, "
                             f"not {list(arr.shape)}")
        env[name] = arr.astype(t.dtype, copy=False)
    return env


def run_all(graph: Graph, inputs: Mapping[str, np.ndarray] | np.ndarray,
            impls: Mapping[str, Callable[..., np.ndarray]] | None = None
            ) -> dict[str, np.ndarray]:
    """Run ``graph`` and return every tensor (inputs, params, node outputs) by name.

    ``impls`` overrides op implementations (same signature as :data:`OP_IMPLS`).
    """
    env: dict[str, np.ndarray] = dict(graph.params)
    env.update(bind_inputs(graph, inputs))
    table = dict(OP_IMPLS, **(impls or {}))
    for node in graph.nodes:
        try:
            out = table[node.op](node, *(env[i] for i in node.inputs))
        except ModelError:
            raise
        except (ValueError, TypeError, IndexError) as e:
            raise ModelError(f"{node.describe()} failed: {e}") from None
        t = graph.types[node.output]
        env[node.output] = np.asarray(out).astype(t.dtype, copy=False).reshape(t.shape)
    return env


def run(graph: Graph, inputs: Mapping[str, np.ndarray] | np.ndarray
        ) -> dict[str, np.ndarray]:
    """Run ``graph`` on numpy inputs; returns its outputs by name.

    For a quantized graph this is the exact expected output every backend must match.

    Raises
    ------
    ModelError
        for inputs of the wrong name or shape.
    """
    env = run_all(graph, inputs)
    return {name: env[name] for name in graph.outputs}
