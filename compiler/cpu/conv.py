"""int8 convolution and dense kernels with the fused requantization epilogue.

``qconv2d_kernel`` computes :func:`~vta.compiler.int8_reference.conv2d` then
:func:`~vta.compiler.int8_reference.requantize_channels` exactly: int8 NCHW input minus its
zero point, int8 (or int16) OIHW weights, int32 accumulation with wrap-around, ``+ bias``
(int32, wraps), then the :class:`~vta.compiler.requant.Requant` steps -- ``>> pre_shift``,
the clamp, ``* multiplier + post_offset`` (wrapping), ``>> shift`` (one value or one per
output channel each), clip -- int8 output.  ``qdense_kernel`` is the same kernel on a 1x1
image.

Code shape: weights are repacked at build time to ``[O/VW][KH][KW][C][VW]`` so one vector
load fetches ``VW`` output channels; each output pixel keeps ``VW`` int32 accumulators in
registers, multiplies in int16 (exact: ``|(x - zx) * w| <= 255 * 128``; int16 weights in
int32) and widens to int32.  The window is clipped to the image, so the padding -- the
zero point, a real 0 -- costs nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from llvmlite import ir
from vta.compiler import windows

from ..requant import Requant
from .codegen import I8, I16, I32, ArraySpec, CpuKernel, FunctionBuilder
from .llvm_jit import KernelError

__all__ = ["qconv2d_kernel", "qdense_kernel", "vector_width", "requant_rows", "requant_epilogue",
           "check_requant"]


_REQUANT_STEPS = {"pre_shift": 0, "acc_lo": -(1 << 31), "acc_hi": (1 << 31) - 1,
                  "multiplier": 1, "post_offset": 0, "shift": 0}
"""The :class:`~vta.compiler.requant.Requant` steps a kernel applies, in order, with the
value that makes each a no-op."""


def check_requant(requant: Requant | None, shift: int | Sequence[int], lo: int, hi: int,
                  channels: int) -> Requant:
    """``requant``, or the plain ``>> shift``, clip ``[lo, hi]`` one when None, checked
    against ``channels`` output channels.

    Raises
    ------
    KernelError
        for clip bounds, shifts or a channel count out of range.
    """
    if requant is None:
        if not -128 <= lo <= hi <= 127:
            raise KernelError(f"clip bounds must satisfy -128 <= lo <= hi <= 127, not "
                              f"({lo}, {hi})")
        shifts = np.broadcast_to(np.asarray(shift, dtype=np.int64), (channels,))
        if shifts.min() < 0 or shifts.max() > 31:
            raise KernelError(f"shift must be in [0, 31], not {shift}")
        requant = Requant(shift=tuple(int(v) for v in shifts), lo=lo, hi=hi)
    if requant.channels not in (1, channels):
        raise KernelError(f"requantization has {requant.channels} values per field, expected "
                          f"1 or {channels}")
    return requant


def check_bias(bias: np.ndarray | None, channels: int, kind: str) -> np.ndarray:
    """``bias`` as int32[channels] (zeros when None); a one-line :class:`KernelError` naming
    the ``kind`` of kernel for any other dtype or shape."""
    b = np.zeros(channels, np.int32) if bias is None else np.asarray(bias)
    if b.dtype != np.int32 or b.shape != (channels,):
        raise KernelError(f"{kind} bias must be int32[{channels}], not {b.dtype}{list(b.shape)}")
    return b


def requant_rows(requant: Requant, channels: int, padded: int | None = None) -> np.ndarray:
    """int32 ``[step][channel]`` values of :data:`_REQUANT_STEPS` for ``channels`` output
    channels (zero-filled to ``padded``); shifts of 32 or more act like 31 on int32 values
    (and are poison in LLVM)."""
    rows = np.zeros((len(_REQUANT_STEPS), padded or channels), np.int32)
    for i, (field, neutral) in enumerate(_REQUANT_STEPS.items()):
        values = neutral if getattr(requant, field) is None else \
            requant.vector(field, channels)
        rows[i, :channels] = np.minimum(values, 31) if "shift" in field else values
    return rows


def requant_epilogue(bld: ir.IRBuilder, acc: ir.Value, steps: Sequence[ir.Value], lo: int,
                     hi: int) -> ir.Value:
    """int32 vector ``acc`` (bias added) requantized with the per-lane values ``steps``
    (one vector per row of :func:`requant_rows`), clipped to ``[lo, hi]`` and truncated
    to int8."""
    lanes = acc.type.count
    v32, v8 = ir.VectorType(I32, lanes), ir.VectorType(I8, lanes)
    pre, alo, ahi, mul, post, shr = steps
    v = bld.ashr(acc, pre)
    v = bld.select(bld.icmp_signed(">", v, alo), v, alo)
    v = bld.select(bld.icmp_signed("<", v, ahi), v, ahi)
    v = bld.ashr(bld.add(bld.mul(v, mul), post), shr)
    lov, hiv = ir.Constant(v32, [lo] * lanes), ir.Constant(v32, [hi] * lanes)
    v = bld.select(bld.icmp_signed(">", v, lov), v, lov)
    v = bld.select(bld.icmp_signed("<", v, hiv), v, hiv)
    return bld.trunc(v, v8)


def vector_width(channels: int) -> int:
    """Output channels per vector: 64, or the channel count rounded up to 16."""
    return 64 if channels >= 64 else -(-channels // 16) * 16


def qconv2d_kernel(x_shape: Sequence[int], weight: np.ndarray, bias: np.ndarray | None,
                   strides: int | Sequence[int] = 1, pads: int | Sequence[int] = 0,
                   shift: int | Sequence[int] = 0, lo: int = -128,
                   hi: int = 127, *, requant: Requant | None = None,
                   x_zero_point: int = 0) -> CpuKernel:
    """A kernel ``x -> int8 output`` for one input shape and fixed weights.

    Parameters
    ----------
    x_shape:
        NCHW input shape.
    weight:
        int8 OIHW weights (bound into the kernel).
    bias:
        int32 per-output-channel bias (rounding constant included), or None.
    strides, pads:
        Stride (int or pair) and pads (int, pair, or top, left, bottom, right).
    shift:
        Right shift, one or one per output channel, in [0, 31].
    lo, hi:
        Clip bounds within [-128, 127].
    requant:
        The whole requantization (replaces ``shift``, ``lo`` and ``hi``).
    x_zero_point:
        The input's zero point (int8).

    Raises
    ------
    KernelError
        for wrong dtypes, shapes that do not fit or parameters out of range.
    """
    weight = np.asarray(weight)
    if weight.dtype not in (np.int8, np.int16) or weight.ndim != 4:
        raise KernelError(f"conv weights must be int8 (or int16) OIHW, not {weight.dtype}"
                          f"{list(weight.shape)}")
    if not -128 <= x_zero_point <= 127:
        raise KernelError(f"the input zero point must be an int8 value, not {x_zero_point}")
    if len(x_shape) != 4 or x_shape[1] != weight.shape[1]:
        raise KernelError(f"conv input {list(x_shape)} does not match weights "
                          f"{list(weight.shape)} (NCHW input with C = weight I expected)")
    o, c, kh, kw = weight.shape
    n, _, h, w = x_shape
    try:
        sh, sw = windows.pair(strides, "strides", 1)
        pd = windows.pads(pads)
    except ValueError as e:
        raise KernelError(str(e)) from None
    pt, pl, pb, pr = pd
    oh, ow = windows.window_out(h, kh, sh, pt, pb), windows.window_out(w, kw, sw, pl, pr)
    if oh <= 0 or ow <= 0 or min(pd) < 0:
        raise KernelError(f"conv window {kh}x{kw} stride {(sh, sw)} pads {pd} does not fit "
                          f"input {list(x_shape)}")
    requant = check_requant(requant, shift, lo, hi, o)
    lo, hi = requant.lo, requant.hi
    b = check_bias(bias, o, "conv")

    vw = vector_width(o)
    chunks = -(-o // vw)
    opad = chunks * vw
    wpad = np.zeros((opad, c, kh, kw), weight.dtype)
    wpad[:o] = weight
    # [O/VW][KH][KW][C][VW]
    wpack = np.ascontiguousarray(wpad.reshape(chunks, vw, c, kh, kw).transpose(0, 3, 4, 2, 1))
    bpack = np.zeros(opad, np.int32)
    bpack[:o] = b
    rpack = requant_rows(requant, o, opad)
    steps = _REQUANT_STEPS
    wide = weight.dtype == np.int16
    key = ("qconv2d", tuple(x_shape), weight.shape, str(weight.dtype), (sh, sw), pd, lo, hi,
           int(x_zero_point),
           # weights, bias and requantization values are arguments: kernels are shared
           )

    def gen(name: str) -> str:
        k = FunctionBuilder(name, ["int8", str(weight.dtype), "int32", "int32", "int8"])
        x, wp, bp, rp, out = k.args
        bld = k.b
        v8, v16, v32 = (ir.VectorType(t, vw) for t in (I8, I16, I32))
        zero_mask = ir.Constant(ir.VectorType(I32, vw), [0] * vw)
        acc = k.variable(v32)

        def vload(ptr: ir.Value, index: ir.Value, vty: ir.VectorType) -> ir.Value:
            p = bld.bitcast(bld.gep(ptr, [index], inbounds=True), ir.PointerType(vty))
            return bld.load(p, align=1)

        vw_ty = ir.VectorType(I16 if wide else I8, vw)
        vprod = v32 if wide else v16

        def chunk_body(nn: ir.Value, ch: ir.Value, lanes: int) -> None:
            biasv = vload(bp, k.mul(ch, vw), v32)
            rv = [vload(rp, k.add(k.mul(ch, vw), k.i64(i * opad)), v32)
                  for i in range(len(steps))]
            with k.loop(oh) as oy:
                ys = bld.sub(k.mul(oy, sh), k.i64(pt))
                ky0 = k.smax(bld.sub(k.i64(0), ys), k.i64(0))
                ky1 = k.smin(bld.sub(k.i64(h), ys), k.i64(kh))
                with k.loop(ow) as ox:
                    xs = bld.sub(k.mul(ox, sw), k.i64(pl))
                    kx0 = k.smax(bld.sub(k.i64(0), xs), k.i64(0))
                    kx1 = k.smin(bld.sub(k.i64(w), xs), k.i64(kw))
                    bld.store(ir.Constant(v32, None), acc)
                    with k.loop(ky1, ky0) as ky:
                        with k.loop(kx1, kx0) as kx:
                            xrow = k.add(k.mul(nn, c * h * w), k.mul(bld.add(ys, ky), w),
                                         bld.add(xs, kx))
                            wrow = k.mul(k.add(k.mul(ch, kh * kw), k.mul(ky, kw), kx), c * vw)
                            with k.loop(c) as ci:
                                xv = bld.sext(k.load(x, k.add(xrow, k.mul(ci, h * w))), I16)
                                if x_zero_point:
                                    xv = bld.sub(xv, ir.Constant(I16, x_zero_point))
                                if wide:
                                    xv = bld.sext(xv, I32)
                                xb = bld.shuffle_vector(
                                    bld.insert_element(ir.Constant(vprod, None), xv,
                                                       k.i32(0)),
                                    ir.Constant(vprod, None), zero_mask)
                                wv = bld.sext(vload(wp, k.add(wrow, k.mul(ci, vw)), vw_ty),
                                              vprod)
                                prod = bld.mul(xb, wv)
                                if not wide:
                                    prod = bld.sext(prod, v32)
                                bld.store(bld.add(bld.load(acc), prod), acc)
                    v = requant_epilogue(bld, bld.add(bld.load(acc), biasv), rv, lo, hi)
                    base = k.add(k.mul(bld.add(k.mul(nn, o), k.mul(ch, vw)), oh * ow),
                                 k.mul(oy, ow), ox)
                    for lane in range(lanes):
                        k.store(bld.extract_element(v, k.i32(lane)), out,
                                bld.add(base, k.i64(lane * oh * ow)))

        with k.loop(n) as nn:
            full = o // vw
            if full:
                with k.loop(full) as ch:
                    chunk_body(nn, ch, vw)
            if o % vw:
                chunk_body(nn, k.i64(full), o % vw)
        return k.finish()

    return CpuKernel(key, gen, [ArraySpec(x_shape, "int8")], ArraySpec((n, o, oh, ow), "int8"),
                     consts=[wpack, bpack, rpack])


def qdense_kernel(x_shape: Sequence[int], weight: np.ndarray, bias: np.ndarray | None,
                  shift: int | Sequence[int] = 0, lo: int = -128, hi: int = 127, *,
                  requant: Requant | None = None, x_zero_point: int = 0) -> CpuKernel:
    """``requantize((x - x_zero_point) [N, K] @ weight[M, K].T + bias)`` as int8 ``[N, M]``
    (see :func:`qconv2d_kernel` for the parameters)."""
    weight = np.asarray(weight)
    if len(x_shape) != 2 or weight.ndim != 2 or weight.shape[1] != x_shape[1]:
        raise KernelError(f"dense input {list(x_shape)} does not match weights "
                          f"{list(weight.shape)} ([N, K] x [M, K] expected)")
    n, kdim = x_shape
    conv = qconv2d_kernel((n, kdim, 1, 1), weight.reshape(weight.shape + (1, 1)), bias,
                          1, 0, shift, lo, hi, requant=requant, x_zero_point=x_zero_point)
    return _Reshaped(conv, (n, kdim), (n, weight.shape[0]))


class _Reshaped(CpuKernel):
    """A kernel seen through other (same-size) input and output shapes."""

    def __init__(self, inner: CpuKernel, in_shape: tuple[int, ...],
                 out_shape: tuple[int, ...]) -> None:
        self.__dict__.update(inner.__dict__)
        self.key = ("qdense",) + inner.key[1:]
        self.inputs = (ArraySpec(in_shape, "int8"),)
        self.output = ArraySpec(out_shape, "int8")
