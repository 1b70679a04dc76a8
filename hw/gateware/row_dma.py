"""The DRAM side of a 2-D DMA, shared by the load engines and the store module.

A LOAD or STORE moves ``y_size`` rows of ``x_size`` elements; row ``r`` starts at DRAM
element ``dram_base + r * x_stride``.  Elements are ``elem_bytes`` bytes, a power of two,
smaller than a bus beat (several per beat) or a whole number of beats.

* :class:`RowRequests` issues one DMA request per row: the bus-aligned address of the
  row's first beat and the number of beats the row touches.
* :class:`LaneWalk` follows the rows element by element when elements are smaller than a
  beat: which lane of the current beat holds the element, and whether it ends its row.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal, Value

__all__ = ["log2", "RowRequests", "LaneWalk"]


def log2(n: int) -> int:
    """log2 of a power of two."""
    return n.bit_length() - 1


class RowRequests:
    """The request issuer: requests rows as far ahead as the DMA accepts them.

    Parameters
    ----------
    m:
        The module the logic goes into.
    req:
        The DMA client's ``req`` stream (``addr``, ``beats``).
    elem_bytes, bus_bytes:
        Element and beat sizes (powers of two).
    x_size, x_stride:
        The transfer's row length and pitch in elements (stable while it runs).

    Members
    -------
    row, left:
        DRAM element address of the next row to request; rows still to request.
    """

    def __init__(self, m: Module, req, *, elem_bytes: int, bus_bytes: int, x_size: Value,
                 x_stride: Value) -> None:
        E, B = elem_bytes, bus_bytes
        self.row = Signal(48, name="req_row")
        self.left = Signal(16, name="req_left")
        m.d.comb += req.valid.eq(self.left != 0)
        if E < B:
            n = B // E                    # elements per beat
            first = self.row[:log2(n)]
            m.d.comb += [
                req.payload.addr.eq((self.row >> log2(n)) << log2(B)),
                req.payload.beats.eq((first + x_size + (n - 1)) >> log2(n)),
            ]
        else:
            m.d.comb += [
                req.payload.addr.eq(self.row << log2(E)),
                req.payload.beats.eq(x_size << log2(E // B)),     # beats per element
            ]
        with m.If(req.valid & req.ready):
            m.d.sync += [self.row.eq(self.row + x_stride), self.left.eq(self.left - 1)]

    def start(self, dram_base: Value, rows: Value) -> list:
        """Sync statements beginning a transfer of ``rows`` rows at ``dram_base``."""
        return [self.row.eq(dram_base), self.left.eq(rows)]


class LaneWalk:
    """The lane of the current element in its beat, for elements smaller than a beat.

    Members
    -------
    slot:
        Lane of the current element.
    row_end:
        The current element is the last of its row (its beat ends there).
    """

    def __init__(self, *, elem_bytes: int, bus_bytes: int, name: str) -> None:
        self.lanes = bus_bytes // elem_bytes
        self.slot = Signal(range(self.lanes), name=f"{name}_slot")
        self._left = Signal(16, name=f"{name}_left")   # elements of the row still to go
        self._row = Signal(48, name=f"{name}_row")     # DRAM element address of the row
        self.row_end = self._left == 1

    @property
    def beat_end(self) -> Value:
        """The current element is the last one taken from (or put into) its beat."""
        return (self.slot == self.lanes - 1) | self.row_end

    def start(self, dram_base: Value, x_size: Value) -> list:
        """Sync statements beginning a transfer at ``dram_base``."""
        return [self._row.eq(dram_base), self.slot.eq(dram_base[:log2(self.lanes)]),
                self._left.eq(x_size)]

    def step(self, m: Module, x_size: Value, x_stride: Value) -> None:
        """Move to the next element (call inside the condition that consumes one)."""
        with m.If(self.row_end):
            next_row = self._row + x_stride
            m.d.sync += [self._row.eq(next_row), self.slot.eq(next_row[:log2(self.lanes)]),
                         self._left.eq(x_size)]
        with m.Else():
            m.d.sync += [self.slot.eq(self.slot + 1), self._left.eq(self._left - 1)]
