"""``@vta.compiler.jit``: VTA kernels written in Python, traced once per shape and dtype.

A jit kernel is a Python function whose first parameter is a :class:`KernelContext`
(``k``) and whose other parameters are packed arrays (numpy or
:class:`~vta.runtime.DeviceArray`) or plain hashable values::

    @vta.compiler.jit
    def gemv(k, x, w, y, shift):
        xs = k.load(x)                 # DRAM -> INP  (element grid (1, KB))
        ws = k.load(w)                 # DRAM -> WGT  (element grid (MB, KB))
        acc = k.acc((1, w.shape[0]))   # a zeroed ACC tile
        k.gemm(acc, xs, ws)            # acc[p, m] += sum_k xs[p, k] . ws[m, k]
        k.shr(acc, shift)
        k.clip(acc, -128, 127)
        k.store(acc, y)                # OUT -> DRAM (int8, truncated)

    gemv(device, x_packed, w_packed, y_packed, 8)     # y_packed is written in place

Inside the function, an array argument appears as a :class:`DramView` whose ``shape`` is
its *element grid*: the packed shape without the trailing element dimensions
(``(BATCH, BLOCK)`` for int8 activations and int32 accumulators, ``(BLOCK, BLOCK)`` for
int8 weights).  Views slice like numpy (ints, slices with steps) and transpose; SRAM
tiles (:class:`SramView`) do too, which is how windows, strides and pooling are written.

The first call with a new (config, shapes, dtypes, scalar values) traces the function into
a :class:`~vta.compiler.tile_program.SerialProgram` -- the compiler's typed instruction
nodes (DMA loads and stores naming the arguments ``arg0``, ``arg1``, ..., GEMM and ALU
micro-kernels) -- and records its micro-kernels; every call queues it with
:func:`vta.compiler.emit.emit`, the lowering the tiled operators use.  Stages are
serialised with dependency tokens (a jit kernel trades latency hiding for simplicity; the
tiled operators of :mod:`vta.compiler.ops` overlap).  A kernel must fit in SRAM: tile
bigger problems with Python loops.  See docs/kernels.md.

The decorator is ``vta.compiler.jit`` (this module is :mod:`vta.compiler.jit_kernel`).
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

import numpy as np
from vta.driver.device import Buffer, Device
from vta.hw.config import VTAConfig
from vta.hw.errors import VTAError
from vta.hw.isa import AluOp, MemType
from vta.runtime import CommandQueue, DeviceArray
from vta.runtime.uop_kernel import UopKernel

from .emit import build_uop_kernels, emit, queue_for
from .tile_program import DmaLoad, DmaStore, Instruction, Kernel, Operand, SerialProgram

__all__ = ["jit", "JitKernel", "KernelContext", "SramView", "DramView", "JitError"]


class JitError(VTAError):
    """A jit kernel used the tensor API wrongly (shape, dtype, buffer space, view)."""


# ------------------------------------------------------------------------------ views
class _View:
    """An affine view of elements: ``offset + sum(index[i] * strides[i])``."""

    def __init__(self, offset: int, shape: tuple[int, ...], strides: tuple[int, ...]) -> None:
        self.offset, self.shape, self.strides = offset, tuple(shape), tuple(strides)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def _derive(self, offset: int, shape: tuple, strides: tuple) -> _View:
        raise NotImplementedError

    def __getitem__(self, key: Any) -> _View:
        key = key if isinstance(key, tuple) else (key,)
        if len(key) > self.ndim:
            raise JitError(f"too many indices ({len(key)}) for a view of shape {self.shape}")
        offset, shape, strides = self.offset, [], []
        for i, (n, st) in enumerate(zip(self.shape, self.strides, strict=True)):
            k = key[i] if i < len(key) else slice(None)
            if isinstance(k, (int, np.integer)):
                if not -n <= k < n:
                    raise JitError(f"index {k} out of range for axis {i} of size {n}")
                offset += (int(k) % n) * st
            elif isinstance(k, slice):
                r = range(n)[k]
                if len(r) == 0:
                    raise JitError(f"slice {k} of axis {i} (size {n}) is empty")
                offset += r.start * st
                shape.append(len(r))
                strides.append(st * r.step)
            else:
                raise JitError(f"views take ints and slices, not {type(k).__name__}")
        return self._derive(offset, tuple(shape), tuple(strides))

    def transpose(self, *axes: int) -> _View:
        """Permute the axes like ``numpy.transpose`` (reverse when none are given)."""
        axes = axes or tuple(reversed(range(self.ndim)))
        if sorted(axes) != list(range(self.ndim)):
            raise JitError(f"transpose axes {axes} are not a permutation of {self.ndim} axes")
        return self._derive(self.offset, tuple(self.shape[a] for a in axes),
                            tuple(self.strides[a] for a in axes))

    @property
    def T(self) -> _View:  # noqa: N802 - numpy's name
        return self.transpose()

    def element_offsets(self) -> np.ndarray:
        """Every element's flat index, C order."""
        idx = np.full(self.shape, self.offset, dtype=np.int64)
        for axis, (n, st) in enumerate(zip(self.shape, self.strides, strict=True)):
            shape = [1] * self.ndim
            shape[axis] = n
            idx = idx + (np.arange(n, dtype=np.int64) * st).reshape(shape)
        return idx


