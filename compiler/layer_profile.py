"""What each layer of a compiled model cost in one run: :class:`LayerProfile` rows and the
text table :meth:`~vta.compiler.executable.Executable.profile_table` prints."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .frontend.graph import Graph, Node, TensorType

__all__ = ["LayerProfile", "node_macs", "tensor_bytes", "format_profile", "total_cycles"]


@dataclass(frozen=True)
class LayerProfile:
    """What one layer (or one layout move) cost in the last call.

    Members
    -------
    name:
        Layer name (fused nodes joined by ``+``) or ``pack <tensor>``/``unpack <tensor>``.
    op:
        The op(s): ``qconv2d``, ``qconv2d+qadd``, ``max_pool``, ``pack`` ...
    device:
        ``vta:<kind>`` (e.g. ``vta:fsim``) or ``cpu``.
    seconds:
        Host wall time.
    cycles:
        Accelerator cycles measured by a timed device, else None.
    est_cycles:
        The cost model's estimate for accelerator layers, else None.
    macs:
        Useful multiply-accumulates.
    bytes:
        Accelerator layers: DRAM bytes read + written (counters, or the estimate on an
        untimed device); CPU layers: bytes of inputs read + output written.
    """

    name: str
    op: str
    device: str
    seconds: float
    cycles: int | None
    est_cycles: int | None
    macs: int
    bytes: int


def node_macs(graph: Graph, node: Node) -> int:
    """Useful multiply-accumulates of a conv / transposed conv / dense / matmul node, float
    or quantized (0 for other ops)."""
    op = node.op.removeprefix("q")
    if op == "conv2d":     # grouped: the weight's second axis is per group already
        w = graph.type_of(node.inputs[1]).shape
        return graph.type_of(node.output).size * w[1] * w[2] * w[3]
    if op == "conv_transpose2d":
        w = graph.type_of(node.inputs[1]).shape
        return graph.type_of(node.inputs[0]).size * w[1] * w[2] * w[3]
    if op == "dense":
        return graph.type_of(node.output).size * graph.type_of(node.inputs[1]).shape[1]
    if op == "matmul":
        return graph.type_of(node.output).size * graph.type_of(node.inputs[0]).shape[-1]
    return 0


def tensor_bytes(t: TensorType) -> int:
    return t.size * np.dtype(t.dtype).itemsize


def format_profile(rows: Sequence[LayerProfile]) -> str:
    """``rows`` as a text table with totals (``(not run yet)`` when empty)."""
    if not rows:
        return "(not run yet)"
    width = min(48, max(len(r.name) for r in rows))
    head = (f"{'layer':<{width}}  {'op':<16}{'device':<14}{'time ms':>9}{'cycles':>11}"
            f"{'est. cycles':>13}{'MACs':>14}{'bytes':>12}")
    lines = [head, "-" * len(head)]
    for r in rows:
        name = r.name if len(r.name) <= width else "..." + r.name[-(width - 3):]
        lines.append(f"{name:<{width}}  {r.op:<16}{r.device:<14}{r.seconds * 1e3:>9.2f}"
                     f"{r.cycles if r.cycles is not None else '-':>11}"
                     f"{r.est_cycles if r.est_cycles is not None else '-':>13}"
                     f"{r.macs:>14,}{r.bytes:>12,}")
    lines.append("-" * len(head))
    vta = [r for r in rows if r.device.startswith("vta")]
    cpu = [r for r in rows if r.device == "cpu"]
    measured = [r.cycles for r in vta if r.cycles is not None]
    cycles = f"{sum(measured):,} cycles" if vta and len(measured) == len(vta) else \
        f"{sum(r.est_cycles or 0 for r in vta):,} est. cycles"
    lines.append(f"accelerator: {len(vta)} layers, {sum(r.seconds for r in vta) * 1e3:.1f}"
                 f" ms, {cycles}, {sum(r.macs for r in vta):,} MACs; cpu: {len(cpu)} "
                 f"steps, {sum(r.seconds for r in cpu) * 1e3:.1f} ms, "
                 f"{sum(r.macs for r in cpu):,} MACs")
    return "\n".join(lines)


def total_cycles(rows: Sequence[LayerProfile]) -> int | None:
    """Measured accelerator cycles of ``rows`` (None if any accelerator layer is untimed)."""
    vta = [r for r in rows if r.device.startswith("vta")]
    if any(r.cycles is None for r in vta):
        return None
    return sum(r.cycles for r in vta)  # type: ignore[misc]
