"""Layout kernels: ``NCHW <-> NCHW{b}n{c}c`` packing for the accelerator.

Byte for byte the layouts of :mod:`vta.runtime.layout`: packed shape
``(ceil(N/b), ceil(C/c), H, W, b, c)``, batch and channels zero-padded; unpacking crops.
Weights ``OIHW -> OIHW{o}o{i}i`` are the same transform (``b = BLOCK_OUT``,
``c = BLOCK_IN``), so :func:`pack_kernel` serves both.
"""

from __future__ import annotations

from collections.abc import Sequence

from .codegen import ArraySpec, CpuKernel, FunctionBuilder, ir_type
from .llvm_jit import KernelError

__all__ = ["pack_kernel", "unpack_kernel", "packed_shape"]


def packed_shape(shape: Sequence[int], batch: int, block: int) -> tuple[int, ...]:
    """The packed shape of an NCHW ``shape``."""
    if len(shape) != 4:
        raise KernelError(f"packing takes a 4-D NCHW/OIHW shape, not {list(shape)}")
    if batch <= 0 or block <= 0:
        raise KernelError(f"batch and block must be positive, not {batch} and {block}")
    n, c, h, w = shape
    return (-(-n // batch), -(-c // block), h, w, batch, block)


def pack_kernel(shape: Sequence[int], batch: int, block: int,
                dtype: str = "int8") -> CpuKernel:
    """NCHW ``shape`` -> ``(N/b, C/c, H, W, b, c)`` with zero padding."""
    nb, cb, h, w, b, c = packed_shape(shape, batch, block)
    n, ch = shape[0], shape[1]
    key = ("pack", tuple(shape), batch, block, dtype)

    def gen(name: str) -> str:
        k = FunctionBuilder(name, [dtype, dtype])
        x, out = k.args
        bld = k.b
        zero = ir_type(dtype)(0) if dtype != "float32" else k.f32(0.0)
        # Walk the output in order; rows (n, c) beyond the input are zero.
        with k.loop(nb) as i0, k.loop(cb) as i1, k.loop(h) as yy, k.loop(w) as xx, \
                k.loop(b) as bi:
            nn = bld.add(k.mul(i0, b), bi)
            obase = k.mul(k.add(k.mul(k.add(k.mul(k.add(k.mul(i0, cb), i1), h), yy), w), xx),
                          b * c)
            obase = bld.add(obase, k.mul(bi, c))
            with k.loop(c) as ci:
                cc = bld.add(k.mul(i1, c), ci)
                inside = bld.and_(bld.icmp_signed("<", nn, k.i64(n)),
                                  bld.icmp_signed("<", cc, k.i64(ch)))
                src = k.add(k.mul(k.add(k.mul(k.add(k.mul(nn, ch), cc), h), yy), w), xx)
                src = bld.select(inside, src, k.i64(0))
                v = bld.select(inside, k.load(x, src), zero)
                k.store(v, out, bld.add(obase, ci))
        return k.finish()

    return CpuKernel(key, gen, [ArraySpec(shape, dtype)],
                     ArraySpec((nb, cb, h, w, b, c), dtype))


def unpack_kernel(packed: Sequence[int], n: int | None = None, c: int | None = None,
                  dtype: str = "int8") -> CpuKernel:
    """``(N/b, C/c, H, W, b, c)`` -> NCHW, cropped to ``n`` and ``c`` when given."""
    if len(packed) != 6:
        raise KernelError(f"unpacking takes a 6-D packed shape, not {list(packed)}")
    nb, cb, h, w, b, blk = packed
    n = nb * b if n is None else n
    c = cb * blk if c is None else c
    if not (0 < n <= nb * b and 0 < c <= cb * blk):
        raise KernelError(f"cannot crop packed {list(packed)} to N={n}, C={c}")
    key = ("unpack", tuple(packed), n, c, dtype)

    def gen(name: str) -> str:
        k = FunctionBuilder(name, [dtype, dtype])
        x, out = k.args
        bld = k.b
        with k.loop(n) as nn, k.loop(c) as cc, k.loop(h) as yy:
            i0, bi = bld.sdiv(nn, k.i64(b)), bld.srem(nn, k.i64(b))
            i1, ci = bld.sdiv(cc, k.i64(blk)), bld.srem(cc, k.i64(blk))
            obase = k.mul(k.add(k.mul(k.add(k.mul(nn, c), cc), h), yy), w)
            sbase = k.add(k.mul(k.add(k.mul(k.add(k.mul(i0, cb), i1), h), yy), w * b * blk),
                          k.mul(bi, blk), ci)
            with k.loop(w) as xx:
                k.store(k.load(x, k.add(sbase, k.mul(xx, b * blk))), out, bld.add(obase, xx))
        return k.finish()

    return CpuKernel(key, gen, [ArraySpec(packed, dtype)], ArraySpec((n, c, h, w), dtype))