class SramView(_View):
    """A view of an on-chip buffer (``inp``, ``wgt`` or ``acc``) in elements."""

    def __init__(self, memory: str, offset: int, shape: tuple[int, ...],
                 strides: tuple[int, ...]) -> None:
        super().__init__(offset, shape, strides)
        self.memory = memory

    def _derive(self, offset: int, shape: tuple, strides: tuple) -> SramView:
        return SramView(self.memory, offset, shape, strides)

    def __repr__(self) -> str:
        return f"SramView({self.memory}, offset={self.offset}, shape={self.shape})"


class DramView(_View):
    """A view of an array argument's element grid (``kind``: inp, wgt or acc)."""

    def __init__(self, arg: int, kind: str, offset: int, shape: tuple[int, ...],
                 strides: tuple[int, ...]) -> None:
        super().__init__(offset, shape, strides)
        self.arg, self.kind = arg, kind

    def _derive(self, offset: int, shape: tuple, strides: tuple) -> DramView:
        return DramView(self.arg, self.kind, offset, shape, strides)

    def __repr__(self) -> str:
        return f"DramView(arg {self.arg}, {self.kind}, offset={self.offset}, shape={self.shape})"


def _lead_offset(view: _View, idx: tuple[int, ...]) -> int:
    """Element index of ``view`` at leading indices ``idx`` (the last two axes at 0)."""
    return view.offset + sum(a * s for a, s in zip(idx, view.strides[:len(idx)], strict=True))


def _dense_strides(shape: tuple[int, ...]) -> tuple[int, ...]:
    strides, acc = [], 1
    for n in reversed(shape):
        strides.append(acc)
        acc *= n
    return tuple(reversed(strides))


# ------------------------------------------------------------------------------ tracing
_MEMORY_TYPES = {"inp": MemType.INP, "wgt": MemType.WGT, "acc": MemType.ACC}
"""The SRAM memory type an argument of each kind loads into."""
_ALU_OPS = {"min": AluOp.MIN, "max": AluOp.MAX, "add": AluOp.ADD, "shr": AluOp.SHR,
            "mul": AluOp.MUL}


