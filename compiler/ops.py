"""The operator API: int8 conv2d and dense with a fused epilogue, on any VTA device.

Two forms:

* one call -- ``conv2d(target, data, weight, bias, ...)`` and ``dense(...)`` take packed
  arrays (numpy or :class:`~vta.runtime.DeviceArray`), schedule, lower, run and return the
  packed int8 result (numpy in, numpy out; device arrays in, a device array out);
* compile once, run many -- ``compile_conv2d(workload, config, epilogue)`` returns a
  :class:`CompiledKernel` holding the tile program and its micro-kernels for fixed shapes;
  ``kernel.run(target, data=..., weight=..., out=...)`` replays it on new buffers, and
  ``kernel.to_dict()`` / :meth:`CompiledKernel.from_dict` save and restore it (the lowering
  is deterministic, so the artifact is the workload, schedule, epilogue and config).

``target`` is a :class:`~vta.driver.Device` or a :class:`~vta.runtime.CommandQueue`.  The
token protocol between the load, compute and store stages is in :func:`emit`.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from vta.driver.device import Buffer, Device
from vta.hw.config import VTAConfig
from vta.hw.isa import MemType
from vta.runtime import COMPUTE, LOAD, STORE, CommandQueue, DeviceArray, KernelBuilder
from vta.runtime.uop_kernel import UopKernel

from .conv2d import lower_conv2d
from .cost_model import CostEstimate, estimate_conv2d, estimate_dense
from .dense import lower_dense
from .reference_ops import NO_EPILOGUE, Epilogue, OperatorError
from .schedule import (
    Conv2dWorkload,
    ConvSchedule,
    DenseSchedule,
    DenseWorkload,
    schedule_conv2d,
    schedule_dense,
)
from .tile_program import DmaLoad, DmaStore, Kernel, TileProgram

__all__ = ["CompiledKernel", "compile_conv2d", "compile_dense", "conv2d", "dense", "emit",
           "queue_for", "OperatorError", "pack_bias"]

_QUEUES: weakref.WeakKeyDictionary[Device, CommandQueue] = weakref.WeakKeyDictionary()


def queue_for(target: Device | CommandQueue) -> CommandQueue:
    """The command queue to use for ``target`` (one shared queue per device)."""
    if isinstance(target, CommandQueue):
        return target
    if isinstance(target, Device):
        q = _QUEUES.get(target)
        if q is None:
            q = _QUEUES[target] = CommandQueue(target)
        return q
    raise OperatorError(f"target must be a vta Device or CommandQueue, not "
                        f"{type(target).__name__}")


def build_uop_kernel(config: VTAConfig, kernel: Kernel) -> UopKernel:
    """Record a :class:`~vta.compiler.tile_program.Kernel` as a runtime micro-kernel."""
    b = KernelBuilder(config, key=("vta.compiler", len(kernel.uops), kernel.loops))
    for extent, fd, fs, fw in kernel.loops:
        b.loop_begin(extent, fd, fs, fw)
    if kernel.kind == "gemm":
        for d, s, w in kernel.uops:
            b.push(0, kernel.reset, d, s, w)
    else:
        for d, s, _ in kernel.uops:
            b.push(1, 0, d, s, 0, kernel.alu_opcode, kernel.use_imm, kernel.imm)
    for _ in kernel.loops:
        b.loop_end()
    return b.finish()


def emit(program: TileProgram, q: CommandQueue, operands: dict[str, Any],
         kernels: dict[Kernel, UopKernel]) -> None:
    """Queue ``program`` on ``q`` with DRAM ``operands`` (name -> DeviceArray/Buffer).

    Token protocol (T = ``program.threads`` SRAM halves):

    * step s (INP/WGT loads into half s % T): the load stage first waits for compute to
      release the half (pop compute->load when s >= T), loads, then hands over
      (push load->compute); compute pops it, runs the GEMMs and releases the half;
    * tile t (ACC half t % T): compute waits for the store stage to drain the half
      (pop store->compute when t >= T) before the reset, runs the epilogue, hands the
      OUT rows to store (push compute->store); store writes them back and releases the
      half (push store->compute);
    * at the end the leftover tokens are popped, so the channels are balanced after
      every operator and operators can follow each other on one queue.
    """
    T = program.threads
    step = 0

    def run_kernel(k: Kernel) -> None:
        uk = kernels[k]
        (q.push_gemm_op if k.kind == "gemm" else q.push_alu_op)(uk)

    def load(ld: DmaLoad) -> None:
        q.load_buffer_2d(operands[ld.operand], ld.offset, ld.x_size, ld.y_size, ld.x_stride,
                         ld.x_pad_0, ld.y_pad_0, ld.x_pad_1, ld.y_pad_1, ld.sram_base,
                         ld.memory_type)

    for t, tile in enumerate(program.tiles):
        if t >= T:
            q.dep_pop(STORE, COMPUTE)
        for item in tile.prologue:
            if isinstance(item, Kernel):
                run_kernel(item)
            else:
                load(item)
        for st in tile.steps:
            if step >= T:
                q.dep_pop(COMPUTE, LOAD)
            for ld in st.loads:
                load(ld)
            q.dep_push(LOAD, COMPUTE)
            q.dep_pop(LOAD, COMPUTE)
            for k in st.kernels:
                run_kernel(k)
            q.dep_push(COMPUTE, LOAD)
            step += 1
        for k in tile.epilogue:
            run_kernel(k)
        q.dep_push(COMPUTE, STORE)
        q.dep_pop(COMPUTE, STORE)
        for sd in tile.stores:
            _store(q, sd, operands)
        q.dep_push(STORE, COMPUTE)
    for _ in range(min(T, step)):
        q.dep_pop(COMPUTE, LOAD)
    for _ in range(min(T, len(program.tiles))):
        q.dep_pop(STORE, COMPUTE)


def _store(q: CommandQueue, sd: DmaStore, operands: dict[str, Any]) -> None:
    q.store_buffer_2d(sd.sram_base, MemType.OUT, operands[sd.operand], sd.offset, sd.x_size,
                      sd.y_size, sd.x_stride)


# ------------------------------------------------------------------------------ compiled
@dataclass
class CompiledKernel:
    """An operator compiled for fixed shapes: re-runnable on new buffers.

    Members
    -------
    op:
        ``"conv2d"`` or ``"dense"``.
    workload, schedule, epilogue, config:
        What was compiled.
    program:
        The :class:`~vta.compiler.tile_program.TileProgram`.
    estimate:
        The cost model's :class:`~vta.compiler.cost_model.CostEstimate`.
    compile_seconds:
        Time spent scheduling and lowering.
    """

    op: str
    workload: Conv2dWorkload | DenseWorkload
    schedule: ConvSchedule | DenseSchedule
    epilogue: Epilogue
    config: VTAConfig
    program: TileProgram
    estimate: CostEstimate
    compile_seconds: float = 0.0
    _uop_kernels: dict[Kernel, UopKernel] = field(default_factory=dict, repr=False)

    # -------------------------------------------------------------- shapes
    def operand_shapes(self) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
        """Packed shape and dtype of every operand (``data``, ``weight``, ``out``, ...)."""
        c, w = self.config, self.workload
        B, K = c.batch, c.block
        if isinstance(w, Conv2dWorkload):
            nb, icb, ocb = w.blocks(c)
            out = (nb, ocb, w.out_height, w.out_width, B, K)
            shapes = {"data": ((nb, icb, w.height, w.width, B, K), np.int8),
                      "weight": ((ocb, icb, w.kernel[0], w.kernel[1], K, K), np.int8),
                      "out": (out, np.int8)}
        else:
            nb, kb, mb = w.blocks(c)
            ocb = mb
            out = (nb, mb, B, K)
            shapes = {"data": ((nb, kb, B, K), np.int8), "weight": ((mb, kb, K, K), np.int8),
                      "out": (out, np.int8)}
        if self.epilogue.bias:
            shapes["bias"] = ((ocb, B, K), np.int32)
        if self.epilogue.residual:
            shapes["residual"] = (out, np.int8)
        return {k: (s, np.dtype(d)) for k, (s, d) in shapes.items()}

    def uop_kernels(self) -> dict[Kernel, UopKernel]:
        """The runtime micro-kernels of the program (built once)."""
        if not self._uop_kernels:
            built: dict[Kernel, UopKernel] = {}
            for tile in self.program.tiles:
                items = [*tile.prologue, *tile.epilogue,
                         *(k for s in tile.steps for k in s.kernels)]
                for k in items:
                    if isinstance(k, Kernel) and k not in built:
                        built[k] = build_uop_kernel(self.config, k)
            self._uop_kernels = built
        return self._uop_kernels

    # -------------------------------------------------------------- running
    def enqueue(self, target: Device | CommandQueue, **operands: Any) -> None:
        """Queue the kernel on new operand buffers without synchronising.

        ``operands`` maps every name of :meth:`operand_shapes` to a DeviceArray or Buffer
        of at least that many bytes.

        Raises
        ------
        OperatorError
            for a missing, extra or too small operand, or a device of another config.
        """
        q = queue_for(target)
        if q.config != self.config:
            raise OperatorError(f"kernel compiled for config {self.config.name} cannot run on "
                                f"a device of config {q.config.name}")
        shapes = self.operand_shapes()
        missing = sorted(set(shapes) - set(operands))
        extra = sorted(set(operands) - set(shapes))
        if missing or extra:
            raise OperatorError(f"{self.op} kernel needs operands {', '.join(shapes)}; "
                                + (f"missing {', '.join(missing)}" if missing else "")
                                + ("; " if missing and extra else "")
                                + (f"unexpected {', '.join(extra)}" if extra else ""))
        for name, (shape, dtype) in shapes.items():
            arr = operands[name]
            if not isinstance(arr, (DeviceArray, Buffer)):
                raise OperatorError(f"operand {name} must be a DeviceArray or Buffer, not "
                                    f"{type(arr).__name__}")
            need = int(np.prod(shape)) * dtype.itemsize
            if arr.nbytes < need:
                raise OperatorError(f"operand {name} has {arr.nbytes} bytes, needs {need} "
                                    f"(packed shape {shape} {dtype})")
        emit(self.program, q, operands, self.uop_kernels())

    def run(self, target: Device | CommandQueue, **operands: Any):
        """:meth:`enqueue` then synchronise; return the device's RunResult."""
        self.enqueue(target, **operands)
        return queue_for(target).synchronize()

    # -------------------------------------------------------------- artifacts
    def to_dict(self) -> dict:
        """A JSON-able description that :meth:`from_dict` compiles back identically."""
        return {"op": self.op, "workload": _workload_dict(self.workload),
                "schedule": self.schedule.to_dict(), "epilogue": asdict(self.epilogue),
                "config": self.config.to_dict()}

    @classmethod
    def from_dict(cls, d: dict) -> CompiledKernel:
        """Rebuild a kernel saved with :meth:`to_dict`."""
        try:
            config = VTAConfig.from_dict(d["config"])
            ep = d["epilogue"]
            epilogue = Epilogue(ep["bias"], ep["shift"],
                                tuple(ep["clip"]) if ep["clip"] else None, ep["residual"],
                                tuple(ep["residual_clip"]) if ep["residual_clip"] else None,
                                **{k: ep[k] for k in _RESCALE_FIELDS if k in ep})
            if d["op"] == "conv2d":
                w = Conv2dWorkload(**{k: tuple(v) if isinstance(v, list) else v
                                      for k, v in d["workload"].items()})
                return compile_conv2d(w, config, epilogue, ConvSchedule(**d["schedule"]))
            if d["op"] == "dense":
                return compile_dense(DenseWorkload(**d["workload"]), config, epilogue,
                                     DenseSchedule(**d["schedule"]))
        except (KeyError, TypeError) as e:
            raise OperatorError(f"not a saved VTA kernel: missing or bad field {e}") from None
        raise OperatorError(f"not a saved VTA kernel: unknown op {d.get('op')!r}")


