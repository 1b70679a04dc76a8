"""The compiled model: :class:`Executable` runs, profiles, saves and loads.

An executable holds a :class:`~vta.compiler.partition.Partition` of a quantized graph,
one :class:`~vta.compiler.ops.CompiledKernel` per accelerator layer with its packed
weights and bias, and one llvmlite kernel per CPU layer.  Calling it on numpy inputs runs
the layers in order: accelerator layers on a :mod:`vta.driver` device (opened on first
use), tensors staying packed in device memory between them; CPU layers on host arrays.
Where a tensor crosses sides it is packed (``NCHW -> NCHW{b}n{c}c``) or unpacked by the
llvmlite layout kernels; those moves appear in the profile as ``pack``/``unpack`` rows.
Outputs equal :func:`vta.compiler.frontend.reference.run` of the graph bit for bit.

The saved artifact (:meth:`Executable.save`, :func:`load`) is one zip file:

``manifest.json``
    format version, config, the quantized graph (nodes, types, param keys), the layers in
    order; for an accelerator layer its kernel description
    (:meth:`CompiledKernel.to_dict`: workload, schedule, epilogue -- the lowering is
    deterministic) and a digest of the tile program it lowers to; for a CPU layer the node
    (the kernel is regenerated from it for the loading host's CPU).
``arrays/*.npy``
    graph params and the packed accelerator weights and biases.

Loading re-lowers each accelerator kernel from its description and refuses the artifact
if the instruction program differs from the saved digest, so a board runs exactly what
the host compiled.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from vta.driver import BACKENDS, Device, open_device
from vta.hw.config import VTAConfig
from vta.hw.errors import VTAError

from .cpu import kernel_for_node
from .cpu.layout import pack_kernel, unpack_kernel
from .frontend.graph import Graph, Node, TensorType
from .frontend.reference import bind_inputs
from .frontend.reference import run as reference_run
from .ops import CompiledKernel, pack_bias, queue_for
from .partition import CpuLayer, Partition, VtaLayer

if TYPE_CHECKING:
    from vta.sim.timeline import Timeline

__all__ = ["Executable", "LayerProfile", "ArtifactError", "load", "FORMAT",
           "program_digest", "graph_to_json", "graph_from_json", "build_cpu_kernels",
           "pack_layer_weights"]

FORMAT = "vta-kit-executable/1"
"""Format tag of saved artifacts."""


class ArtifactError(VTAError):
    """A saved executable cannot be read, or does not match this kit's compiler."""


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


def program_digest(kernel: CompiledKernel) -> str:
    """A digest of the kernel's tile program (every DMA descriptor and micro-kernel)."""
    return hashlib.sha256(repr((kernel.program.threads, kernel.program.tiles)).encode()
                          ).hexdigest()[:32]


def _node_macs(graph: Graph, node: Node) -> int:
    if node.op == "qconv2d":
        w = graph.type_of(node.inputs[1]).shape
        return graph.type_of(node.output).size * w[1] * w[2] * w[3]
    if node.op == "qdense":
        return graph.type_of(node.output).size * graph.type_of(node.inputs[1]).shape[1]
    return 0


def _nbytes(t: TensorType) -> int:
    return t.size * np.dtype(t.dtype).itemsize


