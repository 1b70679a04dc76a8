"""What the load, compute and store modules share: their stage ports and token flags.

Each module runs one stage's in-order queue (:mod:`vta.hw.pipeline`).  Its ports start
with :func:`stage_members` (the queue, its DMA client and one port per token channel it
touches, named after the channel) and end with :func:`status_members` (``busy``, a
``wait_prev``/``wait_next`` per channel it pops, ``insn_done``).  :class:`TokenFlags` turns
the flags of the instruction at the head of the queue into waits, pops and pushes.
"""

from __future__ import annotations

import functools
import operator

from amaranth.hdl import Signal, Value
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..config import VTAConfig
from ..pipeline import Stage, channels_popped, channels_pushed
from .interfaces import TokenInSignature, TokenOutSignature

__all__ = ["stage_members", "status_members", "TokenFlags"]


def _wait_port(pop_flag: str) -> str:
    return "wait_" + pop_flag.removeprefix("pop_")


def stage_members(config: VTAConfig, stage: Stage, dma: wiring.Member) -> dict:
    """``insn``: ``In(stream.Signature(insn_width))``, the stage's queue; ``dma``, the
    module's DMA client; then ``Out(TokenInSignature())`` for every channel the stage
    pops and ``Out(TokenOutSignature())`` for every channel it pushes."""
    return {"insn": In(stream.Signature(config.insn_width)), "dma": dma,
            **{ch.name: Out(TokenInSignature()) for ch in channels_popped(stage)},
            **{ch.name: Out(TokenOutSignature()) for ch in channels_pushed(stage)}}


def status_members(stage: Stage) -> dict:
    """``busy`` (an instruction waits for its tokens or executes), ``wait_prev`` /
    ``wait_next`` (the head instruction waits for the token of that pop flag) and
    ``insn_done`` (pulses once per completed instruction), all ``Out(1)``."""
    return {"busy": Out(1), **{_wait_port(ch.pop_flag): Out(1) for ch in channels_popped(stage)},
            "insn_done": Out(1)}


class TokenFlags:
    """The dependency flags of the instruction at the head of a stage's queue.

    ``module`` has the ports of :func:`stage_members` and :func:`status_members` for
    ``stage``; ``header`` is the instruction word viewed through
    :func:`~.formats.header_layout`.  Pushes are latched when the instruction is accepted
    (:meth:`latch`) and pulsed when it completes (:meth:`push`).
    """

    def __init__(self, module: wiring.Component, stage: Stage, header) -> None:
        self._pops = [(getattr(module, ch.name), getattr(header, ch.pop_flag))
                      for ch in channels_popped(stage)]
        self._pushes = [(getattr(module, ch.name), getattr(header, ch.push_flag),
                         Signal(name=f"cur_{ch.push_flag}")) for ch in channels_pushed(stage)]
        self._waits = [(getattr(module, _wait_port(ch.pop_flag)), getattr(module, ch.name),
                        getattr(header, ch.pop_flag)) for ch in channels_popped(stage)]

    def ready(self) -> Value:
        """Every token the instruction pops is there."""
        return functools.reduce(operator.and_, (~flag | port.valid for port, flag in self._pops))

    def waits(self, valid: Value) -> list:
        """Comb statements raising ``wait_prev`` / ``wait_next`` while a ``valid``
        instruction waits for the token of that flag."""
        return [wait.eq(valid & flag & ~port.valid) for wait, port, flag in self._waits]

    def pop(self) -> list:
        """Comb statements taking the popped tokens (on accepting the instruction)."""
        return [port.pop.eq(flag) for port, flag in self._pops]

    def latch(self) -> list:
        """Sync statements remembering the instruction's pushes (on accepting it)."""
        return [cur.eq(flag) for _, flag, cur in self._pushes]

    def latched(self) -> list[Signal]:
        """The remembered push flags, one per pushed channel in
        :func:`~vta.hw.pipeline.channels_pushed` order."""
        return [cur for _, _, cur in self._pushes]

    def pushes_any(self) -> Value:
        """The accepted instruction pushes at least one token."""
        return functools.reduce(operator.or_, (cur for _, _, cur in self._pushes))

    def push(self) -> list:
        """Comb statements pushing the accepted instruction's tokens (on completing it)."""
        return [port.push.eq(cur) for port, _, cur in self._pushes]
