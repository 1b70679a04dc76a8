"""A tiled operator as data: the tile program the lowering builds and the runtime replays.

A :class:`TileProgram` is address-free: DMA descriptors name an *operand* (``data``,
``weight``, ``bias``, ``residual``, ``out``) and an element offset inside it, so one
program runs on any buffers of the right size (compile once, run many).  It is a list of
output :class:`Tile` objects; a tile is a compute prologue (reset, ACC loads), a list of
:class:`Step` objects (INP/WGT loads handed to compute by a token, then GEMM kernels), an
ALU epilogue and the stores.

SRAM halves: with ``threads == 2`` consecutive steps use alternate INP/WGT halves and
consecutive tiles alternate ACC halves; the token protocol that makes this safe is in
:func:`vta.compiler.ops.emit` (load waits for compute to release a half, compute waits for
store to drain an ACC half).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from vta.hw.isa import MemType

__all__ = ["DmaLoad", "DmaStore", "Kernel", "Step", "Tile", "TileProgram", "Operand"]


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
    def stage(self) -> str:
        return "load" if self.memory_type in (MemType.INP, MemType.WGT) else "compute"


@dataclass(frozen=True, slots=True)
class DmaStore:
    """A 2-D STORE of OUT elements to operand ``operand`` at element ``offset``."""

    sram_base: int
    operand: str
    offset: int
    y_size: int
    x_size: int
    x_stride: int


@dataclass(frozen=True, slots=True)
class Kernel:
    """A micro-kernel pushed as one GEMM or ALU instruction.

    ``loops`` are at most two ``(extent, dst_factor, src_factor, wgt_factor)`` hardware
    loops, outer first; ``uops`` the ``(dst, src, wgt)`` SRAM indices of the body.
    """

    kind: str                                   # "gemm" or "alu"
    loops: tuple[tuple[int, int, int, int], ...]
    uops: tuple[tuple[int, int, int], ...]
    reset: bool = False
    alu_opcode: int = 0
    use_imm: bool = False
    imm: int = 0

    @property
    def uop_count(self) -> int:
        n = len(self.uops)
        for loop in self.loops:
            n *= loop[0]
        return n

    @property
    def key(self) -> tuple:
        """Cache key of the micro-kernel (the uop bodies and loops, not the ALU op)."""
        return (self.kind, self.reset, self.loops, self.uops)


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
    """An operator lowered to tiles; see the module docstring."""

    threads: int
    tiles: list[Tile]
    operands: dict[str, Operand]
    description: str = ""
    stats: dict = field(default_factory=dict)

    @property
    def step_count(self) -> int:
        return sum(len(t.steps) for t in self.tiles)

    def gemm_uops(self) -> int:
        return sum(k.uop_count for t in self.tiles for s in t.steps for k in s.kernels
                   if not k.reset)

    def alu_uops(self) -> int:
        return sum(k.uop_count for t in self.tiles for k in t.epilogue)
