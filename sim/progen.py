"""Random valid VTA programs for differential testing (fsim vs reference, RTL vs fsim).

:func:`random_program` writes a complete program into a :class:`~vta.sim.dram.Dram`: the
instruction and uop buffers, random INP/WGT/ACC data and zeroed output regions.  Programs
are valid by construction: every SRAM index is in range, store pads are zero, every pop
has an earlier push in stream order, and no token is left at FINISH.  Each *block* is one
round trip through the accelerator:

* load: (pop compute->load) LOAD INP, LOAD WGT with random padding on each side, DRAM
  starts at odd element offsets (sub-beat alignment) and row pitches wider than the rows,
  sometimes a NOP among them; push.
* compute: pop load->compute (and store->compute), LOAD UOP, initialise an ACC region
  (LOAD ACC with padding, optionally ACC_8BIT, or a reset GEMM), 1-2 GEMM loop nests (some
  resetting rows), 1-3 ALU instructions (every op, immediate or tensor operand, sources
  that may overlap destinations), a final immediate ALU over the whole region so every
  OUT row is written; push compute->load and compute->store.  Half of the loop nests
  send all their uops to one ACC row, often in back-to-back iterations (the read-after-
  write hazards of the compute pipeline).
* store: pop compute->store, 1-2 STOREs of sub-rectangles of the region; push.

With ``virtual_threads`` blocks alternate between the two halves of every data SRAM and
tokens are popped two blocks later (TVM's double buffering), so load, compute and store
of neighbouring blocks may overlap in hardware.

The co-design knobs of the configuration are exercised when it has them: with
``GEMM_OVERWRITE`` a third of the GEMM nests set ``overwrite``; with ``ALU_OVERLAP`` a
block without virtual threads works on two ACC regions, one per bank: after the ALU
instructions of the first region come, with no barrier between, a reset and GEMMs on the
second region (they overlap the queued ALU instructions) and, in two blocks of three, its
ALU instructions -- otherwise a GEMM pushes the tokens and must wait for the first
region's ALU instructions (rule 4 of :mod:`vta.hw.pipeline`).  Missing pops are committed as NOPs
(``x_size == 0``), as TVM's runtime does (:class:`vta.hw.insn_stream.InsnStream`).
Everything is drawn from ``rng``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
from vta.hw import isa
from vta.hw.config import VTAConfig
from vta.hw.errors import VTAError
from vta.hw.insn_stream import InsnStream
from vta.hw.isa import AluOp, MemType
from vta.hw.pipeline import COMPUTE, LOAD, STORE

from .dram import Dram

__all__ = ["Program", "random_program"]


@dataclass
class Program:
    """A program placed in DRAM.

    Members
    -------
    insn_addr, insn_count:
        Where the instructions are (pass to ``run``).
    insns, uops:
        The instructions and all uops (in DRAM order).
    outputs:
        ``(addr, nbytes)`` of every region STOREs write: compare these after a run.
    allocations:
        Every DRAM block the generator allocated (see :meth:`free`).
    """

    insn_addr: int
    insn_count: int
    insns: list
    uops: list
    outputs: list[tuple[int, int]]
    allocations: list[int] = field(default_factory=list)

    def read_outputs(self, dram: Dram) -> list[bytes]:
        """The bytes of every output region."""
        return [dram.read(addr, n) for addr, n in self.outputs]

    def free(self, dram: Dram) -> None:
        """Release the program's DRAM blocks."""
        for addr in self.allocations:
            dram.free(addr)
        self.allocations.clear()


