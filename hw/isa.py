"""The VTA instruction set: instruction and micro-op classes, bit layouts, encode/decode.

Binary-compatible with TVM's VTA ISA (HW_VER 0.0.2) for the default configuration.
Fields are packed LSB first in declaration order like C ``uint64_t`` bitfields: a field
never straddles a 64-bit word (it moves to the next word, leaving a zero gap).  Widths of
the uop-index and factor fields derive from the configuration; a configuration whose
fields no longer fit the 128-bit instruction / 32-bit uop word is rejected unless it opts
into the wide encoding (``WIDE_ISA``: 256-bit instructions, 64-bit uops).
"""

from __future__ import annotations

import dataclasses
import enum
import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

from .errors import ConfigError, IsaError

if TYPE_CHECKING:
    from .config import VTAConfig

__all__ = [
    "Opcode", "MemType", "AluOp", "Load", "Store", "Gemm", "Alu", "Finish", "Uop",
    "Instruction", "IsaError", "Field", "IsaLayout", "layout_for",
    "encode", "decode", "encode_uops", "decode_uops", "to_dict", "from_dict",
    "count_gemm_uops",
]


class Opcode(enum.IntEnum):
    LOAD = 0
    STORE = 1
    GEMM = 2
    FINISH = 3
    ALU = 4


class MemType(enum.IntEnum):
    UOP = 0
    WGT = 1
    INP = 2
    ACC = 3
    OUT = 4
    ACC_8BIT = 5


class AluOp(enum.IntEnum):
    MIN = 0
    MAX = 1
    ADD = 2
    SHR = 3
    MUL = 4


# Fixed field widths of TVM's hw_spec.h.
MEMOP_ID_BITS = 3
MEMOP_SRAM_ADDR_BITS = 16
MEMOP_DRAM_ADDR_BITS = 32
MEMOP_SIZE_BITS = 16
MEMOP_STRIDE_BITS = 16
MEMOP_PAD_BITS = 4
LOOP_ITER_BITS = 14
ALU_OPCODE_BITS = 3
ALU_IMM_BITS = 16


@dataclass(frozen=True, slots=True)
class _Deps:
    pop_prev: int = 0
    pop_next: int = 0
    push_prev: int = 0
    push_next: int = 0


@dataclass(frozen=True, slots=True)
class Load(_Deps):
    """2-D DMA from DRAM into an SRAM (INP, WGT -> load module; UOP, ACC -> compute)."""

    memory_type: int = MemType.INP
    sram_base: int = 0
    dram_base: int = 0
    y_size: int = 0
    x_size: int = 0
    x_stride: int = 0
    y_pad_0: int = 0
    y_pad_1: int = 0
    x_pad_0: int = 0
    x_pad_1: int = 0
    OPCODE = Opcode.LOAD


@dataclass(frozen=True, slots=True)
class Store(_Deps):
    """2-D DMA from the OUT buffer to DRAM (store module)."""

    memory_type: int = MemType.OUT
    sram_base: int = 0
    dram_base: int = 0
    y_size: int = 0
    x_size: int = 0
    x_stride: int = 0
    y_pad_0: int = 0
    y_pad_1: int = 0
    x_pad_0: int = 0
    x_pad_1: int = 0
    OPCODE = Opcode.STORE


@dataclass(frozen=True, slots=True)
class _GemmFormat(_Deps):
    """The fields GEMM and FINISH share (FINISH uses the GEMM format)."""

    reset: int = 0
    uop_bgn: int = 0
    uop_end: int = 0
    iter_out: int = 0
    iter_in: int = 0
    dst_factor_out: int = 0
    dst_factor_in: int = 0
    src_factor_out: int = 0
    src_factor_in: int = 0
    wgt_factor_out: int = 0
    wgt_factor_in: int = 0


@dataclass(frozen=True, slots=True)
class Gemm(_GemmFormat):
    """GEMM loop nest over uops [uop_bgn, uop_end) (compute module)."""

    OPCODE = Opcode.GEMM


@dataclass(frozen=True, slots=True)
class Finish(_GemmFormat):
    """Raise done once everything before it completed.  Shares the GEMM format."""

    OPCODE = Opcode.FINISH


