"""A readable text form of VTA programs that round-trips through the binary encoding.

One instruction per line: the op, then for LOAD/STORE the memory type and for ALU the
operation as bare words, then ``field=value`` for every non-zero field (decimal, ``0x``
hex or negative for ``imm``), with one-bit flags (``pop_prev``, ``push_next``, ``reset``,
``use_imm``, ...) written bare when set.  ``#`` or ``;`` start a comment.  Micro-ops are
``UOP dst_idx=.. src_idx=.. wgt_idx=..``; a file holds either instructions or uops.

Example::

    LOAD INP sram_base=0 dram_base=0x1000 y_size=1 x_size=16 x_stride=16 push_next
    GEMM pop_prev uop_bgn=0 uop_end=1 iter_out=1 iter_in=16 src_factor_in=1 ...
    ALU MAX use_imm iter_out=1 iter_in=16 dst_factor_in=1 src_factor_in=1
    FINISH
"""

from __future__ import annotations

import dataclasses

from . import isa
from .errors import IsaError

__all__ = ["format_program", "parse_program", "format_insn", "format_uop"]

# One-bit fields written as bare words: the dependency flags, GEMM's reset and overwrite,
# ALU's use_imm.
_FLAGS = (*isa.HEADER_FIELDS[1:], "reset", "overwrite", "use_imm")
_OPS = {op.name: cls for op, cls in isa.CLASSES.items()}


def format_insn(insn: isa.Instruction) -> str:
    """One line of text for an instruction."""
    words = [insn.OPCODE.name]
    skip = set()
    # Known enum values are written as bare names; unknown ones as field=value.
    if isinstance(insn, (isa.Load, isa.Store)) and insn.memory_type in set(isa.MemType):
        words.append(enum_name(isa.MemType, insn.memory_type))
        skip.add("memory_type")
    if isinstance(insn, isa.Alu) and insn.alu_opcode in set(isa.AluOp):
        words.append(enum_name(isa.AluOp, insn.alu_opcode))
        skip.add("alu_opcode")
    for f in dataclasses.fields(insn):
        v = getattr(insn, f.name)
        if f.name in skip or v == 0:
            continue
        if f.name in _FLAGS and v == 1:
            words.append(f.name)
        elif f.name == "dram_base":
            words.append(f"{f.name}={v:#x}")
        else:
            words.append(f"{f.name}={v}")
    return " ".join(words)


def format_uop(uop: isa.Uop) -> str:
    return f"UOP dst_idx={uop.dst_idx} src_idx={uop.src_idx} wgt_idx={uop.wgt_idx}"


def format_program(items: list) -> str:
    """Text for a list of instructions or of uops, one per line."""
    return "".join((format_uop(x) if isinstance(x, isa.Uop) else format_insn(x)) + "\n"
                   for x in items)


def enum_name(enum_cls: type, value: int) -> str:
    try:
        return enum_cls(value).name
    except ValueError:
        return str(value)        # unknown values stay numeric so they still round-trip


def parse_program(text: str, source: str = "<text>") -> list:
    """Parse text into instructions or uops; errors name the line and the word."""
    items: list = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].split(";", 1)[0].strip()
        if not line:
            continue
        try:
            items.append(_parse_line(line))
        except IsaError as e:
            raise IsaError(f"{source}:{lineno}: {e}") from None
    kinds = {isinstance(x, isa.Uop) for x in items}
    if len(kinds) > 1:
        raise IsaError(f"{source}: mixes UOP lines with instructions; put uops in their "
                       f"own file")
    return items


def _parse_line(line: str) -> isa.Instruction | isa.Uop:
    words = line.split()
    op = words[0].upper()
    if op == "UOP":
        cls: type = isa.Uop
    elif op in _OPS:
        cls = _OPS[op]
    else:
        raise IsaError(f"unknown op {words[0]!r}; expected {', '.join(_OPS)} or UOP")
    names = {f.name for f in dataclasses.fields(cls)}
    values: dict[str, int] = {}
    for word in words[1:]:
        if "=" in word:
            key, _, text = word.partition("=")
            if key not in names:
                raise IsaError(f"{op} has no field {key!r}; fields are "
                               f"{', '.join(sorted(names))}")
            try:
                values[key] = int(text, 0)
            except ValueError:
                raise IsaError(f"field {key} needs an integer, not {text!r}") from None
        elif word in _FLAGS and word in names:
            values[word] = 1
        elif "memory_type" in names and word.upper() in isa.MemType.__members__:
            values["memory_type"] = isa.MemType[word.upper()]
        elif "alu_opcode" in names and word.upper() in isa.AluOp.__members__:
            values["alu_opcode"] = isa.AluOp[word.upper()]
        else:
            raise IsaError(f"unexpected word {word!r} in a {op} line")
    return cls(**values)
