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

Compiling runs the kernel compiler's passes: :mod:`.workload` (legality) ->
:mod:`.search` (tiling, with :mod:`.cost_model`) -> :mod:`.lower` (tile program) ->
:mod:`.emit` (command queue, at run time).  A dense layer is compiled as the matrix case of
the conv2d path.  ``target`` is a :class:`~vta.driver.Device` or a
:class:`~vta.runtime.CommandQueue`.
"""

from __future__ import annotations

import functools
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from vta.driver.device import Buffer, Device
from vta.hw.config import VTAConfig
from vta.runtime import CommandQueue, DeviceArray
from vta.runtime.uop_kernel import UopKernel

from .cost_model import CostEstimate, estimate
from .emit import build_uop_kernels, emit, queue_for
from .epilogue import NO_EPILOGUE, ChannelRequant, Epilogue
from .errors import OperatorError
from .lower import lower
from .packing import activation_shape, pack_bias, weight_shape
from .replay import replay_program
from .search import dense_overrides, schedule_conv2d, schedule_dense, shortlist_conv2d
from .tile_program import Kernel, TileProgram
from .windows import pads
from .workload import (
    Conv2dWorkload,
    ConvSchedule,
    DenseSchedule,
    DenseWorkload,
    check_schedule,
    const_rows_per_block,
)

__all__ = ["CompiledKernel", "compile_conv2d", "compile_dense", "conv2d", "dense"]


# ------------------------------------------------------------------------------ compiled
@dataclass
class CompiledKernel:
    """An operator compiled for fixed shapes: re-runnable on new buffers.

    Members
    -------
    op:
        ``"conv2d"`` or ``"dense"``.
    workload, schedule, epilogue, config:
        What was compiled (a dense kernel keeps its :class:`DenseWorkload` and
        :class:`DenseSchedule`).
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
        w, c = self.workload, self.config
        if isinstance(w, DenseWorkload):
            data, weight, out = ((w.batch, w.in_features), (w.out_features, w.in_features),
                                 (w.batch, w.out_features))
        else:
            data = (w.batch, w.in_channels, w.height, w.width)
            # A grouped convolution's weight holds the input blocks of its super-group.
            weight = (w.out_channels, w.group_blocks(c)[1] * c.block, *w.kernel)
            out = (w.batch, w.out_channels, w.out_height, w.out_width)
        i8 = np.dtype(np.int8)
        shapes = {"data": (activation_shape(data, c), i8),
                  "weight": (weight_shape(weight, c), i8),
                  "out": (activation_shape(out, c), i8)}
        if self.epilogue.bias:
            shapes["bias"] = ((weight_shape(weight, c)[0], c.batch, c.block),
                              np.dtype(np.int32))
        n_const = const_rows_per_block(self.program_workload, self.epilogue)
        if n_const:
            shapes["consts"] = ((weight_shape(weight, c)[0], n_const, c.batch, c.block),
                                np.dtype(np.int32))
        if self.epilogue.residual:
            shapes["residual"] = shapes["out"]
        return shapes

    @property
    def program_workload(self) -> Conv2dWorkload:
        """The conv2d workload the program computes (a dense kernel's matrix case)."""
        w = self.workload
        return w.as_conv2d() if isinstance(w, DenseWorkload) else w

    def uop_kernels(self) -> dict[Kernel, UopKernel]:
        """The runtime micro-kernels of the program (built once)."""
        if not self._uop_kernels:
            self._uop_kernels = build_uop_kernels(self.program, self.config)
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
        workload = {k: list(v) if isinstance(v, tuple) else v
                    for k, v in asdict(self.workload).items()}
        return {"op": self.op, "workload": workload, "schedule": self.schedule.to_dict(),
                "epilogue": asdict(self.epilogue), "config": self.config.to_dict()}

    @classmethod
    def from_dict(cls, d: dict) -> CompiledKernel:
        """Rebuild a kernel saved with :meth:`to_dict`."""
        try:
            config = VTAConfig.from_dict(d["config"])
            epilogue = _epilogue_from_dict(d["epilogue"])
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


_RESCALE_FIELDS = ("lshift", "residual_lshift", "residual_offset", "residual_shift",
                   "pad_correction")
"""Epilogue fields added after the first saved kernels (absent from those)."""


