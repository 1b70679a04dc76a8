"""Dependency-token channels between load, compute and store, and each stage's side of them.

A channel is a counter: the producer pulses ``push`` once per token, the consumer sees
``valid`` while the count is non-zero and pulses ``pop`` to take one.  A push and a pop in
the same cycle leave the count unchanged, so a token can be produced and consumed
back-to-back without a bubble.  Tokens carry no data (SPEC section 5).

The channels, their producers, consumers and flags are :data:`vta.hw.pipeline.CHANNELS`
(``l2c``, ``c2l``, ``c2s``, ``s2c``).  A module of a stage has one port per channel it
touches, named after the channel (:func:`token_members`); :class:`TokenFlags` turns an
instruction's flags into waits, pops and pushes on those ports.
"""

from __future__ import annotations

import functools
import operator

from amaranth.hdl import Module, Signal, Value
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..errors import ConfigError
from ..pipeline import Stage, channels_popped, channels_pushed
from .interfaces import TokenInSignature, TokenOutSignature

__all__ = ["TokenChannel", "TokenFlags", "token_members"]


def token_members(stage: Stage) -> dict[str, wiring.Member]:
    """The token ports of a module of ``stage``: ``Out(TokenInSignature())`` for every
    channel it pops, then ``Out(TokenOutSignature())`` for every channel it pushes."""
    return {**{ch.name: Out(TokenInSignature()) for ch in channels_popped(stage)},
            **{ch.name: Out(TokenOutSignature()) for ch in channels_pushed(stage)}}


class TokenFlags:
    """The dependency flags of the instruction at the head of a stage's queue.

    ``module`` has the ports of :func:`token_members` for ``stage``; ``header`` is the
    instruction word viewed through :func:`~.formats.header_layout`.  Pushes are latched
    when the instruction is accepted (:meth:`latch`) and pulsed when it completes
    (:meth:`push`).
    """

    def __init__(self, module: wiring.Component, stage: Stage, header) -> None:
        self._pops = [(getattr(module, ch.name), getattr(header, ch.pop_flag))
                      for ch in channels_popped(stage)]
        self._pushes = [(getattr(module, ch.name), getattr(header, ch.push_flag),
                         Signal(name=f"cur_{ch.push_flag}")) for ch in channels_pushed(stage)]
        self._by_flag = {ch.pop_flag: i for i, ch in enumerate(channels_popped(stage))}

    def ready(self) -> Value:
        """Every token the instruction pops is there."""
        return functools.reduce(operator.and_, (~flag | port.valid for port, flag in self._pops))

    def waiting(self, valid: Value, pop_flag: str) -> Value:
        """A ``valid`` instruction waits for the token its ``pop_flag`` asks for."""
        port, flag = self._pops[self._by_flag[pop_flag]]
        return valid & flag & ~port.valid

    def pop(self) -> list:
        """Comb statements taking the popped tokens (on accepting the instruction)."""
        return [port.pop.eq(flag) for port, flag in self._pops]

    def latch(self) -> list:
        """Sync statements remembering the instruction's pushes (on accepting it)."""
        return [cur.eq(flag) for _, flag, cur in self._pushes]

    def pushes_any(self) -> Value:
        """The accepted instruction pushes at least one token."""
        return functools.reduce(operator.or_, (cur for _, _, cur in self._pushes))

    def push(self) -> list:
        """Comb statements pushing the accepted instruction's tokens (on completing it)."""
        return [port.push.eq(cur) for port, _, cur in self._pushes]


class TokenChannel(wiring.Component):
    """One token channel (a saturating-free up/down counter).

    Parameters
    ----------
    count_width:
        Width of the token counter; a program can hold at most ``2**count_width - 1``
        tokens in one channel (the hardware command queues bound the real number).

    Members
    -------
    producer: ``In(TokenOutSignature())``
        ``push`` pulses from the producing module.
    consumer: ``In(TokenInSignature())``
        ``valid`` to, ``pop`` pulses from the consuming module.
    count: ``Out(count_width)``
        Tokens currently held (for STATUS and debugging).
    overflow: ``Out(1)``
        Sticky: a push arrived while the counter was full (a program error).
    clear: ``In(1)``
        Empty the channel and clear ``overflow`` (the top level pulses it at each start,
        so tokens a faulty program left behind never leak into the next run).

    Raises
    ------
    ConfigError
        ``count_width`` is not in [1, 32].
    """

    def __init__(self, count_width: int = 16) -> None:
        if not isinstance(count_width, int) or not 1 <= count_width <= 32:
            raise ConfigError(f"token counter width must be in [1, 32], not {count_width!r}")
        self._count_width = count_width
        super().__init__({
            "producer": In(TokenOutSignature()),
            "consumer": In(TokenInSignature()),
            "count": Out(count_width),
            "overflow": Out(1),
            "clear": In(1),
        })

    @property
    def count_width(self) -> int:
        return self._count_width

    def elaborate(self, platform) -> Module:
        m = Module()
        full = self.count == (1 << self._count_width) - 1
        push = self.producer.push
        pop = self.consumer.pop & (self.count != 0)
        m.d.comb += self.consumer.valid.eq(self.count != 0)
        with m.If(self.clear):
            m.d.sync += [self.count.eq(0), self.overflow.eq(0)]
        with m.Elif(push & ~pop):
            with m.If(full):
                m.d.sync += self.overflow.eq(1)
            with m.Else():
                m.d.sync += self.count.eq(self.count + 1)
        with m.Elif(pop & ~push):
            m.d.sync += self.count.eq(self.count - 1)
        return m