@dataclass(frozen=True, slots=True)
class Alu(_Deps):
    """ALU loop nest: ``ACC[dst] = op(ACC[dst], imm or ACC[src])`` (compute module)."""

    reset: int = 0
    uop_bgn: int = 0
    uop_end: int = 0
    iter_out: int = 0
    iter_in: int = 0
    dst_factor_out: int = 0
    dst_factor_in: int = 0
    src_factor_out: int = 0
    src_factor_in: int = 0
    alu_opcode: int = AluOp.MIN
    use_imm: int = 0
    imm: int = 0
    OPCODE = Opcode.ALU


@dataclass(frozen=True, slots=True)
class Uop:
    """A micro-op: SRAM indices of one GEMM/ALU step (ALU uses dst and src as ACC rows)."""

    dst_idx: int = 0
    src_idx: int = 0
    wgt_idx: int = 0


Instruction = Load | Store | Gemm | Alu | Finish
_CLASSES: dict[Opcode, type] = {Opcode.LOAD: Load, Opcode.STORE: Store, Opcode.GEMM: Gemm,
                                Opcode.FINISH: Finish, Opcode.ALU: Alu}
_BY_NAME = {op.name: cls for op, cls in _CLASSES.items()}


class Field(NamedTuple):
    """One bit field: ``name`` at bits [lsb + width - 1 : lsb]; ``signed`` for ALU imm."""

    name: str
    lsb: int
    width: int
    signed: bool = False

    @property
    def lo(self) -> int:
        return -(1 << (self.width - 1)) if self.signed else 0

    @property
    def hi(self) -> int:
        return (1 << (self.width - 1)) - 1 if self.signed else (1 << self.width) - 1


@dataclass(frozen=True)
class IsaLayout:
    """Bit layouts of every instruction format and of the uop, for one configuration."""

    insn_width: int
    uop_width: int
    formats: dict[Opcode, tuple[Field, ...]]
    uop: tuple[Field, ...]

    def field(self, opcode: Opcode, name: str) -> Field:
        for f in self.formats[opcode]:
            if f.name == name:
                return f
        raise KeyError(name)

    def uop_field(self, name: str) -> Field:
        for f in self.uop:
            if f.name == name:
                return f
        raise KeyError(name)