_RESCALE_FIELDS = ("lshift", "residual_lshift", "residual_offset", "residual_shift")
"""Epilogue fields of the rescaled residual add (absent from kernels saved before them)."""


def _workload_dict(w: Conv2dWorkload | DenseWorkload) -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(w).items()}


def compile_conv2d(workload: Conv2dWorkload, config: VTAConfig,
                   epilogue: Epilogue = NO_EPILOGUE, schedule: ConvSchedule | None = None,
                   **overrides: Any) -> CompiledKernel:
    """Schedule (or take ``schedule``) and lower a conv2d.

    Raises
    ------
    ScheduleError
        if no tiling fits, or ``schedule``/``overrides`` do not fit.
    """
    t0 = time.perf_counter()
    if schedule is None:
        schedule = schedule_conv2d(workload, config, epilogue, **overrides)
    program = lower_conv2d(workload, schedule, config, epilogue)
    schedule = ConvSchedule(**program.stats["schedule"])
    est = estimate_conv2d(workload, schedule, config, epilogue)
    return CompiledKernel("conv2d", workload, schedule, epilogue, config, program, est,
                          time.perf_counter() - t0)


def compile_dense(workload: DenseWorkload, config: VTAConfig,
                  epilogue: Epilogue = NO_EPILOGUE, schedule: DenseSchedule | None = None,
                  **overrides: Any) -> CompiledKernel:
    """Schedule (or take ``schedule``) and lower a dense layer."""
    t0 = time.perf_counter()
    if schedule is None:
        schedule = schedule_dense(workload, config, epilogue, **overrides)
    program = lower_dense(workload, schedule, config, epilogue)
    schedule = DenseSchedule(**program.stats["schedule"])
    est = estimate_dense(workload, schedule, config, epilogue)
    return CompiledKernel("dense", workload, schedule, epilogue, config, program, est,
                          time.perf_counter() - t0)


