"""The AXI4-Lite control slave: register file, run control, counters and interrupt.

The decode logic is generated from :data:`vta.hw.regmap.REGISTERS`, so the gateware, the
drivers and the manifest read one table.  Behaviour (SPEC section 7, HLS ``ap_ctrl_hs``):

- writing 1 to CTRL bit 0 while idle starts a run: it pulses ``start``, clears every
  counter and CTRL.done; CTRL bit 0 reads 1 while the run is in progress;
- writing 1 to CTRL bit 3 during a run pulses ``abort_req`` (the run guard stops it);
- the run ends when the run guard says so (``end``: FINISH executed and everything
  quiet, or stopped after an error); then CTRL.done reads 1 until the next start,
  CTRL.idle reads 1, and ISR bit 0 is set if IER bit 0 is set;
- the error registers (:data:`vta.hw.regmap.REPORTS`) read the guard's ``report``;
- ISR is write-1-to-clear; ``interrupt = GIE & |(ISR & IER)``;
- the counters of :data:`vta.hw.regmap.COUNTERS` add their ``incr`` inputs every cycle of
  a run; CYCLES counts the cycles of a run (64 bits);
- writes to read-only registers and addresses outside the map are ignored and answered
  OKAY; reads outside the map return 0.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Signal, unsigned
from amaranth.lib import data
from amaranth.lib.wiring import In, Out

from ..config import VTAConfig
from ..ports import CONTROL_ADDR_WIDTH, CONTROL_DATA_WIDTH, control_signals
from ..regmap import (
    BY_NAME,
    COUNTERS,
    CTRL_ABORT,
    CTRL_DONE,
    CTRL_IDLE,
    CTRL_START,
    REGISTERS,
    REPORTS,
)
from .component import ConfiguredComponent
from .interfaces import bus_signature
from .run_guard import REPORT_LAYOUT

__all__ = ["ControlRegisters", "COUNTER_INCR_WIDTHS"]

# How much each counter can grow in one cycle (bits of its ``incr`` input).
COUNTER_INCR_WIDTHS: dict[str, int] = {
    "FETCH_BUSY": 1, "LOAD_BUSY": 1, "COMPUTE_BUSY": 1, "STORE_BUSY": 1,
    "LOAD_STALL": 1, "COMPUTE_STALL": 1, "STORE_STALL": 1,
    "DMA_RD_BYTES": 8, "DMA_WR_BYTES": 8, "GEMM_UOPS": 1, "ALU_UOPS": 1, "INSN_DONE": 2,
}
assert set(COUNTER_INCR_WIDTHS) == set(COUNTERS)


class ControlRegisters(ConfiguredComponent):
    """AXI4-Lite register file of the accelerator.

    Parameters
    ----------
    config:
        The accelerator configuration (kept for the manifest; the map is fixed).

    Members
    -------
    axi: ``In(bus_signature(control_signals()))``
        The control slave port (:func:`vta.hw.ports.control_signals`, 32-bit data).
    start: ``Out(1)``
        One-cycle pulse when a run starts.
    running: ``Out(1)``
        High from start until done.
    insn_count: ``Out(32)``, insn_addr: ``Out(64)``
        The INSN_COUNT and INSN_ADDR registers.
    end: ``In(1)``
        Pulse: the run ends (from the run guard).
    abort_req: ``Out(1)``
        Pulse: the host wrote CTRL bit 3 during a run.
    report: ``In(REPORT_LAYOUT)``
        The run guard's registers.
    incr: ``In(StructLayout)``
        Per-counter increments, one field per name of :data:`COUNTERS`.
    status: ``In(32)``
        The live STATUS value (see :data:`vta.hw.regmap.STATUS_BITS`).
    interrupt: ``Out(1)``
        ``GIE & |(ISR & IER)``.
    """

    def _ports(self, config: VTAConfig) -> dict:
        incr_layout = data.StructLayout(
            {name: unsigned(w) for name, w in COUNTER_INCR_WIDTHS.items()})
        return {
            "axi": In(bus_signature(control_signals())),
            "start": Out(1),
            "running": Out(1),
            "insn_count": Out(32),
            "insn_addr": Out(64),
            "end": In(1),
            "abort_req": Out(1),
            "report": In(REPORT_LAYOUT),
            "incr": In(incr_layout),
            "status": In(32),
            "interrupt": Out(1),
        }

    def elaborate(self, platform) -> Module:
        m = Module()
        axi = self.axi

        done = Signal()
        gie = Signal()
        ier = Signal()
        isr = Signal()
        addr_lo = Signal(32)
        addr_hi = Signal(32)
        cycles = Signal(64)
        counters = {name: Signal(32, name=f"cnt_{name.lower()}") for name in COUNTERS}
        m.d.comb += [
            self.insn_addr.eq(Cat(addr_lo, addr_hi)),
            self.interrupt.eq(gie & isr & ier),
        ]

        # -- write channel: hold AW and W independently, answer B once both arrived.
        aw_held = Signal()
        aw_addr = Signal(CONTROL_ADDR_WIDTH)
        w_held = Signal()
        w_data = Signal(CONTROL_DATA_WIDTH)
        w_strb = Signal(CONTROL_DATA_WIDTH // 8)
        m.d.comb += [axi.AWREADY.eq(~aw_held), axi.WREADY.eq(~w_held), axi.BRESP.eq(0)]
        with m.If(axi.AWVALID & ~aw_held):
            m.d.sync += [aw_held.eq(1), aw_addr.eq(axi.AWADDR)]
        with m.If(axi.WVALID & ~w_held):
            m.d.sync += [w_held.eq(1), w_data.eq(axi.WDATA), w_strb.eq(axi.WSTRB)]
        with m.If(axi.BVALID & axi.BREADY):
            m.d.sync += axi.BVALID.eq(0)
        do_write = Signal()
        m.d.comb += do_write.eq(aw_held & w_held & (~axi.BVALID | axi.BREADY))
        with m.If(do_write):
            m.d.sync += [aw_held.eq(0), w_held.eq(0), axi.BVALID.eq(1)]

        wmask = Cat(*(w_strb[i].replicate(8) for i in range(4)))

        def masked(reg: Signal) -> object:
            return (reg & ~wmask) | (w_data & wmask)

        def write_to(name: str) -> object:
            return do_write & (aw_addr[2:] == BY_NAME[name].offset >> 2)

        start_req = Signal()
        m.d.comb += [
            start_req.eq(write_to("CTRL") & w_strb[0] & w_data[0] & ~self.running),
            self.abort_req.eq(write_to("CTRL") & w_strb[0] & (w_data & CTRL_ABORT).any()
                              & self.running),
        ]
        with m.If(write_to("GIE")):
            m.d.sync += gie.eq(masked(gie)[0])
        with m.If(write_to("IER")):
            m.d.sync += ier.eq(masked(ier)[0])
        with m.If(write_to("INSN_COUNT")):
            m.d.sync += self.insn_count.eq(masked(self.insn_count))
        with m.If(write_to("INSN_ADDR_LO")):
            m.d.sync += addr_lo.eq(masked(addr_lo))
        with m.If(write_to("INSN_ADDR_HI")):
            m.d.sync += addr_hi.eq(masked(addr_hi))

        # -- run control and counters.
        finishing = Signal()
        m.d.comb += [
            self.start.eq(start_req),
            finishing.eq(self.running & self.end),
        ]
        with m.If(start_req):
            m.d.sync += [self.running.eq(1), done.eq(0), cycles.eq(0)]
            m.d.sync += [c.eq(0) for c in counters.values()]
        with m.Elif(self.running):
            m.d.sync += cycles.eq(cycles + 1)
            for name, c in counters.items():
                m.d.sync += c.eq(c + getattr(self.incr, name))
            with m.If(finishing):
                m.d.sync += [self.running.eq(0), done.eq(1)]
        # ISR: set on done (if enabled), write 1 to clear; a set wins over a clear.
        with m.If(finishing & ier):
            m.d.sync += isr.eq(1)
        with m.Elif(write_to("ISR") & w_strb[0] & w_data[0]):
            m.d.sync += isr.eq(0)

        # -- read channel: one outstanding read, data registered.
        values: dict[str, object] = {
            "CTRL": Cat(self.running, done, ~self.running),
            "GIE": gie, "IER": ier, "ISR": isr,
            "INSN_COUNT": self.insn_count, "INSN_ADDR_LO": addr_lo, "INSN_ADDR_HI": addr_hi,
            "CYCLES_LO": cycles[:32], "CYCLES_HI": cycles[32:],
            "STATUS": self.status,
            **counters,
            **{name: getattr(self.report, name) for name in REPORTS},
        }
        assert set(values) == {r.name for r in REGISTERS}
        assert (CTRL_START, CTRL_DONE, CTRL_IDLE) == (1, 2, 4)
        m.d.comb += [axi.ARREADY.eq(~axi.RVALID | axi.RREADY), axi.RRESP.eq(0)]
        with m.If(axi.RVALID & axi.RREADY):
            m.d.sync += axi.RVALID.eq(0)
        with m.If(axi.ARVALID & axi.ARREADY):
            m.d.sync += axi.RVALID.eq(1)
            with m.Switch(axi.ARADDR[2:]):
                for reg in REGISTERS:
                    with m.Case(reg.offset >> 2):
                        m.d.sync += axi.RDATA.eq(values[reg.name])
                with m.Default():
                    m.d.sync += axi.RDATA.eq(0)
        return m
