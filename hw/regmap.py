"""The accelerator's AXI4-Lite register map, as data.

The gateware's register file, the driver backends, the hardware manifest and the docs all
read this one table instead of repeating offsets.  Registers are 32 bits wide.

CTRL follows HLS ``ap_ctrl_hs``: write 1 to bit 0 to start; bit 1 (done) reads 1 from the
end of a run until the next start; bit 2 (idle) reads 1 while not running.  Starting a run
clears every counter.  ISR bit 0 is set on done when IER bit 0 is set; write 1 to clear.
The ``interrupt`` output is ``GIE & (ISR & IER) != 0``.

Errors (:mod:`vta.hw.program_errors`): the hardware checks every instruction as it is
fetched and watches the run (DRAM error responses, GEMM/ALU indices, deadlock, tokens left
at FINISH).  The first error of a run sets its bit in ERROR and stops the run cleanly: no
new instruction starts, the ones executing finish (a GEMM/ALU loop stops at once), the
queues and token channels are emptied, then CTRL reads done as usual.  Writing 1 to CTRL
bit 3 during a run stops it the same way with ERROR = ``ABORTED``.  ERROR_WHERE and the
``*_TAKEN``/``FETCHED``/``TOKENS_*`` registers (frozen at the first error) let the driver
name the instruction; :func:`decode_where` splits ERROR_WHERE.
"""

from __future__ import annotations

from dataclasses import dataclass

from .pipeline import Stage
from .program_errors import ErrorKind

__all__ = ["Register", "REGISTERS", "BY_NAME", "COUNTERS", "STATUS_BITS", "CTRL_START",
           "CTRL_DONE", "CTRL_IDLE", "CTRL_ABORT", "REGMAP_BYTES", "describe_status",
           "ERROR_BITS", "WHERE_FETCH", "WHERE_SHIFT", "decode_where", "TAKEN_REGISTERS",
           "REPORTS"]


@dataclass(frozen=True)
class Register:
    """One 32-bit register: byte ``offset``, ``access`` ("rw", "ro", "w1c"), description."""

    name: str
    offset: int
    access: str
    doc: str


CTRL_START = 1 << 0
CTRL_DONE = 1 << 1
CTRL_IDLE = 1 << 2
CTRL_ABORT = 1 << 3

REGISTERS: tuple[Register, ...] = (
    Register("CTRL", 0x00, "rw", "bit0 start (write 1), bit1 done, bit2 idle, "
             "bit3 abort (write 1 during a run)"),
    Register("GIE", 0x04, "rw", "bit0 global interrupt enable"),
    Register("IER", 0x08, "rw", "bit0 enable the done interrupt"),
    Register("ISR", 0x0C, "w1c", "bit0 done interrupt pending (write 1 to clear)"),
    Register("INSN_COUNT", 0x10, "rw", "number of instructions to fetch"),
    Register("INSN_ADDR_LO", 0x14, "rw", "byte address of the first instruction, low word"),
    Register("INSN_ADDR_HI", 0x18, "rw", "byte address of the first instruction, high word"),
    Register("CYCLES_LO", 0x20, "ro", "cycles from start to done, low word"),
    Register("CYCLES_HI", 0x24, "ro", "cycles from start to done, high word"),
    Register("FETCH_BUSY", 0x28, "ro", "cycles the fetch module was fetching or routing"),
    Register("LOAD_BUSY", 0x2C, "ro", "cycles the load module executed an instruction"),
    Register("COMPUTE_BUSY", 0x30, "ro", "cycles the compute module executed an instruction"),
    Register("STORE_BUSY", 0x34, "ro", "cycles the store module executed an instruction"),
    Register("LOAD_STALL", 0x38, "ro", "cycles load waited for a compute->load token"),
    Register("COMPUTE_STALL", 0x3C, "ro", "cycles compute waited for a load or store token"),
    Register("STORE_STALL", 0x40, "ro", "cycles store waited for a compute->store token"),
    Register("DMA_RD_BYTES", 0x44, "ro", "bytes read from DRAM (instructions included)"),
    Register("DMA_WR_BYTES", 0x48, "ro", "bytes written to DRAM"),
    Register("GEMM_UOPS", 0x4C, "ro", "GEMM micro-ops executed (reset uops included)"),
    Register("ALU_UOPS", 0x50, "ro", "ALU micro-ops executed"),
    Register("INSN_DONE", 0x54, "ro", "instructions completed by load, compute and store"),
    Register("STATUS", 0x58, "ro", "live state, see STATUS_BITS (for diagnosing hangs)"),
    Register("ERROR", 0x5C, "ro", "first error of the run: bit = ErrorKind (0 none), "
             "see ERROR_BITS"),
    Register("ERROR_WHERE", 0x60, "ro", "where the error was found: bits 31:30 queue "
             "(0 fetch, else the Stage number), bits 29:0 stream index (fetch) or "
             "position in that queue"),
    Register("ERROR_INDEX", 0x64, "ro", "GEMM/ALU index error: the index beyond its buffer"),
    Register("ERROR_UOP", 0x68, "ro", "GEMM/ALU index error: bits 15:0 the uop, bits 17:16 "
             "the operand (IndexOperand)"),
    Register("ERROR_ITER", 0x6C, "ro", "GEMM/ALU index error: bits 15:0 i (outer loop), "
             "bits 31:16 j (inner loop)"),
    Register("TOKENS_LO", 0x70, "ro", "tokens in l2c (15:0) and c2l (31:16), frozen at "
             "an error"),
    Register("TOKENS_HI", 0x74, "ro", "tokens in c2s (15:0) and s2c (31:16), frozen at "
             "an error"),
    Register("FETCHED", 0x78, "ro", "instructions fetch routed to the queues"),
    Register("LOAD_TAKEN", 0x7C, "ro", "instructions the load module took from its queue"),
    Register("COMPUTE_TAKEN", 0x80, "ro", "instructions the compute module took from its "
             "queue"),
    Register("STORE_TAKEN", 0x84, "ro", "instructions the store module took from its queue"),
)

