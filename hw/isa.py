"""The VTA instruction set: instruction and micro-op classes, bit layouts, encode/decode.

Binary-compatible with TVM's VTA ISA (HW_VER 0.0.2) for the default configuration.
Fields are packed LSB first in declaration order like C ``uint64_t`` bitfields: a field
never straddles a 64-bit word (it moves to the next word, leaving a zero gap).  Widths of
the uop-index and factor fields derive from the configuration; a configuration whose
fields no longer fit the 128-bit instruction / 32-bit uop word is rejected unless it opts
into the wide encoding (``WIDE_ISA``: 256-bit instructions, 64-bit uops).

Extension fields (:data:`EXTENSION_FIELDS`: GEMM's ``overwrite`` with ``GEMM_OVERWRITE``)
have width 0 -- they do not exist -- unless their configuration key is set; then each
takes the first gap the packing left that holds it (else the bits after the last field),
so TVM's fields never move.
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
    "Instruction", "IsaError", "Field", "IsaLayout", "layout_for", "CLASSES",
    "FORMAT_FIELDS", "HEADER_FIELDS", "EXTENSION_FIELDS",
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
OPCODE_BITS = 3
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
    """The dependency flags every format starts with (see :mod:`vta.hw.pipeline`)."""

    pop_prev: int = 0
    pop_next: int = 0
    push_prev: int = 0
    push_next: int = 0


@dataclass(frozen=True, slots=True)
class _MemFormat(_Deps):
    """The fields LOAD and STORE share (the 2-D DMA format)."""

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


@dataclass(frozen=True, slots=True)
class Load(_MemFormat):
    """2-D DMA from DRAM into an SRAM (INP, WGT -> load module; UOP, ACC -> compute)."""

    OPCODE = Opcode.LOAD


@dataclass(frozen=True, slots=True)
class Store(_MemFormat):
    """2-D DMA from the OUT buffer to DRAM (store module)."""

    memory_type: int = MemType.OUT
    OPCODE = Opcode.STORE


@dataclass(frozen=True, slots=True)
class _LoopFormat(_Deps):
    """The loop-nest fields GEMM and ALU share: uops [uop_bgn, uop_end) inside
    ``iter_out`` x ``iter_in`` iterations, index factors per loop level."""

    reset: int = 0
    uop_bgn: int = 0
    uop_end: int = 0
    iter_out: int = 0
    iter_in: int = 0
    dst_factor_out: int = 0
    dst_factor_in: int = 0
    src_factor_out: int = 0
    src_factor_in: int = 0


@dataclass(frozen=True, slots=True)
class _GemmFormat(_LoopFormat):
    """The fields GEMM and FINISH share (FINISH uses the GEMM format)."""

    wgt_factor_out: int = 0
    wgt_factor_in: int = 0


@dataclass(frozen=True, slots=True)
class Gemm(_GemmFormat):
    """GEMM loop nest over uops [uop_bgn, uop_end) (compute module).

    ``overwrite`` (the ``GEMM_OVERWRITE`` extension): every uop writes ``ACC[dst] =
    INP[src] . WGT[wgt]`` instead of adding to it; ``reset`` takes precedence.
    """

    overwrite: int = 0
    OPCODE = Opcode.GEMM


@dataclass(frozen=True, slots=True)
class Finish(_GemmFormat):
    """Raise done once everything before it completed.  Shares the GEMM format."""

    OPCODE = Opcode.FINISH


@dataclass(frozen=True, slots=True)
class Alu(_LoopFormat):
    """ALU loop nest: ``ACC[dst] = op(ACC[dst], imm or ACC[src])`` (compute module)."""

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
#: The instruction class of each opcode.
CLASSES: dict[Opcode, type] = {Opcode.LOAD: Load, Opcode.STORE: Store, Opcode.GEMM: Gemm,
                               Opcode.FINISH: Finish, Opcode.ALU: Alu}
_BY_NAME = {op.name: cls for op, cls in CLASSES.items()}

#: Field names of each format in encoding order (LSB first): the opcode, then the fields
#: of the instruction class in declaration order.  The first five, :data:`HEADER_FIELDS`,
#: are common to every format.
FORMAT_FIELDS: dict[Opcode, tuple[str, ...]] = {
    op: ("opcode", *(f.name for f in dataclasses.fields(cls))) for op, cls in CLASSES.items()}
HEADER_FIELDS: tuple[str, ...] = ("opcode", "pop_prev", "pop_next", "push_prev", "push_next")
assert all(names[:len(HEADER_FIELDS)] == HEADER_FIELDS for names in FORMAT_FIELDS.values())
#: Fields an ISA extension adds, with the configuration key that gives them their bits
#: (without it they are 0 bits wide and must be 0).
EXTENSION_FIELDS: dict[str, str] = {"overwrite": "GEMM_OVERWRITE"}


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
        """The field ``name`` of ``opcode``'s format (``KeyError`` if it has none)."""
        for f in self.formats[opcode]:
            if f.name == name:
                return f
        raise KeyError(name)

    def uop_field(self, name: str) -> Field:
        """The micro-op field ``name``."""
        for f in self.uop:
            if f.name == name:
                return f
        raise KeyError(name)