class _Gen:
    def __init__(self, config: VTAConfig, rng: np.random.Generator, dram: Dram, size: int,
                 alu_mul: bool, acc_8bit: bool) -> None:
        self.c, self.rng, self.dram = config, rng, dram
        self.size, self.alu_mul, self.acc_8bit = size, alu_mul, acc_8bit
        self.allocations: list[int] = []
        self.outputs: list[tuple[int, int]] = []
        self.uops: list[isa.Uop] = []
        self.uop_loads: list[tuple[int, int]] = []     # (stream index, uop offset)

    def r(self, lo: int, hi: int) -> int:
        """Uniform integer in [lo, hi]."""
        return int(self.rng.integers(lo, hi + 1))

    def alloc(self, nbytes: int, align: int) -> int:
        addr = self.dram.alloc(max(1, nbytes), max(64, align))
        self.allocations.append(addr)
        return addr

    # -- data movement -------------------------------------------------------------
    def geometry(self, limit: int) -> dict[str, int]:
        """A random 2-D load shape whose padded footprint is at most ``limit`` elements."""
        for _ in range(100):
            g = {"y_size": self.r(1, 3), "x_size": self.r(1, 4)}
            for pad in ("y_pad_0", "y_pad_1", "x_pad_0", "x_pad_1"):
                g[pad] = self.r(0, 2) if self.r(0, 1) else 0
            rows = g["y_pad_0"] + g["y_size"] + g["y_pad_1"]
            width = g["x_pad_0"] + g["x_size"] + g["x_pad_1"]
            if rows * width <= limit:
                g["footprint"] = rows * width
                return g
        return {"y_size": 1, "x_size": 1, "y_pad_0": 0, "y_pad_1": 0, "x_pad_0": 0,
                "x_pad_1": 0, "footprint": 1}

    def region(self, nbytes: int, elem_bytes: int,
               fill: np.ndarray | None = None) -> tuple[int, int]:
        """Allocate ``nbytes`` plus one spare element, filled with ``fill`` (random bytes
        when None); return its address and the element index of a start 0 or 1 elements
        in (odd starts: sub-beat alignment)."""
        addr = self.alloc(nbytes + elem_bytes, elem_bytes)
        data = self.rng.integers(0, 256, nbytes + elem_bytes, dtype=np.uint8) \
            if fill is None else fill
        self.dram.write(addr, data)
        return addr, addr // elem_bytes + self.r(0, 1)

    def load(self, mt: int, sram_base: int, limit: int) -> tuple[isa.Load, int]:
        """A LOAD of random data; returns the instruction and its footprint."""
        c = self.c
        g = self.geometry(limit)
        footprint = g.pop("footprint")
        eb = c.elem_bytes(mt)
        stride = g["x_size"] + self.r(0, 2)
        nbytes = (g["y_size"] * stride) * eb
        fill = None
        if mt == MemType.ACC:
            hi = 1 << (12 if self.r(0, 1) else 31)
            fill = self.rng.integers(-hi, hi, (nbytes + eb) // 4,
                                     dtype=np.int64).astype("<i4").view(np.uint8)
        _, dram_base = self.region(nbytes, eb, fill)
        insn = isa.Load(memory_type=mt, sram_base=sram_base, dram_base=dram_base,
                        x_stride=stride, **g)
        return insn, footprint

    def nop(self) -> isa.Load:
        """A load-stage NOP; sometimes with pads (still a NOP: ``x_size`` is 0)."""
        pads = {"y_pad_0": self.r(0, 2), "x_pad_1": self.r(0, 2)} if self.r(0, 1) else {}
        return isa.Load(memory_type=MemType.INP, sram_base=self.r(0, 7), y_size=self.r(0, 2),
                        **pads)

    def store(self, sram_base: int, rows: int) -> isa.Store:
        eb = self.c.out_elem_bytes
        x_size = self.r(1, min(4, rows))
        y_size = self.r(1, max(1, min(3, rows // x_size)))
        offset = self.r(0, rows - x_size * y_size)
        stride = x_size + self.r(0, 2)
        nbytes = y_size * stride * eb
        addr, base = self.region(nbytes, eb, np.zeros(nbytes + eb, np.uint8))
        self.outputs.append((addr, nbytes + eb))
        return isa.Store(memory_type=MemType.OUT, sram_base=sram_base + offset,
                         dram_base=base, y_size=y_size, x_size=x_size, x_stride=stride)

    # -- loop nests ----------------------------------------------------------------
    def nest(self, regions: dict[str, tuple[int, int]]) -> tuple[dict, list[isa.Uop]]:
        """Random loop extents, factors and uops keeping every index inside ``regions``.

        ``regions`` maps ``dst``/``src``/``wgt`` to (base, rows).  Half of the nests send
        every uop to one ``dst`` row, half of those with no inner-loop step, so
        consecutive uops read the row the one before them writes.
        """
        n_uops = self.r(1, 3)
        iters = {"iter_out": self.r(1, 3), "iter_in": self.r(1, 3)}
        fields: dict[str, int] = dict(iters)
        idx: dict[str, list[int]] = {}
        shared = self.r(0, 1)
        for name, (base, rows) in regions.items():
            fo, fi = self.r(0, 2), self.r(0, 2)
            if name == "dst" and shared and self.r(0, 1):
                fi = 0
            span = (iters["iter_out"] - 1) * fo + (iters["iter_in"] - 1) * fi
            if span >= rows:
                fo = fi = span = 0
            fields[f"{name}_factor_out"], fields[f"{name}_factor_in"] = fo, fi
            idx[name] = [base + self.r(0, rows - 1 - span) for _ in range(n_uops)]
            if name == "dst" and shared:
                idx[name] = [idx[name][0]] * n_uops
        uops = [isa.Uop(dst_idx=idx["dst"][k], src_idx=idx.get("src", idx["dst"])[k],
                        wgt_idx=idx.get("wgt", [0] * n_uops)[k]) for k in range(n_uops)]
        return fields, uops

    def alu_operand(self, op: int) -> int:
        if op == AluOp.SHR:
            return self.r(-16, 15) if self.r(0, 3) else self.r(-(1 << 15), (1 << 15) - 1)
        if self.r(0, 1):
            return self.r(-128, 127)
        return self.r(-(1 << 15), (1 << 15) - 1)

    # -- blocks --------------------------------------------------------------------
    def block(self, s: InsnStream, b: int, threads: int) -> None:
        c = self.c
        t = b % threads
        dist = threads
        half = {"inp": c.inp_depth // threads, "wgt": c.wgt_depth // threads,
                "acc": c.acc_depth // threads}
        base = {k: t * v for k, v in half.items()}
        limit = {k: min(v, self.size) for k, v in half.items()}

        # load module
        if b >= dist:
            s.dep_pop(COMPUTE, LOAD)
        inp_load, inp_rows = self.load(MemType.INP, base["inp"], limit["inp"])
        wgt_load, wgt_rows = self.load(MemType.WGT, base["wgt"], limit["wgt"])
        loads = [inp_load, wgt_load]
        if self.r(0, 2) == 0:
            loads.insert(self.r(0, 2), self.nop())
        for insn in loads:
            s.emit(insn)
        s.dep_push(LOAD, COMPUTE)

        # compute module
        s.dep_pop(LOAD, COMPUTE)
        if b >= dist:
            s.dep_pop(STORE, COMPUTE)
        kernels: list[tuple[str, dict, list[isa.Uop]]] = []
        if self.r(0, 1):
            mt = MemType.ACC_8BIT if self.acc_8bit and self.r(0, 2) == 0 else MemType.ACC
            acc_init, acc_rows = self.load(mt, base["acc"], limit["acc"])
        else:
            acc_rows = self.r(1, limit["acc"])
            acc_init = None
            kernels.append(self.reset(base["acc"], acc_rows))
        regions = [(base["acc"], acc_rows)]
        kernels += self.region_kernels(regions[0], (base["inp"], inp_rows),
                                       (base["wgt"], wgt_rows), alu=True)
        if c.ALU_OVERLAP and threads == 1:
            # A second region in the other bank: its GEMMs may overlap the ALU
            # instructions queued above (no barrier between them).
            half_acc = c.acc_depth // 2
            second = (half_acc, self.r(1, min(half_acc, self.size)))
            regions.append(second)
            kernels.append(self.reset(*second))
            kernels += self.region_kernels(second, (base["inp"], inp_rows),
                                           (base["wgt"], wgt_rows), alu=self.r(0, 2) > 0)

        # one UOP load holds every kernel of the block
        n_uops = sum(len(k[2]) for k in kernels)
        uop_base = self.r(0, c.uop_depth - n_uops)
        self.uop_loads.append((len(s), len(self.uops)))
        s.emit(isa.Load(memory_type=MemType.UOP, sram_base=uop_base, y_size=1, x_size=n_uops,
                        x_stride=n_uops))
        if acc_init is not None:
            s.emit(acc_init)
        at = uop_base
        for kind, fields, uops in kernels:
            self.uops.extend(uops)
            cls = isa.Gemm if kind == "gemm" else isa.Alu
            s.emit(cls(uop_bgn=at, uop_end=at + len(uops), **fields))
            at += len(uops)
        s.dep_push(COMPUTE, LOAD)
        s.dep_push(COMPUTE, STORE)

        # store module
        s.dep_pop(COMPUTE, STORE)
        for region in regions:
            for _ in range(self.r(1, 2)):
                s.emit(self.store(*region))
        s.dep_push(STORE, COMPUTE)

    def reset(self, base: int, rows: int) -> tuple[str, dict, list[isa.Uop]]:
        """A reset GEMM zeroing ACC rows [base, base + rows)."""
        return ("gemm", {"iter_out": rows, "iter_in": 1, "dst_factor_out": 1, "reset": 1},
                [isa.Uop(dst_idx=base)])

    def region_kernels(self, acc_region: tuple[int, int], inp: tuple[int, int],
                       wgt: tuple[int, int], alu: bool) -> list[tuple[str, dict, list]]:
        """1-2 GEMM nests into ``acc_region`` (some resetting rows, some overwriting with
        ``GEMM_OVERWRITE``); with ``alu`` 1-3 ALU nests (every op, immediate or tensor
        operand, sources that may overlap destinations) and a final immediate ALU over the
        whole region so every OUT row is written."""
        kernels: list[tuple[str, dict, list]] = []
        for _ in range(self.r(1, 2)):
            fields, uops = self.nest({"dst": acc_region, "src": inp, "wgt": wgt})
            fields["reset"] = int(self.r(0, 4) == 0)
            if self.c.GEMM_OVERWRITE and not fields["reset"] and self.r(0, 2) == 0:
                fields["overwrite"] = 1
            kernels.append(("gemm", fields, uops))
        if not alu:
            return kernels
        ops = [AluOp.MIN, AluOp.MAX, AluOp.ADD, AluOp.SHR] + ([AluOp.MUL] if self.alu_mul else [])
        for _ in range(self.r(1, 3)):
            fields, uops = self.nest({"dst": acc_region, "src": acc_region})
            op = ops[self.r(0, len(ops) - 1)]
            fields.update(alu_opcode=op, use_imm=self.r(0, 1))
            fields["imm"] = self.alu_operand(op) if fields["use_imm"] else 0
            kernels.append(("alu", fields, uops))
        final_op = [AluOp.MIN, AluOp.MAX, AluOp.SHR][self.r(0, 2)]
        base, rows = acc_region
        kernels.append(("alu", {"iter_out": rows, "iter_in": 1, "dst_factor_out": 1,
                                "src_factor_out": 1, "alu_opcode": final_op, "use_imm": 1,
                                "imm": self.alu_operand(final_op)},
                        [isa.Uop(dst_idx=base, src_idx=base)]))
        return kernels


def random_program(config: VTAConfig, rng: np.random.Generator, dram: Dram, *,
                   n_blocks: int = 3, virtual_threads: bool = False, size: int = 24,
                   alu_mul: bool = False, acc_8bit: bool = False) -> Program:
    """Generate a random valid program and place it (with its data) in ``dram``.

    Parameters
    ----------
    config:
        Any configuration (``tiny`` keeps RTL simulation fast).
    rng:
        The only source of randomness: the same seed gives the same program and data.
    dram:
        Where instructions, uops, inputs and output regions are allocated.
    n_blocks:
        Load/compute/store rounds (each about 8-14 instructions).
    virtual_threads:
        Alternate SRAM halves between blocks with TVM's two-thread token pattern.
    size:
        Upper bound of the elements a load (or ACC region) covers.
    alu_mul:
        Include the ALU MUL extension.
    acc_8bit:
        Include ACC_8BIT loads (sign-extending int8 into ACC).
    """
    if n_blocks < 1 or size < 1:
        raise VTAError(f"n_blocks and size must be positive, not {n_blocks}, {size}")
    gen = _Gen(config, rng, dram, size, alu_mul, acc_8bit)
    s = InsnStream()
    threads = 2 if virtual_threads else 1
    for b in range(n_blocks):
        gen.block(s, b, threads)
    # Drain: pop what the last blocks pushed towards load and compute, then FINISH.
    for _ in range(min(n_blocks, threads)):
        s.dep_pop(COMPUTE, LOAD)
        s.commit_pending_pop(LOAD)
        s.dep_pop(STORE, COMPUTE)
        s.commit_pending_pop(COMPUTE)
    s.emit(isa.Finish())

    c = config
    uop_bytes = isa.encode_uops(gen.uops, c)
    uop_addr = gen.alloc(len(uop_bytes), c.uop_elem_bytes)
    dram.write(uop_addr, uop_bytes)
    insns = s.insns
    for index, offset in gen.uop_loads:
        insns[index] = dataclasses.replace(
            insns[index], dram_base=uop_addr // c.uop_elem_bytes + offset)
    code = isa.encode(insns, c)
    insn_addr = gen.alloc(len(code), c.insn_bytes)
    dram.write(insn_addr, code)
    return Program(insn_addr=insn_addr, insn_count=len(insns), insns=insns, uops=gen.uops,
                   outputs=gen.outputs, allocations=gen.allocations)
