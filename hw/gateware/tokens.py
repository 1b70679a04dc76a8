"""Dependency-token channels between load, compute and store.

A channel is a counter: the producer pulses ``push`` once per token, the consumer sees
``valid`` while the count is non-zero and pulses ``pop`` to take one.  A push and a pop in
the same cycle leave the count unchanged, so a token can be produced and consumed
back-to-back without a bubble.  Tokens carry no data (SPEC section 5).

The channels, their producers, consumers and flags are :data:`vta.hw.pipeline.CHANNELS`
(``l2c``, ``c2l``, ``c2s``, ``s2c``); :mod:`.stage` is the modules' side of them.
"""

from __future__ import annotations

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..errors import ConfigError
from .interfaces import TokenInSignature, TokenOutSignature

__all__ = ["TokenChannel"]


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