# ------------------------------------------------------------------------------ executable
class Executable:
    """A model compiled for VTA and the host CPU; call it on numpy inputs.

    Built by :func:`vta.compiler.compile` (or :func:`load`), not directly.

    Parameters
    ----------
    partition:
        The layers of the quantized graph.
    kernels:
        Accelerator layer name -> compiled kernel.
    packed:
        Accelerator layer name -> ``{"weight": array, "bias": array}`` packed for the device.
    device:
        Device kind (``fsim``, ``verilator``, ``pysim``, ``pynq``) opened on first call, or an
        open :class:`~vta.driver.Device` of the same config.
    compile_stats:
        Seconds per compile phase (shown by :meth:`summary`).
    cpu_kernels:
        The result of :func:`build_cpu_kernels` when already built (else built here).

    Members
    -------
    graph, config, partition, layers, compile_stats.
    timeline_window:
        Cycles between counter samples of the per-layer timeline recorded on devices that
        can (verilator); ``None`` records none.
    """

    timeline_window: int | None = 1024

    def __init__(self, partition: Partition, kernels: Mapping[str, CompiledKernel],
                 packed: Mapping[str, Mapping[str, np.ndarray]],
                 device: str | Device = "fsim",
                 compile_stats: Mapping[str, float] | None = None,
                 cpu_kernels: tuple[dict, dict] | None = None) -> None:
        self.partition = partition
        self.graph = partition.graph
        self.config = partition.config
        self.layers = partition.layers
        self.kernels = dict(kernels)
        self.packed = {k: dict(v) for k, v in packed.items()}
        self.compile_stats = dict(compile_stats or {})
        missing = [lay.name for lay in partition.vta_layers if lay.name not in self.kernels]
        if missing:
            raise VTAError(f"executable: no compiled kernel for accelerator layer "
                           f"{missing[0]!r}")
        if isinstance(device, Device):
            if device.config != self.config:
                raise VTAError(f"executable compiled for config {self.config.name} cannot "
                               f"run on a device of config {device.config.name}")
            self._device: Device | None = device
            self.device_kind = getattr(device, "kind", type(device).__name__)
        else:
            if device not in BACKENDS:
                raise VTAError(f"unknown device {device!r}; expected one of "
                               f"{', '.join(BACKENDS)} or an open vta.driver.Device")
            self._device = None
            self.device_kind = str(device)
        self._owns_device = not isinstance(device, Device)
        t0 = time.perf_counter()
        self._cpu, self._movers = cpu_kernels or build_cpu_kernels(partition)
        self.compile_stats.setdefault("cpu_kernels", time.perf_counter() - t0)
        self._dev_weights: dict[str, dict[str, Any]] = {}
        self._dev_tensors: dict[str, Any] = {}
        self._profile: list[LayerProfile] = []
        self._timeline: Timeline | None = None

    def _packed_shape(self, tensor: str) -> tuple[int, ...]:
        return _packed_shape(self.graph, self.config, tensor)

    # -------------------------------------------------------------- device
    @property
    def device(self) -> Device:
        """The device accelerator layers run on (opened on first use)."""
        if self._device is None or self._device.closed:
            self._device = open_device(self.device_kind, self.config)
            self._owns_device = True
            self._dev_weights.clear()
            self._dev_tensors.clear()
        return self._device

    def _weights(self, layer: VtaLayer) -> dict[str, Any]:
        arrays = self._dev_weights.get(layer.name)
        if arrays is None:
            q = queue_for(self.device)
            arrays = {k: q.array(v) for k, v in self.packed[layer.name].items()}
            self._dev_weights[layer.name] = arrays
        return arrays

    def _dev_array(self, tensor: str) -> Any:
        arr = self._dev_tensors.get(tensor)
        if arr is None:
            arr = queue_for(self.device).empty(self._packed_shape(tensor), np.int8)
            self._dev_tensors[tensor] = arr
        return arr

    def close(self) -> None:
        """Free device memory and close the device if this executable opened it."""
        for arrays in self._dev_weights.values():
            for a in arrays.values():
                a.free()
        for a in self._dev_tensors.values():
            a.free()
        self._dev_weights.clear()
        self._dev_tensors.clear()
        if self._device is not None and self._owns_device and not self._device.closed:
            self._device.close()
        self._device = None if self._owns_device else self._device

    def __enter__(self) -> Executable:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -------------------------------------------------------------- running
    def __call__(self, inputs: Mapping[str, np.ndarray] | np.ndarray,
                 progress: Callable[[str], None] | None = None) -> dict[str, np.ndarray]:
        """Run the model; returns the graph outputs by name.

        Parameters
        ----------
        inputs:
            One array (one-input models) or a dict by input name, float32 like the model's
            inputs.
        progress:
            Called with each layer's name after it ran (e.g. to advance a progress bar).

        Raises
        ------
        ModelError
            for inputs of the wrong name or shape.
        VTAError
            from the device (timeouts, simulator errors).
        """
        g = self.graph
        host: dict[str, np.ndarray] = dict(g.params)
        host.update(bind_inputs(g, inputs))
        on_dev: set[str] = set()
        prof: list[LayerProfile] = []
        dev_label = f"vta:{self.device_kind}"
        timeline = self._new_timeline()

        def to_host(t: str) -> np.ndarray:
            if t not in host:
                t0 = time.perf_counter()
                raw = self._dev_tensors[t].numpy()
                host[t] = self._movers[("unpack", t)](raw)
                prof.append(LayerProfile(f"unpack {t}", "unpack", "cpu",
                                         time.perf_counter() - t0, None, None, 0,
                                         raw.nbytes + host[t].nbytes))
            return host[t]

        def to_device(t: str) -> Any:
            arr = self._dev_array(t)
            if t not in on_dev:
                t0 = time.perf_counter()
                shape = g.type_of(t).shape
                src = host[t] if len(shape) == 4 else host[t].reshape(*shape, 1, 1)
                arr.copy_from(self._movers[("pack", t)](src).reshape(arr.shape))
                on_dev.add(t)
                prof.append(LayerProfile(f"pack {t}", "pack", "cpu", time.perf_counter() - t0,
                                         None, None, 0, host[t].nbytes + arr.nbytes))
            return arr

        for lay in self.layers:
            if isinstance(lay, VtaLayer):
                kernel = self.kernels[lay.name]
                operands = {"data": to_device(lay.data), **self._weights(lay)}
                if lay.residual is not None:
                    operands["residual"] = to_device(lay.residual)
                operands["out"] = self._dev_array(lay.output)
                t0 = time.perf_counter()
                if timeline is not None:
                    timeline.label = lay.describe()
                    with self.device.recording(timeline):  # type: ignore[attr-defined]
                        result = kernel.run(self.device, **operands)
                else:
                    result = kernel.run(self.device, **operands)
                seconds = time.perf_counter() - t0
                on_dev.add(lay.output)
                host.pop(lay.output, None)
                cycles = result.cycles if result is not None else None
                counters = result.counters if result is not None else {}
                dram = (counters.get("DMA_RD_BYTES", 0) + counters.get("DMA_WR_BYTES", 0)
                        or kernel.estimate.dram_bytes)
                prof.append(LayerProfile(lay.describe(), "+".join(
                    g.node(n).op for n in lay.nodes), dev_label, seconds, cycles,
                    kernel.estimate.cycles, lay.workload.macs, dram))
            else:
                node = lay.node
                args = [to_host(i) for i in node.inputs]
                t0 = time.perf_counter()
                out = self._cpu[lay.name](*args)
                seconds = time.perf_counter() - t0
                t = g.type_of(node.output)
                host[node.output] = np.asarray(out).reshape(t.shape)
                read = sum(_nbytes(g.type_of(i)) for i in node.inputs)
                prof.append(LayerProfile(lay.name, node.op, "cpu", seconds, None, None,
                                         _node_macs(g, node), read + _nbytes(t)))
            if progress is not None:
                progress(lay.describe())
        outputs = {name: to_host(name) for name in g.outputs}
        self._profile = prof
        self._timeline = timeline
        return outputs

    def _new_timeline(self) -> Timeline | None:
        """A timeline for the next call when the device records them (verilator)."""
        if self.timeline_window is None or not hasattr(self.device, "recording"):
            return None
        from vta.sim.timeline import Timeline

        return Timeline.for_config(self.config, window=self.timeline_window,
                                   name=f"{self.graph.name} on {self.device_kind} "
                                        f"({self.config.name})")

    def run(self, inputs: Mapping[str, np.ndarray] | np.ndarray) -> dict[str, np.ndarray]:
        """Same as calling the executable."""
        return self(inputs)

    def reference(self, inputs: Mapping[str, np.ndarray] | np.ndarray
                  ) -> dict[str, np.ndarray]:
        """The numpy reference outputs of the quantized graph (the exact expected result)."""
        return reference_run(self.graph, inputs)

    # -------------------------------------------------------------- reporting
    def profile(self, *, timeline: str | Path | None = None,
                roofline: str | Path | None = None) -> list[LayerProfile]:
        """Per-layer costs of the last call (layout moves included), in execution order.

        ``timeline``: also write the last call's per-layer timeline (when each module was
        busy, waiting on a token or idle) as Chrome/Perfetto trace JSON; it exists when
        the call ran on a device that records them (verilator).  ``roofline``: also plot
        the accelerator layers' roofline (:mod:`vta.compiler.roofline`) to this image.
        """
        if timeline is not None:
            if self._timeline is None:
                raise VTAError(f"no timeline of the last call: it ran on "
                               f"{self.device_kind}; timelines need device='verilator' "
                               f"(and a call first)")
            self._timeline.save(timeline)
        if roofline is not None:
            from .roofline import plot_roofline, roofline_points, roofs_for

            plot_roofline(roofline_points(self._profile), roofs_for(self.config), roofline,
                          title=f"{self.graph.name} on {self.device_kind} "
                                f"({self.config.name})")
        return list(self._profile)

    @property
    def timeline(self) -> Timeline | None:
        """The last call's :class:`~vta.sim.timeline.Timeline` (None if not recorded)."""
        return self._timeline

    def profile_table(self) -> str:
        """The last call's profile as a text table with totals."""
        rows = self._profile
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

    def total_cycles(self) -> int | None:
        """Measured accelerator cycles of the last call (None on an untimed device)."""
        vta = [r for r in self._profile if r.device.startswith("vta")]
        if any(r.cycles is None for r in vta):
            return None
        return sum(r.cycles for r in vta)  # type: ignore[misc]

    def summary(self) -> str:
        """The partition (one line per layer) and the compile times."""
        times = ", ".join(f"{k} {v * 1e3:.0f} ms" for k, v in self.compile_stats.items())
        return (f"{self.graph.name} for {self.config.name} on {self.device_kind}: "
                f"{len(self.partition.vta_layers)} accelerator layers, "
                f"{len(self.partition.cpu_layers)} CPU layers ({times})\n"
                + self.partition.summary())

    # -------------------------------------------------------------- artifacts
    def save(self, path: str | Path) -> Path:
        """Write the compiled artifact to ``path`` (one zip file; see the module doc).

        Raises
        ------
        ArtifactError
            if the file cannot be written.
        """
        path = Path(path)
        arrays: dict[str, np.ndarray] = {}
        graph_json = graph_to_json(self.graph, arrays)
        layers = []
        for i, lay in enumerate(self.layers):
            if isinstance(lay, VtaLayer):
                kernel = self.kernels[lay.name]
                keys = {}
                for what, arr in self.packed[lay.name].items():
                    keys[what] = f"vta{i}.{what}"
                    arrays[keys[what]] = arr
                layers.append({"device": "vta", "name": lay.name, "nodes": list(lay.nodes),
                               "data": lay.data, "weight": lay.weight, "bias": lay.bias,
                               "residual": lay.residual, "output": lay.output,
                               "kernel": kernel.to_dict(), "digest": program_digest(kernel),
                               "arrays": keys})
            else:
                layers.append({"device": "cpu", "node": lay.name, "reason": lay.reason})
        manifest = {"format": FORMAT, "config": self.config.to_dict(),
                    "device": self.device_kind, "graph": graph_json, "layers": layers,
                    "compile_stats": self.compile_stats}
        try:
            with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
                z.writestr("manifest.json", json.dumps(manifest, indent=1))
                for key, arr in arrays.items():
                    buf = io.BytesIO()
                    np.save(buf, np.ascontiguousarray(arr), allow_pickle=False)
                    z.writestr(f"arrays/{key}.npy", buf.getvalue())
        except OSError as e:
            raise ArtifactError(f"cannot write executable {path}: {e.strerror or e}") from None
        return path

    @classmethod
    def load(cls, path: str | Path, device: str | Device | None = None) -> Executable:
        """Read an artifact written by :meth:`save` (see :func:`load`)."""
        return load(path, device)


