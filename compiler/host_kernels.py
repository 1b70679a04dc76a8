"""The host side of a partitioned model: the llvmlite kernels of its CPU layers and the
layout moves of the tensors that cross between the CPU and the accelerator.

A tensor produced on one side and read on the other is packed (``NCHW -> NCHW{b}n{c}c``,
:mod:`vta.compiler.cpu.layout_kernels`) before an accelerator layer reads it, or unpacked
after; :func:`build_cpu_kernels` makes each move once.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from vta.hw.config import VTAConfig

from .cpu import kernel_for_node
from .cpu.layout_kernels import pack_kernel, unpack_kernel
from .frontend.graph import Graph
from .packing import activation_shape, matrix_view
from .partition import Partition

__all__ = ["Mover", "build_cpu_kernels"]

Mover = Callable[[np.ndarray], np.ndarray]
"""A layout move: host array in, array of the other side's layout out."""


def _sides(partition: Partition) -> dict[str, str]:
    """Where each tensor is produced: ``vta`` or ``cpu`` (inputs and params: cpu)."""
    g = partition.graph
    side = dict.fromkeys(g.inputs, "cpu")
    side.update(dict.fromkeys(g.params, "cpu"))
    for lay in partition.layers:
        side[lay.output] = "cpu" if getattr(lay, "on_host", False) else lay.device
    return side


def _unpacker(graph: Graph, config: VTAConfig, tensor: str) -> Mover:
    shape = graph.type_of(tensor).shape
    packed = activation_shape(shape, config)
    packed6 = packed if len(packed) == 6 else (packed[0], packed[1], 1, 1, *packed[2:])
    n, c = shape[:2] if len(shape) == 4 else matrix_view(shape)
    k = unpack_kernel(packed6, n, c, "int8")
    return lambda a: k(a.reshape(packed6)).reshape(shape)


def build_cpu_kernels(partition: Partition
                      ) -> tuple[dict[str, Callable[..., np.ndarray]],
                                 dict[tuple[str, str], Mover]]:
    """The llvmlite kernels of a partition: CPU layer name -> kernel, and
    (``pack``|``unpack``, tensor) -> layout kernel for every tensor crossing sides.

    Raises
    ------
    KernelError
        naming the first node without a CPU kernel.
    """
    g, c = partition.graph, partition.config
    cpu = {lay.name: kernel_for_node(g, lay.node) for lay in partition.cpu_layers}
    side = _sides(partition)
    movers: dict[tuple[str, str], Mover] = {}
    for lay in partition.layers:
        reads_host = lay.device == "cpu" or getattr(lay, "on_host", False)
        for t in lay.inputs:
            if not reads_host and side[t] == "cpu" and ("pack", t) not in movers:
                shape = g.type_of(t).shape
                shape4 = shape if len(shape) == 4 else (*matrix_view(shape), 1, 1)
                movers[("pack", t)] = pack_kernel(shape4, c.batch, c.block, "int8")
            elif reads_host and side.get(t) == "vta" and ("unpack", t) not in movers:
                movers[("unpack", t)] = _unpacker(g, c, t)
    for t in g.outputs:
        if side.get(t) == "vta" and ("unpack", t) not in movers:
            movers[("unpack", t)] = _unpacker(g, c, t)
    return cpu, movers
