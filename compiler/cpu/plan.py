"""A CPU-only graph as a fixed-buffer plan: the per-call cost of running it is one bound
machine-code call per kernel.

:func:`cpu_plan` gives every tensor of the graph a buffer allocated once (a reshape is a
view of its input's buffer, constants are the graph's arrays) and binds each kernel to
its buffers' addresses (:meth:`~vta.compiler.cpu.codegen.CpuKernel.bind`).  A call copies
the inputs into their buffers, runs the bound kernels in order and copies the outputs out
-- no argument marshalling, allocation or shape checks per layer.  Graphs with a node
that is not an llvmlite kernel or a view (numpy reference ops, concat) get no plan; their
executables run layer by layer.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from vta.compiler.frontend.graph import Graph, Node
from vta.compiler.frontend.interpreter import bind_inputs

from .codegen import CpuKernel
from .executor import FirstInput, View

__all__ = ["CpuPlan", "cpu_plan"]


@dataclass
class CpuPlan:
    """Bound kernels over preallocated buffers; see the module docstring.

    Members
    -------
    graph:
        The graph it runs.
    inputs, outputs:
        Buffers of the graph inputs and outputs by name.
    steps:
        ``run()`` per node, in graph order (a view's is a no-op).
    buffers:
        Every tensor's buffer by name (the steps hold only their addresses: the plan
        keeps them alive).
    """

    graph: Graph
    inputs: dict[str, np.ndarray]
    outputs: dict[str, np.ndarray]
    steps: list[Callable[[], None]]
    buffers: dict[str, np.ndarray]

    def __call__(self, inputs: Mapping[str, np.ndarray] | np.ndarray, *,
                 nonfinite: str = "error") -> tuple[dict[str, np.ndarray], list[float]]:
        """The graph outputs (fresh arrays) and the seconds of each step (``nonfinite``:
        see :func:`~vta.compiler.frontend.interpreter.bind_inputs`)."""
        for name, arr in bind_inputs(self.graph, inputs, nonfinite=nonfinite).items():
            np.copyto(self.inputs[name], arr)
        clock = time.perf_counter
        times = []
        for run in self.steps:
            t0 = clock()
            run()
            times.append(clock() - t0)
        return {name: buf.copy() for name, buf in self.outputs.items()}, times


def _noop() -> None:
    return None


def cpu_plan(graph: Graph, steps: Sequence[tuple[Node, Callable[..., np.ndarray]]]
             ) -> CpuPlan | None:
    """The plan of ``steps`` (every node of ``graph`` with its CPU runner, in order), or
    None when a runner is not a bindable kernel or view."""
    buffers: dict[str, np.ndarray] = {name: np.ascontiguousarray(v)
                                      for name, v in graph.params.items()}
    inputs = {}
    for name in graph.inputs:
        t = graph.type_of(name)
        buffers[name] = inputs[name] = np.zeros(t.shape, np.dtype(t.dtype))
    bound: list[Callable[[], None]] = []
    for node, runner in steps:
        t = graph.type_of(node.output)
        if isinstance(runner, View):
            buffers[node.output] = buffers[node.inputs[0]].reshape(t.shape)
            bound.append(_noop)
            continue
        if isinstance(runner, FirstInput):
            kernel, args = runner.kernel, [buffers[node.inputs[0]]]
        elif isinstance(runner, CpuKernel) and len(runner.inputs) == len(node.inputs):
            kernel, args = runner, [buffers[i] for i in node.inputs]
        else:
            return None
        out = buffers[node.output] = np.zeros(t.shape, np.dtype(t.dtype))
        bound.append(kernel.bind(args, out))
    return CpuPlan(graph, inputs, {n: buffers[n] for n in graph.outputs}, bound, buffers)
