"""Fast instruction encoding for the command queue: rows of integers -> instruction bytes.

The command queue keeps each instruction as a mutable *row*: a list of 17 integers,
``[opcode, pop_prev, pop_next, push_prev, push_next, f0, f1, ...]`` where ``f0...`` are the
remaining fields of the opcode's format in :func:`vta.hw.isa.layout_for` order (unused
trailing columns are 0).  :class:`RowEncoder` packs thousands of rows at once with numpy
(bit-identical to :func:`vta.hw.isa.encode`, which the tests check) and converts rows to
:mod:`vta.hw.isa` instruction objects for dumps.
"""

from __future__ import annotations

import numpy as np
from vta.hw import isa
from vta.hw.config import VTAConfig

from .errors import CommandError

__all__ = ["ROW_WIDTH", "RowEncoder", "MEM", "GEMM", "ALU"]

ROW_WIDTH = 17


class MEM:
    """Row columns of LOAD/STORE."""

    MEMORY_TYPE, SRAM_BASE, DRAM_BASE, Y_SIZE, X_SIZE, X_STRIDE = 5, 6, 7, 8, 9, 10
    Y_PAD_0, Y_PAD_1, X_PAD_0, X_PAD_1 = 11, 12, 13, 14


class GEMM:
    """Row columns of GEMM and FINISH."""

    RESET, UOP_BGN, UOP_END, ITER_OUT, ITER_IN = 5, 6, 7, 8, 9
    DST_OUT, DST_IN, SRC_OUT, SRC_IN, WGT_OUT, WGT_IN = 10, 11, 12, 13, 14, 15


class ALU:
    """Row columns of ALU."""

    RESET, UOP_BGN, UOP_END, ITER_OUT, ITER_IN = 5, 6, 7, 8, 9
    DST_OUT, DST_IN, SRC_OUT, SRC_IN, OPCODE, USE_IMM, IMM = 10, 11, 12, 13, 14, 15, 16


class RowEncoder:
    """Encodes instruction rows for one configuration.

    Parameters
    ----------
    config:
        The hardware configuration (fixes the bit layout).
    """

    def __init__(self, config: VTAConfig) -> None:
        self.config = config
        layout = isa.layout_for(config)
        self.words = config.insn_bytes // 8
        self.formats = {op: layout.formats[op] for op in isa.Opcode}
        self._classes = {isa.Opcode.LOAD: isa.Load, isa.Opcode.STORE: isa.Store,
                         isa.Opcode.GEMM: isa.Gemm, isa.Opcode.FINISH: isa.Finish,
                         isa.Opcode.ALU: isa.Alu}

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

    def to_insn(self, row: list[int]) -> isa.Instruction:
        """The :mod:`vta.hw.isa` object of one row."""
        op = isa.Opcode(row[0])
        fmt = self.formats[op]
        return self._classes[op](**{f.name: int(row[i]) for i, f in enumerate(fmt) if i})
