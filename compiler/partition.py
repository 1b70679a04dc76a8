"""Partitioning a quantized graph between the accelerator and the CPU.

:func:`partition` walks a quantized graph (see :mod:`vta.compiler.frontend.quantize`) in
order and assigns every node to one *layer*:

* a :class:`VtaLayer` -- one ``qconv2d`` or ``qdense`` compiled by the kernel compiler
  (:mod:`vta.compiler.ops`), with its requantization (``+ bias``, ``>> shift``, clip, or
  the fixed-point steps of :mod:`vta.compiler.requant` with per-channel values as tensor
  operands) and its input zero point (:mod:`vta.compiler.zero_point`) in the ALU
  epilogue, and, when the node's only consumer is a residual ``qadd`` of it and another
  tensor of its shape, that add fused in as well -- its left shifts, rounding offset, right
  shift and clip included (``Epilogue.residual`` and the rescaling fields), so ResNet's
  rescaled skip additions run on the accelerator;
* a :class:`CpuLayer` -- any other node, run by an llvmlite kernel
  (:func:`vta.compiler.cpu.kernel_for_node`): quantize/dequantize, pooling, softmax,
  reshapes, adds that could not be fused, and the conv/dense layers the accelerator cannot
  run or that do not pay on it.

Convolutions of any groups (depthwise included), dilation and asymmetric padding run as
one kernel (:class:`~vta.compiler.workload.Conv2dWorkload`); a transposed convolution as
one layer per output phase (:mod:`vta.compiler.transposed`), all writing its output; a
matmul of two activations as a grouped 1x1 convolution.  A conv/dense stays on the CPU,
with the reason recorded, when: its requantization needs a multiplier (scales that are not
powers of two) and the configuration has no ALU MUL (``ALU_MUL``, e.g. the ``default_mul``
preset), its weights do not fit int8 (a weight zero point that did not fit once
subtracted), an input zero point meets a form whose border correction the accelerator does
not compute (dilated, asymmetrically padded or transposed convolutions, matmuls), a
padding does not fit the DMA pad fields, no tiling fits the SRAM buffers, or it does not
pay: the cost model's cycles at the configuration's clock do not beat the host CPU's
estimated time for it (:mod:`vta.compiler.cpu_cost`; the host is the config's board unless
``host`` names another) -- e.g. against a PC's CPU, ResNet-18's first convolution, whose 3
input channels fill 3/16 of each GEMM, or a batch-1 classifier that only streams weights.
With ``min_utilization`` set, the estimated GEMM utilization (useful MACs / (cycles x peak
MACs per cycle)) decides instead.

Layers come in an order where every input is ready before use (a fused layer runs at its
add's position).  Moving tensors between the two sides (packing to ``NCHW{b}n{c}c``,
unpacking) is the executable's job (:mod:`vta.compiler.executable`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
from vta.hw.config import VTAConfig
from vta.runtime import pack_nchw, pack_oihw, unpack_nchw

from .cost_model import CostEstimate, estimate
from .cpu.executor import depthwise_node
from .cpu_cost import HostProfile, host_for, vta_seconds
from .epilogue import Epilogue, channel_requant
from .errors import OperatorError, ScheduleError
from .frontend.errors import ModelError
from .frontend.graph import Graph, Node, is_quantized
from .packing import grouped_weight
from .requant import Requant
from .search import schedule_conv2d, schedule_dense
from .transposed import Phase, phases
from .windows import pads, pair
from .workload import Conv2dWorkload, ConvSchedule, DenseSchedule, DenseWorkload
from .zero_point import accelerator_requant

__all__ = ["VtaLayer", "CpuLayer", "Layer", "Partition", "partition", "node_epilogue",
           "layer_requant",
           "VTA_OPS", "DEFAULT_MIN_UTILIZATION", "FLOAT_COMPUTE_OPS", "matmul_workload",
           "matmul_operands", "matmul_result"]

VTA_OPS = ("qconv2d", "qconv_transpose2d", "qdense", "qmatmul")
"""Ops the accelerator can run."""

DEFAULT_MIN_UTILIZATION: float | None = None
"""None: a conv/dense runs on the accelerator when its estimated time beats the host CPU's
(:mod:`vta.compiler.cpu_cost`); a number: when its estimated GEMM utilization is at least
that (0 puts every conv/dense the accelerator can run on it)."""

FLOAT_COMPUTE_OPS = frozenset({"conv2d", "dense", "batch_norm", "relu", "clip", "add", "mul",
                               "quantize_linear", "dequantize_linear"})
"""Float ops that only exist before quantization (a graph holding one is not quantized)."""


@dataclass(frozen=True)
class VtaLayer:
    """A conv2d/dense (and possibly a fused residual add) run as one accelerator kernel.

    Members
    -------
    name:
        The conv/dense node's name.
    op:
        ``"conv2d"`` or ``"dense"``.
    nodes:
        Names of the graph nodes this layer computes (the conv/dense, then a fused add).
    data, weight, bias, residual:
        Input tensor names (``bias``/``residual`` None when absent).
    output:
        The tensor the layer defines (the add's output when fused).
    workload, epilogue, schedule, estimate:
        What the kernel compiler builds, and the cost model's estimate for it.
    phase:
        For one sub-convolution of a transposed convolution (a node runs as several
        layers writing one output tensor): its :class:`~vta.compiler.transposed.Phase`.
    """

    name: str
    op: str
    nodes: tuple[str, ...]
    data: str
    weight: str
    bias: str | None
    residual: str | None
    output: str
    workload: Conv2dWorkload | DenseWorkload
    epilogue: Epilogue
    schedule: ConvSchedule | DenseSchedule
    estimate: CostEstimate = field(repr=False, compare=False)
    phase: Phase | None = None

    device = "vta"

    @property
    def inputs(self) -> tuple[str, ...]:
        """Runtime tensors read (data, residual; both operands of a matmul); weights and
        bias are otherwise constants."""
        if self.op == "matmul":
            return (self.data, self.weight)
        return (self.data,) + ((self.residual,) if self.residual else ())

    @property
    def on_host(self) -> bool:
        """Reads and writes host arrays (a matmul of two activations packs both operands
        on each call, :func:`matmul_operands`), not the packed tensors of the device."""
        return self.op == "matmul"

    def utilization(self, config: VTAConfig) -> float:
        """Useful MACs / (estimated cycles x peak MACs per cycle)."""
        return self.workload.macs / max(1, self.estimate.cycles * config.macs_per_cycle)

    def describe(self) -> str:
        what = "+".join(self.nodes)
        return what if self.phase is None else f"{what} phase {self.phase.phase}"


@dataclass(frozen=True)
class CpuLayer:
    """One graph node run by an llvmlite CPU kernel.

    Members
    -------
    node:
        The graph node.
    reason:
        Why it is not on the accelerator (empty for ops the accelerator never runs).
    """

    node: Node
    reason: str = ""

    device = "cpu"

    @property
    def name(self) -> str:
        return self.node.name

    @property
    def nodes(self) -> tuple[str, ...]:
        return (self.node.name,)

    @property
    def inputs(self) -> tuple[str, ...]:
        return self.node.inputs

    @property
    def output(self) -> str:
        return self.node.output

    def describe(self) -> str:
        return self.node.name


Layer = VtaLayer | CpuLayer


@dataclass(frozen=True)
class Partition:
    """A quantized graph cut into layers, in execution order.

    Members
    -------
    graph, config:
        What was partitioned, for which accelerator configuration.
    layers:
        :class:`VtaLayer` and :class:`CpuLayer` objects in a valid execution order.
    """

    graph: Graph
    config: VTAConfig
    layers: tuple[Layer, ...]

    def placement(self) -> dict[str, str]:
        """Node name -> ``"vta"`` or ``"cpu"``."""
        return {n: layer.device for layer in self.layers for n in layer.nodes}

    @property
    def vta_layers(self) -> list[VtaLayer]:
        return [lay for lay in self.layers if isinstance(lay, VtaLayer)]

    @property
    def cpu_layers(self) -> list[CpuLayer]:
        return [lay for lay in self.layers if isinstance(lay, CpuLayer)]

    def summary(self) -> str:
        """One line per layer: device, nodes, and why a conv/dense is on the CPU."""
        lines = []
        for layer in self.layers:
            if isinstance(layer, VtaLayer):
                lines.append(f"vta  {layer.describe():<40} est. {layer.estimate.cycles} "
                             f"cycles, utilization {layer.utilization(self.config):.2f}")
            else:
                why = f"  ({layer.reason})" if layer.reason else ""
                lines.append(f"cpu  {layer.node.name:<40} {layer.node.op}{why}")
        return "\n".join(lines)


# ------------------------------------------------------------------------------ decisions
def node_epilogue(graph: Graph, node: Node, config: VTAConfig) -> Epilogue | str:
    """The accelerator epilogue of a qconv2d/qconv_transpose2d/qdense/qmatmul node, or why it
    cannot run on ``config``.  A matmul's rounding ``offset`` is its bias."""
    zx = int(node.attr("x_zero_point", 0))
    try:
        folded = layer_requant(graph, node)
        if folded is not None:
            req, bias = folded[0], folded[1] is not None
        else:
            req = Requant.from_attrs(node.attrs)
            bias = len(node.inputs) > 2 or zx != 0 or (node.op == "qmatmul"
                                                       and node.attr("offset", 0) != 0)
        structure, shift, _ = channel_requant(req, _out_channels(graph, node))
    except OperatorError as e:
        return str(e)
    if structure is not None and structure.multiplies and not config.ALU_MUL:
        return ("its requantization multiplies (scales that are not powers of two) and the "
                "config has no ALU MUL (ALU_MUL=true, e.g. preset 'default_mul')")
    padded = node.op in ("qconv2d", "qconv_transpose2d") and any(pads(node.attr("pads", 0)))
    clip = None if req.clip_is_redundant() else (req.lo, req.hi)
    try:
        return Epilogue(bias=bias, shift=shift, clip=clip, requant=structure,
                        pad_correction=zx != 0 and padded)
    except OperatorError as e:
        return str(e)


def layer_requant(graph: Graph, node: Node) -> tuple[Requant, np.ndarray | None] | None:
    """The requantization and int32 bias rows (None: no bias add) a qconv2d / qdense with
    constant weights runs with on the accelerator --
    :func:`~vta.compiler.zero_point.accelerator_requant` of its weights, bias and input
    zero point -- or None for other nodes (their bias rows are the bias with the zero point
    folded in).  The partitioner's epilogue and the packed operands both read it.

    Raises
    ------
    OperatorError
        for requantization attributes out of range.
    """
    if node.op not in ("qconv2d", "qdense") or not all(i in graph.params
                                                        for i in node.inputs[1:]):
        return None
    w = np.asarray(graph.params[node.inputs[1]])
    bias = np.asarray(graph.params[node.inputs[2]]) if len(node.inputs) > 2 else None
    return accelerator_requant(Requant.from_attrs(node.attrs), bias, w,
                               int(node.attr("x_zero_point", 0)))


def _out_channels(graph: Graph, node: Node) -> int:
    w = graph.type_of(node.inputs[1]).shape
    if node.op == "qconv_transpose2d":          # (C, O / groups, KH, KW)
        return w[1] * node.attr("groups", 1)
    return w[-1] if node.op == "qmatmul" else w[0]


def _zero_point_limit(node: Node, epilogue: Epilogue) -> str | None:
    """Why an input zero point or a fixed-point requantization keeps ``node`` off the
    accelerator, or None.  A convolution's zero point is corrected at the border for any
    padding and dilation (one constant row per border pattern,
    :mod:`vta.compiler.zero_point`); transposed convolutions and matmuls run with
    power-of-two shifts and no zero points only."""
    zx = int(node.attr("x_zero_point", 0))
    if node.op in ("qconv_transpose2d", "qmatmul"):
        if zx or epilogue.requant is not None:
            kind = "transposed convolution" if node.op == "qconv_transpose2d" else "matmul"
            return (f"a {kind} with an input zero point or a fixed-point requantization "
                    f"runs on the CPU (the accelerator's {kind}s take power-of-two shifts "
                    "and no zero points)")
    return None


def _workloads(graph: Graph, node: Node
               ) -> list[tuple[Conv2dWorkload | DenseWorkload, Phase | None]] | str:
    """The kernel compiler's workloads for ``node`` -- one, or one per phase of a
    transposed convolution (:mod:`vta.compiler.transposed`) -- or why there is none."""
    x = graph.type_of(node.inputs[0]).shape
    w = graph.type_of(node.inputs[1]).shape
    if node.op == "qdense":   # leading (batch, sequence) axes are the matrix's rows
        if len(x) == 4:
            return "a dense layer over a 4-D input: 4-D tensors are packed as NCHW images " \
                   "on the accelerator, not as the matrix of their leading axes"
        return [(DenseWorkload(math.prod(x[:-1]), x[-1], w[0]), None)]
    if node.op == "qmatmul":
        if len(x) < 2 or x[:-2] != w[:-2]:
            return f"operands {list(x)} x {list(w)}: the accelerator runs matmuls whose " \
                   "batch axes are equal (no broadcasting)"
        try:
            return [(matmul_workload(x, w), None)]
        except ScheduleError as e:
            return str(e)
    groups = node.attr("groups", 1)
    try:
        if node.op == "qconv_transpose2d":
            out = graph.type_of(node.output).shape
            strides = pair(node.attr("strides", 1))
            plan = phases((x[2], x[3]), (w[2], w[3]), strides, node.attr("pads", 0),
                          node.attr("dilations", 1), node.attr("output_padding", 0))
            if isinstance(plan, str):
                return plan
            return [(Conv2dWorkload(x[0], x[1], x[2], x[3], out[1],
                                    (p.taps[0][1], p.taps[1][1]), 1, p.pad_begin, groups, 1,
                                    p.pad_end, (out[2], out[3], *p.offset, *strides)), p)
                    for p in plan]
        top, left, bottom, right = pads(node.attr("pads", 0))
        return [(Conv2dWorkload(x[0], x[1], x[2], x[3], w[0], (w[2], w[3]),
                                pair(node.attr("strides", 1)), (top, left), groups,
                                pair(node.attr("dilations", 1)), (bottom, right)), None)]
    except ScheduleError as e:
        return str(e)


def matmul_workload(a: tuple[int, ...], b: tuple[int, ...]) -> Conv2dWorkload:
    """``a @ b`` of two activations ``(..., M, K) x (..., K, N)`` as a grouped 1x1
    convolution: one group per batch index (``G`` of them), its ``K`` input channels over an
    ``M x 1`` image, ``N`` output channels -- independent GEMMs over super-groups
    (:meth:`~vta.compiler.workload.Conv2dWorkload.group_blocks`), in one kernel."""
    g, (m, k), n = math.prod(a[:-2]), a[-2:], b[-1]
    return Conv2dWorkload(1, g * k, m, 1, g * n, 1, 1, 0, g)


def _plan(workload: Conv2dWorkload | DenseWorkload, config: VTAConfig, epilogue: Epilogue
          ) -> tuple[ConvSchedule | DenseSchedule, CostEstimate]:
    """Schedule and estimate; ScheduleError when nothing fits."""
    if isinstance(workload, Conv2dWorkload):
        s = schedule_conv2d(workload, config, epilogue)
        return s, estimate(workload, s, config, epilogue)
    d = schedule_dense(workload, config, epilogue)
    return d, estimate(workload.as_conv2d(), d.as_conv2d(), config, epilogue)


@dataclass(frozen=True)
class _ResidualAdd:
    """A ``qadd`` of a conv/dense output ``tensor`` and ``other``, as epilogue fields."""

    node: Node
    other: str
    lshift: int           # applied to ``tensor``
    residual_lshift: int  # applied to ``other``
    offset: int
    shift: int
    clip: tuple[int, int]


def _residual_add(graph: Graph, node: Node, tensor: str) -> _ResidualAdd | None:
    """``node`` as a residual add of ``tensor``, or None if it is not one."""
    if node.op != "qadd" or len(node.inputs) != 2 or node.inputs.count(tensor) != 1:
        return None
    first = node.inputs[0] == tensor
    other = node.inputs[1] if first else node.inputs[0]
    if graph.type_of(other).shape != graph.type_of(tensor).shape:
        return None
    la, lb = node.attr("lshift_a", 0), node.attr("lshift_b", 0)
    return _ResidualAdd(node, other, la if first else lb, lb if first else la,
                        node.attr("offset", 0), node.attr("shift", 0),
                        (node.attr("lo", -128), node.attr("hi", 127)))


def partition(graph: Graph, config: VTAConfig, *,
              min_utilization: float | None = DEFAULT_MIN_UTILIZATION,
              cpu_nodes: Iterable[str] = (), cpu_only: bool = False,
              fuse_residual: bool = True, host: str | HostProfile | None = None
              ) -> Partition:
    """Assign every node of a quantized graph to the accelerator or the CPU.

    Parameters
    ----------
    graph:
        A quantized graph (integer ops between ``quantize`` and ``dequantize``).
    config:
        The accelerator configuration the kernels are scheduled for.
    min_utilization:
        None (default): a conv/dense runs on the accelerator when the cost model's cycles
        at the config's clock beat the ``host`` CPU's estimated time.  A number instead:
        when its estimated GEMM utilization is at least that (0 puts every conv/dense the
        accelerator can run on it; ``host`` is then not consulted).
    cpu_nodes:
        Names of conv/dense nodes forced onto the CPU.
    cpu_only:
        Put everything on the CPU (the llvmlite kernels alone).
    fuse_residual:
        Fuse a residual ``qadd`` (rescaling included) into the conv/dense producing one
        operand.
    host:
        The host CPU profile (:mod:`vta.compiler.cpu_cost`) a conv/dense must beat on the
        accelerator: a name (``x86-64``, ``cortex-a9``, ``cortex-a53``) or a
        :class:`~vta.compiler.cpu_cost.HostProfile`; None picks the config's board.

    Raises
    ------
    ModelError
        if the graph still holds float compute ops (quantize it first), ``cpu_nodes``
        names a node the graph does not have, ``min_utilization`` is not in [0, 1] or
        ``host`` is unknown.
    """
    if min_utilization is not None and not 0.0 <= float(min_utilization) <= 1.0:
        raise ModelError(f"min_utilization must be between 0 and 1, not {min_utilization!r}")
    if not is_quantized(graph):
        float_ops = sorted({n.op for n in graph.nodes if n.op in FLOAT_COMPUTE_OPS})
        raise ModelError(f"graph {graph.name!r} is not quantized (it has float "
                         f"{(float_ops or ['compute'])[0]} nodes and no integer ops); "
                         "quantize it first (vta.compiler.frontend.quantize)")
    profile = host_for(config, host)
    forced = set(cpu_nodes)
    names = {n.name for n in graph.nodes}
    unknown = sorted(forced - names)
    if unknown:
        raise ModelError(f"cpu_nodes names {unknown[0]!r}, which is not a node of graph "
                         f"{graph.name!r}")

    layers: list[Layer | None] = []
    pending: dict[str, int] = {}    # fused add name -> index of its placeholder
    fused_into: dict[str, VtaLayer] = {}
    for node in graph.nodes:
        if node.name in pending:
            layers[pending.pop(node.name)] = None
            layers.append(fused_into.pop(node.name))
            continue
        if node.op not in VTA_OPS:
            layers.append(CpuLayer(node))
            continue
        reason = ("forced by cpu_only" if cpu_only else
                  "forced by cpu_nodes" if node.name in forced else None)
        add = _fusable_add(graph, node) \
            if fuse_residual and not reason and node.op != "qmatmul" else None
        if add is not None and add.node.name in pending:
            add = None      # an add of two conv outputs is fused into the first conv only
        layer = None if reason else _vta_layer(graph, node, config, min_utilization, profile,
                                               add)
        if isinstance(layer, str) or layer is None:
            layers.append(CpuLayer(node, reason or layer or ""))
        elif isinstance(layer, tuple):     # the phases of a transposed convolution
            layers.extend(layer)
        elif add is not None and layer.residual is not None:
            # Run where the add runs: the residual operand may be computed after the conv.
            pending[add.node.name] = len(layers)
            fused_into[add.node.name] = layer
            layers.append(None)
        else:
            layers.append(layer)
    return Partition(graph, config, tuple(lay for lay in layers if lay is not None))


def _vta_layer(graph: Graph, node: Node, config: VTAConfig, min_utilization: float | None,
               host: HostProfile, add: _ResidualAdd | None = None
               ) -> VtaLayer | tuple[VtaLayer, ...] | str:
    """The accelerator layer for a conv/dense node (the phase layers of a transposed
    convolution), or the reason it stays on the CPU.  With ``add``, the layer has the add
    fused into its epilogue when that fits (:func:`_fused_plan`)."""
    for name, what in ((node.inputs[1], "weight"),) + tuple(
            (n, "bias") for n in node.inputs[2:]):
        if name not in graph.params and node.op != "qmatmul":
            return f"its {what} is not a constant"
    if node.attr("out_dtype", "int8") != "int8":
        return "its output is the int32 sums (ConvInteger / MatMulInteger): VTA stores int8"
    for name in node.inputs[:2]:
        if graph.type_of(name).dtype != "int8":
            return (f"its operand {name!r} is {graph.type_of(name).dtype} (a zero point that "
                    "does not fit int8 once subtracted; the GEMM multiplies int8)")
    epilogue = node_epilogue(graph, node, config)
    if isinstance(epilogue, str):
        return epilogue
    plan = _workloads(graph, node)
    if isinstance(plan, str):
        return plan
    limit = _zero_point_limit(node, epilogue)
    if limit is not None:
        return limit
    bias = node.inputs[2] if len(node.inputs) > 2 else None
    layers = []
    try:
        for workload, phase in plan:
            op = {"qdense": "dense", "qmatmul": "matmul"}.get(node.op, "conv2d")
            fused = _fused_plan(workload, epilogue, add, config, node) \
                if add is not None and phase is None else None
            if fused is not None:
                fused_ep, schedule, estimate = fused
                layers.append(VtaLayer(node.name, op, (node.name, add.node.name),
                                       node.inputs[0], node.inputs[1], bias, add.other,
                                       add.node.output, workload, fused_ep, schedule,
                                       estimate))
                continue
            schedule, estimate = _plan(workload, config, epilogue)
            layers.append(VtaLayer(node.name if phase is None else
                                   f"{node.name}#{phase.phase[0]}{phase.phase[1]}",
                                   op, (node.name,), node.inputs[0], node.inputs[1], bias,
                                   None, node.output, workload, epilogue, schedule, estimate,
                                   phase))
    except (ScheduleError, OperatorError) as e:
        return str(e)
    cycles = sum(lay.estimate.cycles for lay in layers)
    macs = sum(lay.workload.macs for lay in layers)
    util = macs / max(1, cycles * config.macs_per_cycle)
    if min_utilization is not None:
        if util < min_utilization:
            return (f"estimated GEMM utilization {util:.2f} is below {min_utilization:.2f}: "
                    "does not pay on the accelerator")
        return layers[0] if plan[0][1] is None else tuple(layers)
    t_vta = vta_seconds(cycles, config)
    t_cpu = host.seconds(cpu_kernel_class(graph, node), macs)
    if t_cpu <= t_vta:
        return (f"does not pay on the accelerator: estimated {t_vta * 1e3:.3g} ms at "
                f"{config.CLOCK_MHZ} MHz (GEMM utilization {util:.2f}) vs "
                f"{t_cpu * 1e3:.3g} ms on the {host.name} CPU")
    return layers[0] if plan[0][1] is None else tuple(layers)


def matmul_operands(a: np.ndarray, b: np.ndarray, config: VTAConfig
                    ) -> tuple[np.ndarray, np.ndarray]:
    """The packed data and weight of :func:`matmul_workload` for host ``a`` and ``b``."""
    m, k, n = a.shape[-2], a.shape[-1], b.shape[-1]
    g = a.size // (m * k)
    x = a.reshape(g, m, k).transpose(0, 2, 1).reshape(1, g * k, m, 1)
    w = b.reshape(g, k, n).transpose(0, 2, 1).reshape(g * n, k, 1, 1)
    w = grouped_weight(w, g, g * k, config)
    return (pack_nchw(np.ascontiguousarray(x), config.batch, config.block),
            pack_oihw(np.ascontiguousarray(w), config.block, config.block))


def matmul_result(packed: np.ndarray, shape: tuple[int, ...], config: VTAConfig
                  ) -> np.ndarray:
    """The ``(..., M, N)`` host result of a matmul layer from its packed output."""
    m, n = shape[-2], shape[-1]
    g = math.prod(shape[:-2])
    y = unpack_nchw(packed, 1, g * n).reshape(g, n, m)
    return np.ascontiguousarray(y.transpose(0, 2, 1)).reshape(shape)


def cpu_kernel_class(graph: Graph, node: Node) -> str:
    """The :mod:`~vta.compiler.cpu_cost` kernel class that runs a conv/dense node on the
    CPU: the llvmlite convolution, depthwise or dense kernel, or the numpy reference for
    another grouped, a dilated or a transposed convolution."""
    if node.op == "qdense":
        return "dense"
    if depthwise_node(graph, node):
        return "depthwise"
    if node.op in ("qconv_transpose2d", "qmatmul") or node.attr("groups", 1) != 1 \
            or pair(node.attr("dilations", 1)) != (1, 1):
        return "reference"
    return "conv"


def _fusable_add(graph: Graph, node: Node) -> _ResidualAdd | None:
    """The residual add that is the only consumer of ``node``'s output, if any."""
    if node.output in graph.outputs:
        return None
    users = graph.consumers(node.output)
    if len(users) != 1:
        return None
    return _residual_add(graph, users[0], node.output)


def _fused_plan(workload: Conv2dWorkload | DenseWorkload, ep: Epilogue, add: _ResidualAdd,
                config: VTAConfig, node: Node
                ) -> tuple[Epilogue, ConvSchedule | DenseSchedule, CostEstimate] | None:
    """The epilogue with ``add`` fused in, its schedule and estimate; None if that does
    not fit.

    The conv's clip must be within int8: the add reads the conv's int8 output, which the
    fused epilogue keeps as the clipped int32 value (a fixed-point requantization whose
    clamp made the clip redundant gets it back: the residual add's no-wrap analysis reads
    it).
    """
    clip = ep.clip
    if clip is None and ep.requant is not None:
        clip = (int(node.attr("lo", -128)), int(node.attr("hi", 127)))
    if clip is None or clip[0] < -128 or clip[1] > 127:
        return None
    try:
        epilogue = Epilogue(ep.bias, ep.shift, clip, True,
                            (int(add.clip[0]), int(add.clip[1])), add.lshift,
                            add.residual_lshift, add.offset, add.shift, ep.requant,
                            ep.pad_correction)
        return (epilogue, *_plan(workload, config, epilogue))
    except (ScheduleError, OperatorError):
        return None