def _epilogue_from_dict(ep: dict) -> Epilogue:
    """The epilogue ``dataclasses.asdict`` wrote (lists back to tuples)."""
    req = ep.get("requant")
    requant = None if req is None else ChannelRequant(
        tuple(req["pre_shifts"]), req["clamp"], req["multiplier"], req["post_offset"],
        tuple(req["shifts"]))
    return Epilogue(ep["bias"], ep["shift"], tuple(ep["clip"]) if ep["clip"] else None,
                    ep["residual"],
                    tuple(ep["residual_clip"]) if ep["residual_clip"] else None,
                    requant=requant, **{k: ep[k] for k in _RESCALE_FIELDS if k in ep})


def _compile(w: Conv2dWorkload, config: VTAConfig, epilogue: Epilogue,
             schedule: ConvSchedule) -> tuple[ConvSchedule, TileProgram, CostEstimate]:
    s = check_schedule(w, schedule, config, epilogue)
    program = lower(w, s, config, epilogue)
    est = estimate(w, s, config, epilogue)
    if config.ALU_OVERLAP:
        est.extra["closed_form_cycles"] = est.cycles
        est.cycles = _replayed(w, s, config, epilogue, program)
    return s, program, est


_REPLAYED: dict[tuple, int] = {}


def _replayed(w: Conv2dWorkload, s: ConvSchedule, config: VTAConfig, epilogue: Epilogue,
              program: TileProgram | None = None) -> int:
    """Replayed cycles of a schedule (remembered: the choice replays its candidates)."""
    key = (w, s, config, epilogue)
    cycles = _REPLAYED.get(key)
    if cycles is None:
        if program is None:
            program = lower(w, s, config, epilogue)
        cycles = _REPLAYED[key] = replay_program(program, config)
        if len(_REPLAYED) > 4096:
            _REPLAYED.clear()
    return cycles


REPLAY_SHORTLIST = 6
"""Schedules the replay compares when the configuration overlaps ALU and GEMM work."""


@functools.lru_cache(maxsize=256)
def _replay_choice(w: Conv2dWorkload, config: VTAConfig, epilogue: Epilogue,
                   forced: tuple) -> ConvSchedule:
    """With ``ALU_OVERLAP`` the closed-form estimate cannot see how each tile's epilogue
    hides under the next tile's GEMMs, nor the bursts of loads: the search's best
    schedule of each group (:func:`~.search.shortlist_conv2d`) is lowered and replayed
    (:func:`~.replay.replay_program`), and the fastest replay wins (ties: the search's
    order)."""
    best, best_cycles = None, None
    for s in shortlist_conv2d(w, config, epilogue, REPLAY_SHORTLIST, **dict(forced)):
        s = check_schedule(w, s, config, epilogue)
        cycles = _replayed(w, s, config, epilogue)
        if best_cycles is None or cycles < best_cycles:
            best, best_cycles = s, cycles
    assert best is not None
    return best


def _choose(w: Conv2dWorkload, config: VTAConfig, epilogue: Epilogue,
            overrides: dict[str, Any]) -> ConvSchedule:
    """The schedule of a conv2d/matrix workload: the search's, refined by the replay with
    ``ALU_OVERLAP``."""
    if config.ALU_OVERLAP:
        return _replay_choice(w, config, epilogue, tuple(sorted(overrides.items())))
    return schedule_conv2d(w, config, epilogue, **overrides)


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
        schedule = _choose(workload, config, epilogue, overrides)
    s, program, est = _compile(workload, config, epilogue, schedule)
    return CompiledKernel("conv2d", workload, s, epilogue, config, program, est,
                          time.perf_counter() - t0)


def compile_dense(workload: DenseWorkload, config: VTAConfig,
                  epilogue: Epilogue = NO_EPILOGUE, schedule: DenseSchedule | None = None,
                  **overrides: Any) -> CompiledKernel:
    """Schedule (or take ``schedule``) and lower a dense layer (the matrix case of
    conv2d)."""
    t0 = time.perf_counter()
    if schedule is None:
        if config.ALU_OVERLAP:
            schedule = DenseSchedule.from_conv2d(_choose(
                workload.as_conv2d(), config, epilogue, dense_overrides(overrides)))
        else:
            schedule = schedule_dense(workload, config, epilogue, **overrides)
    s, program, est = _compile(workload.as_conv2d(), config, epilogue, schedule.as_conv2d())
    return CompiledKernel("dense", workload, DenseSchedule.from_conv2d(s), epilogue, config,
                          program, est, time.perf_counter() - t0)


