"""Helpers shared by the kernel generators: an IR function builder with counted loops, and
:class:`CpuKernel`, the callable wrapper that checks arrays and calls compiled code.

Kernels are generated for one shape (every extent is a constant, so LLVM unrolls and
vectorizes for the host), take raw pointers to contiguous arrays and return nothing.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
from llvmlite import ir

from .llvm_jit import KernelError, jit

__all__ = ["I1", "I8", "I16", "I32", "I64", "F32", "FunctionBuilder", "CpuKernel",
           "ArraySpec", "kernel_name", "ir_type"]

I1, I8, I16, I32, I64 = (ir.IntType(n) for n in (1, 8, 16, 32, 64))
F32 = ir.FloatType()
_IR_TYPES = {"int8": I8, "uint8": I8, "int16": I16, "int32": I32, "int64": I64, "float32": F32}


def ir_type(dtype: str) -> ir.Type:
    """The LLVM element type of a numpy dtype name."""
    try:
        return _IR_TYPES[dtype]
    except KeyError:
        raise KernelError(f"CPU kernels support dtypes {sorted(_IR_TYPES)}, not "
                          f"{dtype!r}") from None


def kernel_name(key: Any) -> str:
    """A unique, valid function name for a kernel key."""
    return "vta_cpu_" + hashlib.sha1(repr(key).encode()).hexdigest()[:20]


class FunctionBuilder:
    """Builds ``void name(T0* noalias, T1* noalias, ...)`` with loops and small helpers.

    Parameters
    ----------
    name:
        Function name (see :func:`kernel_name`).
    arg_dtypes:
        Element dtype of each pointer argument, in call order.
    """

    def __init__(self, name: str, arg_dtypes: Sequence[str]) -> None:
        self.module = ir.Module(name=name)
        self.name = name
        fnty = ir.FunctionType(ir.VoidType(), [ir.PointerType(ir_type(d)) for d in arg_dtypes])
        self.fn = ir.Function(self.module, fnty, name)
        for arg in self.fn.args:
            arg.add_attribute("noalias")
        self.b = ir.IRBuilder(self.fn.append_basic_block("entry"))
        self.args = list(self.fn.args)

    # ------------------------------------------------------------------ values
    @staticmethod
    def i64(v: int) -> ir.Constant:
        return ir.Constant(I64, int(v))

    @staticmethod
    def i32(v: int) -> ir.Constant:
        return ir.Constant(I32, int(v))

    @staticmethod
    def f32(v: float) -> ir.Constant:
        return ir.Constant(F32, float(np.float32(v)))

    def load(self, ptr: ir.Value, index: ir.Value) -> ir.Value:
        return self.b.load(self.b.gep(ptr, [index], inbounds=True))

    def store(self, value: ir.Value, ptr: ir.Value, index: ir.Value) -> None:
        self.b.store(value, self.b.gep(ptr, [index], inbounds=True))

    def add(self, *vs: ir.Value) -> ir.Value:
        out = vs[0]
        for v in vs[1:]:
            out = self.b.add(out, v)
        return out

    def mul(self, a: ir.Value, k: int) -> ir.Value:
        return self.b.mul(a, self.i64(k))

    def smax(self, a: ir.Value, b: ir.Value) -> ir.Value:
        return self.b.select(self.b.icmp_signed(">", a, b), a, b)

    def smin(self, a: ir.Value, b: ir.Value) -> ir.Value:
        return self.b.select(self.b.icmp_signed("<", a, b), a, b)

    def variable(self, ty: ir.Type, init: ir.Value | None = None) -> ir.Value:
        """A stack slot allocated in the entry block (so LLVM promotes it to a register)."""
        with self.b.goto_entry_block():
            slot = self.b.alloca(ty)
        if init is not None:
            self.b.store(init, slot)
        return slot

    def intrinsic(self, name: str, ret: ir.Type, args: Sequence[ir.Value]) -> ir.Value:
        fn = self.module.globals.get(name)
        if fn is None:
            fn = ir.Function(self.module, ir.FunctionType(ret, [a.type for a in args]), name)
        return self.b.call(fn, list(args))

    # ------------------------------------------------------------------ control flow
    @contextmanager
    def loop(self, stop: int | ir.Value, start: int | ir.Value = 0,
             step: int = 1) -> Iterator[ir.Value]:
        """``for (i64 i = start; i < stop; i += step)``; yields ``i``."""
        start = self.i64(start) if isinstance(start, int) else start
        stop = self.i64(stop) if isinstance(stop, int) else stop
        pre = self.b.block
        header = self.fn.append_basic_block("loop")
        body = self.fn.append_basic_block("body")
        after = self.fn.append_basic_block("after")
        self.b.branch(header)
        self.b.position_at_end(header)
        i = self.b.phi(I64)
        i.add_incoming(start, pre)
        self.b.cbranch(self.b.icmp_signed("<", i, stop), body, after)
        self.b.position_at_end(body)
        yield i
        nxt = self.b.add(i, self.i64(step))
        i.add_incoming(nxt, self.b.block)
        self.b.branch(header)
        self.b.position_at_end(after)

    def finish(self) -> str:
        """Close the function and return the module's IR text."""
        self.b.ret_void()
        return str(self.module)