# ------------------------------------------------------------------------------ one call
def pack_bias(bias: np.ndarray, config: VTAConfig, out_blocks: int) -> np.ndarray:
    """An int32 bias vector -> ACC elements ``(OC/BLOCK, BATCH, BLOCK)`` (zero-padded,
    repeated over the batch lanes)."""
    bias = np.asarray(bias)
    if bias.dtype != np.int32 or bias.ndim != 1:
        raise OperatorError(f"bias must be a 1-D int32 array, not {bias.dtype} of shape "
                            f"{bias.shape}")
    n = out_blocks * config.block
    if bias.shape[0] > n:
        raise OperatorError(f"bias has {bias.shape[0]} values, more than the {n} output "
                            f"channels")
    padded = np.zeros(n, dtype=np.int32)
    padded[:bias.shape[0]] = bias
    return np.ascontiguousarray(np.broadcast_to(
        padded.reshape(out_blocks, 1, config.block),
        (out_blocks, config.batch, config.block)))


def _pair(v: int | tuple[int, int]) -> tuple[int, int]:
    return (v, v) if isinstance(v, (int, np.integer)) else tuple(v)  # type: ignore[return-value]


def _as_device(q: CommandQueue, name: str, arr: Any, shape: tuple, dtype: np.dtype,
               owned: list) -> DeviceArray | Buffer:
    if isinstance(arr, (DeviceArray, Buffer)):
        if isinstance(arr, DeviceArray) and (arr.shape != tuple(shape) or arr.dtype != dtype):
            raise OperatorError(f"{name} must have packed shape {tuple(shape)} {dtype}, not "
                                f"{arr.shape} {arr.dtype}")
        return arr
    a = np.asarray(arr)
    if a.dtype != dtype:
        raise OperatorError(f"{name} must be {dtype.name}, not {a.dtype.name} (VTA computes "
                            f"int8 x int8 -> int32)")
    if a.shape != tuple(shape):
        raise OperatorError(f"{name} must have packed shape {tuple(shape)}, not {a.shape}")
    d = q.array(a)
    owned.append(d)
    return d


