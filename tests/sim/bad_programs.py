"""One invalid program per error class, and a pair of devices to run them on.

:data:`BAD_PROGRAMS` maps a case name to ``(ErrorKind, builder)``; a builder takes a
:class:`Pair` and returns the program as encoded bytes, placing any data it needs on both
devices of the pair at the same addresses.  :class:`Pair` runs a program on an RTL device
and on fsim and returns what each raised, so a test can demand the same exception type,
kind, index and message.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from vta.driver import DeviceProgramError, DeviceTimeout
from vta.hw import isa
from vta.hw.isa import AluOp, MemType
from vta.hw.program_errors import ErrorKind

__all__ = ["Pair", "BAD_PROGRAMS", "good_program"]

FIN = isa.Finish()


class Pair:
    """An RTL device and an fsim device with identically allocated memories."""

    def __init__(self, rtl, fsim) -> None:
        self.rtl, self.fsim = rtl, fsim
        self.config = rtl.config

    def alloc(self, nbytes: int, align: int = 64):
        a, b = self.rtl.alloc(nbytes, align), self.fsim.alloc(nbytes, align)
        assert a.addr == b.addr, "the two memories must allocate alike"
        return a, b

    def put(self, mt: int, raw: bytes) -> int:
        """Place ``raw`` (whole elements of ``mt``) on both; return its dram_base."""
        eb = self.config.elem_bytes(mt)
        a, b = self.alloc(len(raw), max(eb, self.config.bus_bytes))
        a.copy_in(raw)
        b.copy_in(raw)
        return a.addr // eb

    def uops(self, uops: list[isa.Uop]) -> isa.Load:
        base = self.put(MemType.UOP, isa.encode_uops(uops, self.config))
        return isa.Load(memory_type=MemType.UOP, dram_base=base, y_size=1, x_size=len(uops),
                        x_stride=len(uops))

    def memory_end(self, mt: int) -> int:
        """The first element of ``mt`` past the end of memory."""
        m = self.rtl.memory
        return (m.base + m.size) // self.config.elem_bytes(mt)

    def run(self, code: bytes, timeout: float = 120) -> tuple:
        """Run on both; return ``(rtl outcome, fsim outcome)``, each a RunResult or the
        exception raised."""
        outcomes = []
        for dev in (self.rtl, self.fsim):
            buf = dev.alloc(len(code), 64)
            buf.copy_in(code)
            try:
                outcomes.append(dev.run(buf.addr, len(code) // self.config.insn_bytes,
                                        timeout=timeout))
            except (DeviceProgramError, DeviceTimeout) as e:
                outcomes.append(e)
            finally:
                buf.free()
        return tuple(outcomes)


def _code(pair: Pair, insns: list) -> bytes:
    return isa.encode(insns, pair.config)


def _opcode(pair: Pair) -> bytes:
    code = bytearray(_code(pair, [isa.Gemm(), isa.Gemm(), FIN]))
    n = pair.config.insn_bytes
    code[n] = (code[n] & ~7) | 5
    return bytes(code)


def _full_queue(pair: Pair) -> bytes:
    """A load waits for a token the compute instruction behind a full load queue pushes."""
    depth = pair.config.CMD_QUEUE_DEPTH
    return _code(pair, [isa.Load(memory_type=MemType.INP, pop_next=1)]
                 + [isa.Load(memory_type=MemType.WGT)] * depth
                 + [isa.Load(memory_type=MemType.UOP, push_prev=1), FIN])


def _index(operand: str) -> Callable[[Pair], bytes]:
    def build(pair: Pair) -> bytes:
        c = pair.config
        if operand == "acc":
            u, nest = isa.Uop(dst_idx=c.acc_depth - 2), {"dst_factor_out": 1}
        elif operand == "inp":
            u, nest = isa.Uop(src_idx=c.inp_depth - 1), {"src_factor_in": 1}
        elif operand == "wgt":
            u, nest = isa.Uop(wgt_idx=c.wgt_depth - 1), {"wgt_factor_in": 1}
        else:
            u, nest = isa.Uop(src_idx=c.acc_depth - 1), {"src_factor_out": 1}
        loop = {"uop_bgn": 0, "uop_end": 1, "iter_out": 3, "iter_in": 2, **nest}
        insn = isa.Alu(alu_opcode=AluOp.ADD, **loop) if operand == "acc_src" \
            else isa.Gemm(**loop)
        return _code(pair, [pair.uops([u]), insn, FIN])
    return build


def _two_units(case: str) -> Callable[[Pair], bytes]:
    """An ALU instruction on the upper accumulator bank followed by a GEMM on the lower
    one: with ``ALU_OVERLAP`` they run at the same time on the two units, so the
    hardware must still name the instruction fsim names (the earlier one in the stream).

    ``alu``: the ALU's source index leaves ACC once the GEMM has been taken; ``gemm``: a
    long valid ALU, the GEMM's INP index leaves INP while the ALU still runs; ``both``:
    the GEMM fails first in time, the earlier ALU later."""
    def build(pair: Pair) -> bytes:
        c = pair.config
        half = c.acc_depth // 2
        alu_len = {"alu": 3, "gemm": 200, "both": 300}[case]
        alu_src = c.acc_depth - {"alu": 1, "gemm": alu_len, "both": 200}[case]
        gemm_src = c.inp_depth - (1 if case != "alu" else 3)
        uops = [isa.Uop(dst_idx=half, src_idx=alu_src), isa.Uop(src_idx=gemm_src)]
        alu = isa.Alu(alu_opcode=AluOp.ADD, uop_bgn=0, uop_end=1, iter_out=alu_len,
                      iter_in=1, src_factor_out=1)
        gemm = isa.Gemm(uop_bgn=1, uop_end=2, iter_out=3, iter_in=1, src_factor_out=1)
        return _code(pair, [pair.uops(uops), alu, gemm, FIN])
    return build


BAD_PROGRAMS: dict[str, tuple[ErrorKind, Callable[[Pair], bytes]]] = {
    "unknown opcode": (ErrorKind.OPCODE, _opcode),
    "load of OUT": (ErrorKind.MEMORY_TYPE, lambda p: _code(p, [
        isa.Load(memory_type=MemType.OUT, x_size=1, y_size=1), FIN])),
    "store of ACC": (ErrorKind.MEMORY_TYPE, lambda p: _code(p, [
        isa.Gemm(), isa.Store(memory_type=MemType.ACC), FIN])),
    "flag the module lacks": (ErrorKind.FLAG, lambda p: _code(p, [
        isa.Store(pop_next=1), FIN])),
    "FINISH with a flag": (ErrorKind.FLAG, lambda p: _code(p, [isa.Finish(push_prev=1)])),
    "no FINISH": (ErrorKind.FINISH, lambda p: _code(p, [isa.Gemm(), isa.Gemm()])),
    "FINISH not last": (ErrorKind.FINISH, lambda p: _code(p, [isa.Gemm(), FIN, isa.Gemm()])),
    "unknown ALU opcode": (ErrorKind.ALU_OPCODE, lambda p: _code(p, [
        isa.Alu(alu_opcode=6, uop_end=1, iter_out=1, iter_in=1), FIN])),
    "ALU MUL disabled": (ErrorKind.ALU_OPCODE, lambda p: _code(p, [
        isa.Alu(alu_opcode=AluOp.MUL, uop_end=1, iter_out=1, iter_in=1), FIN])),
    "store pads": (ErrorKind.PADS, lambda p: _code(p, [
        isa.Store(x_size=1, y_size=1, x_stride=1, y_pad_1=2), FIN])),
    "load footprint": (ErrorKind.SRAM_RANGE, lambda p: _code(p, [
        isa.Load(memory_type=MemType.WGT, sram_base=p.config.wgt_depth - 3, y_size=1,
                 x_size=2, x_stride=2, x_pad_1=2), FIN])),
    "store footprint": (ErrorKind.SRAM_RANGE, lambda p: _code(p, [
        isa.Store(sram_base=p.config.out_depth - 1, y_size=2, x_size=1, x_stride=1), FIN])),
    "uop_end": (ErrorKind.SRAM_RANGE, lambda p: _code(p, [
        isa.Gemm(uop_end=p.config.uop_depth + 1, iter_out=1, iter_in=1), FIN])),
    "ACC index": (ErrorKind.SRAM_RANGE, _index("acc")),
    "INP index": (ErrorKind.SRAM_RANGE, _index("inp")),
    "WGT index": (ErrorKind.SRAM_RANGE, _index("wgt")),
    "ACC source index": (ErrorKind.SRAM_RANGE, _index("acc_src")),
    "ALU index error beside a GEMM": (ErrorKind.SRAM_RANGE, _two_units("alu")),
    "GEMM index error beside an ALU": (ErrorKind.SRAM_RANGE, _two_units("gemm")),
    "index errors in an ALU and a later GEMM": (ErrorKind.SRAM_RANGE, _two_units("both")),
    "DRAM load": (ErrorKind.DRAM_RANGE, lambda p: _code(p, [
        isa.Load(memory_type=MemType.ACC, dram_base=p.memory_end(MemType.ACC) - 1, y_size=1,
                 x_size=2, x_stride=2), FIN])),
    "DRAM uop load": (ErrorKind.DRAM_RANGE, lambda p: _code(p, [
        isa.Load(memory_type=MemType.UOP, dram_base=1, y_size=2, x_size=1, x_stride=1),
        FIN])),
    "DRAM store": (ErrorKind.DRAM_RANGE, lambda p: _code(p, [
        isa.Store(dram_base=p.memory_end(MemType.OUT) - 1, y_size=2, x_size=1, x_stride=1),
        FIN])),
    "deadlock": (ErrorKind.DEADLOCK, lambda p: _code(p, [
        isa.Load(memory_type=MemType.INP, pop_next=1),
        isa.Store(pop_prev=1), isa.Gemm(push_next=1, pop_next=1), FIN])),
    "deadlock on a full queue": (ErrorKind.DEADLOCK, _full_queue),
    "tokens left at FINISH": (ErrorKind.TOKENS_LEFT, lambda p: _code(p, [
        isa.Load(memory_type=MemType.INP, push_next=1),
        isa.Gemm(push_next=1), isa.Gemm(push_prev=1), FIN])),
}


def good_program(pair: Pair) -> tuple[bytes, object]:
    """A valid program touching every module (tokens both ways, a GEMM, a store), with
    the output buffers of both devices; run it after an error to see the device work."""
    c = pair.config
    rng = np.random.default_rng(1)
    inp = pair.put(MemType.INP, rng.integers(-9, 9, c.inp_elem_bytes, np.int8).tobytes())
    wgt = pair.put(MemType.WGT, rng.integers(-9, 9, c.wgt_elem_bytes, np.int8).tobytes())
    out_a, out_b = pair.alloc(c.out_elem_bytes, c.bus_bytes)
    out_a.copy_in(np.zeros(c.out_elem_bytes, np.uint8))
    out_b.copy_in(np.zeros(c.out_elem_bytes, np.uint8))
    insns = [isa.Load(memory_type=MemType.INP, dram_base=inp, y_size=1, x_size=1, x_stride=1),
             isa.Load(memory_type=MemType.WGT, dram_base=wgt, y_size=1, x_size=1, x_stride=1,
                      push_next=1),
             pair.uops([isa.Uop()]),
             isa.Gemm(pop_prev=1, reset=1, uop_end=1, iter_out=1, iter_in=1),
             isa.Gemm(uop_end=1, iter_out=1, iter_in=1),
             isa.Alu(alu_opcode=AluOp.SHR, use_imm=1, imm=3, uop_end=1, iter_out=1,
                     iter_in=1, push_next=1),
             isa.Store(pop_prev=1, dram_base=out_a.addr // c.out_elem_bytes, y_size=1,
                       x_size=1, x_stride=1, push_prev=1),
             isa.Load(memory_type=MemType.UOP, pop_next=1), FIN]
    return _code(pair, insns), (out_a, out_b)
