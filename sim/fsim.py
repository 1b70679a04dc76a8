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
* Every error is a :class:`FsimError` naming the instruction index; when no module can
  proceed before FINISH a :class:`DeadlockError` names each blocked module and the channel
  it waits on.  Nothing can hang: every step either executes an instruction or raises.

SRAM contents persist across :meth:`~FunctionalSimulator.run` calls, like the hardware's.
GEMM and ALU instructions execute as whole-array numpy operations (:mod:`.fsim_compute`)
with results identical to uop-by-uop execution.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np
from vta.hw import isa
from vta.hw.config import VTAConfig
from vta.hw.errors import IsaError, VTAError
from vta.hw.isa import AluOp, MemType, Opcode

from . import fsim_compute
from .dram import Dram

__all__ = ["FsimError", "DeadlockError", "FsimStats", "FunctionalSimulator", "CHANNELS"]


class FsimError(VTAError):
    """A program the hardware would not run correctly (bad index, type, token, ...)."""


class DeadlockError(FsimError):
    """No module can proceed before FINISH; the message names each blocked module."""


LOAD_Q, COMPUTE_Q, STORE_Q = 0, 1, 2
MODULES = ("load", "compute", "store")
# Token channels, indexed as below.
L2C, C2L, C2S, S2C = 0, 1, 2, 3
CHANNELS = ("load->compute", "compute->load", "compute->store", "store->compute")