def _run_one_call(kernel: CompiledKernel, target: Device | CommandQueue,
                  arrays: dict[str, Any], out: Any) -> Any:
    q = queue_for(target)
    shapes = kernel.operand_shapes()
    owned: list[DeviceArray] = []
    on_device = isinstance(arrays["data"], (DeviceArray, Buffer))
    try:
        ops = {name: _as_device(q, name, arrays[name], *shapes[name], owned)
               for name in shapes if name != "out"}
        if out is None:
            out_arr = q.empty(*shapes["out"])
            if not on_device:
                owned.append(out_arr)
        else:
            out_arr = _as_device(q, "out", out, *shapes["out"], [])
        ops["out"] = out_arr
        kernel.run(q, **ops)
        if on_device:
            return out_arr
        return out_arr.numpy() if isinstance(out_arr, DeviceArray) else out_arr
    finally:
        for d in owned:
            d.buffer.free()


def conv2d(target: Device | CommandQueue, data: Any, weight: Any, bias: Any = None, *,
           stride: int | tuple[int, int] = 1, padding: int | tuple[int, int] = 0,
           shift: int = 0, clip: tuple[int, int] | None = None, residual: Any = None,
           residual_clip: tuple[int, int] | None = None, lshift: int = 0,
           residual_lshift: int = 0, residual_offset: int = 0, residual_shift: int = 0,
           out: Any = None, schedule: ConvSchedule | None = None, **overrides: Any) -> Any:
    """int8 conv2d on packed tensors with the fused epilogue, run on ``target``.

    Parameters
    ----------
    data:
        ``(N/B, C/BLOCK, H, W, B, BLOCK)`` int8 (numpy or DeviceArray).
    weight:
        ``(O/BLOCK, C/BLOCK, KH, KW, BLOCK, BLOCK)`` int8.
    bias:
        int32 vector of output channels (numpy) or packed ``(O/BLOCK, B, BLOCK)`` int32.
    shift, clip, residual, residual_clip:
        the :class:`~vta.compiler.reference_ops.Epilogue`; ``residual`` packed like the
        output.
    lshift, residual_lshift, residual_offset, residual_shift:
        the rescaled residual add ``((y << lshift) + (residual << residual_lshift) +
        residual_offset) >> residual_shift`` (see the Epilogue).
    schedule, overrides:
        force a :class:`ConvSchedule` or some of its fields (``threads=1``).

    Returns the packed int8 output ``(N/B, O/BLOCK, OH, OW, B, BLOCK)``: numpy when
    ``data`` is numpy, else a DeviceArray (or ``out`` when given).

    Raises
    ------
    OperatorError, ScheduleError
        for a bad dtype or shape, or when no tiling fits the configuration.
    """
    q = queue_for(target)
    c = q.config
    dshape, wshape = _shape_of(data), _shape_of(weight)
    if len(dshape) != 6 or dshape[4:] != (c.batch, c.block):
        raise OperatorError(f"data must be packed (N/{c.batch}, C/{c.block}, H, W, {c.batch}, "
                            f"{c.block}), not shape {dshape}")
    if len(wshape) != 6 or wshape[4:] != (c.block, c.block) or wshape[1] != dshape[1]:
        raise OperatorError(f"weight must be packed (O/{c.block}, {dshape[1]}, KH, KW, "
                            f"{c.block}, {c.block}), not shape {wshape}")
    w = Conv2dWorkload(dshape[0] * c.batch, dshape[1] * c.block, dshape[2], dshape[3],
                       wshape[0] * c.block, (wshape[2], wshape[3]), _pair(stride),
                       _pair(padding))
    epilogue = Epilogue(bias is not None, shift, clip, residual is not None, residual_clip,
                        lshift, residual_lshift, residual_offset, residual_shift)
    kernel = _cached_compile(compile_conv2d, w, c, epilogue, schedule, overrides)
    return _run_with_operands(kernel, q, data, weight, bias, residual, wshape[0], out)


