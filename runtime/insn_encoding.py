"""Fast instruction encoding for the command queue: rows of integers -> instruction bytes.

The command queue keeps each instruction as a mutable *row* (:mod:`vta.hw.insn_stream`:
the values of the opcode's format fields in :func:`vta.hw.isa.layout_for` order).
:class:`RowEncoder` packs thousands of rows at once with numpy, bit-identical to
:func:`vta.hw.isa.encode` (which the tests check).
"""

from __future__ import annotations

import numpy as np
from vta.hw import isa
from vta.hw.config import VTAConfig

from .errors import CommandError

__all__ = ["RowEncoder"]


class RowEncoder:
    """Encodes instruction rows for one configuration.

    Parameters
    ----------
    config:
        The hardware configuration (fixes the bit layout).
    """

    def __init__(self, config: VTAConfig) -> None:
        self.config = config
        self.words = config.insn_bytes // 8
        self.formats = isa.layout_for(config).formats

    def encode(self, rows: list[list[int]]) -> bytes:
        """Little-endian instruction bytes for ``rows``.

        Raises :class:`CommandError` naming the instruction index and field when a value
        does not fit its field.
        """
        if not rows:
            return b""
        arr = np.array(rows, dtype=np.int64)
        out = np.zeros((len(rows), self.words), dtype=np.uint64)
        ops = arr[:, 0]
        known = np.zeros(len(rows), dtype=bool)
        for op, fmt in self.formats.items():
            sel = np.flatnonzero(ops == int(op))
            if not sel.size:
                continue
            known[sel] = True
            sub = arr[sel]
            words = np.zeros((sel.size, self.words), dtype=np.uint64)
            for col, f in enumerate(fmt):
                values = sub[:, col]
                bad = (values < f.lo) | (values > f.hi)
                if bad.any():
                    j = int(np.argmax(bad))
                    raise CommandError(f"instruction {int(sel[j])} ({op.name}): field {f.name}="
                                       f"{int(values[j])} out of range [{f.lo}, {f.hi}]")
                bits = (values & ((1 << f.width) - 1)).astype(np.uint64)
                words[:, f.lsb // 64] |= bits << np.uint64(f.lsb % 64)
            out[sel] = words
        if not known.all():
            j = int(np.argmin(known))
            raise CommandError(f"instruction {j}: unknown opcode {int(ops[j])}")
        return out.astype("<u8").tobytes()
