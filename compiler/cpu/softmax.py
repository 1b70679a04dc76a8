"""float32 softmax over the last axis, bit-exact with
:func:`vta.compiler.frontend.interpreter.softmax` (polynomial exp, exact int64 sum)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from vta.compiler.frontend.interpreter import (
    _LN2_HI,
    _LN2_LO,
    _LOG2E,
    EXP_MIN,
    EXP_POLY,
    SUM_SCALE,
)

from .codegen import F32, I32, I64, ArraySpec, CpuKernel, FunctionBuilder
from .llvm_jit import KernelError

__all__ = ["softmax_kernel"]


def softmax_kernel(shape: Sequence[int]) -> CpuKernel:
    """Softmax of a float32 tensor along its last axis (rows of ``shape[-1]`` values)."""
    if not shape:
        raise KernelError("softmax needs at least one dimension")
    rows, n = math.prod(shape[:-1]), shape[-1]
    key = ("softmax", tuple(shape))

    def gen(name: str) -> str:
        k = FunctionBuilder(name, ["float32", "float32"])
        x, out = k.args
        b = k.b
        best = k.variable(F32)
        total = k.variable(I64)
        with k.loop(rows) as r:
            base = k.mul(r, n)
            b.store(k.load(x, base), best)
            with k.loop(n, 1) as i:
                v, m = k.load(x, b.add(base, i)), b.load(best)
                # max is exact in any order, so let LLVM vectorize the reduction
                b.store(k.intrinsic("llvm.maxnum.f32", F32, [v, m]), best)
            m = b.load(best)
            b.store(k.i64(0), total)
            with k.loop(n) as i:
                idx = b.add(base, i)
                d = b.fsub(k.load(x, idx), m)
                low = b.fcmp_ordered("<", d, k.f32(EXP_MIN))
                xc = b.select(low, k.f32(EXP_MIN), d)
                kk = k.intrinsic("llvm.roundeven.f32", F32, [b.fmul(xc, k.f32(_LOG2E))])
                rr = b.fsub(b.fsub(xc, b.fmul(kk, k.f32(_LN2_HI))), b.fmul(kk, k.f32(_LN2_LO)))
                p = k.f32(EXP_POLY[0])
                for c in EXP_POLY[1:]:
                    p = b.fadd(b.fmul(p, rr), k.f32(c))
                p = b.fadd(b.fadd(b.fmul(p, b.fmul(rr, rr)), rr), k.f32(1.0))
                bits = b.shl(b.add(b.fptosi(kk, I32), k.i32(127)), k.i32(23))
                e = b.select(low, k.f32(0.0), b.fmul(p, b.bitcast(bits, F32)))
                k.store(e, out, idx)
                fixed = b.fptosi(b.fmul(e, k.f32(SUM_SCALE)), I64)
                b.store(b.add(b.load(total), fixed), total)
            s = b.fmul(b.sitofp(b.load(total), F32), k.f32(2.0 ** -32))
            with k.loop(n) as i:
                idx = b.add(base, i)
                k.store(b.fdiv(k.load(out, idx), s), out, idx)
        return k.finish()

    spec = ArraySpec(shape, "float32")
    return CpuKernel(key, gen, [spec], spec)

