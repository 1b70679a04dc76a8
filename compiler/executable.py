"""The compiled model: :class:`Executable` runs it and reports what each layer cost.

An executable holds a :class:`~vta.compiler.partition.Partition` of a quantized graph,
one :class:`~vta.compiler.ops.CompiledKernel` per accelerator layer with its packed
weights and bias (:mod:`~vta.compiler.packing`), and one llvmlite kernel per CPU layer
(:mod:`~vta.compiler.host_kernels`).  Calling it on numpy inputs runs the layers in order:
accelerator layers on a :mod:`vta.driver` device (opened on first use), tensors staying
packed in device memory between them; CPU layers on host arrays.  Where a tensor crosses
sides it is packed (``NCHW -> NCHW{b}n{c}c``) or unpacked by the llvmlite layout kernels;
those moves appear in the profile (:mod:`~vta.compiler.layer_profile`) as
``pack``/``unpack`` rows.  Outputs equal :func:`vta.compiler.frontend.interpreter.run` of
the graph bit for bit.

:meth:`Executable.save` and :func:`load` write and read the ``.vtax`` artifact
(:mod:`~vta.compiler.artifact`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from vta.driver import BACKENDS, Device, open_device
from vta.hw.errors import VTAError

from .artifact import Artifact, read_artifact, write_artifact
from .cpu.plan import cpu_plan
from .emit import queue_for
from .frontend.interpreter import bind_inputs
from .frontend.interpreter import run as reference_run
from .host_kernels import build_cpu_kernels
from .layer_profile import LayerProfile, format_profile, node_macs, tensor_bytes, total_cycles
from .ops import CompiledKernel
from .packing import activation_shape, matrix_view
from .partition import Partition, VtaLayer, matmul_operands, matmul_result

if TYPE_CHECKING:
    from vta.sim.timeline import Timeline

__all__ = ["Executable", "load"]


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
        # A model that runs entirely on the CPU: bound kernels over fixed buffers.
        self._plan = None if partition.vta_layers else cpu_plan(
            self.graph, [(lay.node, self._cpu[lay.name]) for lay in partition.cpu_layers])
        self._plan_seconds: list[float] | None = None

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

    def _dev_array(self, tensor: str, packed_shape: tuple[int, ...] | None = None) -> Any:
        arr = self._dev_tensors.get(tensor)
        if arr is None:
            arr = queue_for(self.device).empty(packed_shape or activation_shape(
                self.graph.type_of(tensor).shape, self.config), np.int8)
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
                 progress: Callable[[str], None] | None = None, *,
                 nonfinite: str = "error") -> dict[str, np.ndarray]:
        """Run the model; returns the graph outputs by name.

        Parameters
        ----------
        inputs:
            One array (one-input models) or a dict by input name, float32 like the model's
            inputs.
        progress:
            Called with each layer's name after it ran (e.g. to advance a progress bar).
        nonfinite:
            ``"error"`` (default): a NaN or infinity in an input is a ``ModelError`` naming
            the input and index; ``"saturate"``: NaN counts as 0 and +/-inf as the largest
            float32 of its sign (:mod:`.frontend.tensor_checks`).

        Raises
        ------
        ModelError
            for inputs of the wrong name, shape or kind (complex, strings, objects), or
            holding NaN/inf (unless saturated).
        VTAError
            from the device (timeouts, simulator errors).
        """
        if self._plan is not None:
            outputs, self._plan_seconds = self._plan(inputs, nonfinite=nonfinite)
            self._timeline = None
            if progress is not None:
                for lay in self.layers:
                    progress(lay.describe())
            return outputs
        self._plan_seconds = None
        g = self.graph
        host: dict[str, np.ndarray] = dict(g.params)
        host.update(bind_inputs(g, inputs, nonfinite=nonfinite))
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
                src = host[t] if len(shape) == 4 else host[t].reshape(*matrix_view(shape),
                                                                      1, 1)
                arr.copy_from(self._movers[("pack", t)](src).reshape(arr.shape))
                on_dev.add(t)
                prof.append(LayerProfile(f"pack {t}", "pack", "cpu", time.perf_counter() - t0,
                                         None, None, 0, host[t].nbytes + arr.nbytes))
            return arr

        for lay in self.layers:
            if isinstance(lay, VtaLayer) and lay.on_host:
                prof.append(self._run_matmul(lay, to_host(lay.data), to_host(lay.weight),
                                             host, dev_label))
            elif isinstance(lay, VtaLayer):
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
                read = sum(tensor_bytes(g.type_of(i)) for i in node.inputs)
                prof.append(LayerProfile(lay.name, node.op, "cpu", seconds, None, None,
                                         node_macs(g, node), read + tensor_bytes(t)))
            if progress is not None:
                progress(lay.describe())
        outputs = {name: to_host(name) for name in g.outputs}
        self._profile = prof
        self._timeline = timeline
        return outputs

    def _run_matmul(self, lay: VtaLayer, a: np.ndarray, b: np.ndarray,
                    host: dict[str, np.ndarray], dev_label: str) -> LayerProfile:
        """A matmul of two activations: both operands packed on the host, the kernel run,
        the result unpacked to ``host`` (see :func:`~vta.compiler.partition.matmul_workload`)."""
        kernel = self.kernels[lay.name]
        q = queue_for(self.device)
        data, weight = matmul_operands(a, b, self.config)
        shapes = kernel.operand_shapes()
        arrays = self._dev_weights.get(lay.name)
        if arrays is None:
            arrays = self._dev_weights[lay.name] = {
                k: q.array(v) for k, v in self.packed[lay.name].items()}
        for name, arr in (("data", data), ("weight", weight)):
            if name not in arrays:
                arrays[name] = q.empty(shapes[name][0], shapes[name][1])
            arrays[name].copy_from(arr.reshape(shapes[name][0]))
        out = self._dev_array(f"{lay.name}#out", shapes["out"][0])  # not the tensor's layout
        t0 = time.perf_counter()
        result = kernel.run(self.device, **arrays, out=out)
        seconds = time.perf_counter() - t0
        shape = self.graph.type_of(lay.output).shape
        host[lay.output] = matmul_result(out.numpy(), shape, self.config)
        counters = result.counters if result is not None else {}
        dram = (counters.get("DMA_RD_BYTES", 0) + counters.get("DMA_WR_BYTES", 0)
                or kernel.estimate.dram_bytes)
        return LayerProfile(lay.describe(), "qmatmul", dev_label, seconds,
                            result.cycles if result is not None else None,
                            kernel.estimate.cycles, lay.workload.macs, dram)

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

    def reference(self, inputs: Mapping[str, np.ndarray] | np.ndarray, *,
                  nonfinite: str = "error") -> dict[str, np.ndarray]:
        """The numpy reference outputs of the quantized graph (the exact expected result);
        ``nonfinite`` as for calling the executable."""
        return reference_run(self.graph, bind_inputs(self.graph, inputs, nonfinite=nonfinite))

    # -------------------------------------------------------------- reporting
    def profile(self, *, timeline: str | Path | None = None,
                roofline: str | Path | None = None) -> list[LayerProfile]:
        """Per-layer costs of the last call (layout moves included), in execution order.

        ``timeline``: also write the last call's per-layer timeline (when each module was
        busy, waiting on a token or idle) as Chrome/Perfetto trace JSON; it exists when
        the call ran on a device that records them (verilator).  ``roofline``: also plot
        the accelerator layers' roofline (:mod:`vta.compiler.roofline`) to this image.
        """
        if self._plan_seconds is not None:    # a CPU plan's call: rows made on demand
            g = self.graph
            self._profile = [
                LayerProfile(lay.name, lay.node.op, "cpu", sec, None, None,
                             node_macs(g, lay.node),
                             sum(tensor_bytes(g.type_of(i)) for i in lay.node.inputs)
                             + tensor_bytes(g.type_of(lay.node.output)))
                for lay, sec in zip(self.layers, self._plan_seconds, strict=True)]
            self._plan_seconds = None
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
        return format_profile(self.profile())

    def total_cycles(self) -> int | None:
        """Measured accelerator cycles of the last call (None on an untimed device)."""
        return total_cycles(self.profile())

    def summary(self) -> str:
        """The partition (one line per layer) and the compile times."""
        times = ", ".join(f"{k} {v * 1e3:.0f} ms" for k, v in self.compile_stats.items())
        return (f"{self.graph.name} for {self.config.name} on {self.device_kind}: "
                f"{len(self.partition.vta_layers)} accelerator layers, "
                f"{len(self.partition.cpu_layers)} CPU layers ({times})\n"
                + self.partition.summary())

    # -------------------------------------------------------------- artifacts
    def save(self, path: str | Path) -> Path:
        """Write the compiled artifact to ``path`` (one zip file; see
        :mod:`vta.compiler.artifact`).

        Raises
        ------
        ArtifactError
            if the file cannot be written.
        """
        return write_artifact(path, Artifact(self.partition, self.kernels, self.packed,
                                             self.device_kind, self.compile_stats))

    @classmethod
    def load(cls, path: str | Path, device: str | Device | None = None) -> Executable:
        """Read an artifact written by :meth:`save` (see :func:`load`)."""
        return load(path, device)


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
    t0 = time.perf_counter()
    art = read_artifact(path)
    return Executable(art.partition, art.kernels, art.packed, device or art.device,
                      {"load": time.perf_counter() - t0})
