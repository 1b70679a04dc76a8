"""``vta inspect MODEL`` and :func:`inspect`: before any compile, where every ONNX node of a
model will run -- on VTA, on the CPU (and by which kernel), folded at import -- or why it
cannot run (the op, the attribute, the supported values), all problems at once.

The model is imported with :func:`~vta.compiler.frontend.onnx_import.import_report`; when
every node imports, it is quantized with seeded random calibration inputs (placement does
not depend on the values) and partitioned as :func:`vta.compiler.compile` would.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from vta.hw.cli import Cli, add_config_argument
from vta.hw.config import VTAConfig
from vta.hw.errors import VTAError

from .cpu_cost import add_host_argument

__all__ = ["inspect", "InspectReport", "NodePlacement", "register"]


@dataclass(frozen=True)
class NodePlacement:
    """One ONNX node: ``where`` it runs -- ``VTA``, ``CPU``, ``folded`` (a constant computed
    at import, or merged into a neighbour), ``unsupported`` or ``not checked`` (after an
    unsupported node) -- and why (``detail``)."""

    name: str
    op_type: str
    where: str
    detail: str = ""


@dataclass
class InspectReport:
    """Every node of a model, in graph order, and the problems among them."""

    model: str
    config: str
    nodes: list[NodePlacement] = field(default_factory=list)

    @property
    def problems(self) -> list[NodePlacement]:
        return [n for n in self.nodes if n.where == "unsupported"]

    @property
    def ok(self) -> bool:
        return not self.problems

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for n in self.nodes:
            out[n.where] = out.get(n.where, 0) + 1
        return out

    def table(self) -> str:
        """The report as text: one line per node, then a summary line."""
        w = min(48, max([len(n.name) for n in self.nodes] + [4]))
        o = max([len(n.op_type) for n in self.nodes] + [2])
        lines = [f"{'node':<{w}}  {'op':<{o}}  {'runs on':<12} detail",
                 "-" * (w + o + 30)]
        for n in self.nodes:
            name = n.name if len(n.name) <= w else "..." + n.name[-(w - 3):]
            lines.append(f"{name:<{w}}  {n.op_type:<{o}}  {n.where:<12} {n.detail}")
        counts = ", ".join(f"{v} {k}" for k, v in self.counts().items())
        verdict = (f"{len(self.problems)} unsupported node(s): the model cannot be compiled"
                   if self.problems else "every node is supported")
        lines.append(f"{self.model} for {self.config}: {counts}; {verdict}")
        return "\n".join(lines)


def _zero_inputs(graph: Any, seed: int) -> list[dict[str, Any]]:
    import numpy as np

    rng = np.random.default_rng(seed)
    return [{n: (rng.standard_normal(graph.type_of(n).shape).astype(np.float32)
                 if graph.type_of(n).dtype == "float32"
                 else np.zeros(graph.type_of(n).shape, graph.type_of(n).dtype))
             for n in graph.inputs} for _ in range(2)]


def inspect(model: Any, config: VTAConfig | str | None = None,
            input_shapes: Mapping[str, Sequence[int]] | None = None,
            min_utilization: float | None = None, seed: int = 0,
            host: str | None = None) -> InspectReport:
    """Where each node of ``model`` (an ``onnx.ModelProto`` or ``.onnx`` path) will run
    (``min_utilization``, ``host``: the partitioning options of
    :func:`~vta.compiler.partition.partition`).

    Raises
    ------
    ModelError
        only for a file that cannot be read.
    """
    from .cpu.executor import kernel_kind
    from .frontend import quantize
    from .frontend.graph import is_quantized
    from .frontend.onnx_import import import_report
    from .partition import VtaLayer, partition

    cfg = VTAConfig.load(config)
    imp = import_report(model, input_shapes)
    name = imp.graph.name if imp.graph is not None else str(getattr(model, "graph", None)
                                                            and model.graph.name or model)
    report = InspectReport(name, cfg.name)
    where: dict[str, tuple[str, str]] = {}
    if imp.graph is not None:
        graph = imp.graph
        if not is_quantized(graph):
            graph = quantize(graph, _zero_inputs(graph, seed))
        part = partition(graph, cfg, min_utilization=min_utilization, host=host)
        phases: dict[str, list[VtaLayer]] = {}
        for lay in part.layers:
            if isinstance(lay, VtaLayer) and lay.phase is not None:
                phases.setdefault(lay.nodes[0], []).append(lay)
            elif isinstance(lay, VtaLayer):
                fused = f" (+ {', '.join(lay.nodes[1:])} fused)" if len(lay.nodes) > 1 \
                    else ""
                info = (f"{lay.workload.describe() if hasattr(lay.workload, 'describe') else ''}"
                        f"{fused}, est. {lay.estimate.cycles:,} cycles, utilization "
                        f"{lay.utilization(cfg):.2f}")
                for n in lay.nodes:
                    where[n] = ("VTA", info)
            else:
                kind = kernel_kind(graph, lay.node)
                why = f"; {lay.reason}" if lay.reason else ""
                where[lay.node.name] = ("CPU", f"{lay.node.op} ({kind} kernel){why}")
        for n, lays in phases.items():
            cycles = sum(lay.estimate.cycles for lay in lays)
            where[n] = ("VTA", f"transposed convolution as {len(lays)} sub-convolutions "
                               f"(one per output phase), est. {cycles:,} cycles")
    for onnx_name in imp.order:
        op_type, kind, detail = imp.status[onnx_name]
        if kind == "error":
            report.nodes.append(NodePlacement(onnx_name, op_type, "unsupported", detail))
        elif kind == "skipped":
            report.nodes.append(NodePlacement(onnx_name, op_type, "not checked", detail))
        elif kind == "folded":
            report.nodes.append(NodePlacement(onnx_name, op_type, "folded",
                                              "a constant computed at import"))
        else:
            ir = [n for n in detail.split() if n]
            placed = [where[n] for n in ir if n in where]
            if placed:
                devices = sorted({p[0] for p in placed}, reverse=True)
                report.nodes.append(NodePlacement(onnx_name, op_type, "+".join(devices),
                                                  placed[0][1]))
            elif imp.graph is None:
                report.nodes.append(NodePlacement(onnx_name, op_type, "ok",
                                                  "imports (placement after the problems "
                                                  "are fixed)"))
            elif not ir:
                report.nodes.append(NodePlacement(onnx_name, op_type, "folded",
                                                  "an alias of its input"))
            else:
                report.nodes.append(NodePlacement(onnx_name, op_type, "folded",
                                                  "merged into a neighbour (batch norm or "
                                                  "scale into a conv/dense, activation "
                                                  "fused or tabulated)"))
    return report


# ------------------------------------------------------------------------------ CLI
def register(cli: Cli) -> None:
    cli.command("inspect", "before compiling: where each node of an ONNX model runs (VTA / "
                "CPU) or why it cannot; exit 1 if anything is unsupported",
                setup=_setup, run=_run)


def _setup(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="an .onnx file or a zoo model name")
    add_config_argument(p)
    p.add_argument("--min-utilization", type=float, default=None,
                   help="place by estimated GEMM utilization instead of time: conv/dense "
                        "below it stay on the CPU (0: all the accelerator can run)")
    add_host_argument(p)


def _run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from . import zoo

    model: Any = args.model
    if not Path(model).is_file():
        if model not in zoo.names():
            raise VTAError(f"no model {model!r}: expected an .onnx file or one of "
                           f"{', '.join(zoo.names())}")
        model = zoo.load(model)
    report = inspect(model, args.config, min_utilization=args.min_utilization,
                     host=args.host)
    print(report.table())
    return 0 if report.ok else 1
