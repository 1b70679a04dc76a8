"""Signatures shared between the accelerator's modules.

These are the contracts between fetch, load, compute, store, the AXI master and the top
level; every width derives from :class:`~vta.hw.VTAConfig`.  Directions are given from the
point of view of the module that *initiates* (a DMA client, an SRAM reader, a token
producer); the other side uses ``.flip()``.

DMA (``DmaReadSignature``, ``DmaWriteSignature``)
    A client asks for ``beats`` bus beats starting at the bus-aligned byte address
    ``addr`` (``addr % bus_bytes == 0``; ``1 <= beats <= 65535``).  The AXI master splits a
    request into legal bursts (profile burst length, no 4 KiB crossing) and returns read
    data in order, exactly ``beats`` beats per request with ``last`` set on the final beat
    of the request.  Requests of one client are served in order; a client may issue its
    next request before the previous one's data has all arrived.  For writes the client
    sends exactly ``beats`` data beats per request (``strb`` byte enables) and sees one
    ``done`` pulse per request once every write response of that request has arrived.
    Clients extract sub-beat elements (e.g. 4-byte uops on a 64-bit bus) themselves.

SRAM read ports (``SramReadSignature``)
    Synchronous, non-transparent: the reader drives ``addr`` with ``en`` high in cycle t
    and samples ``data`` in cycle t+1.  The buffer's owner implements the memory.

Tokens (``TokenOutSignature``, ``TokenInSignature``)
    A producer pulses ``push`` for one cycle per token.  A consumer sees ``valid`` while
    its channel holds at least one token and pulses ``pop`` for one cycle (only while
    ``valid``) to consume one.  Channels are counters in the top level.

Instructions
    Each module receives its in-order queue as ``stream.Signature(insn_width)`` (raw
    instruction bits, decoded with the layouts of :mod:`.formats`).
"""

from __future__ import annotations

from amaranth.hdl import unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..config import VTAConfig
from ..ports import MEMORY_ADDR_WIDTH

__all__ = ["DmaReadSignature", "DmaWriteSignature", "SramReadSignature",
           "SramWriteSignature", "TokenOutSignature", "TokenInSignature", "bus_signature",
           "ADDR_WIDTH", "BEATS_WIDTH"]

ADDR_WIDTH = MEMORY_ADDR_WIDTH     # DMA requests carry AXI addresses
BEATS_WIDTH = 16


def bus_signature(signals: dict[str, tuple[str, int]]) -> wiring.Signature:
    """The master's view of a bus from a signal table (``name -> (direction, width)``,
    directions ``"out"``/``"in"`` from the master, as :mod:`vta.hw.ports` gives them)."""
    return wiring.Signature({name: (Out(w) if d == "out" else In(w))
                             for name, (d, w) in signals.items()})


def DmaReadSignature(config: VTAConfig) -> wiring.Signature:  # noqa: N802 - a type factory
    """A DMA read client (client's view): ``req`` out, ``resp`` in."""
    return wiring.Signature({
        "req": Out(stream.Signature(data.StructLayout({
            "addr": unsigned(ADDR_WIDTH), "beats": unsigned(BEATS_WIDTH)}))),
        "resp": In(stream.Signature(data.StructLayout({
            "data": unsigned(config.BUS_WIDTH), "last": unsigned(1)}))),
    })


def DmaWriteSignature(config: VTAConfig) -> wiring.Signature:  # noqa: N802
    """A DMA write client (client's view): ``req`` and ``data`` out, ``done`` pulses in."""
    return wiring.Signature({
        "req": Out(stream.Signature(data.StructLayout({
            "addr": unsigned(ADDR_WIDTH), "beats": unsigned(BEATS_WIDTH)}))),
        "data": Out(stream.Signature(data.StructLayout({
            "data": unsigned(config.BUS_WIDTH), "strb": unsigned(config.BUS_WIDTH // 8)}))),
        "done": In(1),
    })


def SramReadSignature(depth: int, width: int) -> wiring.Signature:  # noqa: N802
    """A read port of a ``depth`` x ``width`` SRAM (reader's view), one-cycle latency."""
    return wiring.Signature({
        "addr": Out(range(depth)),
        "en": Out(1),
        "data": In(width),
    })


def SramWriteSignature(depth: int, width: int) -> wiring.Signature:  # noqa: N802
    """A write port of a ``depth`` x ``width`` SRAM (writer's view)."""
    return wiring.Signature({
        "addr": Out(range(depth)),
        "en": Out(1),
        "data": Out(width),
    })


def TokenOutSignature() -> wiring.Signature:  # noqa: N802
    """A token producer: pulse ``push`` once per token."""
    return wiring.Signature({"push": Out(1)})


def TokenInSignature() -> wiring.Signature:  # noqa: N802
    """A token consumer: ``valid`` while a token waits; pulse ``pop`` to take one."""
    return wiring.Signature({"valid": In(1), "pop": Out(1)})