class KernelContext:
    """What a jit kernel calls: loads, ACC tiles, GEMM, ALU operations, stores.

    Every call appends instruction nodes to :attr:`items`; SRAM space is handed out by a
    bump allocator per buffer (no region is reused within a trace).  Errors are
    :class:`JitError` naming the call.
    """

    def __init__(self, config: VTAConfig) -> None:
        self.config = config
        self.items: list[Instruction] = []
        self._top = {"inp": 0, "wgt": 0, "acc": 0}
        self._depth = {"inp": config.inp_depth, "wgt": config.wgt_depth,
                       "acc": config.acc_depth}
        self.stored_args: set[int] = set()

    # -------------------------------------------------------------- internals
    def _alloc(self, memory: str, shape: tuple[int, ...], what: str) -> SramView:
        n = int(np.prod(shape, dtype=np.int64))
        base = self._top[memory]
        if base + n > self._depth[memory]:
            raise JitError(f"{what}: needs {n} {memory.upper()} elements at {base}, but the "
                           f"buffer holds {self._depth[memory]}; tile the kernel")
        self._top[memory] = base + n
        return SramView(memory, base, shape, _dense_strides(shape))

    def _kernel(self, mode: str, loops: list[tuple[int, int, int, int]],
                uops: np.ndarray, reset: bool = False, op: int = 0,
                imm: int | None = None) -> None:
        self.items.append(Kernel(mode, tuple(loops), tuple(map(tuple, uops.tolist())),
                                 reset=reset, alu_opcode=op if mode == "alu" else 0,
                                 use_imm=imm is not None, imm=0 if imm is None else imm))

    # -------------------------------------------------------------- API
    def load(self, src: DramView, pad: int | tuple = 0, into: str | None = None) -> SramView:
        """Copy a DRAM view into a fresh SRAM tile; return the tile.

        The view's last axis must be contiguous; it is loaded row by row (the last two axes
        form one 2-D DMA, leading axes repeat it).  ``pad`` zero-pads the last two axes:
        an int, or ``((top, bottom), (left, right))``.  int8 activations go to INP (or to
        ACC, sign-extended, with ``into="acc"``), weights to WGT, int32 to ACC.
        """
        if not isinstance(src, DramView):
            raise JitError(f"load takes a DRAM view (a kernel argument), not {src!r}")
        memory, mt = src.kind, _MEMORY_TYPES[src.kind]
        if into == "acc" and src.kind == "inp":
            memory, mt = "acc", MemType.ACC_8BIT
        elif into not in (None, memory):
            raise JitError(f"load of a {src.kind} array cannot go into {into!r}")
        if src.strides[-1] != 1:
            raise JitError(f"load: the last axis of {src!r} must be contiguous (stride 1), "
                           f"not stride {src.strides[-1]}")
        view = src if src.ndim >= 2 else src._derive(src.offset, (1, *src.shape),
                                                     (src.shape[0], 1))
        if isinstance(pad, (int, np.integer)):
            (y0, y1), (x0, x1) = (pad, pad), (pad, pad)
        else:
            (y0, y1), (x0, x1) = pad
        for p in (y0, y1, x0, x1):
            if not 0 <= p <= 15:
                raise JitError(f"load: pads must be in [0, 15], not {pad!r}")
        *lead, Y, X = view.shape
        shape = (*lead, Y + y0 + y1, X + x0 + x1)
        tile = self._alloc(memory, shape, f"load of {src!r}")
        plane = (Y + y0 + y1) * (X + x0 + x1)
        for i, idx in enumerate(itertools.product(*(range(n) for n in lead))):
            self.items.append(DmaLoad(int(mt), tile.offset + i * plane, _operand(src.arg),
                                      _lead_offset(view, idx), Y, X, view.strides[-2],
                                      y0, y1, x0, x1))
        return tile if src.ndim >= 2 else tile[0]

    def acc(self, shape: tuple[int, ...] | int) -> SramView:
        """A fresh ACC tile of ``shape`` elements, zeroed (a GEMM reset)."""
        shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
        tile = self._alloc("acc", shape, f"acc{shape}")
        rows = tile.element_offsets().reshape(-1)
        self._kernel("gemm", [], np.stack([rows, 0 * rows, 0 * rows], axis=1), reset=True)
        return tile

    def gemm(self, acc: SramView, inp: SramView, wgt: SramView) -> None:
        """``acc[p..., m] += sum_k inp[p..., k] . wgt[m, k]`` (one GEMM instruction).

        Shapes: ``acc (*P, M)``, ``inp (*P, K)``, ``wgt (M, K)``.
        """
        for v, mem in ((acc, "acc"), (inp, "inp"), (wgt, "wgt")):
            if not isinstance(v, SramView) or v.memory != mem:
                raise JitError(f"gemm: expected an {mem.upper()} tile, got {v!r}")
        if wgt.ndim != 2 or acc.ndim < 1 or acc.shape[:-1] != inp.shape[:-1] \
                or acc.shape[-1] != wgt.shape[0] or inp.shape[-1] != wgt.shape[1]:
            raise JitError(f"gemm shapes must be acc (*P, M), inp (*P, K), wgt (M, K); got "
                           f"{acc.shape}, {inp.shape}, {wgt.shape}")
        P, K = acc.shape[:-1], inp.shape[-1]
        loops: list[tuple[int, int, int, int]] = []
        if P and P[0] > 1:      # the outermost position axis becomes a hardware loop
            loops.append((P[0], acc.strides[0], inp.strides[0], 0))
            acc, inp = acc[0], inp[0]
        body = acc.size
        d = acc.element_offsets()                       # (*P', M)
        s = inp.element_offsets()                       # (*P', K)
        g = wgt.element_offsets()                       # (M, K)
        if body >= 3 or K == 1:
            # uops: for k, for position: three distinct destinations in a row.
            dd = np.broadcast_to(d[..., None], (*d.shape, K))
            ss = np.broadcast_to(s[..., None, :], (*d.shape, K))
            gg = np.broadcast_to(g, (*d.shape, K))
            order = np.moveaxis(np.stack([dd, ss, gg], axis=-1), -2, 0)
            uops = order.reshape(-1, 3)
        else:
            # Too few positions: the reduction runs as the inner hardware loop.
            loops.append((K, 0, inp.strides[-1], wgt.strides[-1]))
            dd = d
            ss = np.broadcast_to(s[..., :1], d.shape)
            gg = np.broadcast_to(g[:, 0], d.shape)
            uops = np.stack([dd, ss, gg], axis=-1).reshape(-1, 3)
        self._kernel("gemm", loops, uops)

    def alu(self, op: str, dst: SramView, src: SramView | int) -> None:
        """``dst = op(dst, src)`` elementwise; ``src`` an ACC view of dst's shape or an int
        (immediate).  ``op``: min, max, add, shr, mul (mul needs ALU_MUL)."""
        if op not in _ALU_OPS:
            raise JitError(f"unknown ALU op {op!r}; expected one of {', '.join(_ALU_OPS)}")
        if not isinstance(dst, SramView) or dst.memory != "acc":
            raise JitError(f"{op}: the destination must be an ACC tile, not {dst!r}")
        imm = None
        if isinstance(src, SramView):
            if src.memory != "acc" or src.shape != dst.shape:
                raise JitError(f"{op}: source {src!r} must be an ACC tile of shape {dst.shape}")
        elif isinstance(src, (int, np.integer)):
            imm = int(src)
            src = dst
        else:
            raise JitError(f"{op}: source must be an ACC tile or an int, not {src!r}")
        loops = []
        if dst.ndim > 1 and dst.shape[0] > 1:
            loops.append((dst.shape[0], dst.strides[0], src.strides[0], 0))
            dst, src = dst[0], src[0]
        d = dst.element_offsets().reshape(-1)
        s = src.element_offsets().reshape(-1)
        self._kernel("alu", loops, np.stack([d, s, 0 * d], axis=1), op=_ALU_OPS[op], imm=imm)

    def add(self, dst: SramView, src: SramView | int) -> None:
        self.alu("add", dst, src)

    def max(self, dst: SramView, src: SramView | int) -> None:
        self.alu("max", dst, src)

    def min(self, dst: SramView, src: SramView | int) -> None:
        self.alu("min", dst, src)

    def shr(self, dst: SramView, amount: int) -> None:
        if amount:
            self.alu("shr", dst, amount)

    def relu(self, dst: SramView) -> None:
        self.alu("max", dst, 0)

    def clip(self, dst: SramView, lo: int, hi: int) -> None:
        self.alu("max", dst, lo)
        self.alu("min", dst, hi)

    def store(self, src: SramView, dst: DramView) -> None:
        """Write an ACC tile's narrowed (int8) values to an int8 DRAM view of its shape.

        The tile's last axis must be contiguous; a tile whose last two axes are dense is
        stored with one 2-D DMA per leading index, otherwise row by row.
        """
        if not isinstance(src, SramView) or src.memory != "acc":
            raise JitError(f"store: the source must be an ACC tile, not {src!r}")
        if not isinstance(dst, DramView) or dst.kind != "inp":
            raise JitError(f"store: the destination must be an int8 activation array view, "
                           f"not {dst!r}")
        if src.shape != dst.shape:
            raise JitError(f"store: tile shape {src.shape} differs from destination "
                           f"{dst.shape}")
        if src.strides[-1] != 1 or dst.strides[-1] != 1:
            raise JitError("store: the last axis of the tile and of the destination must be "
                           "contiguous; copy into a dense k.acc tile with k.add first")
        s2 = src if src.ndim >= 2 else src._derive(src.offset, (1, *src.shape),
                                                   (src.shape[0], 1))
        d2 = dst if dst.ndim >= 2 else dst._derive(dst.offset, (1, *dst.shape),
                                                   (dst.shape[0], 1))
        *lead, Y, X = s2.shape
        dense = s2.strides[-2] == X
        self.stored_args.add(dst.arg)
        name = _operand(dst.arg)
        for idx in itertools.product(*(range(n) for n in lead)):
            so = _lead_offset(s2, idx)
            do = _lead_offset(d2, idx)
            if dense:
                self.items.append(DmaStore(so, name, do, Y, X, d2.strides[-2]))
            else:
                for y in range(Y):
                    self.items.append(DmaStore(so + y * s2.strides[-2], name,
                                               do + y * d2.strides[-2], 1, X, X))


