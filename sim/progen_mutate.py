"""One random mutation of a program in DRAM: the invalid programs of differential fuzzing.

:func:`mutate` changes a valid program (:func:`vta.sim.progen.random_program`) in one
place, in DRAM, and says what it did.  Most mutations make the program invalid -- an
unknown opcode or memory type, a flag the module lacks, a missing or early FINISH, an SRAM
footprint or GEMM/ALU index beyond its buffer, a DRAM access outside memory, a deadlock,
tokens left over -- some leave it valid but different.  Either way every device must agree
on the outcome: the same error class (or success).

Mutations (:data:`KINDS`), each on one randomly chosen instruction:

* ``field``: one field of the instruction's format set to a small value, a value at a
  buffer's limit, or any value of the field (loop extents stay small, so no mutant runs
  for long);
* ``flag``: one dependency flag toggled;
* ``opcode`` / ``memory_type``: replaced by any 3-bit value;
* ``drop`` / ``duplicate``: the instruction removed or repeated;
* ``uop``: one field of one micro-op a LOAD UOP reads set to any value;
* ``dram``: the ``dram_base`` of a LOAD/STORE moved to the end of memory or beyond.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from vta.hw import isa
from vta.hw.config import VTAConfig
from vta.hw.isa import MemType, Opcode

from .dram import Dram
from .progen import Program

__all__ = ["Mutation", "mutate", "KINDS"]

KINDS = ("field", "flag", "opcode", "memory_type", "drop", "duplicate", "uop", "dram")
_SMALL_ONLY = frozenset({"iter_out", "iter_in"})     # loop extents: at most 31


@dataclass(frozen=True)
class Mutation:
    """What :func:`mutate` did: ``kind``, the instruction ``index``, a readable
    ``detail``, and where the mutated program now is."""

    kind: str
    index: int
    detail: str
    insn_addr: int
    insn_count: int


def _limits(config: VTAConfig) -> list[int]:
    depths = {config.depth(t) for t in MemType} | {config.uop_depth}
    return sorted({v + d for v in depths for d in (-1, 0, 1)})


def _field_value(rng: np.random.Generator, field: isa.Field, config: VTAConfig) -> int:
    top = (1 << field.width) - 1
    if field.name in _SMALL_ONLY:
        return int(rng.integers(0, 32))
    roll = int(rng.integers(3))
    if roll == 0:
        value = int(rng.integers(0, 8))
    elif roll == 1:
        value = int(rng.choice(_limits(config)))
    else:
        value = int(rng.integers(0, top + 1))
    return value & top


def _set(word: int, field: isa.Field, value: int) -> int:
    mask = ((1 << field.width) - 1) << field.lsb
    return (word & ~mask) | ((value << field.lsb) & mask)


def mutate(program: Program, config: VTAConfig, dram: Dram,
           rng: np.random.Generator) -> Mutation:
    """Apply one random mutation to ``program`` (placed in ``dram``), in place where the
    instruction count stays, else in a new instruction buffer (recorded in
    ``program.allocations``)."""
    n = config.insn_bytes
    code = bytearray(dram.read(program.insn_addr, program.insn_count * n))
    words = [int.from_bytes(code[i:i + n], "little") for i in range(0, len(code), n)]
    layout = isa.layout_for(config)
    kind = KINDS[int(rng.integers(len(KINDS)))]
    index = int(rng.integers(len(words)))
    insns = program.insns
    detail = ""
    if kind in ("uop", "dram"):
        wanted = [i for i, x in enumerate(insns) if isinstance(x, (isa.Load, isa.Store))
                  and x.x_size and x.y_size
                  and (kind == "dram" or x.memory_type == MemType.UOP)]
        if not wanted:
            kind = "field"
        else:
            index = wanted[int(rng.integers(len(wanted)))]
    op = Opcode(words[index] & 7)
    fmt = layout.formats[op]
    if kind == "field":
        field = fmt[1 + int(rng.integers(len(fmt) - 1))]
        value = _field_value(rng, field, config)
        words[index] = _set(words[index], field, value)
        detail = f"{field.name}={value}"
    elif kind == "flag":
        field = fmt[1 + int(rng.integers(4))]
        words[index] ^= 1 << field.lsb
        detail = f"{field.name} toggled"
    elif kind == "opcode":
        value = int(rng.integers(8))
        words[index] = _set(words[index], fmt[0], value)
        detail = f"opcode={value}"
    elif kind == "memory_type":
        field = layout.field(Opcode.LOAD, "memory_type")
        value = int(rng.integers(8))
        words[index] = _set(words[index], field, value)
        detail = f"memory_type={value}"
    elif kind == "drop":
        del words[index]
        detail = "removed"
    elif kind == "duplicate":
        words.insert(index, words[index])
        detail = "repeated"
    elif kind == "uop":
        load = insns[index]
        k = int(rng.integers(load.x_size))
        addr = load.dram_base * config.uop_elem_bytes + k * config.uop_elem_bytes
        uop_word = int.from_bytes(dram.read(addr, config.uop_elem_bytes), "little")
        field = layout.uop[int(rng.integers(len(layout.uop)))]
        value = _field_value(rng, field, config)
        dram.write(addr, _set(uop_word, field, value).to_bytes(config.uop_elem_bytes,
                                                                "little"))
        detail = f"uop {k} {field.name}={value}"
    else:                                                      # dram
        field = layout.field(Opcode.LOAD, "dram_base")
        elem = config.elem_bytes(insns[index].memory_type)
        end = (dram.base + dram.size) // elem
        value = min(end - int(rng.integers(0, 3)), (1 << field.width) - 1) \
            if rng.integers(2) else int(rng.integers(end, 1 << field.width))
        words[index] = _set(words[index], field, value)
        detail = f"dram_base={value:#x}"
    out = b"".join(w.to_bytes(n, "little") for w in words)
    addr = program.insn_addr
    if len(words) != program.insn_count:
        addr = dram.alloc(max(1, len(out)), n)
        program.allocations.append(addr)
    if out:
        dram.write(addr, out)
    return Mutation(kind, index, detail, addr, len(words))
