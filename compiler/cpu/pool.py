"""Pooling kernels over NCHW: max pool (int8, float32), average pool and global average
pool (int8), with the semantics of :mod:`vta.compiler.frontend.interpreter`.

Windows are clipped to the image, so padding never wins a max; the int8 average divides
by the window count (or ``kh * kw`` with ``count_include_pad``) rounding half up:
``floor((sum + count // 2) / count)``.
"""

from __future__ import annotations

from collections.abc import Sequence

from llvmlite import ir
from vta.compiler import windows

from .codegen import I8, I32, ArraySpec, CpuKernel, FunctionBuilder
from .llvm_jit import KernelError

__all__ = ["max_pool_kernel", "avg_pool_kernel", "global_avg_pool_kernel"]


def _geometry(shape: Sequence[int], kernel: Sequence[int], strides: Sequence[int],
              pads: Sequence[int]) -> tuple[int, ...]:
    if len(shape) != 4:
        raise KernelError(f"pooling takes NCHW input, not shape {list(shape)}")
    n, c, h, w = shape
    kh, kw = kernel
    sh, sw = strides
    pt, pl, pb, pr = pads
    oh, ow = windows.window_out(h, kh, sh, pt, pb), windows.window_out(w, kw, sw, pl, pr)
    if oh <= 0 or ow <= 0 or max(pt, pb) >= kh or max(pl, pr) >= kw:
        raise KernelError(f"pooling window {kernel} stride {strides} pads {pads} does not "
                          f"fit input {list(shape)}")
    return n * c, h, w, kh, kw, sh, sw, pt, pl, oh, ow


def _floordiv_round(k: FunctionBuilder, total: ir.Value, count: ir.Value) -> ir.Value:
    """``floor((total + count // 2) / count)`` for ``count > 0`` (i32)."""
    num = k.b.add(total, k.b.ashr(count, k.i32(1)))
    q = k.b.sdiv(num, count)
    r = k.b.srem(num, count)
    neg = k.b.and_(k.b.icmp_signed("!=", r, k.i32(0)), k.b.icmp_signed("<", r, k.i32(0)))
    return k.b.sub(q, k.b.zext(neg, I32))


def _window_loops(k: FunctionBuilder, geo: tuple[int, ...], body: object) -> None:
    """Loop planes, output rows and columns; call ``body(plane, oy, ox, y0, y1, x0, x1)``
    with the clipped input window ``[y0, y1) x [x0, x1)``."""
    planes, h, w, kh, kw, sh, sw, pt, pl, oh, ow = geo
    with k.loop(planes) as p:
        with k.loop(oh) as oy:
            ys = k.b.sub(k.mul(oy, sh), k.i64(pt))
            y0, y1 = k.smax(ys, k.i64(0)), k.smin(k.b.add(ys, k.i64(kh)), k.i64(h))
            with k.loop(ow) as ox:
                xs = k.b.sub(k.mul(ox, sw), k.i64(pl))
                x0, x1 = k.smax(xs, k.i64(0)), k.smin(k.b.add(xs, k.i64(kw)), k.i64(w))
                body(p, oy, ox, y0, y1, x0, x1)  # type: ignore[operator]


