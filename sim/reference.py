"""A slow, obviously-correct interpreter of VTA programs, to check the fast one against.

Written independently of :mod:`.fsim`: plain Python integers and loops, one element and
one uop at a time, straight from SPEC section 5 (routing and token channels are
:mod:`vta.hw.pipeline`'s).  Modules take turns round-robin (load, compute, store), each
running the next instruction of its own queue when the tokens it pops are there; a full
turn without progress is a deadlock.  Queues are unbounded (fetch
never stalls), which gives the same results as the hardware for every program without
data races.  Only for tests: it is thousands of times slower than :mod:`.fsim`.
"""

from __future__ import annotations

from vta.hw import isa, pipeline
from vta.hw.config import VTAConfig

from .dram import Dram
from .fsim import FsimError

__all__ = ["ReferenceSimulator", "wrap32", "shr"]

_MASK32 = (1 << 32) - 1


def wrap32(x: int) -> int:
    """Reduce a Python integer to a signed 32-bit value (two's complement wrap)."""
    x &= _MASK32
    return x - (1 << 32) if x >> 31 else x


def low8(x: int) -> int:
    x &= 0xFF
    return x - 256 if x >> 7 else x


def shr(a: int, b: int, log_acc_width: int = 5) -> int:
    """SHR: shift by the low ``log_acc_width`` bits of ``b`` read as a signed number."""
    bits = 1 << log_acc_width
    amount = b & (bits - 1)
    if amount >= bits // 2:
        amount -= bits
    return wrap32(a >> amount if amount >= 0 else a << -amount)


def _alu(op: int, a: int, b: int) -> int:
    if op == isa.AluOp.MIN:
        return min(a, b)
    if op == isa.AluOp.MAX:
        return max(a, b)
    if op == isa.AluOp.ADD:
        return wrap32(a + b)
    if op == isa.AluOp.SHR:
        return shr(a, b)
    if op == isa.AluOp.MUL:
        return wrap32(a * b)
    raise FsimError(f"unknown ALU opcode {op}")