def dense(target: Device | CommandQueue, data: Any, weight: Any, bias: Any = None, *,
          shift: int = 0, clip: tuple[int, int] | None = None, residual: Any = None,
          residual_clip: tuple[int, int] | None = None, lshift: int = 0,
          residual_lshift: int = 0, residual_offset: int = 0, residual_shift: int = 0,
          out: Any = None, schedule: DenseSchedule | None = None, **overrides: Any) -> Any:
    """int8 dense on packed matrices: data ``(N/B, K/BLOCK, B, BLOCK)``, weight
    ``(M/BLOCK, K/BLOCK, BLOCK, BLOCK)``; returns ``(N/B, M/BLOCK, B, BLOCK)`` int8.
    Other parameters as :func:`conv2d`."""
    q = queue_for(target)
    c = q.config
    dshape, wshape = _shape_of(data), _shape_of(weight)
    if len(dshape) != 4 or dshape[2:] != (c.batch, c.block):
        raise OperatorError(f"data must be packed (N/{c.batch}, K/{c.block}, {c.batch}, "
                            f"{c.block}), not shape {dshape}")
    if len(wshape) != 4 or wshape[2:] != (c.block, c.block) or wshape[1] != dshape[1]:
        raise OperatorError(f"weight must be packed (M/{c.block}, {dshape[1]}, {c.block}, "
                            f"{c.block}), not shape {wshape}")
    w = DenseWorkload(dshape[0] * c.batch, dshape[1] * c.block, wshape[0] * c.block)
    epilogue = Epilogue(bias is not None, shift, clip, residual is not None, residual_clip,
                        lshift, residual_lshift, residual_offset, residual_shift)
    kernel = _cached_compile(compile_dense, w, c, epilogue, schedule, overrides)
    return _run_with_operands(kernel, q, data, weight, bias, residual, wshape[0], out)