class ArraySpec:
    """Shape and dtype an argument of a :class:`CpuKernel` must have."""

    def __init__(self, shape: Sequence[int], dtype: str) -> None:
        self.shape = tuple(int(d) for d in shape)
        self.dtype = np.dtype(dtype)

    def __repr__(self) -> str:
        return f"{self.dtype.name}{list(self.shape)}"


class CpuKernel:
    """A compiled kernel: ``kernel(*inputs) -> output`` on numpy arrays.

    Parameters
    ----------
    key:
        Cache key (op, shapes, dtypes, attributes).
    generate:
        Produces the LLVM IR of ``void f(inputs..., consts..., output)``; called only on a
        cache miss.
    inputs:
        Specs of the runtime inputs.
    output:
        Spec of the result.
    consts:
        Arrays bound at build time (packed weights, biases), passed after the inputs.

    Raises
    ------
    KernelError
        when called with an array of the wrong shape or dtype (one line naming it).
    """

    def __init__(self, key: Any, generate: Callable[[str], str], inputs: Sequence[ArraySpec],
                 output: ArraySpec, consts: Sequence[np.ndarray] = ()) -> None:
        self.key = key
        self.name = kernel_name(key)
        self.inputs = tuple(inputs)
        self.output = output
        self.consts = tuple(np.ascontiguousarray(c) for c in consts)
        nargs = len(self.inputs) + len(self.consts) + 1
        self._fn = jit().cfunc(key, lambda: generate(self.name), self.name,
                               [ctypes.c_void_p] * nargs)
        self._const_ptrs = [c.ctypes.data for c in self.consts]

    def __repr__(self) -> str:
        return f"CpuKernel({self.key[0]!r}, {list(self.inputs)} -> {self.output})"

    def __call__(self, *arrays: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        # The common case (exact-type, contiguous arrays of the right shape) stays cheap:
        # on small tensors this wrapper, not the machine code, is most of the call.
        if len(arrays) != len(self.inputs):
            raise KernelError(f"{self.key[0]} kernel takes {len(self.inputs)} arrays, "
                              f"got {len(arrays)}")
        ptrs = []
        keep = []          # contiguous copies must outlive the call
        for i, a in enumerate(arrays):
            spec = self.inputs[i]
            if not (type(a) is np.ndarray and a.shape == spec.shape
                    and a.dtype is spec.dtype and a.flags.c_contiguous):
                a = self._coerce(i, a, spec)
                keep.append(a)
            ptrs.append(a.ctypes.data)
        if out is None:
            out = np.empty(self.output.shape, self.output.dtype)
        elif (out.shape != self.output.shape or out.dtype != self.output.dtype
              or not out.flags.c_contiguous):
            raise KernelError(f"{self.key[0]} kernel output must be a contiguous "
                              f"{self.output!r}")
        self._fn(*ptrs, *self._const_ptrs, out.ctypes.data)
        return out

    def bind(self, inputs: Sequence[np.ndarray], out: np.ndarray) -> Callable[[], None]:
        """A call of the kernel on these buffers, their addresses bound now: ``run()``
        computes ``out`` from the current contents of ``inputs`` (the arrays must outlive
        it).  It skips the per-call checks and marshalling of :meth:`__call__`.

        Raises
        ------
        KernelError
            for a buffer of the wrong shape or dtype, or not contiguous.
        """
        if len(inputs) != len(self.inputs):
            raise KernelError(f"{self.key[0]} kernel takes {len(self.inputs)} arrays, "
                              f"got {len(inputs)}")
        for what, a, spec in [*((f"input {i}", a, s) for i, (a, s) in enumerate(
                zip(inputs, self.inputs, strict=True))), ("output", out, self.output)]:
            if a.size != int(np.prod(spec.shape)) or a.dtype != spec.dtype \
                    or not a.flags.c_contiguous:
                raise KernelError(f"{self.key[0]} kernel {what} must be a contiguous "
                                  f"{spec!r}, not {a.dtype.name}{list(a.shape)}")
        return functools.partial(self._fn, *(a.ctypes.data for a in inputs),
                                 *self._const_ptrs, out.ctypes.data)

    def _coerce(self, i: int, a: Any, spec: ArraySpec) -> np.ndarray:
        a = np.asarray(a)
        if a.shape != spec.shape or a.dtype != spec.dtype:
            raise KernelError(f"{self.key[0]} kernel input {i} must be {spec!r}, "
                              f"not {a.dtype.name}{list(a.shape)}")
        return np.ascontiguousarray(a)