class ReferenceSimulator:
    """Per-element interpreter with the same public surface as the functional simulator.

    SRAMs are nested Python lists: ``inp[row][b][i]``, ``wgt[row][o][i]``,
    ``acc[row][b][o]``, ``out[row][b][o]``, ``uop[row]`` (an :class:`isa.Uop`).
    """

    def __init__(self, config: VTAConfig, dram: Dram, *, alu_mul: bool | None = None) -> None:
        self.config = config
        self.dram = dram
        self.alu_mul = config.ALU_MUL if alu_mul is None else alu_mul
        c = config
        self.uop = [isa.Uop() for _ in range(c.uop_depth)]
        self.inp = [[[0] * c.block_in for _ in range(c.batch)] for _ in range(c.inp_depth)]
        self.wgt = [[[0] * c.block_in for _ in range(c.block_out)] for _ in range(c.wgt_depth)]
        self.acc = [[[0] * c.block_out for _ in range(c.batch)] for _ in range(c.acc_depth)]
        self.out = [[[0] * c.block_out for _ in range(c.batch)] for _ in range(c.out_depth)]

    # ------------------------------------------------------------------ program
    def run(self, insn_addr: int, insn_count: int) -> None:
        c = self.config
        data = self.dram.read(insn_addr, insn_count * c.insn_bytes)
        insns = isa.decode(data, c)
        queues: dict[pipeline.Stage, list[int]] = {s: [] for s in pipeline.STAGES}
        for i, insn in enumerate(insns):
            queues[pipeline.fetch_queue(insn.OPCODE, getattr(insn, "memory_type", 0))].append(i)
        heads = dict.fromkeys(pipeline.STAGES, 0)
        tokens = {ch.name: 0 for ch in pipeline.CHANNELS}
        finished = False
        while not finished:
            progress = False
            for m in pipeline.STAGES:
                if heads[m] == len(queues[m]):
                    continue
                i = queues[m][heads[m]]
                insn = insns[i]
                if isinstance(insn, isa.Finish):
                    if sum(heads.values()) != i:   # every earlier instruction is done
                        continue
                    if any(tokens.values()):
                        raise FsimError(f"instruction {i}: tokens left at FINISH {tokens}")
                    finished = True
                    break
                need = [ch.name for ch in pipeline.channels_popped(m)
                        if getattr(insn, ch.pop_flag)]
                if any(tokens[ch] == 0 for ch in need):
                    continue
                for ch in need:
                    tokens[ch] -= 1
                self._execute(insn)
                for ch in pipeline.channels_pushed(m):
                    tokens[ch.name] += getattr(insn, ch.push_flag)
                heads[m] += 1
                progress = True
            if not finished and not progress:
                raise FsimError("deadlock: no module can proceed")

    # ------------------------------------------------------------------ instructions
    def _execute(self, insn) -> None:
        if isinstance(insn, isa.Load):
            self._load(insn)
        elif isinstance(insn, isa.Store):
            self._store(insn)
        elif isinstance(insn, isa.Gemm):
            self._gemm(insn)
        else:
            self._alu_insn(insn)

    def _read_elem(self, addr: int, nbytes: int) -> bytes:
        return self.dram.read(addr, nbytes)

    def _load(self, insn: isa.Load) -> None:
        c = self.config
        if insn.x_size == 0:
            return
        mt = insn.memory_type
        eb = c.elem_bytes(mt)
        width = insn.x_pad_0 + insn.x_size + insn.x_pad_1
        rows = insn.y_pad_0 + insn.y_size + insn.y_pad_1
        index = insn.sram_base
        for y in range(rows):
            for x in range(width):
                yy, xx = y - insn.y_pad_0, x - insn.x_pad_0
                inside = 0 <= yy < insn.y_size and 0 <= xx < insn.x_size
                raw = None
                if inside:
                    addr = (insn.dram_base + yy * insn.x_stride + xx) * eb
                    raw = self._read_elem(addr, eb)
                self._write_elem(mt, index, raw)
                index += 1

    def _write_elem(self, mt: int, index: int, raw: bytes | None) -> None:
        c = self.config
        if mt == isa.MemType.UOP:
            self.uop[index] = isa.decode_uops(raw, c)[0] if raw else isa.Uop()
            return
        if mt == isa.MemType.INP:
            vals = [int.from_bytes(raw[k:k + 1], "little", signed=True) if raw else 0
                    for k in range(c.batch * c.block_in)]
            self.inp[index] = [vals[b * c.block_in:(b + 1) * c.block_in]
                               for b in range(c.batch)]
        elif mt == isa.MemType.WGT:
            vals = [int.from_bytes(raw[k:k + 1], "little", signed=True) if raw else 0
                    for k in range(c.block_out * c.block_in)]
            self.wgt[index] = [vals[o * c.block_in:(o + 1) * c.block_in]
                               for o in range(c.block_out)]
        else:
            size = 4 if mt == isa.MemType.ACC else 1
            vals = [int.from_bytes(raw[k * size:(k + 1) * size], "little", signed=True)
                    if raw else 0 for k in range(c.batch * c.block_out)]
            self.acc[index] = [vals[b * c.block_out:(b + 1) * c.block_out]
                               for b in range(c.batch)]

    def _store(self, insn: isa.Store) -> None:
        c = self.config
        if insn.x_size == 0:
            return
        eb = c.out_elem_bytes
        for y in range(insn.y_size):
            for x in range(insn.x_size):
                row = self.out[insn.sram_base + y * insn.x_size + x]
                data = bytes(v & 0xFF for b in range(c.batch) for v in row[b])
                self.dram.write((insn.dram_base + y * insn.x_stride + x) * eb, data)

    def _nest(self, insn):
        for i in range(insn.iter_out):
            for j in range(insn.iter_in):
                for k in range(insn.uop_bgn, insn.uop_end):
                    yield i, j, self.uop[k]

    def _gemm(self, insn: isa.Gemm) -> None:
        c = self.config
        for i, j, u in self._nest(insn):
            d = u.dst_idx + i * insn.dst_factor_out + j * insn.dst_factor_in
            s = u.src_idx + i * insn.src_factor_out + j * insn.src_factor_in
            w = u.wgt_idx + i * insn.wgt_factor_out + j * insn.wgt_factor_in
            for b in range(c.batch):
                for o in range(c.block_out):
                    if insn.reset:
                        value = 0
                    else:
                        dot = 0
                        for k in range(c.block_in):
                            dot += self.inp[s][b][k] * self.wgt[w][o][k]
                        old = 0 if insn.overwrite else self.acc[d][b][o]
                        value = wrap32(old + dot)
                    self.acc[d][b][o] = value
                    self.out[d][b][o] = low8(value)

    def _alu_insn(self, insn: isa.Alu) -> None:
        c = self.config
        imm = insn.imm
        for i, j, u in self._nest(insn):
            d = u.dst_idx + i * insn.dst_factor_out + j * insn.dst_factor_in
            s = u.src_idx + i * insn.src_factor_out + j * insn.src_factor_in
            for b in range(c.batch):
                for o in range(c.block_out):
                    operand = imm if insn.use_imm else self.acc[s][b][o]
                    value = _alu(insn.alu_opcode, self.acc[d][b][o], operand)
                    self.acc[d][b][o] = value
                    self.out[d][b][o] = low8(value)
