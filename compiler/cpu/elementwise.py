"""Element-wise kernels: quantize, dequantize, int8 residual add, int8 rescale and int8
table lookup.

Semantics are those of :mod:`vta.compiler.frontend.interpreter` (``quantize``,
``dequantize``) and :mod:`vta.compiler.int8_reference` (``qadd``, ``qrescale``), bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from llvmlite import ir

from .codegen import F32, I8, I32, I64, ArraySpec, CpuKernel, FunctionBuilder
from .llvm_jit import KernelError

__all__ = ["quantize_kernel", "dequantize_kernel", "qadd_kernel", "qrescale_kernel",
           "qlut_kernel"]


def _clip_i8(k: FunctionBuilder, v: ir.Value, lo: int, hi: int) -> ir.Value:
    return k.b.trunc(k.smin(k.smax(v, k.i32(lo)), k.i32(hi)), I8)


def _check_clip(lo: int, hi: int) -> None:
    if not -128 <= lo <= hi <= 127:
        raise KernelError(f"clip bounds must satisfy -128 <= lo <= hi <= 127, not ({lo}, {hi})")


def _check_shift(name: str, s: int) -> None:
    if not 0 <= s <= 31:
        raise KernelError(f"{name} must be in [0, 31], not {s}")


def quantize_kernel(shape: Sequence[int], scale: float, lo: int = -128,
                    hi: int = 127, zero_point: int = 0) -> CpuKernel:
    """float32 -> int8: ``clip(rint(x / float32(scale)) + zero_point, lo, hi)`` (a power-of-two
    scale multiplies by its exact inverse instead: the same result)."""
    _check_clip(lo, hi)
    n = math.prod(shape)
    s32 = float(np.float32(scale))
    inverse = float(np.float32(1.0 / s32))
    exact_inverse = np.frexp(s32)[0] == 0.5 and math.isfinite(inverse)
    key = ("quantize", tuple(shape), s32, lo, hi, int(zero_point))

    def gen(name: str) -> str:
        k = FunctionBuilder(name, ["float32", "int8"])
        x, out = k.args
        with k.loop(n) as i:
            if exact_inverse:
                v = k.b.fmul(k.load(x, i), k.f32(inverse))
            else:
                v = k.b.fdiv(k.load(x, i), k.f32(s32))
            v = k.intrinsic("llvm.roundeven.f32", F32, [v])
            if zero_point:
                v = k.b.fadd(v, k.f32(zero_point))
            v = k.b.select(k.b.fcmp_ordered("<", v, k.f32(lo)), k.f32(lo), v)
            v = k.b.select(k.b.fcmp_ordered(">", v, k.f32(hi)), k.f32(hi), v)
            k.store(k.b.fptosi(v, I8), out, i)
        return k.finish()

    return CpuKernel(key, gen, [ArraySpec(shape, "float32")], ArraySpec(shape, "int8"))


def dequantize_kernel(shape: Sequence[int], scale: float, dtype: str = "int8",
                      zero_point: int = 0) -> CpuKernel:
    """int8/int32 -> float32: ``float32(q - zero_point) * float32(scale)``."""
    if dtype not in ("int8", "int32"):
        raise KernelError(f"dequantize takes int8 or int32, not {dtype}")
    n = math.prod(shape)
    key = ("dequantize", tuple(shape), dtype, float(np.float32(scale)), int(zero_point))

    def gen(name: str) -> str:
        k = FunctionBuilder(name, [dtype, "float32"])
        q, out = k.args
        with k.loop(n) as i:
            qi = k.load(q, i)
            if zero_point:   # exact in int64, then one rounding to float32 (as numpy)
                qi = k.b.sub(k.b.sext(qi, I64), ir.Constant(I64, int(zero_point)))
            v = k.b.sitofp(qi, F32)
            k.store(k.b.fmul(v, k.f32(scale)), out, i)
        return k.finish()

    return CpuKernel(key, gen, [ArraySpec(shape, dtype)], ArraySpec(shape, "float32"))


def _requant_tail(k: FunctionBuilder, acc: ir.Value, offset: int, shift: int, lo: int,
                  hi: int) -> ir.Value:
    if offset:
        acc = k.b.add(acc, k.i32(offset))
    if shift:
        acc = k.b.ashr(acc, k.i32(shift))
    return _clip_i8(k, acc, lo, hi)


def qadd_kernel(shape: Sequence[int], lshift_a: int, lshift_b: int, offset: int, shift: int,
                lo: int = -128, hi: int = 127) -> CpuKernel:
    """int8 + int8 -> int8: ``clip((a << la) + (b << lb) + offset >> shift, lo, hi)``
    in wrapping int32 (the residual add of a quantized graph)."""
    _check_clip(lo, hi)
    for nm, s in (("lshift_a", lshift_a), ("lshift_b", lshift_b), ("shift", shift)):
        _check_shift(nm, s)
    n = math.prod(shape)
    key = ("qadd", tuple(shape), lshift_a, lshift_b, offset, shift, lo, hi)

    def gen(name: str) -> str:
        k = FunctionBuilder(name, ["int8", "int8", "int8"])
        a, b, out = k.args
        with k.loop(n) as i:
            va = k.b.shl(k.b.sext(k.load(a, i), I32), k.i32(lshift_a))
            vb = k.b.shl(k.b.sext(k.load(b, i), I32), k.i32(lshift_b))
            k.store(_requant_tail(k, k.b.add(va, vb), offset, shift, lo, hi), out, i)
        return k.finish()

    spec = ArraySpec(shape, "int8")
    return CpuKernel(key, gen, [spec, spec], spec)


def qrescale_kernel(shape: Sequence[int], lshift: int, offset: int, shift: int,
                    lo: int = -128, hi: int = 127) -> CpuKernel:
    """int8 -> int8: ``clip((x << lshift) + offset >> shift, lo, hi)`` in wrapping int32."""
    _check_clip(lo, hi)
    _check_shift("lshift", lshift)
    _check_shift("shift", shift)
    n = math.prod(shape)
    key = ("qrescale", tuple(shape), lshift, offset, shift, lo, hi)

    def gen(name: str) -> str:
        k = FunctionBuilder(name, ["int8", "int8"])
        x, out = k.args
        with k.loop(n) as i:
            v = k.b.shl(k.b.sext(k.load(x, i), I32), k.i32(lshift))
            k.store(_requant_tail(k, v, offset, shift, lo, hi), out, i)
        return k.finish()

    spec = ArraySpec(shape, "int8")
    return CpuKernel(key, gen, [spec], spec)



def qlut_kernel(shape: Sequence[int], table: np.ndarray) -> CpuKernel:
    """int8 -> int8 through a 256-entry table: ``table[x + 128]`` (the quantizer's
    tabulated element-wise chains)."""
    table = np.asarray(table)
    if table.dtype != np.int8 or table.shape != (256,):
        raise KernelError(f"a lookup table must be int8[256], not {table.dtype}"
                          f"{list(table.shape)}")
    n = math.prod(shape)
    key = ("qlut", tuple(shape))

    def gen(name: str) -> str:
        k = FunctionBuilder(name, ["int8", "int8", "int8"])
        x, t, out = k.args
        with k.loop(n) as i:
            idx = k.b.add(k.b.sext(k.load(x, i), ir.IntType(64)), k.i64(128))
            k.store(k.load(t, idx), out, i)
        return k.finish()

    spec = ArraySpec(shape, "int8")
    return CpuKernel(key, gen, [spec], spec, consts=[table])