def max_pool_kernel(shape: Sequence[int], kernel: Sequence[int], strides: Sequence[int],
                    pads: Sequence[int], dtype: str = "int8") -> CpuKernel:
    """Max pooling of an NCHW ``dtype`` (int8 or float32) tensor; pads (t, l, b, r)."""
    if dtype not in ("int8", "float32"):
        raise KernelError(f"max pool takes int8 or float32, not {dtype}")
    geo = _geometry(shape, kernel, strides, pads)
    planes, h, w, *_, oh, ow = geo
    key = ("max_pool", tuple(shape), dtype, tuple(kernel), tuple(strides), tuple(pads))

    def gen(name: str) -> str:
        k = FunctionBuilder(name, [dtype, dtype])
        x, out = k.args
        ety = x.type.pointee

        def body(p, oy, ox, y0, y1, x0, x1):  # noqa: ANN001, ANN202
            acc = k.variable(ety, k.load(x, k.add(k.mul(p, h * w), k.mul(y0, w), x0)))
            with k.loop(y1, y0) as iy:
                row = k.add(k.mul(p, h * w), k.mul(iy, w))
                with k.loop(x1, x0) as ix:
                    v, m = k.load(x, k.b.add(row, ix)), k.b.load(acc)
                    gt = (k.b.icmp_signed(">", v, m) if dtype == "int8"
                          else k.b.fcmp_ordered(">", v, m))
                    k.b.store(k.b.select(gt, v, m), acc)
            k.store(k.b.load(acc), out, k.add(k.mul(p, oh * ow), k.mul(oy, ow), ox))

        _window_loops(k, geo, body)
        return k.finish()

    n, c = shape[:2]
    return CpuKernel(key, gen, [ArraySpec(shape, dtype)], ArraySpec((n, c, oh, ow), dtype))


def avg_pool_kernel(shape: Sequence[int], kernel: Sequence[int], strides: Sequence[int],
                    pads: Sequence[int], count_include_pad: bool = False) -> CpuKernel:
    """int8 average pooling of an NCHW tensor (rounded division, see module docstring)."""
    geo = _geometry(shape, kernel, strides, pads)
    planes, h, w, kh, kw, *_, oh, ow = geo
    key = ("avg_pool", tuple(shape), tuple(kernel), tuple(strides), tuple(pads),
           bool(count_include_pad))

    def gen(name: str) -> str:
        k = FunctionBuilder(name, ["int8", "int8"])
        x, out = k.args

        def body(p, oy, ox, y0, y1, x0, x1):  # noqa: ANN001, ANN202
            acc = k.variable(I32, k.i32(0))
            with k.loop(y1, y0) as iy:
                row = k.add(k.mul(p, h * w), k.mul(iy, w))
                with k.loop(x1, x0) as ix:
                    v = k.b.sext(k.load(x, k.b.add(row, ix)), I32)
                    k.b.store(k.b.add(k.b.load(acc), v), acc)
            if count_include_pad:
                count = k.i32(kh * kw)
            else:
                count = k.b.trunc(k.b.mul(k.b.sub(y1, y0), k.b.sub(x1, x0)), I32)
            q = _floordiv_round(k, k.b.load(acc), count)
            k.store(k.b.trunc(q, I8), out, k.add(k.mul(p, oh * ow), k.mul(oy, ow), ox))

        _window_loops(k, geo, body)
        return k.finish()

    n, c = shape[:2]
    return CpuKernel(key, gen, [ArraySpec(shape, "int8")], ArraySpec((n, c, oh, ow), "int8"))


def global_avg_pool_kernel(shape: Sequence[int]) -> CpuKernel:
    """int8 global average pooling: NCHW -> NC11, rounded division by ``H * W``."""
    if len(shape) != 4:
        raise KernelError(f"global average pool takes NCHW input, not {list(shape)}")
    n, c, h, w = shape
    key = ("global_avg_pool", tuple(shape))

    def gen(name: str) -> str:
        k = FunctionBuilder(name, ["int8", "int8"])
        x, out = k.args
        acc = k.variable(I32)
        with k.loop(n * c) as p:
            k.b.store(k.i32(0), acc)
            with k.loop(h * w) as i:
                v = k.b.sext(k.load(x, k.add(k.mul(p, h * w), i)), I32)
                k.b.store(k.b.add(k.b.load(acc), v), acc)
            q = _floordiv_round(k, k.b.load(acc), k.i32(h * w))
            k.store(k.b.trunc(q, I8), out, p)
        return k.finish()

    return CpuKernel(key, gen, [ArraySpec(shape, "int8")], ArraySpec((n, c, 1, 1), "int8"))