# ------------------------------------------------------------------------------ planning
Mover = Callable[[np.ndarray], np.ndarray]


def _sides(partition: Partition) -> dict[str, str]:
    """Where each tensor is produced: ``vta`` or ``cpu`` (inputs and params: cpu)."""
    g = partition.graph
    side = dict.fromkeys(g.inputs, "cpu")
    side.update(dict.fromkeys(g.params, "cpu"))
    for lay in partition.layers:
        side[lay.output] = lay.device
    return side


def _packed_shape(graph: Graph, config: VTAConfig, tensor: str) -> tuple[int, ...]:
    """The accelerator layout of an NCHW or (N, K) int8 tensor."""
    shape = graph.type_of(tensor).shape
    c = config
    if len(shape) == 4:
        n, ch, h, w = shape
        return (-(-n // c.batch), -(-ch // c.block), h, w, c.batch, c.block)
    n, k = shape
    return (-(-n // c.batch), -(-k // c.block), c.batch, c.block)


def _unpacker(graph: Graph, config: VTAConfig, tensor: str) -> Mover:
    shape = graph.type_of(tensor).shape
    packed = _packed_shape(graph, config, tensor)
    packed6 = packed if len(packed) == 6 else (packed[0], packed[1], 1, 1, *packed[2:])
    k = unpack_kernel(packed6, shape[0], shape[1], "int8")
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
        for t in lay.inputs:
            if lay.device == "vta" and side[t] == "cpu" and ("pack", t) not in movers:
                shape = g.type_of(t).shape
                shape4 = shape if len(shape) == 4 else (*shape, 1, 1)
                movers[("pack", t)] = pack_kernel(shape4, c.batch, c.block, "int8")
            elif lay.device == "cpu" and side.get(t) == "vta" and ("unpack", t) not in movers:
                movers[("unpack", t)] = _unpacker(g, c, t)
    for t in g.outputs:
        if side.get(t) == "vta" and ("unpack", t) not in movers:
            movers[("unpack", t)] = _unpacker(g, c, t)
    return cpu, movers


# ------------------------------------------------------------------------------ artifacts
def graph_to_json(graph: Graph, arrays: dict[str, np.ndarray]) -> dict:
    """A JSON-able description of ``graph``; its params are added to ``arrays``."""
    keys = {}
    for i, (name, value) in enumerate(graph.params.items()):
        keys[name] = f"param{i}"
        arrays[keys[name]] = value
    return {"name": graph.name, "inputs": list(graph.inputs), "outputs": list(graph.outputs),
            "nodes": [{"op": n.op, "name": n.name, "inputs": list(n.inputs),
                       "output": n.output, "attrs": dict(n.attrs)} for n in graph.nodes],
            "types": {k: {"shape": list(t.shape), "dtype": t.dtype, "scale": t.scale}
                      for k, t in graph.types.items()},
            "params": keys}


def graph_from_json(d: dict, arrays: Mapping[str, np.ndarray]) -> Graph:
    """The graph described by :func:`graph_to_json`."""
    nodes = [Node(n["op"], n["name"], tuple(n["inputs"]), n["output"], n["attrs"])
             for n in d["nodes"]]
    types = {k: TensorType(tuple(t["shape"]), t["dtype"], t["scale"])
             for k, t in d["types"].items()}
    params = {name: arrays[key] for name, key in d["params"].items()}
    return Graph(d["name"], tuple(d["inputs"]), tuple(d["outputs"]), nodes, params, types)


def _read_artifact(path: Path) -> tuple[dict, dict[str, np.ndarray]]:
    try:
        with zipfile.ZipFile(path) as z:
            manifest = json.loads(z.read("manifest.json"))
            arrays = {}
            for name in z.namelist():
                if name.startswith("arrays/") and name.endswith(".npy"):
                    arrays[name[7:-4]] = np.load(io.BytesIO(z.read(name)), allow_pickle=False)
    except FileNotFoundError:
        raise ArtifactError(f"no executable at {path}") from None
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as e:
        raise ArtifactError(f"{path} is not a saved vta-kit executable ({e})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ArtifactError(f"{path}: format {manifest.get('format')!r} is not {FORMAT!r}")
    return manifest, arrays


def load(path: str | Path, device: str | Device | None = None) -> Executable:
    """Load an executable saved by :meth:`Executable.save`.

    Parameters
    ----------
    path:
        The artifact file.
    device:
        Where to run (a kind or an open Device); default: the kind it was compiled for.

    Raises
    ------
    ArtifactError
        for a missing or malformed file, or an accelerator kernel whose lowering on this
        kit differs from the saved program digest.
    """
    from vta.compiler.schedule import Conv2dWorkload, DenseWorkload

    from .reference_ops import Epilogue

    path = Path(path)
    t0 = time.perf_counter()
    manifest, arrays = _read_artifact(path)
    try:
        config = VTAConfig.from_dict(manifest["config"])
        graph = graph_from_json(manifest["graph"], arrays)
        layers: list[VtaLayer | CpuLayer] = []
        kernels: dict[str, CompiledKernel] = {}
        packed: dict[str, dict[str, np.ndarray]] = {}
        by_desc: dict[str, CompiledKernel] = {}
        for d in manifest["layers"]:
            if d["device"] == "cpu":
                layers.append(CpuLayer(graph.node(d["node"]), d.get("reason", "")))
                continue
            desc = json.dumps(d["kernel"], sort_keys=True)
            kernel = by_desc.get(desc)
            if kernel is None:
                kernel = by_desc[desc] = CompiledKernel.from_dict(d["kernel"])
            if program_digest(kernel) != d["digest"]:
                raise ArtifactError(f"{path}: layer {d['name']!r} lowers to a different "
                                    "instruction program on this kit than when it was saved "
                                    "(recompile the model)")
            ep = kernel.epilogue
            assert isinstance(ep, Epilogue)
            if not isinstance(kernel.workload, (Conv2dWorkload, DenseWorkload)):
                raise ArtifactError(f"{path}: layer {d['name']!r} has no workload")
            layers.append(VtaLayer(d["name"], kernel.op, tuple(d["nodes"]), d["data"],
                                   d["weight"], d["bias"], d["residual"], d["output"],
                                   kernel.workload, ep, kernel.schedule, kernel.estimate))
            kernels[d["name"]] = kernel
            packed[d["name"]] = {what: arrays[key] for what, key in d["arrays"].items()}
    except ArtifactError:
        raise
    except (KeyError, TypeError, ValueError) as e:
        raise ArtifactError(f"{path}: malformed executable manifest ({e})") from None
    partition = Partition(graph, config, tuple(layers))
    stats = {"load": time.perf_counter() - t0}
    return Executable(partition, kernels, packed, device or manifest.get("device", "fsim"),
                      stats)


def pack_layer_weights(graph: Graph, layer: VtaLayer, config: VTAConfig
                       ) -> dict[str, np.ndarray]:
    """The packed weight (and bias) operands of an accelerator layer."""
    from vta.runtime import pack_matrix, pack_oihw

    w = np.asarray(graph.params[layer.weight])
    if layer.op == "conv2d":
        packed = {"weight": pack_oihw(w, config.block, config.block)}
    else:
        packed = {"weight": pack_matrix(w, config.block, config.block)}
    if layer.bias is not None:
        ocb = packed["weight"].shape[0]
        packed["bias"] = pack_bias(np.asarray(graph.params[layer.bias], np.int32), config, ocb)
    return packed
