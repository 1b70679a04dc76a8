"""Layout kernels: ``NCHW <-> NCHW{b}n{c}c`` packing for the accelerator.

Byte for byte the layouts of :mod:`vta.runtime.layout`: packed shape
``(ceil(N/b), ceil(C/c), H, W, b, c)``, batch and channels zero-padded; unpacking crops.
Weights ``OIHW -> OIHW{o}o{i}i`` are the same transform (``b = BLOCK_OUT``,
``c = BLOCK_IN``), so :func:`pack_kernel` serves both.
"""

from __future__ import annotations

from collections.abc import Sequence

from llvmlite import ir

from .codegen import I8, I32, ArraySpec, CpuKernel, FunctionBuilder, ir_type
from .llvm_jit import KernelError

__all__ = ["pack_kernel", "unpack_kernel", "packed_shape"]

_RUN = 16
"""Pixels of one row a blocked transpose moves per step (see :func:`_blocked`)."""


def _blocked(shape: Sequence[int], batch: int, block: int, dtype: str) -> bool:
    """Whether the vector path applies: bytes, batch 1, whole power-of-two channel blocks
    of at most 64.  It moves ``block`` channels x ``_RUN`` pixels of one row as one
    ``block x _RUN`` byte transpose (one shuffle) instead of byte by byte."""
    return (dtype in ("int8", "uint8") and batch == 1 and 0 < block <= 64
            and block & (block - 1) == 0 and shape[1] % block == 0)


def _concat(bld: ir.IRBuilder, vectors: list[ir.Value]) -> ir.Value:
    """One vector of ``vectors`` (a power-of-two count of equal vectors) end to end."""
    while len(vectors) > 1:
        n = vectors[0].type.count
        mask = ir.Constant(ir.VectorType(I32, 2 * n), list(range(2 * n)))
        vectors = [bld.shuffle_vector(vectors[i], vectors[i + 1], mask)
                   for i in range(0, len(vectors), 2)]
    return vectors[0]


def _vector_at(k: FunctionBuilder, ptr: ir.Value, index: ir.Value, lanes: int) -> ir.Value:
    """A pointer to ``lanes`` bytes at ``ptr[index]``."""
    p = k.b.gep(ptr, [index], inbounds=True)
    return k.b.bitcast(p, ir.PointerType(ir.VectorType(I8, lanes)))


def _transpose_mask(rows: int, cols: int) -> ir.Constant:
    """Shuffle mask of a row-major ``rows x cols`` matrix to its transpose."""
    return ir.Constant(ir.VectorType(I32, rows * cols),
                       [(j % rows) * cols + j // rows for j in range(rows * cols)])


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
    if _blocked(shape, batch, block, dtype):
        return CpuKernel(key + ("blocked",), lambda name: _pack_blocked(name, shape, block),
                         [ArraySpec(shape, dtype)], ArraySpec((nb, cb, h, w, b, c), dtype))

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


def _pack_blocked(name: str, shape: Sequence[int], c: int) -> str:
    """The vector path of :func:`pack_kernel` (:func:`_blocked`)."""
    n, ch, h, w = shape
    cb = ch // c
    full = w // _RUN
    k = FunctionBuilder(name, ["int8", "int8"])
    x, out = k.args
    bld = k.b
    mask = _transpose_mask(c, _RUN)
    with k.loop(n) as nn, k.loop(cb) as i1, k.loop(h) as yy:
        ibase = k.mul(k.add(k.mul(k.add(k.mul(nn, ch), k.mul(i1, c)), h), yy), w)
        obase = k.mul(k.add(k.mul(k.add(k.mul(nn, cb), i1), h), yy), w * c)
        with k.loop(full) as xc:
            rows = [bld.load(_vector_at(k, x, k.add(ibase, k.i64(ci * h * w),
                                                    k.mul(xc, _RUN)), _RUN), align=1)
                    for ci in range(c)]
            v = _concat(bld, rows)
            t = bld.shuffle_vector(v, ir.Constant(v.type, None), mask)
            bld.store(t, _vector_at(k, out, k.add(obase, k.mul(xc, _RUN * c)), _RUN * c),
                      align=1)
        with k.loop(w, full * _RUN) as xx, k.loop(c) as ci:     # the last pixels
            k.store(k.load(x, k.add(ibase, k.mul(ci, h * w), xx)), out,
                    k.add(obase, k.mul(xx, c), ci))
    return k.finish()


def _unpack_blocked(name: str, packed: Sequence[int]) -> str:
    """The vector path of :func:`unpack_kernel` (:func:`_blocked`, no cropping)."""
    nb, cb, h, w, _, c = packed
    ch = cb * c
    full = w // _RUN
    k = FunctionBuilder(name, ["int8", "int8"])
    x, out = k.args
    bld = k.b
    mask = _transpose_mask(_RUN, c)
    with k.loop(nb) as nn, k.loop(cb) as i1, k.loop(h) as yy:
        obase = k.mul(k.add(k.mul(k.add(k.mul(nn, ch), k.mul(i1, c)), h), yy), w)
        ibase = k.mul(k.add(k.mul(k.add(k.mul(nn, cb), i1), h), yy), w * c)
        with k.loop(full) as xc:
            v = bld.load(_vector_at(k, x, k.add(ibase, k.mul(xc, _RUN * c)), _RUN * c),
                         align=1)
            t = bld.shuffle_vector(v, ir.Constant(v.type, None), mask)
            for ci in range(c):
                row = bld.shuffle_vector(t, ir.Constant(t.type, None), ir.Constant(
                    ir.VectorType(I32, _RUN), list(range(ci * _RUN, (ci + 1) * _RUN))))
                bld.store(row, _vector_at(k, out, k.add(obase, k.i64(ci * h * w),
                                                        k.mul(xc, _RUN)), _RUN), align=1)
        with k.loop(w, full * _RUN) as xx, k.loop(c) as ci:     # the last pixels
            k.store(k.load(x, k.add(ibase, k.mul(xx, c), ci)), out,
                    k.add(obase, k.mul(ci, h * w), xx))
    return k.finish()


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
    if n == nb * b and c == cb * blk and _blocked((n, c, h, w), b, blk, dtype):
        return CpuKernel(key + ("blocked",), lambda name: _unpack_blocked(name, packed),
                         [ArraySpec(packed, dtype)], ArraySpec((n, c, h, w), dtype))

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