def _operand(arg: int) -> str:
    """The operand name of argument ``arg`` in the traced program."""
    return f"arg{arg}"


# ------------------------------------------------------------------------------ running
def _arg_kind(config: VTAConfig, index: int, a: Any) -> tuple[str, tuple[int, ...]]:
    shape, dtype = tuple(a.shape), np.dtype(a.dtype)
    B, K = config.batch, config.block
    if dtype == np.int8 and len(shape) >= 3 and shape[-2:] == (K, K) and (B, K) != (K, K):
        return "wgt", shape[:-2]
    if dtype == np.int8 and len(shape) >= 3 and shape[-2:] == (B, K):
        return "inp", shape[:-2]
    if dtype == np.int8 and len(shape) >= 3 and shape[-2:] == (K, K):
        return "wgt", shape[:-2]
    if dtype == np.int32 and len(shape) >= 3 and shape[-2:] == (B, K):
        return "acc", shape[:-2]
    if dtype not in (np.int8, np.int32):
        raise JitError(f"argument {index}: dtype {dtype} is not supported; VTA kernels take "
                       f"int8 or int32 packed arrays")
    raise JitError(f"argument {index}: shape {shape} {dtype} is not a packed VTA array "
                   f"(trailing ({B}, {K}) int8/int32 or ({K}, {K}) int8)")