def _pack(spec: Sequence[tuple[str, int, bool]], total: int, what: str,
          word: int = 64) -> tuple[Field, ...]:
    out, pos = [], 0
    gaps: list[tuple[int, int]] = []         # (lsb, width) of the bits skipped so far
    for name, width, signed in spec:
        if width > word:
            raise IsaError(f"{what} field {name} needs {width} bits, more than a {word}-bit word")
        if name in EXTENSION_FIELDS:         # into the first gap that holds it
            gap = next((g for g in gaps if g[1] >= width), None)
            if gap is not None:
                gaps[gaps.index(gap)] = (gap[0] + width, gap[1] - width)
                out.append(Field(name, gap[0], width, signed))
                continue
        if pos % word + width > word:
            end = (pos // word + 1) * word      # C bitfields never straddle a word
            gaps.append((pos, end - pos))
            pos = end
        out.append(Field(name, pos, width, signed))
        pos += width
    if pos > total:
        raise IsaError(f"{what} fields need {pos} bits, more than the {total}-bit word")
    if pos < total:
        gaps.append((pos, total - pos))
    return tuple(out)


def _field_bits(config: VTAConfig, opcode: Opcode) -> dict[str, tuple[int, bool]]:
    """``name -> (width, signed)`` of every field of ``opcode``'s format."""
    c = config
    # GEMM's src indexes INP; ALU's src indexes ACC like its dst.
    src_bits = c.log_acc_depth if opcode == Opcode.ALU else c.log_inp_depth
    bits = {"opcode": OPCODE_BITS, **dict.fromkeys(HEADER_FIELDS[1:], 1),
            "memory_type": MEMOP_ID_BITS, "sram_base": MEMOP_SRAM_ADDR_BITS,
            "dram_base": MEMOP_DRAM_ADDR_BITS, "y_size": MEMOP_SIZE_BITS,
            "x_size": MEMOP_SIZE_BITS, "x_stride": MEMOP_STRIDE_BITS,
            **dict.fromkeys(("y_pad_0", "y_pad_1", "x_pad_0", "x_pad_1"), MEMOP_PAD_BITS),
            "reset": 1, "uop_bgn": c.log_uop_depth, "uop_end": c.log_uop_depth + 1,
            "iter_out": LOOP_ITER_BITS, "iter_in": LOOP_ITER_BITS,
            "dst_factor_out": c.log_acc_depth, "dst_factor_in": c.log_acc_depth,
            "src_factor_out": src_bits, "src_factor_in": src_bits,
            "wgt_factor_out": c.log_wgt_depth, "wgt_factor_in": c.log_wgt_depth,
            "alu_opcode": ALU_OPCODE_BITS, "use_imm": 1}
    bits.update({name: int(getattr(c, key)) for name, key in EXTENSION_FIELDS.items()})
    out = {name: (width, False) for name, width in bits.items()}
    out["imm"] = (ALU_IMM_BITS, True)
    return out


@functools.lru_cache(maxsize=64)
def layout_for(config: VTAConfig) -> IsaLayout:
    """Derive the bit layouts for ``config``; raise :class:`IsaError` if they do not fit."""
    c = config
    uop = [("dst_idx", c.log_acc_depth, False),
           ("src_idx", max(c.log_acc_depth, c.log_inp_depth), False),
           ("wgt_idx", c.log_wgt_depth, False)]
    hint = "" if c.WIDE_ISA else ("; set WIDE_ISA=true for the 256-bit encoding or shrink "
                                  "the buffers")
    what = {Opcode.LOAD: "LOAD/STORE", Opcode.STORE: "LOAD/STORE"}
    try:
        formats = {}
        for op, names in FORMAT_FIELDS.items():
            bits = _field_bits(c, op)
            formats[op] = _pack([(name, *bits[name]) for name in names], c.insn_width,
                                what.get(op, op.name))
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
    raw = word & ((1 << OPCODE_BITS) - 1)
    try:
        opcode = Opcode(raw)
    except ValueError:
        raise IsaError(f"instruction {index}: unknown opcode {raw} (valid: "
                       f"{', '.join(f'{o.value} {o.name}' for o in Opcode)})") from None
    values = _decode_fields(layout_for(config).formats[opcode], word)
    del values["opcode"]
    return CLASSES[opcode](**values)


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
    layout = layout_for(config)

    def field(name: str) -> np.ndarray:
        f = layout.field(Opcode.GEMM, name)
        return ((words[:, f.lsb // 64] >> np.uint64(f.lsb % 64))
                & np.uint64((1 << f.width) - 1)).astype(np.int64)

    gemm = field("opcode") == Opcode.GEMM
    uops = field("iter_out") * field("iter_in") * np.maximum(
        field("uop_end") - field("uop_bgn"), 0)
    reset = field("reset") == 1
    return int(uops[gemm & ~reset].sum()), int(uops[gemm & reset].sum())


# ------------------------------------------------------------------------- dict form
def to_dict(insn: Instruction) -> dict[str, int | str]:
    """JSON form of SPEC section 2: ``op`` plus every field name with an integer value
    (an extension field only when it is set, so TVM's instructions keep TVM's form)."""
    d: dict[str, int | str] = {"op": insn.OPCODE.name}
    for f in dataclasses.fields(insn):
        value = int(getattr(insn, f.name))
        if value or f.name not in EXTENSION_FIELDS:
            d[f.name] = value
    return d


def from_dict(d: dict) -> Instruction:
    """Inverse of :func:`to_dict`; extra keys (``bytes``, text names) are ignored."""
    op = d.get("op")
    cls = _BY_NAME.get(str(op).upper())
    if cls is None:
        raise IsaError(f"unknown instruction op {op!r}; expected one of {', '.join(_BY_NAME)}")
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: int(v) for k, v in d.items() if k in names})