_MEM_NAMES = {int(m): m.name for m in MemType}
_KIND = {Opcode.LOAD: "LOAD", Opcode.STORE: "STORE", Opcode.GEMM: "GEMM",
         Opcode.ALU: "ALU", Opcode.FINISH: "FINISH"}


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

    Members
    -------
    uop, inp, wgt, acc, out:
        numpy arrays holding the SRAMs (uop words; ``(depth, BATCH, BLOCK_IN)`` int8;
        ``(depth, BLOCK_OUT, BLOCK_IN)`` int8; ``(depth, BATCH, BLOCK_OUT)`` int32 and
        int8), for inspection.
    """

    def __init__(self, config: VTAConfig, dram: Dram, *, alu_mul: bool | None = None) -> None:
        if not isinstance(config, VTAConfig):
            raise FsimError(f"config must be a VTAConfig, not {type(config).__name__}")
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
        self._decoded: dict[bytes, isa.Instruction] = {}

    def reset(self) -> None:
        """Zero every SRAM (the state after power-on)."""
        for buf in (self.uop, self.inp, self.wgt, self.acc, self.out, self._uop_fields,
                    self._inp_f, self._wgt_t):
            buf[...] = 0

    # ------------------------------------------------------------------------ program
    def run(self, insn_addr: int, insn_count: int) -> FsimStats:
        """Run ``insn_count`` instructions stored at byte address ``insn_addr``.

        Returns the statistics of the run.  Raises :class:`FsimError` (or its
        :class:`DeadlockError`) naming the offending instruction for any program the
        hardware would not complete correctly.
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
        insns = self._decode(self.dram.read(insn_addr, nbytes))
        stats = FsimStats()
        stats.bytes_read["INSN"] = nbytes
        routes = [self._route(i, insn) for i, insn in enumerate(insns)]
        with fsim_compute.single_thread_blas():
            self._schedule(insns, routes, stats)
        return stats

    def _decode(self, data: bytes) -> list[isa.Instruction]:
        n = self.config.insn_bytes
        out = []
        for i in range(0, len(data), n):
            word = data[i:i + n]
            insn = self._decoded.get(word)
            if insn is None:
                try:
                    insn = isa.decode_one(int.from_bytes(word, "little"), self.config, i // n)
                except IsaError as e:
                    raise FsimError(str(e)) from None
                if len(self._decoded) < 1 << 16:
                    self._decoded[word] = insn
            out.append(insn)
        return out

    def _route(self, i: int, insn: isa.Instruction) -> tuple[int, tuple[int, ...], tuple[int, ...]]:
        """(queue, channels popped, channels pushed) of instruction ``i``; checks flags."""
        op = insn.OPCODE
        if op == Opcode.LOAD:
            mt = insn.memory_type
            if mt in (MemType.INP, MemType.WGT):
                queue = LOAD_Q
            elif mt in (MemType.UOP, MemType.ACC, MemType.ACC_8BIT):
                queue = COMPUTE_Q
            elif mt == MemType.OUT:
                raise FsimError(f"instruction {i} (LOAD): memory type 4 (OUT) cannot be "
                                f"loaded; loads target UOP, WGT, INP, ACC or ACC_8BIT")
            else:
                raise FsimError(f"instruction {i} (LOAD): unknown memory type {mt} "
                                f"(valid: 0 UOP, 1 WGT, 2 INP, 3 ACC, 5 ACC_8BIT)")
        elif op == Opcode.STORE:
            if insn.memory_type != MemType.OUT:
                raise FsimError(f"instruction {i} (STORE): memory type {insn.memory_type} "
                                f"({_MEM_NAMES.get(insn.memory_type, 'unknown')}) cannot be "
                                f"stored; stores read 4 (OUT)")
            queue = STORE_Q
        else:
            queue = COMPUTE_Q
        flags = (insn.pop_prev, insn.pop_next, insn.push_prev, insn.push_next)
        if op == Opcode.FINISH:
            if any(flags):
                raise FsimError(f"instruction {i} (FINISH) sets a dependency flag; FINISH "
                                f"pops and pushes nothing (commit pops on a NOP before it)")
            return queue, (), ()
        if queue == LOAD_Q:
            bad = "pop_prev" if insn.pop_prev else "push_prev" if insn.push_prev else None
            pops, pushes = (C2L,) * insn.pop_next, (L2C,) * insn.push_next
        elif queue == STORE_Q:
            bad = "pop_next" if insn.pop_next else "push_next" if insn.push_next else None
            pops, pushes = (C2S,) * insn.pop_prev, (S2C,) * insn.push_prev
        else:
            bad = None
            pops = (L2C,) * insn.pop_prev + (S2C,) * insn.pop_next
            pushes = (C2L,) * insn.push_prev + (C2S,) * insn.push_next
        if bad:
            raise FsimError(f"instruction {i} ({_describe(insn)}) sets {bad}, but the "
                            f"{MODULES[queue]} module has no such dependency channel")
        return queue, pops, pushes

    def _schedule(self, insns, routes, stats: FsimStats) -> None:
        """Fetch, queue and execute until FINISH; raise on deadlock or a missing FINISH."""
        n = len(insns)
        finish_at = [i for i, insn in enumerate(insns) if insn.OPCODE == Opcode.FINISH]
        if not finish_at:
            raise FsimError(f"the program's {n} instructions contain no FINISH; the "
                            f"accelerator would never signal done")
        if finish_at[0] != n - 1:
            raise FsimError(f"instruction {finish_at[0]} is FINISH but {n - 1 - finish_at[0]} "
                            f"instruction(s) follow it; FINISH must be the last instruction")
        depth = self.config.CMD_QUEUE_DEPTH
        queues: list[deque[int]] = [deque(), deque(), deque()]
        tokens = [0, 0, 0, 0]
        fetched = done = 0
        while True:
            while fetched < n and len(queues[routes[fetched][0]]) < depth:
                queues[routes[fetched][0]].append(fetched)
                fetched += 1
            best = -1
            for q in queues:
                if q:
                    i = q[0]
                    pops = routes[i][1]
                    if i == n - 1:               # FINISH: everything before it is done
                        ready = done == n - 1
                    else:
                        ready = all(tokens[ch] for ch in pops)
                    if ready and (best < 0 or i < best):
                        best = i
            if best < 0:
                raise DeadlockError(self._deadlock_message(insns, routes, queues, tokens,
                                                           fetched, n))
            _, pops, pushes = routes[best]
            for ch in pops:
                tokens[ch] -= 1
            queues[routes[best][0]].popleft()
            if best == n - 1:
                stats.insns["FINISH"] += 1
                left = [f"{tokens[ch]} on {CHANNELS[ch]}" for ch in range(4) if tokens[ch]]
                if left:
                    raise FsimError(f"instruction {best} (FINISH): tokens left over: "
                                    f"{', '.join(left)}; every push needs a matching pop")
                return
            self._execute(best, insns[best], stats)
            for ch in pushes:
                tokens[ch] += 1
            done += 1

    def _deadlock_message(self, insns, routes, queues, tokens, fetched, n) -> str:
        parts = []
        for q, name in zip(queues, MODULES, strict=True):
            if not q:
                continue
            i = q[0]
            if i == n - 1:
                parts.append(f"compute waits at instruction {i} (FINISH) for earlier "
                             f"instructions")
                continue
            missing = [CHANNELS[ch] for ch in routes[i][1] if not tokens[ch]]
            parts.append(f"{name} blocked at instruction {i} ({_describe(insns[i])}) "
                         f"waiting for a {' and a '.join(missing)} token")
        if fetched < n:
            q = routes[fetched][0]
            parts.append(f"fetch stalled at instruction {fetched}: the {MODULES[q]} queue "
                         f"is full ({self.config.CMD_QUEUE_DEPTH} entries)")
        return "deadlock before FINISH: " + "; ".join(parts)

    # ------------------------------------------------------------------------ execution
    def _execute(self, i: int, insn: isa.Instruction, stats: FsimStats) -> None:
        op = insn.OPCODE
        if op == Opcode.LOAD:
            self._load(i, insn, stats)
        elif op == Opcode.STORE:
            self._store(i, insn, stats)
        elif op == Opcode.GEMM:
            self._gemm(i, insn, stats)
        else:
            self._alu(i, insn, stats)

    def _dram_rows(self, i: int, insn, elem_bytes: int) -> np.ndarray:
        """The DRAM bytes of a 2-D transfer as a strided ``(y_size, x_size*elem)`` view."""
        row = insn.x_size * elem_bytes
        pitch = insn.x_stride * elem_bytes
        start = insn.dram_base * elem_bytes
        span = (insn.y_size - 1) * pitch + row
        if not self.dram.contains(start, span):
            raise FsimError(f"instruction {i} ({_describe(insn)}): DRAM range "
                            f"[{start:#x}, {start + span:#x}) lies outside DRAM "
                            f"[{self.dram.base:#x}, {self.dram.base + self.dram.size:#x})")
        off = start - self.dram.base
        return np.lib.stride_tricks.as_strided(self.dram.mem[off:], (insn.y_size, row),
                                               (pitch, 1), writeable=True)

    def _load(self, i: int, insn: isa.Load, stats: FsimStats) -> None:
        c = self.config
        mt = insn.memory_type
        if insn.x_size == 0:
            stats.insns["NOP"] += 1
            return
        stats.insns["LOAD"] += 1
        rows = insn.y_pad_0 + insn.y_size + insn.y_pad_1
        width = insn.x_pad_0 + insn.x_size + insn.x_pad_1
        depth = c.depth(mt)
        end = insn.sram_base + rows * width
        if end > depth:
            raise FsimError(f"instruction {i} ({_describe(insn)}): SRAM range "
                            f"[{insn.sram_base}, {end}) exceeds the "
                            f"{_MEM_NAMES[mt]} buffer depth {depth}")
        eb = c.elem_bytes(mt)
        nbytes = insn.y_size * insn.x_size * eb
        stats.bytes_read[_MEM_NAMES[mt]] += nbytes
        data = self._dram_rows(i, insn, eb).copy() if insn.y_size else \
            np.zeros((0, insn.x_size * eb), np.uint8)
        if mt == MemType.UOP:
            buf = self.uop
            vals = data.view(buf.dtype.newbyteorder("<")).astype(buf.dtype)
        elif mt == MemType.INP:
            buf = self.inp
            vals = data.view(np.int8)
        elif mt == MemType.WGT:
            buf = self.wgt
            vals = data.view(np.int8)
        elif mt == MemType.ACC:
            buf = self.acc
            vals = data.view("<i4").astype(np.int32)
        else:  # ACC_8BIT: sign-extend int8 into the accumulator
            buf = self.acc
            vals = data.view(np.int8).astype(np.int32)
        region = buf[insn.sram_base:end].reshape((rows, width) + buf.shape[1:])
        region[...] = 0
        region[insn.y_pad_0:insn.y_pad_0 + insn.y_size,
               insn.x_pad_0:insn.x_pad_0 + insn.x_size] = \
            vals.reshape((insn.y_size, insn.x_size) + buf.shape[1:])
        if mt == MemType.UOP:
            self._decode_uops(insn.sram_base, end)
        elif mt == MemType.INP:
            self._inp_f[insn.sram_base:end] = self.inp[insn.sram_base:end]
        elif mt == MemType.WGT:
            self._wgt_t[insn.sram_base:end] = self.wgt[insn.sram_base:end].transpose(0, 2, 1)

    def _decode_uops(self, begin: int, end: int) -> None:
        words = self.uop[begin:end].astype(np.int64)
        for k, name in enumerate(("dst_idx", "src_idx", "wgt_idx")):
            f = self._layout.uop_field(name)
            self._uop_fields[k, begin:end] = (words >> f.lsb) & ((1 << f.width) - 1)

    def _store(self, i: int, insn: isa.Store, stats: FsimStats) -> None:
        c = self.config
        pads = {k: getattr(insn, k) for k in ("y_pad_0", "y_pad_1", "x_pad_0", "x_pad_1")}
        bad = {k: v for k, v in pads.items() if v}
        if bad:
            raise FsimError(f"instruction {i} (STORE): pads must be zero, not "
                            f"{', '.join(f'{k}={v}' for k, v in bad.items())}")
        if insn.x_size == 0:
            stats.insns["NOP"] += 1
            return
        stats.insns["STORE"] += 1
        end = insn.sram_base + insn.y_size * insn.x_size
        if end > c.out_depth:
            raise FsimError(f"instruction {i} (STORE): SRAM range [{insn.sram_base}, {end}) "
                            f"exceeds the OUT buffer depth {c.out_depth}")
        if insn.y_size == 0:
            return
        eb = c.out_elem_bytes
        dst = self._dram_rows(i, insn, eb)
        src = self.out[insn.sram_base:end].view(np.uint8).reshape(insn.y_size, -1)
        if insn.y_size > 1 and insn.x_stride < insn.x_size:
            for r in range(insn.y_size):          # overlapping rows: later rows win
                dst[r] = src[r]
        else:
            dst[...] = src
        stats.bytes_written["OUT"] += insn.y_size * insn.x_size * eb

    def _loop_indices(self, i: int, insn, fields: tuple[str, ...], depths: tuple[int, ...],
                      names: tuple[str, ...]) -> list[np.ndarray]:
        """Index arrays ``(iter_out, iter_in, uops)`` of a GEMM/ALU loop nest, range-checked."""
        c = self.config
        if insn.uop_end > c.uop_depth:
            raise FsimError(f"instruction {i} ({_describe(insn)}): uop_end={insn.uop_end} "
                            f"exceeds the UOP buffer depth {c.uop_depth}")
        io = np.arange(insn.iter_out, dtype=np.int64)[:, None, None]
        ii = np.arange(insn.iter_in, dtype=np.int64)[None, :, None]
        out = []
        for k, (prefix, depth, name) in enumerate(zip(fields, depths, names, strict=True)):
            base = self._uop_fields[k if prefix != "wgt" else 2,
                                    insn.uop_bgn:max(insn.uop_bgn, insn.uop_end)]
            idx = (base[None, None, :] + io * getattr(insn, f"{prefix}_factor_out")
                   + ii * getattr(insn, f"{prefix}_factor_in"))
            if idx.size and idx.max() >= depth:
                flat = int(np.argmax(idx.reshape(-1) >= depth))
                o, rem = divmod(flat, idx.shape[1] * idx.shape[2])
                j, u = divmod(rem, idx.shape[2])
                raise FsimError(f"instruction {i} ({_describe(insn)}): {name} index "
                                f"{int(idx.reshape(-1)[flat])} out of range [0, {depth}) "
                                f"at uop {insn.uop_bgn + u}, i={o}, j={j}")
            out.append(idx)
        return out

    def _gemm(self, i: int, insn: isa.Gemm, stats: FsimStats) -> None:
        c = self.config
        stats.insns["GEMM"] += 1
        n = insn.iter_out * insn.iter_in * max(0, insn.uop_end - insn.uop_bgn)
        stats.gemm_uops += n
        if insn.reset:
            stats.gemm_reset_uops += n
            (dst,) = self._loop_indices(i, insn, ("dst",), (c.acc_depth,), ("ACC",))
            if dst.size:
                fsim_compute.gemm_reset(self.acc, self.out, dst.reshape(-1))
            return
        dst, src, wid = self._loop_indices(i, insn, ("dst", "src", "wgt"),
                                           (c.acc_depth, c.inp_depth, c.wgt_depth),
                                           ("ACC", "INP", "WGT"))
        fsim_compute.gemm_accumulate(self.acc, self.out, self._inp_f, self._wgt_t, dst, src,
                                     wid)

    def _alu(self, i: int, insn: isa.Alu, stats: FsimStats) -> None:
        c = self.config
        op = insn.alu_opcode
        if op == AluOp.MUL and not self.alu_mul:
            raise FsimError(f"instruction {i} (ALU MUL): the MUL opcode is an extension "
                            f"this configuration does not enable (set ALU_MUL)")
        if op not in (AluOp.MIN, AluOp.MAX, AluOp.ADD, AluOp.SHR, AluOp.MUL):
            raise FsimError(f"instruction {i} (ALU): unknown ALU opcode {op} "
                            f"(valid: 0 MIN, 1 MAX, 2 ADD, 3 SHR, 4 MUL)")
        stats.insns["ALU"] += 1
        stats.alu_uops += insn.iter_out * insn.iter_in * max(0, insn.uop_end - insn.uop_bgn)
        if insn.use_imm:
            (dst,) = self._loop_indices(i, insn, ("dst",), (c.acc_depth,), ("ACC",))
            src = dst
        else:
            dst, src = self._loop_indices(i, insn, ("dst", "src"), (c.acc_depth,) * 2,
                                          ("ACC destination", "ACC source"))
        fsim_compute.alu_execute(self.acc, self.out, dst.reshape(-1), src.reshape(-1), op,
                                 insn.imm if insn.use_imm else None, c.LOG_ACC_WIDTH)


def _describe(insn: isa.Instruction) -> str:
    """Short name of an instruction for messages: ``LOAD INP``, ``ALU ADD``, ``GEMM``."""
    if isinstance(insn, (isa.Load, isa.Store)):
        return f"{_KIND[insn.OPCODE]} {_MEM_NAMES.get(insn.memory_type, insn.memory_type)}"
    if isinstance(insn, isa.Alu):
        try:
            return f"ALU {AluOp(insn.alu_opcode).name}"
        except ValueError:
            return f"ALU op {insn.alu_opcode}"
    return _KIND[insn.OPCODE]