@dataclass
class _Trace:
    program: SerialProgram
    kernels: dict[Kernel, UopKernel]
    stored_args: set[int]
    kinds: dict[int, str]


class JitKernel:
    """A traced-on-demand VTA kernel (see the module docstring).

    Members
    -------
    traces:
        Number of traces made so far (one per new signature).
    """

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn
        self._cache: dict[Hashable, _Trace] = {}
        self.traces = 0
        functools.update_wrapper(self, fn)

    def _signature(self, config: VTAConfig, args: tuple) -> Hashable:
        sig: list[Any] = [config]
        for i, a in enumerate(args):
            if isinstance(a, (np.ndarray, DeviceArray)):
                sig.append(("array", tuple(a.shape), np.dtype(a.dtype).str))
            else:
                try:
                    hash(a)
                except TypeError:
                    raise JitError(f"argument {i} of {self.fn.__name__} must be an array or "
                                   f"hashable, not {type(a).__name__}") from None
                sig.append(("value", type(a).__name__, a))
        return tuple(sig)

    def trace(self, config: VTAConfig, *args: Any) -> _Trace:
        """Trace (or fetch from the cache) the program for these argument types."""
        key = self._signature(config, args)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        k = KernelContext(config)
        params, kinds, operands = [], {}, {}
        for i, a in enumerate(args):
            if isinstance(a, (np.ndarray, DeviceArray)):
                kind, grid = _arg_kind(config, i, a)
                kinds[i] = kind
                operands[_operand(i)] = Operand(int(_MEMORY_TYPES[kind]),
                                                int(np.prod(grid, dtype=np.int64)))
                params.append(DramView(i, kind, 0, grid, _dense_strides(grid)))
            else:
                params.append(a)
        self.fn(k, *params)
        program = SerialProgram(k.items, operands, description=f"jit {self.fn.__name__}")
        trace = _Trace(program, build_uop_kernels(program, config), k.stored_args, kinds)
        self._cache[key] = trace
        self.traces += 1
        return trace

    def __call__(self, target: Device | CommandQueue, *args: Any):
        """Trace if needed, run on ``target``, copy stored arguments back into numpy
        arrays; return the device's RunResult."""
        q = queue_for(target)
        trace = self.trace(q.config, *args)
        buffers: dict[int, DeviceArray | Buffer] = {}
        owned: list[DeviceArray] = []
        try:
            for i in trace.kinds:
                a = args[i]
                if isinstance(a, DeviceArray):
                    buffers[i] = a
                else:
                    d = q.array(np.ascontiguousarray(a))
                    owned.append(d)
                    buffers[i] = d
            emit(trace.program, q, {_operand(i): b for i, b in buffers.items()},
                 trace.kernels)
            result = q.synchronize()
            for i in trace.stored_args:
                if isinstance(args[i], np.ndarray):
                    np.copyto(args[i], buffers[i].numpy())  # type: ignore[union-attr]
            return result
        finally:
            for d in owned:
                d.free()


def jit(fn: Callable[..., Any]) -> JitKernel:
    """Decorator: make ``fn(k, *args)`` a VTA kernel called as ``fn(device, *args)``."""
    return JitKernel(fn)
