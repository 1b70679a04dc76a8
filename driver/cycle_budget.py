"""How many cycles a program may take on the simulated hardware before it counts as hung.

:func:`cycle_budget` bounds a run from its instruction words alone, generously: every
instruction pays its own worst case as if nothing overlapped --

* a LOAD or STORE: the DRAM latency and a few cycles per row requested, one cycle per bus
  beat moved and per SRAM element written (pads included);
* a GEMM or ALU: one cycle per uop executed (two for a tensor ALU uop when
  ``ALU_TENSOR_II`` is 2) plus the pipeline's fill;
* every instruction: a fixed overhead for fetch and the token hand-over --

then doubles the sum and adds a constant for the register traffic.  A valid program
finishes well inside it (the modules overlap, bursts stream); a program that runs longer
is stuck in a way the hardware could not see (its deadlock detection covers the rest).
"""

from __future__ import annotations

import numpy as np
from vta.hw import isa
from vta.hw.config import VTAConfig
from vta.hw.isa import Opcode

__all__ = ["cycle_budget", "PER_INSN_CYCLES", "BASE_CYCLES"]

PER_INSN_CYCLES = 64
BASE_CYCLES = 100_000


def cycle_budget(code: bytes, config: VTAConfig) -> int:
    """The cycle limit of the program ``code`` (encoded instructions) on ``config``."""
    n = config.insn_bytes
    if not code:
        return BASE_CYCLES
    words = np.frombuffer(bytes(code[:len(code) // n * n]), dtype="<u8").reshape(-1, n // 8)
    layout = isa.layout_for(config)

    def field(op: Opcode, name: str) -> np.ndarray:
        f = layout.field(op, name)
        return ((words[:, f.lsb // 64] >> np.uint64(f.lsb % 64))
                & np.uint64((1 << f.width) - 1)).astype(np.int64)

    opcode = field(Opcode.LOAD, "opcode")
    mem = (opcode == Opcode.LOAD) | (opcode == Opcode.STORE)
    y, x = field(Opcode.LOAD, "y_size"), field(Opcode.LOAD, "x_size")
    rows = field(Opcode.LOAD, "y_pad_0") + y + field(Opcode.LOAD, "y_pad_1")
    cols = field(Opcode.LOAD, "x_pad_0") + x + field(Opcode.LOAD, "x_pad_1")
    elem = max(config.elem_bytes(t) for t in isa.MemType)
    beats = y * (x * elem // config.bus_bytes + 2)
    dma = y * (config.DRAM_LATENCY + 8) + beats + rows * cols
    loop = (opcode == Opcode.GEMM) | (opcode == Opcode.ALU)
    uops = field(Opcode.GEMM, "iter_out") * field(Opcode.GEMM, "iter_in") * np.maximum(
        field(Opcode.GEMM, "uop_end") - field(Opcode.GEMM, "uop_bgn"), 0)
    slow = (opcode == Opcode.ALU) & (field(Opcode.ALU, "use_imm") == 0) & \
        (config.ALU_TENSOR_II == 2)
    compute = uops * np.where(slow, 2, 1) + 8
    per_insn = PER_INSN_CYCLES + np.where(mem, dma, 0) + np.where(loop, compute, 0)
    return int(2 * per_insn.sum() + BASE_CYCLES)