BY_NAME: dict[str, Register] = {r.name: r for r in REGISTERS}

# Counters a run reports, in register order (CYCLES is the 64-bit pair).
COUNTERS: tuple[str, ...] = ("FETCH_BUSY", "LOAD_BUSY", "COMPUTE_BUSY", "STORE_BUSY",
                             "LOAD_STALL", "COMPUTE_STALL", "STORE_STALL", "DMA_RD_BYTES",
                             "DMA_WR_BYTES", "GEMM_UOPS", "ALU_UOPS", "INSN_DONE")

# STATUS register bits: which module is busy, and which token each waits on.
STATUS_BITS: dict[int, str] = {
    0: "fetch busy",
    1: "load busy",
    2: "compute busy",
    3: "store busy",
    4: "load waiting on a compute->load token",
    5: "compute waiting on a load->compute token",
    6: "compute waiting on a store->compute token",
    7: "store waiting on a compute->store token",
    8: "fetch waiting on a full command queue",
    9: "DMA error response from the memory bus",
    10: "FINISH executed, waiting for the other modules",
    11: "stopping after an error",
}

#: The ERROR register's bits: one per :class:`~vta.hw.program_errors.ErrorKind`.
ERROR_BITS: dict[int, str] = {int(k): k.description for k in ErrorKind}

#: ERROR_WHERE: the queue field's value for fetch, and the field's position.
WHERE_FETCH = 0
WHERE_SHIFT = 30

#: Registers the run guard drives (errors and positions), in register order.
REPORTS: tuple[str, ...] = ("ERROR", "ERROR_WHERE", "ERROR_INDEX", "ERROR_UOP", "ERROR_ITER",
                            "TOKENS_LO", "TOKENS_HI", "FETCHED", "LOAD_TAKEN",
                            "COMPUTE_TAKEN", "STORE_TAKEN")

#: The ``*_TAKEN`` register of each stage's queue.
TAKEN_REGISTERS: dict[Stage, str] = {Stage.LOAD: "LOAD_TAKEN", Stage.COMPUTE: "COMPUTE_TAKEN",
                                     Stage.STORE: "STORE_TAKEN"}

REGMAP_BYTES = 0x100   # the address window the control port decodes


def decode_where(value: int) -> tuple[Stage | None, int]:
    """ERROR_WHERE as ``(stage, position)``: ``(None, stream index)`` for fetch."""
    queue, position = value >> WHERE_SHIFT, value & ((1 << WHERE_SHIFT) - 1)
    return (None if queue == WHERE_FETCH else Stage(queue)), position


def describe_status(status: int) -> str:
    """Turn a STATUS register value into words, e.g. for a timeout message."""
    words = [text for bit, text in STATUS_BITS.items() if status >> bit & 1]
    return ", ".join(words) if words else "all modules idle"
