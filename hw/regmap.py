"""The accelerator's AXI4-Lite register map, as data.

The gateware's register file, the driver backends, the hardware manifest and the docs all
read this one table instead of repeating offsets.  Registers are 32 bits wide.

CTRL follows HLS ``ap_ctrl_hs``: write 1 to bit 0 to start; bit 1 (done) reads 1 from the
end of a run until the next start; bit 2 (idle) reads 1 while not running.  Starting a run
clears every counter.  ISR bit 0 is set on done when IER bit 0 is set; write 1 to clear.
The ``interrupt`` output is ``GIE & (ISR & IER) != 0``.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Register", "REGISTERS", "BY_NAME", "COUNTERS", "STATUS_BITS", "CTRL_START",
           "CTRL_DONE", "CTRL_IDLE", "REGMAP_BYTES", "describe_status"]


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

REGISTERS: tuple[Register, ...] = (
    Register("CTRL", 0x00, "rw", "bit0 start (write 1), bit1 done, bit2 idle"),
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
}

REGMAP_BYTES = 0x100   # the address window the control port decodes


def describe_status(status: int) -> str:
    """Turn a STATUS register value into words, e.g. for a timeout message."""
    words = [text for bit, text in STATUS_BITS.items() if status >> bit & 1]
    return ", ".join(words) if words else "all modules idle"
