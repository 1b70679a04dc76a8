"""Programs as data: the typed instruction nodes the compiler builds and :mod:`.emit` queues.

Three instruction nodes, small immutable dataclasses: :class:`DmaLoad` (a 2-D LOAD),
:class:`DmaStore` (a 2-D STORE) and :class:`Kernel` (a GEMM or ALU micro-kernel).  DMA nodes
are address-free: they name an *operand* (``data``, ``weight``, ``bias``, ``residual``,
``out``; a jit kernel's argument names) and an element offset inside it, so one program
runs on any buffers of the right size (compile once, run many).  Each node knows the
pipeline stage that runs it (:mod:`vta.hw.pipeline`).

Two programs hold them:

* :class:`TileProgram` -- a tiled operator (:mod:`.lower`): a list of output :class:`Tile`
  objects; a tile is a compute prologue (reset, ACC loads), a list of :class:`Step` objects
  (INP/WGT loads handed to compute by a token, then GEMM kernels), an ALU epilogue and the
  stores.  With ``threads == 2`` consecutive steps use alternate INP/WGT halves and
  consecutive tiles rotate through ``acc_regions`` ACC regions (the halves, or four
  regions with ``ALU_OVERLAP``); the token protocol that makes this safe is in
  :func:`vta.compiler.emit.emit` (load waits for compute to release a half, compute waits
  for store to drain an ACC region).
* :class:`SerialProgram` -- a straight-line sequence of nodes run one stage at a time
  (what ``@vta.compiler.jit`` traces).
"""

from __future__ import annotations

from dataclasses import dataclass

from vta.hw.pipeline import Stage, stage_of_load

__all__ = ["DmaLoad", "DmaStore", "Kernel", "Step", "Tile", "TileProgram", "SerialProgram",
           "Operand", "Instruction"]


@dataclass(frozen=True, slots=True)
class DmaLoad:
    """A 2-D LOAD of ``memory_type`` from operand ``operand`` at element ``offset``."""

    memory_type: int
    sram_base: int
    operand: str
    offset: int
    y_size: int
    x_size: int
    x_stride: int
    y_pad_0: int = 0
    y_pad_1: int = 0
    x_pad_0: int = 0
    x_pad_1: int = 0

    @property
    def stage(self) -> Stage:
        """The stage whose queue runs this load (load for INP/WGT, else compute)."""
        return stage_of_load(self.memory_type)


@dataclass(frozen=True, slots=True)
class DmaStore:
    """A 2-D STORE of OUT elements to operand ``operand`` at element ``offset``."""

    sram_base: int
    operand: str
    offset: int
    y_size: int
    x_size: int
    x_stride: int

    @property
    def stage(self) -> Stage:
        return Stage.STORE


@dataclass(frozen=True, slots=True)
class Kernel:
    """A micro-kernel pushed as one GEMM or ALU instruction.

    ``loops`` are at most two ``(extent, dst_factor, src_factor, wgt_factor)`` hardware
    loops, outer first; ``uops`` the ``(dst, src, wgt)`` SRAM indices of the body.
    ``overwrite`` (``GEMM_OVERWRITE``): the GEMM writes its products instead of adding.
    ``uop_range``: the instruction runs only uops ``[lo, hi)`` of the body (the rest of
    the micro-kernel, :attr:`body`, is the same one other instructions run whole).
    """

    kind: str                                   # "gemm" or "alu"
    loops: tuple[tuple[int, int, int, int], ...]
    uops: tuple[tuple[int, int, int], ...]
    reset: bool = False
    alu_opcode: int = 0
    use_imm: bool = False
    imm: int = 0
    overwrite: bool = False
    uop_range: tuple[int, int] | None = None

    @property
    def uop_count(self) -> int:
        lo, hi = self.uop_range or (0, len(self.uops))
        n = hi - lo
        for loop in self.loops:
            n *= loop[0]
        return n

    def __repr__(self) -> str:
        # The fields of the co-design knobs appear only when set, so programs without them
        # keep the form (and the digest, vta.compiler.artifact) they had before the knobs.
        text = (f"Kernel(kind={self.kind!r}, loops={self.loops!r}, uops={self.uops!r}, "
                f"reset={self.reset!r}, alu_opcode={self.alu_opcode!r}, "
                f"use_imm={self.use_imm!r}, imm={self.imm!r}")
        if self.overwrite:
            text += f", overwrite={self.overwrite!r}"
        if self.uop_range is not None:
            text += f", uop_range={self.uop_range!r}"
        return text + ")"

    @property
    def body(self) -> Kernel:
        """The micro-kernel this instruction runs (itself without ``overwrite`` and
        ``uop_range``, which are instruction fields)."""
        if not self.overwrite and self.uop_range is None:
            return self
        return Kernel(self.kind, self.loops, self.uops, self.reset, self.alu_opcode,
                      self.use_imm, self.imm)

    @property
    def stage(self) -> Stage:
        return Stage.COMPUTE


@dataclass(frozen=True, slots=True)
class Step:
    """One load->compute hand-over: INP/WGT loads, then the GEMM kernels using them."""

    loads: tuple[DmaLoad, ...]
    kernels: tuple[Kernel, ...]


@dataclass(frozen=True, slots=True)
class Tile:
    """One output tile: compute prologue, reduction steps, ALU epilogue, stores."""

    prologue: tuple[Kernel | DmaLoad, ...]
    steps: tuple[Step, ...]
    epilogue: tuple[Kernel, ...]
    stores: tuple[DmaStore, ...]


@dataclass(frozen=True)
class Operand:
    """A DRAM operand: its element type (an ISA memory type) and size in elements."""

    memory_type: int
    elements: int


@dataclass
class TileProgram:
    """An operator lowered to tiles; see the module docstring.

    ``acc_regions``: the ACC regions consecutive tiles rotate through (``threads``, or
    four with ``ALU_OVERLAP``; 0 means ``threads``).
    """

    threads: int
    tiles: list[Tile]
    operands: dict[str, Operand]
    description: str = ""
    acc_regions: int = 0

    def __post_init__(self) -> None:
        if not self.acc_regions:
            self.acc_regions = self.threads

    def kernels(self) -> list[Kernel]:
        """Every distinct micro-kernel (:attr:`Kernel.body`), in first-use order."""
        seen: dict[Kernel, None] = {}
        for t in self.tiles:
            for k in (*t.prologue, *(k for s in t.steps for k in s.kernels), *t.epilogue):
                if isinstance(k, Kernel):
                    seen.setdefault(k.body)
        return list(seen)


Instruction = DmaLoad | DmaStore | Kernel


@dataclass
class SerialProgram:
    """Instructions run in order, one stage at a time: each change of stage waits for the
    previous stage's last instruction (:func:`vta.compiler.emit.emit`)."""

    items: list[Instruction]
    operands: dict[str, Operand]
    description: str = ""

    def kernels(self) -> list[Kernel]:
        """Every distinct micro-kernel (:attr:`Kernel.body`), in first-use order."""
        return list(dict.fromkeys(k.body for k in self.items if isinstance(k, Kernel)))
