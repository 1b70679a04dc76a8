"""The command queue: TVM's VTA runtime protocol on any :class:`~vta.driver.Device`.

A :class:`CommandQueue` turns calls into one instruction stream per *batch* and runs it on
:meth:`CommandQueue.synchronize`:

* ``load_buffer_2d`` / ``store_buffer_2d``: 2-D DMA with padding (TVM argument order);
* micro-kernels: recorded once per key (``push_gemm_op(key, record)``; ``record(k)`` calls
  ``k.loop_begin/loop_end/push`` or the queue's ``uop_loop_begin/uop_loop_end/uop_push``),
  loaded into the uop buffer with LOAD UOP only when not resident (LRU eviction);
* ``dep_push`` / ``dep_pop`` between stages 1 load, 2 compute, 3 store, with TVM's
  pending-pop and NOP rules (:mod:`vta.hw.insn_stream`);
* ``synchronize()``: commits pending pops, balances the token channels, makes FINISH wait
  for the last load and store (as TVM), appends FINISH, proves the stream deadlock-free,
  runs it on the device and waits;
* automatic synchronisation before the instruction buffer (``max_insns``) or the uop
  staging buffer (``max_staged_uops``) would overflow;
* the co-design knobs: ``push_gemm_op(..., overwrite=True)`` with ``GEMM_OVERWRITE``; with
  ``ALU_OVERLAP`` the queue keeps the program rule of :mod:`vta.hw.pipeline` by inserting
  a compute no-op (a barrier) where a GEMM would use an accumulator bank that an ALU
  instruction since the last barrier uses, and before an ALU instruction that follows a
  GEMM while earlier ALU instructions are pending -- there the barrier costs nothing (the
  ALU instruction waits for the GEMM anyway) and leaves the next GEMM only the banks of
  the ALU instructions after it to avoid.

Token balancing: the hardware's FINISH (and the golden model) want every channel empty at
the end of a run, but a batch cut by automatic synchronisation can stop between a push and
its pop.  The queue then pops the leftover tokens at the end of the batch and pushes them
again at the start of the next one (*carried tokens*), which keeps every dependency of the
program (the earlier batch has completed entirely).  A pop that no push can ever serve is
an error before the run.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Hashable, Iterable
from typing import Any

import numpy as np
from vta.driver.device import DEFAULT_TIMEOUT, Buffer, Device
from vta.driver.result import RunResult
from vta.hw import isa
from vta.hw.errors import IsaError
from vta.hw.insn_stream import (
    COLUMNS,
    FLAG_COLUMNS,
    ROW_WIDTH,
    InsnStream,
    from_row,
    nop_row,
    stage_of_row,
)
from vta.hw.pipeline import (
    CHANNELS,
    COMPUTE,
    LOAD,
    LOADABLE,
    STORE,
    OverlapCheck,
    Stage,
    acc_bank,
    channel_between,
    channels_popped,
    channels_pushed,
)

from . import stream_tokens
from .device_array import DeviceArray, default_alignment
from .errors import CommandError
from .insn_encoding import RowEncoder
from .uop_cache import UopCache
from .uop_kernel import ALU_MODE, GEMM_MODE, KernelBuilder, UopKernel

__all__ = ["CommandQueue", "LOAD", "COMPUTE", "STORE"]

_LOAD, _STORE, _GEMM, _ALU, _FINISH = (int(isa.Opcode.LOAD), int(isa.Opcode.STORE),
                                       int(isa.Opcode.GEMM), int(isa.Opcode.ALU),
                                       int(isa.Opcode.FINISH))
# Memory types load_buffer_2d takes (uops are loaded by the kernel cache) and their stages.
_LOADABLE = {int(mt): int(stage) for mt, stage in LOADABLE.items() if mt != isa.MemType.UOP}
# The order the stages' no-ops carry tokens across a batch boundary.
_CARRY_ORDER = (LOAD, STORE, COMPUTE)
_SYNC_RESERVE = 8        # rows a call may add beyond its own, before the room check


def _uint(what: str, name: str, value: Any, limit: int) -> int:
    if type(value) is int and 0 <= value < limit:
        return value
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) \
            or not 0 <= value < limit:
        raise CommandError(f"{what}: {name} must be an integer in [0, {limit - 1}], "
                           f"not {value!r}")
    return int(value)


class CommandQueue:
    """Builds VTA instruction streams and runs them on ``device``.

    Parameters
    ----------
    device:
        The device to run on (any backend of :func:`vta.driver.open_device`).
    max_insns:
        Instructions per batch before an automatic synchronisation (TVM's staging buffer).
    max_staged_uops:
        Uops staged for LOAD UOP per batch (default twice the uop buffer; at least one
        uop buffer's worth).
    force_serial:
        Debug mode: every instruction waits for the previous one (user tokens ignored).
    dump_insns:
        Print every batch with running token counts before running it.
    check_tokens:
        Replay the token protocol before each run and refuse a stream that would
        deadlock (cheap; on by default).
    timeout:
        Seconds each device run may take (``None``: no limit).

    Members
    -------
    device, config, stats (dict of counters), last_dump (the last batch as text).
    """

    def __init__(self, device: Device, *, max_insns: int = 4096,
                 max_staged_uops: int | None = None, force_serial: bool = False,
                 dump_insns: bool = False, check_tokens: bool = True,
                 timeout: float | None = DEFAULT_TIMEOUT) -> None:
        if not isinstance(device, Device):
            raise CommandError(f"CommandQueue needs a Device, not {type(device).__name__}")
        self.device = device
        self.config = c = device.config
        if isinstance(max_insns, bool) or not isinstance(max_insns, int) or max_insns < 32:
            raise CommandError(f"max_insns must be an integer of at least 32, not "
                               f"{max_insns!r}")
        self.max_insns = max_insns
        staged = 2 * c.uop_depth if max_staged_uops is None else max_staged_uops
        if isinstance(staged, bool) or not isinstance(staged, int) or staged < c.uop_depth:
            raise CommandError(f"max_staged_uops must be an integer of at least the uop "
                               f"buffer depth {c.uop_depth}, not {staged!r}")
        self.max_staged_uops = staged
        self.force_serial = bool(force_serial)
        self.dump_insns = bool(dump_insns)
        self.check_tokens = bool(check_tokens)
        self.timeout = timeout
        self._encoder = RowEncoder(c)
        # Derived sizes, looked up on every call.
        self._elem_bytes = {int(m): c.elem_bytes(int(m)) for m in isa.MemType}
        self._depth = {int(m): c.depth(int(m)) for m in isa.MemType}
        self._stream = InsnStream()
        self._kernels: dict[Hashable, UopKernel] = {}
        self._recording: KernelBuilder | None = None
        self._cache = UopCache(c.uop_depth)
        self._uop_staging = device.alloc(staged * c.uop_elem_bytes, default_alignment(device))
        self._uop_host = self._uop_staging.view("<u4" if c.uop_elem_bytes == 4 else "<u8")
        self._uop_base = self._uop_staging.addr // c.uop_elem_bytes
        self._staged: dict[UopKernel, int] = {}
        self._staged_count = 0
        self._insn_buf: Buffer | None = None
        self._carried = _no_tokens()
        self._batch_open = False
        self._work = False
        self._expected_runs = device.run_count
        self._results: list[RunResult] = []
        self.stats = {"runs": 0, "auto_syncs": 0, "insns": 0, "uop_loads": 0,
                      "uop_hits": 0, "uop_evictions": 0, "barriers": 0}
        # ALU_OVERLAP: ALU banks since the last compute barrier, and whether the last
        # GEMM/ALU pushed was a GEMM.
        self._overlap = OverlapCheck() if c.ALU_OVERLAP else None
        self._after_gemm = False
        self._kernel_banks: dict[UopKernel, frozenset[int]] = {}
        self.last_dump = ""
        self._last_rows: list[list[int]] = []

    # ------------------------------------------------------------------ arrays
    def array(self, data: Any, dtype: Any = None) -> DeviceArray:
        """A device array holding a copy of ``data``."""
        return DeviceArray.from_numpy(self.device, data, dtype)

    def empty(self, shape: tuple[int, ...] | int, dtype: Any) -> DeviceArray:
        """An uninitialised device array."""
        return DeviceArray(self.device, shape, dtype)

    # ------------------------------------------------------------------ batches
    def _begin_batch(self) -> None:
        if self._batch_open:
            return
        self._batch_open = True
        if self.device.run_count != self._expected_runs:
            # Someone else ran the device: the uop buffer may hold anything.
            self._cache.clear()
            self._expected_runs = self.device.run_count
        _token_noops(self._stream, self._carried, push=True)

    def _room(self, rows: int) -> None:
        """Open the batch and synchronise first if ``rows`` more would overflow it."""
        self._begin_batch()
        if self._work and len(self._stream) + rows + _SYNC_RESERVE > self.max_insns:
            self._sync(auto=True)
            self._begin_batch()
        self._work = True

    def _reset_batch(self) -> None:
        self._barrier_done()
        self._stream.clear()
        self._staged.clear()
        self._staged_count = 0
        self._batch_open = False
        self._work = False

    def _abandon(self) -> None:
        """Forget the batch and every assumption about the device's state."""
        self._reset_batch()
        self._cache.clear()
        self._carried = _no_tokens()
        self._expected_runs = self.device.run_count

    # ------------------------------------------------------------------ memory
    def _dram_base(self, what: str, target: Any, elem_offset: int, memory_type: int,
                   elems: int) -> int:
        if isinstance(target, (DeviceArray, Buffer)):
            addr, size = target.addr, target.nbytes
        elif isinstance(target, (int, np.integer)) and not isinstance(target, bool):
            addr, size = int(target), None
        else:
            raise CommandError(f"{what}: DRAM operand must be a DeviceArray, Buffer or "
                               f"physical address, not {type(target).__name__}")
        eb = self._elem_bytes[memory_type]
        if addr % eb:
            raise CommandError(f"{what}: DRAM address {addr:#x} is not a multiple of the "
                               f"{eb}-byte {isa.MemType(memory_type).name} element")
        elem_offset = _uint(what, "elem_offset", elem_offset, 1 << 32)
        if size is not None and (elem_offset + elems) * eb > size:
            raise CommandError(f"{what}: elements [{elem_offset}, {elem_offset + elems}) of "
                               f"{eb} bytes run past the {size}-byte DRAM operand")
        base = addr // eb + elem_offset
        if base >= 1 << isa.MEMOP_DRAM_ADDR_BITS:
            raise CommandError(f"{what}: DRAM element index {base} does not fit 32 bits")
        return base

    def load_buffer_2d(self, src: DeviceArray | Buffer | int, src_elem_offset: int,
                       x_size: int, y_size: int, x_stride: int, x_pad_before: int,
                       y_pad_before: int, x_pad_after: int, y_pad_after: int,
                       dst_sram_index: int, dst_memory_type: int) -> None:
        """Load ``y_size`` rows of ``x_size`` elements (pitch ``x_stride``) into an SRAM.

        Offsets and sizes count elements of ``dst_memory_type`` (INP, WGT, ACC or
        ACC_8BIT); pads (0..15) are zero elements around the block, which lands densely
        at ``dst_sram_index``.  INP/WGT loads run on the load stage, ACC loads on compute.

        Raises :class:`CommandError` for a bad memory type, a field out of range, a read
        past the DRAM operand or an SRAM footprint past the buffer.
        """
        what = "load_buffer_2d"
        if dst_memory_type not in _LOADABLE:
            valid = ", ".join(f"{isa.MemType(m).name} ({m})" for m in _LOADABLE)
            raise CommandError(f"{what}: memory type {dst_memory_type!r} cannot be loaded; "
                               f"expected {valid} (uops are loaded by the kernel cache)")
        mt = int(dst_memory_type)
        x = _uint(what, "x_size", x_size, 1 << 16)
        y = _uint(what, "y_size", y_size, 1 << 16)
        stride = _uint(what, "x_stride", x_stride, 1 << 16)
        pads = [_uint(what, n, v, 1 << isa.MEMOP_PAD_BITS) for n, v in
                (("y_pad_before", y_pad_before), ("y_pad_after", y_pad_after),
                 ("x_pad_before", x_pad_before), ("x_pad_after", x_pad_after))]
        if x == 0 or y == 0:
            raise CommandError(f"{what}: x_size and y_size must be positive, not {x}x{y}")
        depth = self._depth[mt]
        sram = _uint(what, "dst_sram_index", dst_sram_index, depth)
        end = sram + (pads[0] + y + pads[1]) * (pads[2] + x + pads[3])
        if end > depth:
            raise CommandError(f"{what}: SRAM range [{sram}, {end}) exceeds the "
                               f"{isa.MemType(mt).name} buffer depth {depth}")
        base = self._dram_base(what, src, src_elem_offset, mt, (y - 1) * stride + x)
        self._room(2)
        self._stream.create(_LOADABLE[mt], [_LOAD, 0, 0, 0, 0, mt, sram, base, y, x, stride,
                                             *pads, 0, 0])
        if _LOADABLE[mt] == COMPUTE:
            self._barrier_done()

    def store_buffer_2d(self, src_sram_index: int, src_memory_type: int,
                        dst: DeviceArray | Buffer | int, dst_elem_offset: int,
                        x_size: int, y_size: int, x_stride: int) -> None:
        """Store ``y_size`` rows of ``x_size`` OUT elements (dense in SRAM) to DRAM.

        Raises :class:`CommandError` for a memory type other than OUT, a field out of
        range, a write past the DRAM operand or an SRAM range past the OUT buffer.
        """
        what = "store_buffer_2d"
        if src_memory_type != isa.MemType.OUT:
            raise CommandError(f"{what}: stores read the OUT buffer (memory type 4), not "
                               f"{src_memory_type!r}")
        x = _uint(what, "x_size", x_size, 1 << 16)
        y = _uint(what, "y_size", y_size, 1 << 16)
        stride = _uint(what, "x_stride", x_stride, 1 << 16)
        if x == 0 or y == 0:
            raise CommandError(f"{what}: x_size and y_size must be positive, not {x}x{y}")
        depth = self.config.out_depth
        sram = _uint(what, "src_sram_index", src_sram_index, depth)
        if sram + x * y > depth:
            raise CommandError(f"{what}: SRAM range [{sram}, {sram + x * y}) exceeds the OUT "
                               f"buffer depth {depth}")
        base = self._dram_base(what, dst, dst_elem_offset, int(isa.MemType.OUT),
                               (y - 1) * stride + x)
        self._room(2)
        self._stream.create(STORE, [_STORE, 0, 0, 0, 0, int(isa.MemType.OUT), sram, base, y,
                                    x, stride, 0, 0, 0, 0, 0, 0])

    # ------------------------------------------------------------------ micro-kernels
    def kernel(self, key: Hashable, record: Callable[[KernelBuilder], Any] | None = None
               ) -> UopKernel:
        """The kernel cached under ``key``; on first use ``record(builder)`` records it.

        Raises :class:`CommandError` when ``key`` is unknown and no ``record`` is given,
        and for every recording mistake (see :meth:`KernelBuilder.finish`).
        """
        try:
            kernel = self._kernels.get(key)
        except TypeError:
            raise CommandError(f"kernel key must be hashable, not {type(key).__name__}") \
                from None
        if kernel is not None:
            return kernel
        if record is None:
            raise CommandError(f"no micro-kernel recorded under key {key!r}; pass a record "
                               f"function")
        if self._recording is not None:
            raise CommandError(f"cannot record kernel {key!r} while recording "
                               f"{self._recording.key!r}")
        builder = KernelBuilder(self.config, key)
        self._recording = builder
        try:
            record(builder)
        finally:
            self._recording = None
        kernel = builder.finish()
        self._kernels[key] = kernel
        return kernel

    def _builder(self, what: str) -> KernelBuilder:
        if self._recording is None:
            raise CommandError(f"{what} outside a kernel's record function")
        return self._recording

    def uop_loop_begin(self, extent: int, dst_factor: int, src_factor: int,
                       wgt_factor: int = 0) -> None:
        """TVM's ``VTAUopLoopBegin`` for the kernel being recorded."""
        self._builder("uop_loop_begin").loop_begin(extent, dst_factor, src_factor, wgt_factor)

    def uop_loop_end(self) -> None:
        """TVM's ``VTAUopLoopEnd`` for the kernel being recorded."""
        self._builder("uop_loop_end").loop_end()

    def uop_push(self, mode: int, reset: int | bool, dst: int, src: int, wgt: int = 0,
                 opcode: int = 0, use_imm: int | bool = 0, imm: int = 0) -> None:
        """TVM's ``VTAUopPush`` (mode 0 GEMM, 1 ALU) for the kernel being recorded."""
        self._builder("uop_push").push(mode, reset, dst, src, wgt, opcode, use_imm, imm)

    def _resolve(self, what: str, kernel: UopKernel | Hashable,
                 record: Callable[[KernelBuilder], Any] | None, mode: int) -> UopKernel:
        k = kernel if isinstance(kernel, UopKernel) else self.kernel(kernel, record)
        if k.mode != mode:
            raise CommandError(f"{what}: kernel {k.key!r} holds "
                               f"{'ALU' if k.mode == ALU_MODE else 'GEMM'} uops")
        return k

    def _place(self, k: UopKernel) -> tuple[int, int]:
        """Make ``k`` resident, emitting LOAD UOP when it is not; return its range."""
        loc = self._cache.lookup(k)
        if loc is not None:
            self.stats["uop_hits"] += 1
            return loc
        offset = self._staged.get(k)
        if offset is None:
            if self._staged_count + k.size > self.max_staged_uops:
                self._sync(auto=True)
                self._begin_batch()
                self._work = True
            offset = self._staged_count
            self._uop_host[offset:offset + k.size] = k.encoded
            self._staged[k] = offset
            self._staged_count += k.size
        evictions = self._cache.evictions
        begin, end = self._cache.place(k)
        self.stats["uop_evictions"] += self._cache.evictions - evictions
        self.stats["uop_loads"] += 1
        self._stream.create(COMPUTE, [_LOAD, 0, 0, 0, 0, int(isa.MemType.UOP), begin,
                                      self._uop_base + offset, 1, k.size, k.size, 0, 0, 0, 0,
                                      0, 0])
        self._barrier_done()
        return begin, end

    def preload(self, kernels: Iterable[UopKernel]) -> bool:
        """Make ``kernels`` resident now, if they fit the uop buffer together (a LOAD UOP
        for each one not resident yet); return whether they did.

        With ``ALU_OVERLAP`` a LOAD UOP is a compute barrier; loading a program's kernels
        up front keeps barriers out of the stretch where GEMMs overlap ALU instructions.
        """
        unique = list(dict.fromkeys(kernels))
        if sum(k.size for k in unique) > self.config.uop_depth:
            return False
        for k in unique:
            self._room(1)
            before = len(self._stream)
            self._place(k)
            if len(self._stream) == before + 1 and before:
                _merge_uop_loads(self._stream.rows)
        return True

    def push_gemm_op(self, kernel: UopKernel | Hashable,
                     record: Callable[[KernelBuilder], Any] | None = None, *,
                     overwrite: bool = False, uops: tuple[int, int] | None = None) -> None:
        """Push a GEMM instruction running ``kernel`` (a UopKernel or a cache key).

        ``overwrite`` (needs ``GEMM_OVERWRITE``): the uops write their products instead
        of adding them (a reset kernel still zeroes).  ``uops=(lo, hi)``: run only uops
        ``[lo, hi)`` of the kernel (inside the same loops), e.g. the first reduction step
        with ``overwrite`` and the rest without.
        """
        if overwrite and not self.config.GEMM_OVERWRITE:
            raise CommandError("push_gemm_op: overwrite needs a config with "
                               "GEMM_OVERWRITE=true")
        self._push_kernel("push_gemm_op", kernel, record, GEMM_MODE, int(bool(overwrite)),
                          uops)

    def push_alu_op(self, kernel: UopKernel | Hashable,
                    record: Callable[[KernelBuilder], Any] | None = None) -> None:
        """Push an ALU instruction running ``kernel`` (a UopKernel or a cache key)."""
        self._push_kernel("push_alu_op", kernel, record, ALU_MODE)

    def _push_kernel(self, what: str, kernel: UopKernel | Hashable,
                     record: Callable[[KernelBuilder], Any] | None, mode: int,
                     overwrite: int = 0, part: tuple[int, int] | None = None) -> None:
        k = self._resolve(what, kernel, record, mode)
        if part is not None:
            lo, hi = part if isinstance(part, tuple) and len(part) == 2 else (None, None)
            if not (isinstance(lo, int) and isinstance(hi, int) and 0 <= lo < hi <= k.size):
                raise CommandError(f"{what}: uops must be (lo, hi) with 0 <= lo < hi <= "
                                   f"{k.size} (the kernel's uops), not {part!r}")
        self._room(4)
        begin, end = self._place(k)
        if part is not None:
            begin, end = begin + part[0], begin + part[1]
        if self._overlap is not None:
            self._keep_overlap_rule(k, mode)
        io, ii, do, di, so, si, wo, wi = k.loop_fields()
        # GEMM and ALU rows share the loop columns; GEMM ends with the weight factors (and
        # the overwrite extension), ALU with the operation.
        if mode == GEMM_MODE:
            row = [_GEMM, 0, 0, 0, 0, k.reset, begin, end, io, ii, do, di, so, si, wo, wi,
                   overwrite]
        else:
            row = [_ALU, 0, 0, 0, 0, k.reset, begin, end, io, ii, do, di, so, si, k.alu_opcode,
                   k.use_imm, k.imm]
        self._stream.create(COMPUTE, row)

    # ------------------------------------------------------------------ ALU_OVERLAP
    def _keep_overlap_rule(self, k: UopKernel, mode: int) -> None:
        """Insert a compute barrier before ``k`` where rule 5 of :mod:`vta.hw.pipeline`
        needs one (see the module docstring for where)."""
        check = self._overlap
        assert check is not None
        banks = self._banks(k)
        if mode == ALU_MODE:
            if self._after_gemm and check.alu_banks:
                self._barrier()
            check.alu(len(self._stream), banks)
            self._after_gemm = False
        else:
            if check.gemm(banks) is not None:
                self._barrier()
            self._after_gemm = True

    def _barrier(self) -> None:
        """A compute no-op: it waits until both compute units are idle."""
        self._stream.push_noop(COMPUTE)
        self.stats["barriers"] += 1
        self._barrier_done()

    def _barrier_done(self) -> None:
        """A compute barrier was emitted (a no-op, a compute LOAD or a batch end)."""
        if self._overlap is not None:
            self._overlap.barrier()
            self._after_gemm = False

    def _banks(self, k: UopKernel) -> frozenset[int]:
        """The accumulator banks ``k`` may touch (destinations; ALU tensor sources too),
        from the range its indices span."""
        banks = self._kernel_banks.get(k)
        if banks is None:
            io, ii, do, di, so, si, _, _ = k.loop_fields()
            spans = [(min(u.dst_idx for u in k.uops),
                      max(u.dst_idx for u in k.uops) + (io - 1) * do + (ii - 1) * di)]
            if k.mode == ALU_MODE and not k.use_imm:
                spans.append((min(u.src_idx for u in k.uops),
                              max(u.src_idx for u in k.uops) + (io - 1) * so + (ii - 1) * si))
            log_depth = self.config.log_acc_depth
            banks = frozenset(b for lo, hi in spans
                              for b in range(acc_bank(log_depth, lo), acc_bank(log_depth, hi) + 1))
            self._kernel_banks[k] = banks
        return banks

    # ------------------------------------------------------------------ dependencies
    def dep_push(self, from_stage: int, to_stage: int) -> None:
        """Send a token from stage ``from_stage`` to ``to_stage`` (1 load, 2 compute,
        3 store) after the last instruction of ``from_stage``."""
        if (from_stage, to_stage) not in _PAIRS:
            _pair_error("dep_push", from_stage, to_stage)
        self._room(2)
        self._stream.dep_push(from_stage, to_stage)

    def dep_pop(self, from_stage: int, to_stage: int) -> None:
        """Make the next instruction of ``to_stage`` wait for a token from ``from_stage``."""
        if (from_stage, to_stage) not in _PAIRS:
            _pair_error("dep_pop", from_stage, to_stage)
        self._room(2)
        self._stream.dep_pop(from_stage, to_stage)

    # ------------------------------------------------------------------ running
    def synchronize(self, timeout: float | None | str = "default") -> RunResult | None:
        """Run everything queued and wait; return the run's result (``None`` if idle).

        With automatic synchronisations since the last call, the result combines all
        runs (:meth:`RunResult.combine`).

        Raises
        ------
        CommandError
            Unbalanced tokens (a pop no push serves, or a deadlock) -- before running.
        DeviceTimeout, VTAError
            From the device.
        """
        if self._recording is not None:
            raise CommandError("synchronize inside a kernel's record function")
        if self._work or self._stream.has_pending_pop():
            self._sync(auto=False, timeout=timeout)
        results, self._results = self._results, []
        return RunResult.combine(results) if results else None

    def _close_batch(self) -> dict[str, int]:
        """Append the end of the batch (balance, FINISH); return the carried tokens."""
        s = self._stream
        if self.force_serial:
            s.drop_pending_pops()
            s.rows = _serialise(s.rows)
            s.create(COMPUTE, [_FINISH] + [0] * (ROW_WIDTH - 1))
            return _no_tokens()
        for stage in (LOAD, COMPUTE, STORE):
            s.commit_pending_pop(stage)
        totals = stream_tokens.token_totals(s.rows)
        short = {ch: -v for ch, v in totals.items() if v < 0}
        if short:
            raise CommandError("unbalanced dependency tokens: " + ", ".join(
                f"{n} more pop(s) than push(es) on {ch}" for ch, n in short.items())
                + "; every dep_pop needs an earlier or later dep_push")
        # Pop what is left so FINISH sees empty channels; the next batch re-pushes it.
        _token_noops(s, totals, push=False)
        # TVM's Synchronize: FINISH waits for the last store and the last load.
        s.dep_push(STORE, COMPUTE)
        s.dep_push(LOAD, COMPUTE)
        s.dep_pop(STORE, COMPUTE)
        s.dep_pop(LOAD, COMPUTE)
        s.commit_pending_pop(COMPUTE)
        s.create(COMPUTE, [_FINISH] + [0] * (ROW_WIDTH - 1))
        return totals

    def _sync(self, auto: bool, timeout: float | None | str = "default") -> None:
        if timeout == "default":
            timeout = self.timeout
        try:
            carried = self._close_batch()
            rows = self._stream.rows
            if self.check_tokens:
                stream_tokens.check_deadlock(rows, self.config.CMD_QUEUE_DEPTH)
            self.last_dump = stream_tokens.dump(rows) if self.dump_insns else ""
            data = self._encoder.encode(rows)
        except Exception:
            self._abandon()
            raise
        if self.dump_insns:
            sys.stdout.write(self.last_dump)
        buf = self._insn_buffer(len(data))
        self.device.copy_to_device(buf, data)
        if self._staged_count:
            self.device.flush(self._uop_staging, 0,
                              self._staged_count * self.config.uop_elem_bytes)
        if self.device.run_count != self._expected_runs:
            self._abandon()
            raise CommandError("the device was run by someone else while this queue was "
                               "building a batch; its uop cache is unknown (synchronize "
                               "before sharing a device)")
        try:
            result = self.device.run(buf.addr, len(rows), timeout=timeout)  # type: ignore[arg-type]
        except Exception:
            self._abandon()
            raise
        self._expected_runs = self.device.run_count
        self._carried = carried
        self._last_rows = rows
        self._reset_batch()
        self._results.append(result)
        self.stats["runs"] += 1
        self.stats["auto_syncs"] += int(auto)
        self.stats["insns"] += len(rows)

    def _insn_buffer(self, nbytes: int) -> Buffer:
        if self._insn_buf is None or self._insn_buf.nbytes < nbytes:
            if self._insn_buf is not None:
                self._insn_buf.free()
            size = max(nbytes, (self.max_insns + 64) * self.config.insn_bytes)
            self._insn_buf = self.device.alloc(size, 4096)
        return self._insn_buf

    # ------------------------------------------------------------------ debugging
    def dump(self) -> str:
        """The queued (not yet run) instructions with running token counts."""
        return stream_tokens.dump(self._stream.rows)

    def queued_rows(self) -> list[list[int]]:
        """Copies of the queued (not yet run) instruction rows (:mod:`vta.hw.insn_stream`)."""
        return [list(row) for row in self._stream.rows]

    def discard(self) -> None:
        """Drop the queued batch unrun and forget what the uop buffer holds."""
        self._abandon()

    def instructions(self) -> list[isa.Instruction]:
        """The queued instructions as :mod:`vta.hw.isa` objects."""
        return [from_row(r) for r in self._stream.rows]

    def last_program(self) -> list[isa.Instruction]:
        """The instructions of the last run (FINISH included)."""
        return [from_row(r) for r in self._last_rows]

    @property
    def pending_tokens(self) -> dict[str, int]:
        """Tokens carried into the next batch, per channel (``l2c``, ``c2l``, ...)."""
        return dict(self._carried)

    # ------------------------------------------------------------------ lifetime
    def close(self) -> None:
        """Free the queue's staging buffers (queued work is dropped)."""
        self._abandon()
        for buf in (self._uop_staging, self._insn_buf):
            if buf is not None and not buf.freed and not self.device.closed:
                buf.free()
        self._insn_buf = None

    def __enter__(self) -> CommandQueue:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _merge_uop_loads(rows: list[list[int]]) -> None:
    """Fold the last row into the one before when both are flag-free LOAD UOPs of
    consecutive uops, contiguous in DRAM and in the uop buffer (one DMA instead of two)."""
    a, b = rows[-2], rows[-1]
    cols = COLUMNS[isa.Opcode.LOAD]
    pops = (FLAG_COLUMNS["pop_prev"], FLAG_COLUMNS["pop_next"])
    pushes = (FLAG_COLUMNS["push_prev"], FLAG_COLUMNS["push_next"])
    uop = int(isa.MemType.UOP)
    for r in (a, b):
        if r[0] != _LOAD or r[cols["memory_type"]] != uop or r[cols["y_size"]] != 1 \
                or any(r[c] for c in pushes):
            return
    if any(b[c] for c in pops):
        return
    n = a[cols["x_size"]]
    if b[cols["sram_base"]] != a[cols["sram_base"]] + n \
            or b[cols["dram_base"]] != a[cols["dram_base"]] + n:
        return
    total = n + b[cols["x_size"]]
    if total >= 1 << isa.MEMOP_SIZE_BITS:
        return
    a[cols["x_size"]] = a[cols["x_stride"]] = total
    rows.pop()


def _no_tokens() -> dict[str, int]:
    return {ch.name: 0 for ch in CHANNELS}


# (producer, consumer) stage numbers of every token channel: a fast check per call.
_PAIRS = frozenset((int(ch.producer), int(ch.consumer)) for ch in CHANNELS)


def _pair_error(what: str, from_stage: int, to_stage: int) -> None:
    """Raise the :class:`CommandError` of a stage pair no channel connects."""
    try:
        channel_between(from_stage, to_stage)
    except IsaError as e:
        raise CommandError(f"{what}({from_stage}, {to_stage}): {e}") from None


def _token_noops(s: InsnStream, counts: dict[str, int], *, push: bool) -> None:
    """No-ops that push (at a batch's start) or pop (at its end) ``counts`` tokens per
    channel; a stage's no-op serves all its channels at once."""
    for stage in _CARRY_ORDER:
        channels = channels_pushed(stage) if push else channels_popped(stage)
        for i in range(max(counts[ch.name] for ch in channels)):
            s.push_noop(stage, **{ch.push_flag if push else ch.pop_flag: int(i < counts[ch.name])
                                  for ch in channels})


def _serialise(rows: list[list[int]]) -> list[list[int]]:
    """Force-serial rewrite: chain every instruction to the one before it.

    Like TVM's ``RewriteForceSerial``, but a load next to a store is chained through a
    compute no-op (loads and stores share no channel), and the last instruction is chained
    to the compute stage so FINISH follows it.
    """
    out: list[list[int]] = []
    prev: list[int] | None = None
    prev_stage = COMPUTE
    for row in rows:
        for col in FLAG_COLUMNS.values():
            row[col] = 0
        stage = stage_of_row(row)
        if prev is not None and {prev_stage, stage} == {LOAD, STORE}:
            nop = nop_row(COMPUTE)
            _chain(prev, prev_stage, nop, COMPUTE)
            out.append(nop)
            prev, prev_stage = nop, COMPUTE
        if prev is not None:
            _chain(prev, prev_stage, row, stage)
        out.append(row)
        prev, prev_stage = row, stage
    if prev is not None and prev_stage != COMPUTE:
        nop = nop_row(COMPUTE)
        _chain(prev, prev_stage, nop, COMPUTE)
        out.append(nop)
    return out


def _chain(a: list[int], sa: Stage, b: list[int], sb: Stage) -> None:
    """Make ``b`` (of stage ``sb``) wait for ``a`` (of stage ``sa``) through their channel."""
    if sa == sb:
        return
    ch = channel_between(sa, sb)
    a[FLAG_COLUMNS[ch.push_flag]] = 1
    b[FLAG_COLUMNS[ch.pop_flag]] = 1
