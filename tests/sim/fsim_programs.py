"""Shared helpers of the simulator tests: place data, build token-correct programs, run.

:class:`Machine` owns a config, a DRAM and a functional simulator.  Programs are built on
an :class:`~vta.hw.insn_stream.InsnStream` so dependency tokens are right by construction.
``run(..., check_reference=True)`` also runs the slow reference interpreter on a copy of
the DRAM and asserts that memory and every SRAM agree.
"""

from __future__ import annotations

import numpy as np
from vta.hw import VTAConfig, isa
from vta.hw.insn_stream import InsnStream
from vta.hw.isa import MemType
from vta.sim.dram import Dram
from vta.sim.fsim import FsimStats, FunctionalSimulator
from vta.sim.reference import ReferenceSimulator

__all__ = ["Machine", "assert_same_state"]


class Machine:
    def __init__(self, config: str | VTAConfig = "default", *, alu_mul: bool = False,
                 dram_bytes: int = 4 << 20) -> None:
        self.cfg = VTAConfig.load(config)
        self.dram = Dram(dram_bytes)
        self.alu_mul = alu_mul
        self.sim = FunctionalSimulator(self.cfg, self.dram, alu_mul=alu_mul)

    # -- data -------------------------------------------------------------------------
    def put(self, mt: int, data: np.ndarray) -> int:
        """Write ``data`` (whole elements of memory type ``mt``); return its dram_base."""
        eb = self.cfg.elem_bytes(mt)
        raw = np.ascontiguousarray(data).view(np.uint8).reshape(-1)
        assert raw.size % eb == 0
        addr = self.dram.alloc(raw.size, eb)
        self.dram.write(addr, raw)
        return addr // eb

    def zeros(self, mt: int, n_elems: int) -> int:
        eb = self.cfg.elem_bytes(mt)
        addr = self.dram.alloc(n_elems * eb, eb)
        self.dram.write(addr, np.zeros(n_elems * eb, np.uint8))
        return addr // eb

    def put_uops(self, uops: list[isa.Uop]) -> int:
        return self.put(MemType.UOP, np.frombuffer(isa.encode_uops(uops, self.cfg), np.uint8))

    def read_out(self, dram_base: int, n_elems: int) -> np.ndarray:
        """``n_elems`` OUT elements from DRAM as ``(n, BATCH, BLOCK_OUT)`` int8."""
        c = self.cfg
        raw = self.dram.read(dram_base * c.out_elem_bytes, n_elems * c.out_elem_bytes)
        return np.frombuffer(raw, np.int8).reshape(n_elems, c.batch, c.block_out)

    def uop_load(self, uops: list[isa.Uop], sram_base: int = 0) -> isa.Load:
        return isa.Load(memory_type=MemType.UOP, sram_base=sram_base,
                        dram_base=self.put_uops(uops), y_size=1, x_size=len(uops),
                        x_stride=len(uops))

    # -- running ----------------------------------------------------------------------
    def place(self, insns: list) -> int:
        code = isa.encode(insns, self.cfg)
        addr = self.dram.alloc(len(code), self.cfg.insn_bytes)
        self.dram.write(addr, code)
        return addr

    def run(self, insns: list | InsnStream, *, check_reference: bool = False) -> FsimStats:
        if isinstance(insns, InsnStream):
            insns = insns.insns
        addr = self.place(insns)
        ref = None
        if check_reference:
            ref_dram = Dram(self.dram.size)
            ref_dram.mem[:] = self.dram.mem
            ref = ReferenceSimulator(self.cfg, ref_dram, alu_mul=self.alu_mul)
            _copy_state(self.sim, ref)
        stats = self.sim.run(addr, len(insns))
        if ref is not None:
            ref.run(addr, len(insns))
            assert_same_state(self.sim, ref)
        return stats


def _copy_state(sim: FunctionalSimulator, ref: ReferenceSimulator) -> None:
    for name in ("inp", "wgt", "acc", "out"):
        if getattr(sim, name).any():          # the reference starts from zeros
            setattr(ref, name, getattr(sim, name).tolist())
    if not sim.uop.any():
        return
    words = sim.uop.astype(np.uint64).tolist()
    ref.uop = isa.decode_uops(b"".join(int(w).to_bytes(sim.config.uop_elem_bytes, "little")
                                       for w in words), sim.config)


def assert_same_state(sim: FunctionalSimulator, ref: ReferenceSimulator) -> None:
    """DRAM and every data SRAM of the two simulators are identical."""
    assert np.array_equal(sim.dram.mem, ref.dram.mem), "DRAM differs"
    for name in ("inp", "wgt", "acc", "out"):
        got, want = getattr(sim, name), np.array(getattr(ref, name), dtype=getattr(sim, name).dtype)
        if not np.array_equal(got, want):
            bad = np.argwhere(got != want)[0]
            raise AssertionError(f"{name} differs first at {tuple(bad)}: fsim "
                                 f"{got[tuple(bad)]}, reference {want[tuple(bad)]}")
