"""The functional simulator: the kit's golden model of VTA's instruction semantics.

:class:`FunctionalSimulator` runs a program stored in a :class:`~vta.sim.dram.Dram` with the
hardware's semantics (SPEC section 5) and no notion of time:

* Fetch routes each instruction to the load (LOAD INP/WGT), compute (LOAD UOP/ACC/ACC_8BIT,
  GEMM, ALU, FINISH) or store (STORE) queue, in order, and stalls while the target queue
  holds ``CMD_QUEUE_DEPTH`` instructions.  Each module executes its queue in order; an
  instruction waits until every token it pops is available, executes, then pushes.  Of
  the ready queue heads the one earliest in the stream runs first, so a program whose
  tokens only point backwards runs in stream order.  Token channels are unbounded.
* FINISH runs once every instruction before it has completed; then each token channel
  must be empty.  FINISH must be the last instruction and pops and pushes nothing.
* An invalid program raises a :class:`FsimProgramError` (a
  :class:`vta.hw.program_errors.ProgramError` of one :class:`~vta.hw.program_errors.ErrorKind`,
  with the message every device gives): the static checks of every instruction, in stream
  order, before anything executes; DRAM and GEMM/ALU index errors as instructions execute;
  when no module can proceed before FINISH a :class:`DeadlockError` names each blocked module
  and the channel it waits on.  Nothing can hang: every step either executes an instruction
  or raises.
* Memory is bounded: a GEMM/ALU loop nest of more than ``_CHUNK_UOPS`` uop executions runs
  in chunks (its index check is computed, not expanded), so one instruction never needs
  more than a few hundred MB whatever its loop extents.

With ``ALU_OVERLAP`` the simulator also checks the program rule of :mod:`vta.hw.pipeline`
(a GEMM must not use an accumulator bank that an ALU instruction since the last compute
barrier uses) and raises :class:`FsimError` naming both instructions; programs that keep
it have the results of in-order execution, which is what the simulator computes.

SRAM contents persist across :meth:`~FunctionalSimulator.run` calls, like the hardware's.
GEMM and ALU instructions execute as whole-array numpy operations (:mod:`.fsim_compute`)
with results identical to uop-by-uop execution.

Speed (compiled programs repeat a few instruction words thousands of times): each distinct
instruction word is decoded, routed and checked once and gets an executor (LOAD/STORE:
prepared views of DRAM and SRAM); GEMM/ALU plans are cached by loop fields and uop
contents; INP/WGT have float32 mirrors for BLAS, refreshed by loads.  Token flow does not
depend on data, so the schedule is computed before execution: prefix sums confirm that
stream order is the hardware's order (the usual case), otherwise the module scheduler runs.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
from vta.hw import isa, pipeline, program_errors
from vta.hw.config import VTAConfig
from vta.hw.errors import VTAError
from vta.hw.isa import MemType, Opcode
from vta.hw.program_errors import ErrorKind, IndexOperand, ProgramError

from . import fsim_compute
from .dram import Dram

__all__ = ["FsimError", "FsimProgramError", "DeadlockError", "FsimStats",
           "FunctionalSimulator"]


class FsimError(VTAError):
    """The simulator was misused or the program cannot run (see :class:`FsimProgramError`)."""


class FsimProgramError(FsimError, ProgramError):
    """A program the hardware would not run correctly (bad index, type, token, ...): a
    :class:`~vta.hw.program_errors.ProgramError` with its ``kind`` and ``index``."""

    @classmethod
    def of(cls, err: ProgramError) -> FsimProgramError:
        """The same error (message, kind, index) as an fsim error."""
        if isinstance(err, program_errors.DeadlockError):
            return DeadlockError(str(err))
        return cls(str(err), err.kind, err.index)


class DeadlockError(FsimProgramError, program_errors.DeadlockError):
    """No module can proceed before FINISH; the message names each blocked module."""

    def __init__(self, message: str) -> None:
        ProgramError.__init__(self, message, ErrorKind.DEADLOCK)


_MEM_NAMES = {int(m): m.name for m in MemType}


@dataclass
class FsimStats:
    """What one :meth:`FunctionalSimulator.run` did.

    ``insns`` counts instructions per kind (LOAD and STORE exclude ``x_size == 0`` ones,
    which count as NOP); ``bytes_read`` counts DRAM bytes per memory type name plus
    ``INSN``; ``bytes_written`` counts ``OUT``; ``gemm_uops`` includes reset uops, of which
    there were ``gemm_reset_uops``.
    """

    insns: dict[str, int] = field(default_factory=lambda: dict.fromkeys(
        ("LOAD", "STORE", "GEMM", "ALU", "FINISH", "NOP"), 0))
    bytes_read: dict[str, int] = field(default_factory=lambda: dict.fromkeys(
        ("UOP", "WGT", "INP", "ACC", "ACC_8BIT", "INSN"), 0))
    bytes_written: dict[str, int] = field(default_factory=lambda: {"OUT": 0})
    gemm_uops: int = 0
    alu_uops: int = 0
    gemm_reset_uops: int = 0

    def counters(self) -> dict[str, int]:
        """The hardware counters (register-map names) this model can know."""
        return {"GEMM_UOPS": self.gemm_uops, "ALU_UOPS": self.alu_uops,
                "INSN_DONE": sum(self.insns.values()),
                "DMA_RD_BYTES": sum(self.bytes_read.values()),
                "DMA_WR_BYTES": sum(self.bytes_written.values())}

    def macs(self, config: VTAConfig) -> int:
        """Multiply-accumulates done: non-reset GEMM uops times BATCH*BLOCK_IN*BLOCK_OUT."""
        return (self.gemm_uops - self.gemm_reset_uops) * config.macs_per_cycle


class FunctionalSimulator:
    """Executes VTA programs against a :class:`Dram` (the golden model).

    Parameters
    ----------
    config:
        The hardware configuration (SRAM shapes, ISA layout, command-queue depth).
    dram:
        The memory holding instructions, uops and data; shared with the driver.
    alu_mul:
        Accept the ALU MUL extension; ``None`` follows ``config.ALU_MUL``.
    blas_threads:
        BLAS threads for GEMM matmuls (default 1: compiled programs issue many small
        matmuls, which extra threads do not speed up and shared cores slow down).

    Raises
    ------
    FsimError
        if ``config`` is not a :class:`VTAConfig` or ``blas_threads`` is not positive.

    Members
    -------
    uop, inp, wgt, acc, out:
        numpy arrays holding the SRAMs (uop words; ``(depth, BATCH, BLOCK_IN)`` int8;
        ``(depth, BLOCK_OUT, BLOCK_IN)`` int8; ``(depth, BATCH, BLOCK_OUT)`` int32 and
        int8), for inspection.
    """

    def __init__(self, config: VTAConfig, dram: Dram, *, alu_mul: bool | None = None,
                 blas_threads: int = 1) -> None:
        if not isinstance(config, VTAConfig):
            raise FsimError(f"config must be a VTAConfig, not {type(config).__name__}")
        if isinstance(blas_threads, bool) or not isinstance(blas_threads, int) \
                or blas_threads < 1:
            raise FsimError(f"blas_threads must be a positive integer, not {blas_threads!r}")
        self.blas_threads = blas_threads
        self.config = config
        self.dram = dram
        self.alu_mul = config.ALU_MUL if alu_mul is None else bool(alu_mul)
        c = config
        self._layout = isa.layout_for(c)
        self.uop = np.zeros(c.uop_depth, dtype=np.uint64 if c.WIDE_ISA else np.uint32)
        self.inp = np.zeros((c.inp_depth, c.batch, c.block_in), dtype=np.int8)
        self.wgt = np.zeros((c.wgt_depth, c.block_out, c.block_in), dtype=np.int8)
        self.acc = np.zeros((c.acc_depth, c.batch, c.block_out), dtype=np.int32)
        self.out = np.zeros((c.out_depth, c.batch, c.block_out), dtype=np.int8)
        # float32 mirrors of INP and of WGT (tiles transposed) for BLAS, kept in step
        # with ``inp`` and ``wgt`` by loads: the SRAM arrays are for reading only.
        self._inp_f = np.zeros(self.inp.shape, dtype=np.float32)
        self._wgt_t = np.zeros((c.wgt_depth, c.block_in, c.block_out), dtype=np.float32)
        # Decoded uop fields, kept in step with ``uop`` by UOP loads.
        self._uop_fields = np.zeros((3, c.uop_depth), dtype=np.int64)
        # Config values looked up per instruction (VTAConfig derives them on each access).
        self._insn_bytes = c.insn_bytes
        self._elem_bytes = {int(m): c.elem_bytes(m) for m in MemType}
        self._depth = {int(m): c.depth(m) for m in MemType}
        self._load_target = {MemType.UOP: (self.uop, f"<u{c.uop_elem_bytes}"),
                             MemType.INP: (self.inp, np.int8), MemType.WGT: (self.wgt, np.int8),
                             MemType.ACC: (self.acc, "<i4"), MemType.ACC_8BIT: (self.acc, np.int8)}
        # Decoded, routed instruction words with their executors and plans (a cache).
        self._entries: dict[bytes, _Entry] = {}
        # GEMM/ALU plans by (loop fields, uop contents), holding _plan_elems index elements.
        self._plans: dict[tuple, Any] = {}
        self._plan_elems = 0
        # ALU_OVERLAP: rule 5 of vta.hw.pipeline over the compute instructions executed.
        self._overlap = pipeline.OverlapCheck() if c.ALU_OVERLAP else None

    def reset(self) -> None:
        """Zero every SRAM (the state after power-on)."""
        for buf in (self.uop, self.inp, self.wgt, self.acc, self.out, self._uop_fields,
                    self._inp_f, self._wgt_t):
            buf[...] = 0

    # ------------------------------------------------------------------------ program
    def run(self, insn_addr: int, insn_count: int) -> FsimStats:
        """Run ``insn_count`` instructions stored at byte address ``insn_addr``.

        Returns the statistics of the run.  Raises :class:`FsimProgramError` (or its
        :class:`DeadlockError`) naming the offending instruction for any program the
        hardware would not complete correctly: first the static errors of
        :func:`vta.hw.program_errors.check_instruction`, in stream order, before anything
        executes; then DRAM and GEMM/ALU index errors as instructions execute; then a
        deadlock or tokens left at FINISH.
        """
        c = self.config
        if isinstance(insn_count, bool) or not isinstance(insn_count, (int, np.integer)) \
                or insn_count <= 0:
            raise FsimError(f"insn_count must be a positive integer, not {insn_count!r}")
        if insn_addr % c.insn_bytes:
            raise FsimError(f"instruction address {insn_addr:#x} is not a multiple of "
                            f"{c.insn_bytes} bytes")
        nbytes = int(insn_count) * c.insn_bytes
        if not self.dram.contains(insn_addr, nbytes):
            raise FsimError(f"instructions [{insn_addr:#x}, {insn_addr + nbytes:#x}) lie "
                            f"outside DRAM [{self.dram.base:#x}, "
                            f"{self.dram.base + self.dram.size:#x})")
        entries = self._decode(self.dram.read(insn_addr, nbytes))
        order, failure = self._order(entries)
        if self._overlap is not None:
            self._overlap.barrier()            # the hardware starts idle
        try:
            with fsim_compute.blas_threads(self.blas_threads):
                for i in order:
                    e = entries[i]
                    run = e.run
                    if run is None:
                        run = self._executor(i, e)
                    run(i)
        except ProgramError as err:
            raise FsimProgramError.of(err) from None
        if failure is not None:
            raise failure
        return self._stats(entries)

    def _decode(self, data: bytes) -> list[_Entry]:
        """Decode, check and route every instruction (stream order: the first static
        error wins); each distinct word is checked once."""
        n = self._insn_bytes
        count = len(data) // n
        cache = self._entries
        out = []
        for i in range(0, len(data), n):
            word = data[i:i + n]
            index = i // n
            e = cache.get(word)
            # A cached word passed the checks somewhere; where it is matters only to FINISH
            # (last, and only last) and to the last word (FINISH).
            if e is None or index == count - 1 or e.insn.OPCODE == Opcode.FINISH:
                try:
                    insn = program_errors.check_instruction(
                        int.from_bytes(word, "little"), index, count, self.config,
                        alu_mul=self.alu_mul)
                except ProgramError as err:
                    raise FsimProgramError.of(err) from None
                if e is None:
                    if len(cache) >= _ENTRY_CACHE:
                        self._drop_caches()
                    e = cache[word] = self._route(insn)
            out.append(e)
        return out

    def _drop_caches(self) -> None:
        """Forget every decoded instruction and plan (bounds the memory they hold)."""
        self._entries.clear()
        self._plans.clear()
        self._plan_elems = 0

    def _route(self, insn: isa.Instruction) -> _Entry:
        """The entry of a checked instruction: its stage, popped and pushed channels and
        statistics."""
        e = _Entry(insn)
        stage = pipeline.stage_of(insn.OPCODE, getattr(insn, "memory_type", None))
        pops = tuple(ch.index for ch in pipeline.channels_popped(stage)
                     if getattr(insn, ch.pop_flag))
        pushes = tuple(ch.index for ch in pipeline.channels_pushed(stage)
                       if getattr(insn, ch.push_flag))
        e.pops, e.pushes = pops, pushes
        # Bit ch: pops channel ch; bit 4 + ch: pushes it (each at most once per insn).
        e.tokens = sum(1 << ch for ch in pops) | sum(1 << (4 + ch) for ch in pushes)
        e.stats = self._stat_delta(insn)
        e.stage = stage
        return e

    def _stat_delta(self, insn: isa.Instruction) -> tuple:
        """What one execution of ``insn`` adds to :class:`FsimStats`:
        ``(kind, read memory, bytes read, bytes written, gemm uops, reset uops, alu uops)``."""
        op = insn.OPCODE
        if op in (Opcode.LOAD, Opcode.STORE):
            if insn.x_size == 0:
                return ("NOP", None, 0, 0, 0, 0, 0)
            nbytes = insn.y_size * insn.x_size * self._elem_bytes[insn.memory_type]
            if op == Opcode.LOAD:
                return ("LOAD", _MEM_NAMES[insn.memory_type], nbytes, 0, 0, 0, 0)
            return ("STORE", None, 0, nbytes, 0, 0, 0)
        if op == Opcode.FINISH:
            return ("FINISH", None, 0, 0, 0, 0, 0)
        n = insn.iter_out * insn.iter_in * max(0, insn.uop_end - insn.uop_bgn)
        if op == Opcode.GEMM:
            return ("GEMM", None, 0, 0, n, n if insn.reset else 0, 0)
        return ("ALU", None, 0, 0, 0, 0, n)

    def _stats(self, entries: list[_Entry]) -> FsimStats:
        stats = FsimStats()
        stats.bytes_read["INSN"] = len(entries) * self._insn_bytes
        for e, times in Counter(entries).items():
            kind, mem, rd, wr, gemm, reset, alu = e.stats
            stats.insns[kind] += times
            if mem is not None:
                stats.bytes_read[mem] += rd * times
            stats.bytes_written["OUT"] += wr * times
            stats.gemm_uops += gemm * times
            stats.gemm_reset_uops += reset * times
            stats.alu_uops += alu * times
        return stats

    # ------------------------------------------------------------------------ scheduling
    def _order(self, entries: list[_Entry]) -> tuple[list[int] | range,
                                                    FsimProgramError | None]:
        """The order in which the modules execute the instructions before FINISH, and the
        error (deadlock, tokens left at FINISH) to raise once they have run (the checks
        of :meth:`_decode` put FINISH last).

        Token flow does not depend on data, so the whole schedule is known before
        anything executes.  Most programs run in stream order: every instruction's
        tokens are pushed by earlier ones.  That is checked with prefix sums; other
        programs get the module-by-module scheduler.
        """
        n = len(entries)
        if n == 1:
            return range(0), None
        codes = np.fromiter((e.tokens for e in entries[:-1]), dtype=np.int64, count=n - 1)
        bits = (codes[:, None] >> np.arange(8)) & 1
        pops, delta = bits[:, :4], bits[:, 4:] - bits[:, :4]
        after = np.cumsum(delta, axis=0)
        if bool(np.all(after - delta >= pops)):         # tokens there before each pop
            left = after[-1]
            failure = None
            if left.any():
                failure = self._leftover_error(n - 1, left.tolist())
            return range(n - 1), failure
        return self._schedule(entries)

    @staticmethod
    def _leftover_error(i: int, tokens: list[int]) -> FsimProgramError:
        return FsimProgramError.of(program_errors.tokens_left_error(i, tokens))

    def _schedule(self, entries: list[_Entry]) -> tuple[list[int], FsimProgramError | None]:
        """Fetch and queue like the hardware: of the queue heads whose tokens are there,
        the one earliest in the stream runs next; FINISH once all before it have run."""
        n = len(entries)
        depth = self.config.CMD_QUEUE_DEPTH
        queues: dict[pipeline.Stage, deque[int]] = {s: deque() for s in pipeline.STAGES}
        tokens = [0] * len(pipeline.CHANNELS)
        fetched = 0
        order: list[int] = []
        while True:
            while fetched < n and len(queues[entries[fetched].stage]) < depth:
                queues[entries[fetched].stage].append(fetched)
                fetched += 1
            best = -1
            for q in queues.values():
                if q:
                    i = q[0]
                    if i == n - 1:               # FINISH: everything before it is done
                        ready = len(order) == n - 1
                    else:
                        ready = all(tokens[ch] for ch in entries[i].pops)
                    if ready and (best < 0 or i < best):
                        best = i
            if best < 0:
                return order, DeadlockError(self._deadlock_message(entries, queues, tokens,
                                                                   fetched))
            if best == n - 1:
                return order, (self._leftover_error(best, tokens) if any(tokens) else None)
            for ch in entries[best].pops:
                tokens[ch] -= 1
            queues[entries[best].stage].popleft()
            order.append(best)
            for ch in entries[best].pushes:
                tokens[ch] += 1

    def _deadlock_message(self, entries, queues, tokens, fetched) -> str:
        n = len(entries)
        parts = []
        for stage, q in queues.items():
            if not q:
                continue
            i = q[0]
            if i == n - 1:
                parts.append(program_errors.finish_wait_part(i))
            else:
                parts.append(program_errors.blocked_part(stage, i, entries[i].insn, tokens))
        if fetched < n:
            parts.append(program_errors.fetch_stall_part(fetched, entries[fetched].stage,
                                                         self.config.CMD_QUEUE_DEPTH))
        return str(program_errors.deadlock_error(parts))

    # ------------------------------------------------------------------------ execution
    def _executor(self, i: int, e: _Entry) -> Callable[[int], None]:
        """Build (and keep on ``e``) the function executing instruction ``i``'s word;
        raises :class:`FsimError` for what the hardware would reject."""
        op = e.insn.OPCODE
        if op == Opcode.LOAD:
            run = self._load_executor(i, e.insn)
        elif op == Opcode.STORE:
            run = self._store_executor(i, e.insn)
        elif op == Opcode.GEMM:
            run = self._gemm_executor(i, e.insn)
        else:
            run = self._alu_executor(i, e.insn)
        e.run = run
        return run

    def _dram_rows(self, i: int, insn, elem_bytes: int) -> np.ndarray:
        """The DRAM bytes of a 2-D transfer as a strided ``(y_size, x_size*elem)`` view."""
        row = insn.x_size * elem_bytes
        pitch = insn.x_stride * elem_bytes
        start = insn.dram_base * elem_bytes
        span = (insn.y_size - 1) * pitch + row
        if not self.dram.contains(start, span):
            raise program_errors.dram_range_error(
                i, insn, start, start + span, (self.dram.base, self.dram.base + self.dram.size))
        off = start - self.dram.base
        mem = self.dram.mem
        if insn.y_size == 1 or pitch == row:
            return mem[off:off + insn.y_size * row].reshape(insn.y_size, row)
        if pitch > row and off + insn.y_size * pitch <= mem.size:
            return mem[off:off + insn.y_size * pitch].reshape(insn.y_size, pitch)[:, :row]
        return np.lib.stride_tricks.as_strided(mem[off:], (insn.y_size, row), (pitch, 1),
                                               writeable=True)

    def _load_executor(self, i: int, insn: isa.Load) -> Callable[[int], None]:
        run = self._plain_load_executor(i, insn)
        overlap = self._overlap
        if overlap is None or pipeline.stage_of_load(insn.memory_type) != pipeline.COMPUTE:
            return run

        def barrier_load(i: int) -> None:       # a compute LOAD waits for both units
            overlap.barrier()
            run(i)
        return barrier_load

    def _plain_load_executor(self, i: int, insn: isa.Load) -> Callable[[int], None]:
        mt = insn.memory_type
        if insn.x_size == 0:
            return _nothing
        rows = insn.y_pad_0 + insn.y_size + insn.y_pad_1
        width = insn.x_pad_0 + insn.x_size + insn.x_pad_1
        begin, end = insn.sram_base, insn.sram_base + rows * width
        buf, dtype = self._load_target[mt]
        src = None
        if insn.y_size:
            raw = self._dram_rows(i, insn, self._elem_bytes[mt])
            src = raw.view(dtype).reshape((insn.y_size, insn.x_size) + buf.shape[1:])
        region = buf[begin:end].reshape((rows, width) + buf.shape[1:])
        padded = rows != insn.y_size or width != insn.x_size
        data = region[insn.y_pad_0:insn.y_pad_0 + insn.y_size,
                      insn.x_pad_0:insn.x_pad_0 + insn.x_size]
        after: Callable[[], None] | None = None
        if mt == MemType.UOP:
            after = partial(self._decode_uops, begin, end)
        elif mt == MemType.INP:
            after = partial(np.copyto, self._inp_f[begin:end], self.inp[begin:end])
        elif mt == MemType.WGT:
            after = partial(np.copyto, self._wgt_t[begin:end],
                            self.wgt[begin:end].transpose(0, 2, 1))

        def load(_i: int) -> None:
            if padded:
                region[...] = 0
            if src is not None:
                data[...] = src
            if after is not None:
                after()
        return load

    def _decode_uops(self, begin: int, end: int) -> None:
        words = self.uop[begin:end].astype(np.int64)
        for k, name in enumerate(("dst_idx", "src_idx", "wgt_idx")):
            f = self._layout.uop_field(name)
            self._uop_fields[k, begin:end] = (words >> f.lsb) & ((1 << f.width) - 1)

    def _store_executor(self, i: int, insn: isa.Store) -> Callable[[int], None]:
        if insn.x_size == 0:
            return _nothing
        end = insn.sram_base + insn.y_size * insn.x_size
        if insn.y_size == 0:
            return _nothing
        dst = self._dram_rows(i, insn, self._elem_bytes[MemType.OUT])
        src = self.out[insn.sram_base:end].view(np.uint8).reshape(insn.y_size, -1)
        if insn.y_size > 1 and insn.x_stride < insn.x_size:
            def store(_i: int) -> None:
                for r in range(insn.y_size):          # overlapping rows: later rows win
                    dst[r] = src[r]
            return store

        def store(_i: int) -> None:
            dst[...] = src
        return store

    def _operands(self, insn: isa.Gemm | isa.Alu) -> tuple[tuple[IndexOperand, int], ...]:
        """The indices a GEMM/ALU computes per uop, with the depth of their buffers: the
        ACC destination, and the INP source and WGT (GEMM) or the ACC source (tensor ALU)."""
        c = self.config
        dst = ((IndexOperand.DST, c.acc_depth),)
        if isinstance(insn, isa.Gemm):
            if insn.reset:
                return dst
            return (*dst, (IndexOperand.SRC, c.inp_depth), (IndexOperand.WGT, c.wgt_depth))
        return dst if insn.use_imm else (*dst, (IndexOperand.SRC, c.acc_depth))

    def _check_indices(self, i: int, insn, operands) -> None:
        """Raise the index error of the first uop execution (loop order ``i``, ``j``, uop;
        destination before sources) whose index leaves its buffer.

        Factors are non-negative, so each uop's first failing position follows from its
        base index alone: no index array is built.
        """
        bgn, end = insn.uop_bgn, max(insn.uop_bgn, insn.uop_end)
        n_o, n_i = insn.iter_out, insn.iter_in
        if n_o == 0 or n_i == 0 or end == bgn:
            return
        first = None
        for rank, (operand, depth) in enumerate(operands):
            prefix = _OPERAND_PREFIX[operand]
            fo = getattr(insn, f"{prefix}_factor_out")
            fi = getattr(insn, f"{prefix}_factor_in")
            base = self._uop_fields[_UOP_FIELD[operand], bgn:end]
            bad = np.flatnonzero(base + (n_o - 1) * fo + (n_i - 1) * fi >= depth)
            for k in bad.tolist():
                b = int(base[k])
                need = depth - b - (n_i - 1) * fi        # i * fo must reach it
                o = 0 if need <= 0 else -(-need // fo)
                need = depth - b - o * fo                # then j * fi must reach this
                j = 0 if need <= 0 else -(-need // fi)
                key = (o, j, k, rank)
                if first is None or key < first[0]:
                    first = (key, operand, b + o * fo + j * fi)
        if first is not None:
            (o, j, k, _), operand, value = first
            raise program_errors.index_error(i, insn, operand, value, self.config,
                                             bgn + k, o, j)

    def _nest_indices(self, insn, operands, outer: range, inner: range) -> list[np.ndarray]:
        """Index arrays ``(len(outer), len(inner), uops)`` of part of a loop nest."""
        io = np.arange(outer.start, outer.stop, dtype=np.int64)[:, None, None]
        ii = np.arange(inner.start, inner.stop, dtype=np.int64)[None, :, None]
        out = []
        for operand, _depth in operands:
            prefix = _OPERAND_PREFIX[operand]
            base = self._uop_fields[_UOP_FIELD[operand],
                                    insn.uop_bgn:max(insn.uop_bgn, insn.uop_end)]
            out.append(base[None, None, :] + io * getattr(insn, f"{prefix}_factor_out")
                       + ii * getattr(insn, f"{prefix}_factor_in"))
        return out

    def _nest_executor(self, i: int, insn, make_plan: Callable[..., Any],
                       run_plan: Callable[[Any], None]) -> Callable[[int], None]:
        """The executor of a GEMM/ALU: check the indices, plan the uops
        (``make_plan(*index arrays)``), run the plan.

        Nests of up to :data:`_CHUNK_UOPS` uop executions get one plan, cached by uop
        contents; larger ones run in chunks of whole inner loops (or of one inner loop),
        in loop order, each planned and run in turn, so memory stays bounded.
        """
        operands = self._operands(insn)
        n_uops = max(0, insn.uop_end - insn.uop_bgn)
        total = insn.iter_out * insn.iter_in * n_uops
        if total == 0:
            return _nothing
        if total <= _CHUNK_UOPS:
            def build(i: int):
                self._check_indices(i, insn, operands)
                return make_plan(*self._nest_indices(insn, operands, range(insn.iter_out),
                                                     range(insn.iter_in)))
            plan = self._planned(insn, build)

            def run(i: int) -> None:
                p = plan(i)
                if p is not None:
                    run_plan(p)
            return self._overlapping(insn, operands, run)

        def run_chunks(i: int) -> None:
            self._check_indices(i, insn, operands)
            for outer, inner in _chunks(insn.iter_out, insn.iter_in, n_uops):
                p = make_plan(*self._nest_indices(insn, operands, outer, inner))
                if p is not None:
                    run_plan(p)
        return self._overlapping(insn, operands, run_chunks)

    def _planned(self, insn, build: Callable[[int], Any], kind: str = "plan"
                 ) -> Callable[[int], Any]:
        """A function of the instruction index returning the plan ``build(i)`` made for
        the current contents of the instruction's uop range.

        Plans are shared by every instruction with the same loop fields and uop contents
        (the runtime places one micro-kernel at different uop addresses); ``insn`` has
        been checked to lie inside the UOP buffer.
        """
        plans = self._plans
        uop = self.uop
        bgn, end = insn.uop_bgn, max(insn.uop_bgn, insn.uop_end)
        fields = (insn.OPCODE, (insn.reset, insn.overwrite) if insn.OPCODE == Opcode.GEMM
                  else insn.use_imm,
                  insn.iter_out, insn.iter_in, insn.dst_factor_out, insn.dst_factor_in,
                  insn.src_factor_out, insn.src_factor_in,
                  getattr(insn, "wgt_factor_out", 0), getattr(insn, "wgt_factor_in", 0))

        def plan(i: int):
            key = (kind, fields, uop[bgn:end].tobytes())
            p = plans.get(key, _MISSING)
            if p is _MISSING:
                p = build(i)
                size = _plan_size(p)
                self._plan_elems += size
                if self._plan_elems > _PLAN_BUDGET:
                    plans.clear()
                    self._plan_elems = size
                plans[key] = p
            return p
        return plan

    def _gemm_executor(self, i: int, insn: isa.Gemm) -> Callable[[int], None]:
        if insn.reset:
            return self._nest_executor(i, insn, fsim_compute.plan_reset,
                                       lambda p: p.run(self.acc, self.out))
        overwrite = bool(insn.overwrite)
        return self._nest_executor(
            i, insn, lambda dst, src, wgt: fsim_compute.plan_gemm(dst, src, wgt, overwrite),
            lambda p: p.run(self.acc, self.out, self._inp_f, self._wgt_t))

    def _alu_executor(self, i: int, insn: isa.Alu) -> Callable[[int], None]:
        op = insn.alu_opcode
        imm = insn.imm if insn.use_imm else None
        law = self.config.LOG_ACC_WIDTH
        return self._nest_executor(
            i, insn, lambda dst, src=None: fsim_compute.plan_alu(dst, src),
            lambda p: p.run(self.acc, self.out, op, imm, law))

    def _overlapping(self, insn, operands, run: Callable[[int], None]
                     ) -> Callable[[int], None]:
        """``run`` checked against rule 5 of ``ALU_OVERLAP`` (unchanged without it): a GEMM
        must not use a bank an ALU instruction since the last barrier uses.

        The ACC rows an operand touches span ``min(base)`` to ``max(base) + (iter_out - 1)
        * factor_out + (iter_in - 1) * factor_in`` (factors are non-negative), so its banks
        (the two halves of ACC) follow from those two rows; the indices are checked first.
        """
        overlap = self._overlap
        if overlap is None:
            return run
        shift = self.config.log_acc_depth - 1
        is_alu = insn.OPCODE == Opcode.ALU
        acc_operands = [(op, d) for op, d in operands
                        if op == IndexOperand.DST or is_alu]
        bgn, end = insn.uop_bgn, max(insn.uop_bgn, insn.uop_end)

        def build(i: int) -> frozenset[int]:
            self._check_indices(i, insn, operands)
            banks: set[int] = set()
            for operand, _depth in acc_operands:
                prefix = _OPERAND_PREFIX[operand]
                base = self._uop_fields[_UOP_FIELD[operand], bgn:end]
                top = int(base.max()) + (insn.iter_out - 1) * getattr(
                    insn, f"{prefix}_factor_out") + (insn.iter_in - 1) * getattr(
                    insn, f"{prefix}_factor_in")
                banks.update(range(int(base.min()) >> shift, (top >> shift) + 1))
            return frozenset(banks)
        banks_of = self._planned(insn, build, "banks")

        def checked(i: int) -> None:
            banks = banks_of(i)
            if is_alu:
                overlap.alu(i, banks)
            else:
                clash = overlap.gemm(banks)
                if clash is not None:
                    bank, j = clash
                    raise FsimError(
                        f"instruction {i} (GEMM) uses accumulator bank {bank} "
                        f"(rows {bank << shift}..{((bank + 1) << shift) - 1}), which ALU "
                        f"instruction {j} uses and may still be executing "
                        f"(ALU_OVERLAP): put a compute barrier (a LOAD or compute no-op) "
                        f"between them or use the other bank")
            run(i)
        return checked


class _Entry:
    """One distinct instruction word: decoded, then routed, then given an executor."""

    __slots__ = ("insn", "stage", "pops", "pushes", "tokens", "stats", "run")

    def __init__(self, insn: isa.Instruction) -> None:
        self.insn = insn
        self.stage: pipeline.Stage | None = None    # not routed yet
        self.pops: tuple[int, ...] = ()
        self.pushes: tuple[int, ...] = ()
        self.tokens = 0                       # popped/pushed channels as bits
        self.stats: tuple = ()
        self.run: Callable[[int], None] | None = None


_MISSING = object()
# Distinct instruction words remembered, and index elements all plans may hold (64 MiB).
_ENTRY_CACHE = 1 << 16
_PLAN_BUDGET = 1 << 23
# Uop executions one plan covers: a loop nest beyond it runs in chunks (a plan costs a few
# hundred bytes per uop execution while it is built, so a chunk stays under ~200 MB).
_CHUNK_UOPS = 1 << 19
_OPERAND_PREFIX = {IndexOperand.DST: "dst", IndexOperand.SRC: "src", IndexOperand.WGT: "wgt"}
_UOP_FIELD = {IndexOperand.DST: 0, IndexOperand.SRC: 1, IndexOperand.WGT: 2}


def _chunks(iter_out: int, iter_in: int, n_uops: int):
    """``(outer range, inner range)`` blocks of a loop nest in loop order, each of at most
    :data:`_CHUNK_UOPS` uop executions (or one uop loop when a single one is larger)."""
    per_outer = iter_in * n_uops
    if per_outer <= _CHUNK_UOPS:
        step = max(1, _CHUNK_UOPS // per_outer)
        for a in range(0, iter_out, step):
            yield range(a, min(iter_out, a + step)), range(iter_in)
        return
    step = max(1, _CHUNK_UOPS // n_uops)
    for a in range(iter_out):
        for b in range(0, iter_in, step):
            yield range(a, a + 1), range(b, min(iter_in, b + step))


def _plan_size(plan: Any) -> int:
    """Index elements a plan holds (for the cache budget)."""
    if plan is None:
        return 1
    total = 1
    for name in getattr(plan, "__slots__", ()):
        v = getattr(plan, name, None)
        if isinstance(v, np.ndarray):
            total += v.size
        elif isinstance(v, (list, tuple)):
            total += sum(x.size if isinstance(x, np.ndarray) else 2 for x in v)
    return total


def _nothing(_i: int) -> None:
    """The executor of a NOP."""
