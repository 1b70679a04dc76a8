"""float32 layer normalization over the last axis, bit-exact with
:func:`vta.compiler.frontend.interpreter.layer_norm`: float64 arithmetic, each sum in
:data:`~vta.compiler.frontend.interpreter.NORM_LANES` vector lanes then the lanes in order
(the reference's summation order, so the vector code is exact, not reassociated)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from llvmlite import ir
from vta.compiler.frontend.interpreter import NORM_LANES

from .codegen import F32, ArraySpec, CpuKernel, FunctionBuilder
from .llvm_jit import KernelError

__all__ = ["layer_norm_kernel"]

F64 = ir.DoubleType()
V64 = ir.VectorType(F64, NORM_LANES)
V32 = ir.VectorType(F32, NORM_LANES)


def layer_norm_kernel(shape: Sequence[int], axis: int, scale: np.ndarray,
                      bias: np.ndarray | None, epsilon: float) -> CpuKernel:
    """``x -> layer_norm(x)`` for float32 ``x`` of ``shape``, normalized over the axes from
    ``axis`` on (scale and bias, float32 of those axes, bound into the kernel).

    Raises
    ------
    KernelError
        for a scale or bias of the wrong size.
    """
    axis %= len(shape)
    rows, n = math.prod(shape[:axis]), math.prod(shape[axis:])
    scale = np.asarray(scale, np.float32).reshape(-1)
    consts = [scale] + ([np.asarray(bias, np.float32).reshape(-1)] if bias is not None else [])
    if any(c.size != n for c in consts):
        raise KernelError(f"layer norm over {n} values needs a scale and bias of {n}")
    eps = float(np.float32(epsilon))
    key = ("layer_norm", tuple(shape), axis, eps, bias is not None,
           scale.tobytes(), consts[-1].tobytes())
    full, rem = divmod(n, NORM_LANES)

    def gen(name: str) -> str:
        k = FunctionBuilder(name, ["float32"] * (2 + len(consts)))
        x, g = k.args[0], k.args[1]
        bvec = k.args[2] if bias is not None else None
        out = k.args[-1]
        b = k.b
        zero = ir.Constant(V64, [0.0] * NORM_LANES)
        acc = k.variable(V64)

        def vload(ptr: ir.Value, index: ir.Value) -> ir.Value:
            p = b.bitcast(b.gep(ptr, [index], inbounds=True), V32.as_pointer())
            return b.fpext(b.load(p, align=4), V64)

        def lane(i: int) -> ir.Constant:
            return ir.Constant(ir.IntType(32), i)

        def lane_total(mean: tuple[ir.Value, ir.Value] | None, base: ir.Value) -> ir.Value:
            """Sum over the row at ``base`` of x, or of (x - mean)^2 given the mean as
            (scalar, vector), in lanes then the lanes in order."""
            def term(v: ir.Value, m: ir.Value | None) -> ir.Value:
                if m is None:
                    return v
                d = b.fsub(v, m)
                return b.fmul(d, d)

            b.store(zero, acc)
            with k.loop(full) as j:
                idx = b.add(base, k.mul(j, NORM_LANES))
                b.store(b.fadd(b.load(acc), term(vload(x, idx), mean and mean[1])), acc)
            if rem:    # a short last group: the missing lanes add 0.0, as in the reference
                tail = zero
                for i in range(rem):
                    v = b.fpext(k.load(x, b.add(base, k.i64(full * NORM_LANES + i))), F64)
                    tail = b.insert_element(tail, term(v, mean and mean[0]), lane(i))
                b.store(b.fadd(b.load(acc), tail), acc)
            lanes = b.load(acc)
            total = b.extract_element(lanes, lane(0))
            for i in range(1, NORM_LANES):
                total = b.fadd(total, b.extract_element(lanes, lane(i)))
            return total

        with k.loop(rows) as r:
            base = k.mul(r, n)
            mean = b.fdiv(lane_total(None, base), ir.Constant(F64, float(n)))
            mvec = b.insert_element(ir.Constant(V64, ir.Undefined), mean, lane(0))
            mvec = b.shuffle_vector(mvec, ir.Constant(V64, ir.Undefined), ir.Constant(
                ir.VectorType(ir.IntType(32), NORM_LANES), [0] * NORM_LANES))
            var = b.fdiv(lane_total((mean, mvec), base), ir.Constant(F64, float(n)))
            root = k.intrinsic("llvm.sqrt.f64", F64, [b.fadd(var, ir.Constant(F64, eps))])
            rinv = b.fdiv(ir.Constant(F64, 1.0), root)
            with k.loop(n) as i:
                idx = b.add(base, i)
                d = b.fsub(b.fpext(k.load(x, idx), F64), mean)
                y = b.fmul(b.fmul(d, rinv), b.fpext(k.load(g, i), F64))
                if bvec is not None:
                    y = b.fadd(y, b.fpext(k.load(bvec, i), F64))
                k.store(b.fptrunc(y, F32), out, idx)
        return k.finish()

    spec = ArraySpec(shape, "float32")
    return CpuKernel(key, gen, [spec], spec, consts)
