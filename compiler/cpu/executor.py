"""Run a quantized graph (or the CPU part of one) entirely on llvmlite kernels.

:class:`CpuExecutable` builds one kernel per node when it is created (compile time; kernels
are cached by op, shape and attributes) and runs them in order when called. Its results
equal :func:`vta.compiler.frontend.interpreter.run` bit for bit. The VTA compiler uses
:func:`kernel_for_node` for the nodes it leaves on the CPU.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

import numpy as np
from vta.compiler import windows
from vta.compiler.frontend.graph import OPS, Graph, Node
from vta.compiler.frontend.interpreter import OP_IMPLS, bind_inputs, node_requant

from .codegen import CpuKernel
from .conv import qconv2d_kernel, qdense_kernel
from .elementwise import (
    dequantize_kernel,
    qadd_kernel,
    qlut_kernel,
    qrescale_kernel,
    quantize_kernel,
)
from .llvm_jit import KernelError
from .norm import layer_norm_kernel
from .pool import avg_pool_kernel, global_avg_pool_kernel, max_pool_kernel
from .softmax import softmax_kernel

__all__ = ["CpuExecutable", "kernel_for_node", "CPU_OPS", "LLVM_OPS", "kernel_kind",
           "FirstInput", "View"]

Runner = Callable[..., np.ndarray]
LLVM_OPS = frozenset({"quantize", "dequantize", "qconv2d", "qdense", "qadd", "qrescale", "qlut",
                      "max_pool", "avg_pool", "global_avg_pool", "softmax", "layer_norm",
                      "flatten", "reshape", "concat"})
"""Ops with a generated llvmlite kernel (for the dtypes and attributes of
:func:`kernel_kind`)."""
CPU_OPS = frozenset(OPS)
"""Ops :func:`kernel_for_node` can run: every op of the IR (the ones without an llvmlite
kernel run the reference's numpy implementation, which is their definition)."""


def kernel_kind(graph: Graph, node: Node) -> str:
    """``"llvmlite"`` if :func:`kernel_for_node` generates machine code for ``node``,
    ``"view"`` for a reshape, ``"numpy"`` if it runs the reference implementation."""
    try:
        k = _llvm_kernel(graph, node)
    except KernelError:
        return "numpy"
    if k is None:
        return "numpy"
    return "view" if node.op in ("flatten", "reshape") else "llvmlite"


def kernel_for_node(graph: Graph, node: Node) -> Runner:
    """A callable ``f(*input_arrays) -> output`` running ``node`` on the CPU.

    Raises
    ------
    KernelError
        for an op (or dtype) without a CPU kernel, naming the node.
    """
    k = _llvm_kernel(graph, node)
    if k is not None:
        return k
    impl = OP_IMPLS.get(node.op)
    if impl is None:
        raise KernelError(f"{node.describe()}: no CPU kernel for {node.op} (CPU ops: "
                          f"{', '.join(sorted(CPU_OPS))})")
    out = graph.type_of(node.output)
    dtype = np.dtype(out.dtype)
    return lambda *xs: np.asarray(impl(node, *xs)).astype(dtype, copy=False).reshape(out.shape)


def _llvm_kernel(graph: Graph, node: Node) -> Runner | None:
    """The llvmlite kernel of ``node``, or None when there is none for its op, dtype or
    attributes."""
    a = node.attr
    ins = [graph.type_of(i) for i in node.inputs]
    out = graph.type_of(node.output)
    shape = ins[0].shape
    op = node.op
    if op == "quantize":
        return quantize_kernel(shape, a("scale"), a("lo", -128), a("hi", 127),
                               a("zero_point", 0))
    if op == "dequantize":
        return dequantize_kernel(shape, a("scale"), ins[0].dtype, a("zero_point", 0))
    if op in ("qconv2d", "qdense"):
        if a("groups", 1) != 1 or windows.pair(a("dilations", 1)) != (1, 1) \
                or a("out_dtype", "int8") != "int8":
            return None
        w = graph.params[node.inputs[1]]
        b = graph.params[node.inputs[2]] if len(node.inputs) > 2 else None
        req, zx = node_requant(node), a("x_zero_point", 0)
        if op == "qdense":
            rows = (int(np.prod(shape[:-1])), shape[-1])
            k2 = qdense_kernel(rows, w, b, requant=req, x_zero_point=zx)
            return FirstInput(k2, out.shape)    # leading axes are rows: same bytes
        else:
            k = qconv2d_kernel(shape, w, b, a("strides", 1), a("pads", 0), requant=req,
                               x_zero_point=zx)
        return FirstInput(k, out.shape)  # weights and bias are bound into the kernel
    if op == "qadd":
        return qadd_kernel(shape, a("lshift_a", 0), a("lshift_b", 0), a("offset", 0),
                           a("shift", 0), a("lo", -128), a("hi", 127))
    if op == "qlut":
        k = qlut_kernel(shape, graph.params[node.inputs[1]])
        return FirstInput(k, out.shape)      # the table is bound into the kernel
    if op == "qrescale":
        return qrescale_kernel(shape, a("lshift", 0), a("offset", 0), a("shift", 0),
                               a("lo", -128), a("hi", 127))
    if op in ("max_pool", "avg_pool") and ins[0].dtype in ("int8", "float32") \
            and not a("ceil_mode", False) and windows.pair(a("dilations", 1)) == (1, 1):
        kernel = windows.pair(a("kernel"))
        strides = windows.pair(a("strides") or a("kernel"))
        pads = windows.pads(a("pads", 0))
        if op == "max_pool":
            return max_pool_kernel(shape, kernel, strides, pads, ins[0].dtype)
        if ins[0].dtype == "int8":
            return avg_pool_kernel(shape, kernel, strides, pads, a("count_include_pad", False))
    if op == "global_avg_pool" and ins[0].dtype == "int8" and len(shape) == 4:
        return global_avg_pool_kernel(shape)
    if op == "softmax":
        axis = a("axis", -1) % len(shape)
        if axis == len(shape) - 1:
            return softmax_kernel(shape)
        # Another axis: move it last (exact copies), softmax the rows, move it back.
        perm = tuple(i for i in range(len(shape)) if i != axis) + (axis,)
        inverse = tuple(int(i) for i in np.argsort(perm))
        k = softmax_kernel(tuple(shape[i] for i in perm))
        return lambda x: np.ascontiguousarray(
            k(np.ascontiguousarray(x.transpose(perm))).transpose(inverse))
    if op == "layer_norm" and ins[0].dtype == "float32" \
            and all(i in graph.params for i in node.inputs[1:]):
        k = layer_norm_kernel(shape, a("axis", -1), graph.params[node.inputs[1]],
                              graph.params[node.inputs[2]] if len(node.inputs) > 2 else None,
                              a("epsilon", 1e-5))
        return FirstInput(k, out.shape)    # scale and bias are bound into the kernel
    if op in ("flatten", "reshape"):
        return View(out.shape)  # no data moves
    if op == "concat":
        return lambda *xs: np.concatenate(xs, axis=a("axis", 1))
    return None


class FirstInput:
    """A kernel that reads only a node's first input (the others -- weights, bias, a
    table -- are bound into it), viewed as the node's output shape (a dense layer over
    ``(..., K)`` rows keeps the bytes of its ``(rows, K)`` kernel)."""

    def __init__(self, kernel: CpuKernel, shape: tuple[int, ...]) -> None:
        self.kernel = kernel
        self.shape = tuple(shape)
        self._in_shape = kernel.inputs[0].shape

    def __call__(self, x: np.ndarray, *consts: np.ndarray) -> np.ndarray:
        return self.kernel(x.reshape(self._in_shape)).reshape(self.shape)


class View:
    """A reshape or flatten: the input's bytes under the output shape."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.shape = tuple(shape)

    def __call__(self, x: np.ndarray, *rest: np.ndarray) -> np.ndarray:
        return x.reshape(self.shape)


class CpuExecutable:
    """A graph compiled to CPU kernels.

    Parameters
    ----------
    graph:
        A quantized graph (see :func:`vta.compiler.frontend.quantize.quantize`).

    Attributes
    ----------
    compile_seconds:
        Time spent building kernels.
    profile:
        After a call: ``[(node name, op, seconds)]`` in execution order.

    Raises
    ------
    KernelError
        naming the first node without a CPU kernel.
    """

    def __init__(self, graph: Graph) -> None:
        start = time.perf_counter()
        self.graph = graph
        self.steps = [(node, kernel_for_node(graph, node)) for node in graph.nodes]
        self.compile_seconds = time.perf_counter() - start
        self.profile: list[tuple[str, str, float]] = []

    def __call__(self, inputs: Mapping[str, np.ndarray] | np.ndarray) -> dict[str, np.ndarray]:
        env: dict[str, np.ndarray] = dict(self.graph.params)
        env.update(bind_inputs(self.graph, inputs))
        profile = []
        for node, run in self.steps:
            t0 = time.perf_counter()
            env[node.output] = run(*(env[i] for i in node.inputs))
            profile.append((node.name, node.op, time.perf_counter() - t0))
        self.profile = profile
        return {name: env[name] for name in self.graph.outputs}