# ------------------------------------------------------------------------------ one call
def conv2d(target: Device | CommandQueue, data: Any, weight: Any, bias: Any = None, *,
           stride: int | tuple[int, int] = 1, padding: int | tuple[int, ...] = 0,
           dilation: int | tuple[int, int] = 1, shift: int = 0,
           clip: tuple[int, int] | None = None, residual: Any = None,
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
    stride, padding, dilation:
        the window: ``padding`` an int, a pair or ``(top, left, bottom, right)``.
    shift, clip, residual, residual_clip:
        the :class:`~vta.compiler.epilogue.Epilogue`; ``residual`` packed like the output.
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
    dshape, wshape = _packed_shapes(c, data, weight, image=True)
    try:
        top, left, bottom, right = pads(padding, "conv2d padding")
    except ValueError as e:
        raise OperatorError(str(e)) from None
    w = Conv2dWorkload(dshape[0] * c.batch, dshape[1] * c.block, dshape[2], dshape[3],
                       wshape[0] * c.block, (wshape[2], wshape[3]), stride, (top, left),
                       1, dilation, (bottom, right))
    epilogue = Epilogue(bias is not None, shift, clip, residual is not None, residual_clip,
                        lshift, residual_lshift, residual_offset, residual_shift)
    kernel = _cached_compile(compile_conv2d, w, c, epilogue, schedule, overrides)
    return _run_one_call(kernel, q, data, weight, bias, residual, wshape[0], out)


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
    dshape, wshape = _packed_shapes(c, data, weight, image=False)
    w = DenseWorkload(dshape[0] * c.batch, dshape[1] * c.block, wshape[0] * c.block)
    epilogue = Epilogue(bias is not None, shift, clip, residual is not None, residual_clip,
                        lshift, residual_lshift, residual_offset, residual_shift)
    kernel = _cached_compile(compile_dense, w, c, epilogue, schedule, overrides)
    return _run_one_call(kernel, q, data, weight, bias, residual, wshape[0], out)


def _shape_of(a: Any) -> tuple[int, ...]:
    if isinstance(a, DeviceArray):
        return tuple(a.shape)
    if isinstance(a, np.ndarray):
        return a.shape
    raise OperatorError(f"operands must be numpy arrays or DeviceArrays, not "
                        f"{type(a).__name__}")


def _packed_shapes(c: VTAConfig, data: Any, weight: Any, image: bool
                   ) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The shapes of packed ``data`` and ``weight`` (an image conv's 6-D or a matrix's 4-D
    layout), checked against the configuration's element shapes."""
    dshape, wshape = _shape_of(data), _shape_of(weight)
    B, K = c.batch, c.block
    rank, chans, outs, window = (6, "C", "O", ", H, W") if image else (4, "K", "M", "")
    if len(dshape) != rank or dshape[-2:] != (B, K):
        raise OperatorError(f"data must be packed (N/{B}, {chans}/{K}{window}, {B}, {K}), "
                            f"not shape {dshape}")
    if len(wshape) != rank or wshape[-2:] != (K, K) or wshape[1] != dshape[1]:
        kernel = ", KH, KW" if image else ""
        raise OperatorError(f"weight must be packed ({outs}/{K}, {dshape[1]}{kernel}, {K}, "
                            f"{K}), not shape {wshape}")
    return dshape, wshape


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


def _run_one_call(kernel: CompiledKernel, q: CommandQueue, data: Any, weight: Any,
                  bias: Any, residual: Any, out_blocks: int, out: Any) -> Any:
    """The one-call forms' common tail: name the operands, copy numpy ones to the device,
    run, and return the output as numpy when the data came as numpy."""
    arrays = {"data": data, "weight": weight}
    if bias is not None:
        arrays["bias"] = _bias_operand(bias, q.config, out_blocks)
    if residual is not None:
        arrays["residual"] = residual
    shapes = kernel.operand_shapes()
    owned: list[DeviceArray] = []
    on_device = isinstance(data, (DeviceArray, Buffer))
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


def _bias_operand(bias: Any, c: VTAConfig, out_blocks: int) -> Any:
    """A bias as given on the device or packed, else the int32 vector packed."""
    if isinstance(bias, (DeviceArray, Buffer)):
        return bias
    b = np.asarray(bias)
    return b if b.ndim == 3 else pack_bias(b, c, out_blocks)


_COMPILED: dict[tuple, CompiledKernel] = {}


def _cached_compile(fn: Any, w: Any, c: VTAConfig, epilogue: Epilogue, schedule: Any,
                    overrides: dict) -> CompiledKernel:
    key = (fn.__name__, w, c, epilogue, schedule, tuple(sorted(overrides.items())))
    kernel = _COMPILED.get(key)
    if kernel is None:
        kernel = _COMPILED[key] = fn(w, c, epilogue, schedule, **overrides)
    return kernel