def _pack(spec: Sequence[tuple[str, int, bool]], total: int, what: str,
          word: int = 64) -> tuple[Field, ...]:
    out, pos = [], 0
    for name, width, signed in spec:
        if width > word:
            raise IsaError(f"{what} field {name} needs {width} bits, more than a {word}-bit word")
        if pos % word + width > word:
            pos = (pos // word + 1) * word      # C bitfields never straddle a word
        out.append(Field(name, pos, width, signed))
        pos += width
    if pos > total:
        raise IsaError(f"{what} fields need {pos} bits, more than the {total}-bit word")
    return tuple(out)


@functools.lru_cache(maxsize=64)
def layout_for(config: VTAConfig) -> IsaLayout:
    """Derive the bit layouts for ``config``; raise :class:`IsaError` if they do not fit."""
    c = config
    deps = [("opcode", 3, False), ("pop_prev", 1, False), ("pop_next", 1, False),
            ("push_prev", 1, False), ("push_next", 1, False)]
    mem = deps + [("memory_type", MEMOP_ID_BITS, False),
                  ("sram_base", MEMOP_SRAM_ADDR_BITS, False),
                  ("dram_base", MEMOP_DRAM_ADDR_BITS, False),
                  ("y_size", MEMOP_SIZE_BITS, False), ("x_size", MEMOP_SIZE_BITS, False),
                  ("x_stride", MEMOP_STRIDE_BITS, False),
                  ("y_pad_0", MEMOP_PAD_BITS, False), ("y_pad_1", MEMOP_PAD_BITS, False),
                  ("x_pad_0", MEMOP_PAD_BITS, False), ("x_pad_1", MEMOP_PAD_BITS, False)]
    loop = deps + [("reset", 1, False), ("uop_bgn", c.log_uop_depth, False),
                   ("uop_end", c.log_uop_depth + 1, False),
                   ("iter_out", LOOP_ITER_BITS, False), ("iter_in", LOOP_ITER_BITS, False),
                   ("dst_factor_out", c.log_acc_depth, False),
                   ("dst_factor_in", c.log_acc_depth, False)]
    gemm = loop + [("src_factor_out", c.log_inp_depth, False),
                   ("src_factor_in", c.log_inp_depth, False),
                   ("wgt_factor_out", c.log_wgt_depth, False),
                   ("wgt_factor_in", c.log_wgt_depth, False)]
    alu = loop + [("src_factor_out", c.log_acc_depth, False),
                  ("src_factor_in", c.log_acc_depth, False),
                  ("alu_opcode", ALU_OPCODE_BITS, False), ("use_imm", 1, False),
                  ("imm", ALU_IMM_BITS, True)]
    uop = [("dst_idx", c.log_acc_depth, False),
           ("src_idx", max(c.log_acc_depth, c.log_inp_depth), False),
           ("wgt_idx", c.log_wgt_depth, False)]
    hint = "" if c.WIDE_ISA else ("; set WIDE_ISA=true for the 256-bit encoding or shrink "
                                  "the buffers")
    try:
        formats = {Opcode.LOAD: _pack(mem, c.insn_width, "LOAD/STORE"),
                   Opcode.STORE: _pack(mem, c.insn_width, "LOAD/STORE"),
                   Opcode.GEMM: _pack(gemm, c.insn_width, "GEMM"),
                   Opcode.FINISH: _pack(gemm, c.insn_width, "FINISH"),
                   Opcode.ALU: _pack(alu, c.insn_width, "ALU")}
        uops = _pack(uop, c.uop_width, "uop", word=c.uop_width)
    except IsaError as e:
        raise ConfigError(f"config {c.name}: {e}{hint}") from None
    return IsaLayout(c.insn_width, c.uop_width, formats, uops)


# ------------------------------------------------------------------------- encoding
def _encode_fields(fields_: Iterable[Field], values: dict[str, int], what: str) -> int:
    word = 0
    for f in fields_:
        v = values[f.name]
        if isinstance(v, bool):
            v = int(v)
        if not isinstance(v, int):
            raise IsaError(f"{what}: field {f.name} must be an integer, not {v!r}")
        if not f.lo <= v <= f.hi:
            raise IsaError(f"{what}: field {f.name}={v} out of range [{f.lo}, {f.hi}] "
                           f"({f.width} bits)")
        word |= (v & ((1 << f.width) - 1)) << f.lsb
    return word


def _values(insn: Instruction) -> dict[str, int]:
    d = {f.name: getattr(insn, f.name) for f in dataclasses.fields(insn)}
    d["opcode"] = int(insn.OPCODE)
    return d


def encode_one(insn: Instruction, config: VTAConfig, index: int = 0) -> int:
    """Encode one instruction into an integer of ``config.insn_width`` bits."""
    opcode = getattr(insn, "OPCODE", None)
    if opcode is None:
        raise IsaError(f"instruction {index}: {insn!r} is not a VTA instruction")
    fmt = layout_for(config).formats[opcode]
    return _encode_fields(fmt, _values(insn), f"instruction {index} ({opcode.name})")


def encode(insns: Iterable[Instruction], config: VTAConfig) -> bytes:
    """Encode instructions to little-endian bytes (``config.insn_bytes`` each)."""
    n = config.insn_bytes
    return b"".join(encode_one(insn, config, i).to_bytes(n, "little")
                    for i, insn in enumerate(insns))


def _decode_fields(fields_: Iterable[Field], word: int) -> dict[str, int]:
    out = {}
    for f in fields_:
        v = (word >> f.lsb) & ((1 << f.width) - 1)
        if f.signed and v >> (f.width - 1):
            v -= 1 << f.width
        out[f.name] = v
    return out


def decode_one(word: int, config: VTAConfig, index: int = 0) -> Instruction:
    """Decode one instruction word; an unknown opcode is an :class:`IsaError`."""
    raw = word & 0b111
    try:
        opcode = Opcode(raw)
    except ValueError:
        raise IsaError(f"instruction {index}: unknown opcode {raw} (valid: "
                       f"{', '.join(f'{o.value} {o.name}' for o in Opcode)})") from None
    values = _decode_fields(layout_for(config).formats[opcode], word)
    del values["opcode"]
    return _CLASSES[opcode](**values)


def decode(data: bytes | bytearray | memoryview, config: VTAConfig) -> list[Instruction]:
    """Decode little-endian instruction bytes; the length must be a whole number of words."""
    data = bytes(data)
    n = config.insn_bytes
    if len(data) % n:
        raise IsaError(f"instruction stream of {len(data)} bytes is not a multiple of "
                       f"{n} bytes")
    return [decode_one(int.from_bytes(data[i:i + n], "little"), config, i // n)
            for i in range(0, len(data), n)]


def encode_uops(uops: Iterable[Uop], config: VTAConfig) -> bytes:
    """Encode micro-ops to little-endian bytes (``config.uop_elem_bytes`` each)."""
    fmt = layout_for(config).uop
    n = config.uop_elem_bytes
    return b"".join(
        _encode_fields(fmt, {"dst_idx": u.dst_idx, "src_idx": u.src_idx,
                             "wgt_idx": u.wgt_idx}, f"uop {i}").to_bytes(n, "little")
        for i, u in enumerate(uops))


def decode_uops(data: bytes | bytearray | memoryview, config: VTAConfig) -> list[Uop]:
    """Decode little-endian micro-op bytes."""
    data = bytes(data)
    n = config.uop_elem_bytes
    if len(data) % n:
        raise IsaError(f"uop stream of {len(data)} bytes is not a multiple of {n} bytes")
    fmt = layout_for(config).uop
    return [Uop(**_decode_fields(fmt, int.from_bytes(data[i:i + n], "little")))
            for i in range(0, len(data), n)]


def count_gemm_uops(data: bytes | bytearray | memoryview, config: VTAConfig) -> tuple[int, int]:
    """``(mac_uops, reset_uops)``: GEMM micro-ops an encoded program executes.

    Every instruction executes exactly once, so the count follows from the words alone:
    ``iter_out * iter_in * (uop_end - uop_bgn)`` summed over GEMM instructions, split by
    the reset bit.  Useful MACs are ``mac_uops * config.macs_per_cycle``.
    """
    import numpy as np

    n = config.insn_bytes
    if len(data) % n:
        raise IsaError(f"instruction stream of {len(data)} bytes is not a multiple of {n} bytes")
    words = np.frombuffer(bytes(data), dtype="<u8").reshape(-1, n // 8)
    fmt = layout_for(config).formats[Opcode.GEMM]

    def field(name: str) -> np.ndarray:
        f = next(x for x in fmt if x.name == name)
        return ((words[:, f.lsb // 64] >> np.uint64(f.lsb % 64))
                & np.uint64((1 << f.width) - 1)).astype(np.int64)

    gemm = field("opcode") == Opcode.GEMM
    uops = field("iter_out") * field("iter_in") * np.maximum(
        field("uop_end") - field("uop_bgn"), 0)
    reset = field("reset") == 1
    return int(uops[gemm & ~reset].sum()), int(uops[gemm & reset].sum())


# ------------------------------------------------------------------------- dict form
def to_dict(insn: Instruction) -> dict[str, int | str]:
    """JSON form of SPEC section 2: ``op`` plus every field name with an integer value."""
    d: dict[str, int | str] = {"op": insn.OPCODE.name}
    for f in dataclasses.fields(insn):
        d[f.name] = int(getattr(insn, f.name))
    return d


def from_dict(d: dict) -> Instruction:
    """Inverse of :func:`to_dict`; extra keys (``bytes``, text names) are ignored."""
    op = d.get("op")
    cls = _BY_NAME.get(str(op).upper())
    if cls is None:
        raise IsaError(f"unknown instruction op {op!r}; expected one of {', '.join(_BY_NAME)}")
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: int(v) for k, v in d.items() if k in names})
