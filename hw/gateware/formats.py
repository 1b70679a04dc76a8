"""The ISA's bit layouts as ``lib.data`` layouts, so the gateware reads fields by name.

Every layout derives from :func:`vta.hw.isa.layout_for` (bit-exact with the encoder):
:func:`insn_layouts` gives each instruction format, :func:`header_layout` the fields all
formats share (the opcode and the four dependency flags, :data:`vta.hw.isa.HEADER_FIELDS`)
and :func:`uop_layout` the micro-op.  Gaps the C bitfield packing leaves (a field never
straddles a 64-bit word) are explicit ``_gapN`` members; an extension field the
configuration leaves out (0 bits wide) is no member at all.
"""

from __future__ import annotations

from collections.abc import Iterable

from amaranth.hdl import signed, unsigned
from amaranth.lib import data

from ..config import VTAConfig
from ..isa import HEADER_FIELDS, Field, Opcode, layout_for

__all__ = ["insn_layouts", "header_layout", "memory_layout", "uop_layout"]


def _struct(fields: Iterable[Field], total: int) -> data.StructLayout:
    """A ``lib.data`` layout of ``fields`` over ``total`` bits, gaps made explicit."""
    members: dict[str, object] = {}
    pos = 0
    gap = 0
    for f in sorted((f for f in fields if f.width), key=lambda f: f.lsb):
        if f.lsb > pos:
            members[f"_gap{gap}"] = unsigned(f.lsb - pos)
            gap += 1
        members[f.name] = signed(f.width) if f.signed else unsigned(f.width)
        pos = f.lsb + f.width
    if total > pos:
        members[f"_gap{gap}"] = unsigned(total - pos)
    return data.StructLayout(members)


def insn_layouts(config: VTAConfig) -> dict[Opcode, data.StructLayout]:
    """``lib.data`` layouts of each instruction format (bit-exact with :mod:`vta.hw.isa`)."""
    layout = layout_for(config)
    return {op: _struct(fields, layout.insn_width) for op, fields in layout.formats.items()}


def header_layout(config: VTAConfig) -> data.StructLayout:
    """The fields every format starts with: ``opcode`` and the four dependency flags."""
    layout = layout_for(config)
    fields = layout.formats[Opcode.LOAD][:len(HEADER_FIELDS)]
    assert all(f[:len(HEADER_FIELDS)] == fields for f in layout.formats.values())
    return _struct(fields, layout.insn_width)


def memory_layout(config: VTAConfig) -> data.StructLayout:
    """The LOAD/STORE format (``memory_type``, addresses, sizes, pads)."""
    return insn_layouts(config)[Opcode.LOAD]


def uop_layout(config: VTAConfig) -> data.StructLayout:
    """``lib.data`` layout of a micro-op."""
    layout = layout_for(config)
    return _struct(layout.uop, layout.uop_width)
