"""``vta.compiler.compile``: a model in, an :class:`~vta.compiler.executable.Executable` out.

Phases (each timed in ``Executable.compile_stats``):

1. ``import`` -- an ONNX model or path through :func:`~vta.compiler.frontend.import_onnx`;
   a kit :class:`~vta.compiler.frontend.Graph` is taken as is;
2. ``quantize`` -- a float graph is quantized with the calibration samples
   (:func:`~vta.compiler.frontend.quantize`); an already quantized graph is kept;
3. ``partition`` -- :func:`~vta.compiler.partition.partition` (accelerator vs CPU);
4. ``vta_kernels`` -- one kernel per distinct accelerator layer (lowering, micro-kernels;
   the schedules were chosen while partitioning) and the packed weights;
5. ``cpu_kernels`` -- the llvmlite kernels of the CPU layers and layout moves, built on a
   worker thread at the same time as 4 (``vta_and_cpu_kernels`` is the elapsed time of
   both).

Example::

    import vta.compiler
    exe = vta.compiler.compile("model.onnx", config="default", device="fsim",
                               calibration=samples)
    out = exe(image)                      # dict of outputs by name
    print(exe.profile_table())
    exe.save("model.vtax")                # vta.compiler.load("model.vtax", device="pynq")
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from vta.driver import Device
from vta.hw.config import VTAConfig
from vta.runtime import pack_matrix, pack_oihw

from .epilogue import channel_requant
from .errors import ScheduleError
from .executable import Executable
from .frontend.errors import ModelError
from .frontend.graph import Graph
from .frontend.graph import is_quantized as _graph_is_quantized
from .host_kernels import build_cpu_kernels
from .int8_reference import wrap32
from .ops import CompiledKernel, compile_conv2d, compile_dense
from .packing import grouped_weight, pack_bias, pack_const_rows
from .partition import DEFAULT_MIN_UTILIZATION, VtaLayer, layer_requant, partition
from .requant import Requant
from .transposed import phase_weight
from .workload import Conv2dWorkload, DenseWorkload, pad_patterns
from .zero_point import folded_bias, pad_correction_rows

__all__ = ["compile", "to_graph", "calibration_samples", "is_quantized",
           "pack_layer_weights"]


def _timed(fn: Callable[..., Any], *args: Any) -> tuple[Any, float]:
    t0 = time.perf_counter()
    return fn(*args), time.perf_counter() - t0


def is_quantized(graph: Graph) -> bool:
    """True if ``graph`` is quantized (ready to partition; see
    :func:`vta.compiler.frontend.graph.is_quantized`)."""
    return _graph_is_quantized(graph)


def to_graph(model: Any) -> Graph:
    """A kit graph from an ``onnx.ModelProto``, an ``.onnx`` path or a graph.

    Raises
    ------
    ModelError
        for anything else, or an ONNX model the importer rejects.
    """
    if isinstance(model, Graph):
        return model
    if isinstance(model, (str, Path)):
        if not Path(model).is_file():
            raise ModelError(f"no model file {str(model)!r}")
        from .frontend import import_onnx
        return import_onnx(model)
    if type(model).__name__ == "ModelProto":
        from .frontend import import_onnx
        return import_onnx(model)
    raise ModelError(f"compile takes an onnx.ModelProto, an .onnx path or a vta Graph, not "
                     f"{type(model).__name__}")


def calibration_samples(graph: Graph, calibration: Any, seed: int = 0) -> list[Any]:
    """Calibration inputs for :func:`~vta.compiler.frontend.quantize`.

    ``calibration`` is an array (one sample of the input's shape, or a stack of samples), a
    list of samples (arrays or dicts by input name), or ``"random"``: four seeded
    standard-normal samples (zeros for integer inputs such as token ids; enough to run a
    model, real data calibrates better).

    Raises
    ------
    ModelError
        when ``calibration`` is None (a float model needs samples) or not one of the above.
    """
    if calibration is None:
        raise ModelError(f"model {graph.name!r} is float: compile needs calibration samples "
                         "(calibration=array or list of inputs, or 'random' for seeded "
                         "random inputs)")
    if isinstance(calibration, str):
        if calibration != "random":
            raise ModelError(f"calibration must be samples or 'random', not {calibration!r}")
        rng = np.random.default_rng(seed)
        return [{name: rng.standard_normal(graph.type_of(name).shape).astype(np.float32)
                 if graph.type_of(name).dtype == "float32" else
                 np.zeros(graph.type_of(name).shape, graph.type_of(name).dtype)
                 for name in graph.inputs} for _ in range(4)]
    if isinstance(calibration, np.ndarray):
        if len(graph.inputs) == 1 and calibration.shape == graph.type_of(graph.inputs[0]).shape:
            return [calibration]
        return list(calibration)
    if isinstance(calibration, dict):
        return [calibration]
    if isinstance(calibration, Iterable):
        return list(calibration)
    raise ModelError(f"calibration must be an array, a list of samples or 'random', not "
                     f"{type(calibration).__name__}")


def compile(model: Any, config: VTAConfig | str | None = None,
            device: str | Device = "fsim", *, calibration: Any = None,
            per_channel: bool = False, calibration_method: str = "max",
            asymmetric: bool = False,
            min_utilization: float | None = DEFAULT_MIN_UTILIZATION,
            cpu_nodes: Iterable[str] = (),
            cpu_only: bool = False, fuse_residual: bool = True,
            host: str | None = None, seed: int = 0) -> Executable:
    """Compile a model for VTA (and the host CPU for what VTA does not run).

    Parameters
    ----------
    model:
        An ``onnx.ModelProto``, the path of an ``.onnx`` file, or a kit
        :class:`~vta.compiler.frontend.Graph` (float, or already quantized).
    config:
        A :class:`~vta.hw.VTAConfig`, a preset name or a JSON path (default: ``default``);
        ignored in favour of the device's config when ``device`` is an open Device.
    device:
        Where the executable runs: ``fsim`` (default), ``verilator``, ``pysim``, ``pynq``
        (opened on first call), or an open :class:`~vta.driver.Device`.
    calibration:
        Samples for quantizing a float model (see :func:`calibration_samples`).
    per_channel, calibration_method, asymmetric:
        Options of the kit's quantizer (:func:`~vta.compiler.frontend.quantize`):
        per-channel weight scales, the range estimate (``max``, ``percentile``,
        ``entropy``), activations with zero points.  All keep power-of-two scales, so the
        layers run on the accelerator of every config.
    min_utilization, cpu_nodes, cpu_only, fuse_residual, host:
        Partitioning options (see :func:`~vta.compiler.partition.partition`): ``host``
        names the CPU profile a layer must beat on the accelerator (default: the config's
        board, :mod:`vta.compiler.cpu_cost`).
    seed:
        Seed of ``calibration="random"``.

    Returns
    -------
    Executable
        Call it on numpy inputs; ``.profile()``, ``.save(path)``.

    Raises
    ------
    ModelError
        for a model that cannot be imported, quantized or partitioned (names the node).
    ConfigError, ScheduleError, KernelError
        from the configuration, the kernel compiler or the CPU kernel generator.
    """
    stats: dict[str, float] = {}
    t0 = time.perf_counter()
    graph = to_graph(model)
    stats["import"] = time.perf_counter() - t0
    cfg = device.config if isinstance(device, Device) else VTAConfig.load(config)
    if not is_quantized(graph):
        from .frontend import quantize

        t0 = time.perf_counter()
        samples = calibration_samples(graph, calibration, seed)
        graph = quantize(graph, samples, per_channel=per_channel,
                         calibration=calibration_method, asymmetric=asymmetric)
        stats["quantize"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    part = partition(graph, cfg, min_utilization=min_utilization, cpu_nodes=cpu_nodes,
                     cpu_only=cpu_only, fuse_residual=fuse_residual, host=host)
    stats["partition"] = time.perf_counter() - t0
    # The llvmlite kernels build on a worker thread while this one lowers the accelerator
    # kernels: LLVM's optimizer and code generator run outside the GIL.
    with ThreadPoolExecutor(1) as pool:
        t_cpu = time.perf_counter()
        cpu_future = pool.submit(_timed, build_cpu_kernels, part)
        t0 = time.perf_counter()
        kernels: dict[str, CompiledKernel] = {}
        packed: dict[str, dict[str, np.ndarray]] = {}
        built: dict[tuple, CompiledKernel] = {}
        for layer in part.vta_layers:
            key = (layer.workload, layer.epilogue, layer.schedule)
            kernel = built.get(key)
            if kernel is None:
                fn = compile_conv2d if isinstance(layer.workload, Conv2dWorkload) \
                    else compile_dense
                kernel = built[key] = fn(layer.workload, cfg, layer.epilogue, layer.schedule)
                kernel.uop_kernels()
            kernels[layer.name] = kernel
            packed[layer.name] = pack_layer_weights(graph, layer, cfg)
        stats["vta_kernels"] = time.perf_counter() - t0
        cpu_kernels, stats["cpu_kernels"] = cpu_future.result()
    stats["vta_and_cpu_kernels"] = time.perf_counter() - t_cpu
    exe = Executable(part, kernels, packed, device, stats, cpu_kernels)
    return exe


def pack_layer_weights(graph: Graph, layer: VtaLayer, config: VTAConfig
                       ) -> dict[str, np.ndarray]:
    """The packed weight, bias and constant-row operands of an accelerator layer: the bias
    with the input zero point folded in, the requantization's per-channel rows and the
    zero point's border corrections (:mod:`vta.compiler.zero_point`).  A matmul's operands
    are both packed per call: only its rounding offset (the bias) is constant; a phase of
    a transposed convolution takes its taps of the weight; a grouped convolution's weight
    is block-diagonal over its super-groups."""
    node = graph.node(layer.nodes[0])
    if layer.op == "matmul":
        ocb = layer.workload.blocks(config)[2]
        offset = np.full(layer.workload.out_channels, node.attr("offset", 0), np.int32)
        return {"bias": pack_bias(offset, config, ocb)} if layer.epilogue.bias else {}
    w = np.asarray(graph.params[layer.weight])
    if layer.phase is not None:     # one sub-convolution of a transposed convolution
        w = phase_weight(w, node.attr("groups", 1), node.attr("strides", 1), layer.phase)
    if layer.op == "conv2d":
        wl = layer.workload
        w = grouped_weight(w, wl.groups, wl.in_channels, config)
        packed = {"weight": pack_oihw(w, config.block, config.block)}
    else:
        packed = {"weight": pack_matrix(w, config.block, config.block)}
    ocb = packed["weight"].shape[0]
    zx = int(node.attr("x_zero_point", 0))
    ep = layer.epilogue
    folded = layer_requant(graph, node)     # the partitioner's choice, from the same node
    if folded is not None:
        requant, bias_rows = folded
        if ep.bias != (bias_rows is not None):
            raise ScheduleError(f"{node.describe()}: the epilogue's bias add and the packed "
                                "operands disagree (internal error)")
    else:
        requant = Requant.from_attrs(node.attrs)
        bias = graph.params[layer.bias] if layer.bias is not None else None
        bias_rows = wrap32(folded_bias(bias, w, zx)) if ep.bias else None
    if bias_rows is not None:
        packed["bias"] = pack_bias(bias_rows, config, ocb)
    workload = layer.workload.as_conv2d() if isinstance(layer.workload, DenseWorkload) \
        else layer.workload
    rows: list[np.ndarray] = []
    if ep.const_rows:
        _, _, values = channel_requant(requant, w.shape[0])
        rows += [values[name] for name in ep.const_rows]
    if ep.pad_correction and not workload.is_matrix:
        rows += list(pad_correction_rows(w.reshape(w.shape[0], -1, *workload.kernel), zx,
                                         pad_patterns(workload)))
    if rows:
        packed["consts"] = pack_const_rows(wrap32(np.stack(rows)), config, ocb)
    return packed