def _run_with_operands(kernel: CompiledKernel, q: CommandQueue, data: Any, weight: Any,
                       bias: Any, residual: Any, out_blocks: int, out: Any) -> Any:
    """The one-call forms' common tail: name the operands the kernel takes and run it."""
    arrays = {"data": data, "weight": weight}
    if bias is not None:
        arrays["bias"] = _bias_operand(bias, q.config, out_blocks)
    if residual is not None:
        arrays["residual"] = residual
    return _run_one_call(kernel, q, arrays, out)


def _shape_of(a: Any) -> tuple[int, ...]:
    if isinstance(a, DeviceArray):
        return tuple(a.shape)
    if isinstance(a, np.ndarray):
        return a.shape
    raise OperatorError(f"operands must be numpy arrays or DeviceArrays, not "
                        f"{type(a).__name__}")


def _bias_operand(bias: Any, c: VTAConfig, out_blocks: int) -> Any:
    if isinstance(bias, (DeviceArray, Buffer)):
        return bias
    b = np.asarray(bias)
    if b.ndim == 3:
        return b
    return pack_bias(b, c, out_blocks)


_COMPILED: dict[tuple, CompiledKernel] = {}


def _cached_compile(fn: Callable[..., CompiledKernel], w: Any, c: VTAConfig,
                    epilogue: Epilogue, schedule: Any, overrides: dict) -> CompiledKernel:
    key = (fn.__name__, w, c, epilogue, schedule, tuple(sorted(overrides.items())))
    kernel = _COMPILED.get(key)
    if kernel is None:
        kernel = _COMPILED[key] = fn(w, c, epilogue, schedule, **overrides)
    return kernel
