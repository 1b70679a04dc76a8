"""The runtime's error: a command-queue call with bad arguments or in a bad state."""

from __future__ import annotations

from vta.hw.errors import VTAError

__all__ = ["CommandError"]


class CommandError(VTAError):
    """A runtime call cannot be honoured: out-of-range SRAM index, oversized micro-kernel,
    unbalanced dependency tokens, a kernel recorded wrongly.  The message names the call,
    the value and what was expected."""
