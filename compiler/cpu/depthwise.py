"""int8 depthwise convolution (one input channel per group) with the fused requantization.

``qdepthwise_kernel`` computes :func:`~vta.compiler.int8_reference.conv2d` with ``groups ==
C`` (weight ``(C * m, 1, KH, KW)``: output channel ``o`` reads input channel ``o // m``)
then :func:`~vta.compiler.int8_reference.requantize_channels` exactly, with the same
arguments as :func:`~vta.compiler.cpu.conv.qconv2d_kernel` plus dilation: int8 NCHW input
minus its zero point, int8 (or int16) weights, int32 sums with wrap-around, ``+ bias``,
then the :class:`~vta.compiler.requant.Requant` steps, int8 output.

Code shape: the grouped GEMM of :mod:`~vta.compiler.cpu.conv` has nothing to reduce over
here (one input channel per output), so the vectors run along an output row instead:
``VW`` neighbouring outputs of one channel, one multiply-add per tap.  Each input plane is
first copied into a stack buffer whose border holds the zero point (a real 0 once
subtracted), so the taps need no bounds checks; with a stride ``s``, a tap loads
``s * VW`` bytes and keeps every ``s``-th.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from llvmlite import ir
from vta.compiler import windows

from ..requant import Requant
from .codegen import I8, I16, I32, ArraySpec, CpuKernel, FunctionBuilder
from .conv import check_bias, check_requant, requant_epilogue, requant_rows
from .llvm_jit import KernelError

__all__ = ["qdepthwise_kernel", "supports", "MAX_PLANE_BYTES", "LANES"]

LANES = 16
"""Outputs of one row computed per vector."""

MAX_PLANE_BYTES = 1 << 20
"""Largest padded input plane the kernel copies to the stack (larger images run on the
reference)."""


def _plane(h: int, w: int, kh: int, kw: int, strides: tuple[int, int],
           dilations: tuple[int, int], pads: tuple[int, int, int, int]) -> tuple[int, int]:
    """Rows and columns of the padded input plane: every tap of every vector of outputs
    (the lanes past a short last one included) reads inside it."""
    (sh, sw), (dh, dw), (pt, pl, pb, pr) = strides, dilations, pads
    oh = windows.window_out(h, kh, sh, pt, pb, dh)
    chunks = -(-windows.window_out(w, kw, sw, pl, pr, dw) // LANES)
    return (max(pt + h + pb, (oh - 1) * sh + (kh - 1) * dh + 1),
            max(pl + w + pr, chunks * LANES * sw + (kw - 1) * dw))


def supports(x_shape: Sequence[int], weight_shape: Sequence[int], groups: int,
             strides: int | Sequence[int] = 1, pads: int | Sequence[int] = 0,
             dilations: int | Sequence[int] = 1) -> bool:
    """Whether :func:`qdepthwise_kernel` runs this grouped convolution: one input channel
    per group and a padded plane within :data:`MAX_PLANE_BYTES`."""
    if len(x_shape) != 4 or len(weight_shape) != 4 or groups != x_shape[1] \
            or weight_shape[1] != 1 or weight_shape[0] % groups:
        return False
    try:
        ph, pw = _plane(x_shape[2], x_shape[3], weight_shape[2], weight_shape[3],
                        windows.pair(strides), windows.pair(dilations), windows.pads(pads))
    except ValueError:
        return False
    return ph * pw <= MAX_PLANE_BYTES


def qdepthwise_kernel(x_shape: Sequence[int], weight: np.ndarray, bias: np.ndarray | None,
                      strides: int | Sequence[int] = 1, pads: int | Sequence[int] = 0,
                      dilations: int | Sequence[int] = 1, shift: int | Sequence[int] = 0,
                      lo: int = -128, hi: int = 127, *, requant: Requant | None = None,
                      x_zero_point: int = 0) -> CpuKernel:
    """A kernel ``x -> int8 output`` for one NCHW input shape and fixed depthwise weights
    ``(C * m, 1, KH, KW)`` (see :func:`~vta.compiler.cpu.conv.qconv2d_kernel` for the
    other parameters; ``dilations`` an int or a pair).

    Raises
    ------
    KernelError
        for wrong dtypes, shapes that are not depthwise or do not fit, a padded plane
        above :data:`MAX_PLANE_BYTES`, or parameters out of range.
    """
    weight = np.asarray(weight)
    if weight.dtype not in (np.int8, np.int16) or weight.ndim != 4 or weight.shape[1] != 1:
        raise KernelError(f"depthwise weights must be int8 (or int16) (C*m, 1, KH, KW), not "
                          f"{weight.dtype}{list(weight.shape)}")
    if not -128 <= x_zero_point <= 127:
        raise KernelError(f"the input zero point must be an int8 value, not {x_zero_point}")
    if len(x_shape) != 4 or weight.shape[0] % max(1, x_shape[1]):
        raise KernelError(f"depthwise input {list(x_shape)} does not match weights "
                          f"{list(weight.shape)} (NCHW input, output channels a multiple "
                          "of C expected)")
    o, _, kh, kw = weight.shape
    n, c, h, w = x_shape
    mult = o // c
    try:
        sh, sw = windows.pair(strides, "strides", 1)
        dh, dw = windows.pair(dilations, "dilations", 1)
        pd = windows.pads(pads)
    except ValueError as e:
        raise KernelError(str(e)) from None
    pt, pl, pb, pr = pd
    oh = windows.window_out(h, kh, sh, pt, pb, dh)
    ow = windows.window_out(w, kw, sw, pl, pr, dw)
    if oh <= 0 or ow <= 0 or min(pd) < 0:
        raise KernelError(f"depthwise window {kh}x{kw} stride {(sh, sw)} dilation "
                          f"{(dh, dw)} pads {pd} does not fit input {list(x_shape)}")
    requant = check_requant(requant, shift, lo, hi, o)
    lo, hi = requant.lo, requant.hi
    b = check_bias(bias, o, "depthwise")

    vw = LANES
    full, tail = divmod(ow, vw)
    ph, pw = _plane(h, w, kh, kw, (sh, sw), (dh, dw), pd)
    if ph * pw > MAX_PLANE_BYTES:
        raise KernelError(f"depthwise input plane {ph}x{pw} (padded) is above "
                          f"{MAX_PLANE_BYTES} bytes")
    wide = weight.dtype == np.int16
    taps = np.ascontiguousarray(weight.reshape(o, kh * kw))
    rpack = requant_rows(requant, o)
    key = ("qdepthwise", tuple(x_shape), weight.shape, str(weight.dtype), (sh, sw), (dh, dw),
           pd, lo, hi, int(x_zero_point))

    def gen(name: str) -> str:
        k = FunctionBuilder(name, ["int8", str(weight.dtype), "int32", "int32", "int8"])
        x, wp, bp, rp, out = k.args
        bld = k.b
        prod_ty = I32 if wide else I16
        vprod, v32, v8 = (ir.VectorType(t, vw) for t in (prod_ty, I32, I8))
        with bld.goto_entry_block():
            plane = bld.alloca(ir.ArrayType(I8, ph * pw))
        pbase = bld.bitcast(plane, ir.PointerType(I8))
        zp8 = ir.Constant(I8, x_zero_point)
        with k.loop(ph * pw) as i:                   # the border: the zero point
            k.store(zp8, pbase, i)
        zpv = ir.Constant(vprod, [x_zero_point] * vw)

        def splat(value: ir.Value, vty: ir.VectorType) -> ir.Value:
            one = bld.insert_element(ir.Constant(vty, None), value, k.i32(0))
            return bld.shuffle_vector(one, ir.Constant(vty, None),
                                      ir.Constant(ir.VectorType(I32, vw), [0] * vw))

        def vload(ptr: ir.Value, index: ir.Value, lanes: int) -> ir.Value:
            p = bld.bitcast(bld.gep(ptr, [index], inbounds=True),
                            ir.PointerType(ir.VectorType(I8, lanes)))
            return bld.load(p, align=1)

        def row_chunk(o_idx: ir.Value, oy: ir.Value, x0: ir.Value, wv: list[ir.Value],
                      biasv: ir.Value, rv: list[ir.Value], lanes: int) -> None:
            """Outputs ``x0 .. x0 + lanes`` of row ``oy`` of channel ``o_idx``."""
            acc = ir.Constant(v32, None)
            for ky in range(kh):
                row = k.mul(bld.add(k.mul(oy, sh), k.i64(ky * dh)), pw)
                for kx in range(kw):
                    at = k.add(row, k.mul(x0, sw), k.i64(kx * dw))
                    xv = vload(pbase, at, vw * sw)
                    if sw > 1:
                        xv = bld.shuffle_vector(xv, ir.Constant(xv.type, None), ir.Constant(
                            ir.VectorType(I32, vw), [i * sw for i in range(vw)]))
                    xv = bld.sext(xv, vprod)
                    if x_zero_point:
                        xv = bld.sub(xv, zpv)
                    prod = bld.mul(xv, wv[ky * kw + kx])
                    acc = bld.add(acc, prod if wide else bld.sext(prod, v32))
            v = requant_epilogue(bld, bld.add(acc, biasv), rv, lo, hi)
            base = k.add(k.mul(o_idx, oh * ow), k.mul(oy, ow), x0)
            if lanes == vw:
                p = bld.bitcast(bld.gep(out, [base], inbounds=True), ir.PointerType(v8))
                bld.store(v, p, align=1)
            else:
                for lane in range(lanes):
                    k.store(bld.extract_element(v, k.i32(lane)), out,
                            bld.add(base, k.i64(lane)))

        with k.loop(n) as nn:
            with k.loop(c) as ci:
                src = k.mul(k.add(k.mul(nn, c), ci), h * w)
                with k.loop(h) as iy:                # the plane's interior
                    with k.loop(w) as ix:
                        v = k.load(x, k.add(src, k.mul(iy, w), ix))
                        k.store(v, pbase, k.add(k.mul(bld.add(iy, k.i64(pt)), pw),
                                                k.i64(pl), ix))
                with k.loop(mult) as j:
                    oc = bld.add(k.mul(ci, mult), j)
                    o_idx = bld.add(k.mul(nn, o), oc)
                    wv = [splat(bld.sext(k.load(wp, k.add(k.mul(oc, kh * kw), k.i64(t))),
                                         prod_ty), vprod) for t in range(kh * kw)]
                    biasv = splat(k.load(bp, oc), v32)
                    rv = [splat(k.load(rp, k.add(oc, k.i64(i * o))), v32)
                          for i in range(rpack.shape[0])]
                    with k.loop(oh) as oy:
                        if full:
                            with k.loop(full) as xc:
                                row_chunk(o_idx, oy, k.mul(xc, vw), wv, biasv, rv, vw)
                        if tail:
                            row_chunk(o_idx, oy, k.i64(full * vw), wv, biasv, rv, tail)
        return k.finish()

    return CpuKernel(key, gen, [ArraySpec(x_shape, "int8")], ArraySpec((n, o, oh, ow), "int8"),
                     consts=[taps, b, rpack])
