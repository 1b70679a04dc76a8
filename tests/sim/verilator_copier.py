"""A small real design with ``vta_top``'s port names, to test the Verilator harness alone.

``Copier`` is an AXI master "DMA copier": over AXI4-Lite the host writes a beat count, a
source and a destination address, then starts it (CTRL bit 0); it copies ``count`` bus beats
from source to destination in bursts of up to ``max_burst`` beats (each byte XOR
``key``'s low byte, so data demonstrably passes through the design), counting cycles from
start to done, and raises CTRL done (bit 1) and ``interrupt`` at the end.  It is
sequential on purpose (read a burst, write it, wait for the response), so its cycle count
follows exactly from the DRAM model's latencies -- which the tests check.

Registers: 0x00 CTRL (start/done/idle as in hw/regmap.py), 0x10 COUNT (beats), 0x14 SRC,
0x18 DST (byte addresses, bus-aligned), 0x1C KEY, 0x20 CYCLES.
"""

from __future__ import annotations

from amaranth.hdl import ClockDomain, ClockSignal, Const, Module, ResetSignal, Signal
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["Copier", "copier_verilog"]


class Copier(wiring.Component):
    """The copier with ``vta_top``'s flat Xilinx-style port names.

    Parameters
    ----------
    bus_width:
        AXI master data width in bits (64 or 128).
    axi4:
        AXI4 profile (8-bit AxLEN, no WID) instead of AXI3 (4-bit AxLEN, WID).
    max_burst:
        Beats per burst (at most 16 for AXI3).
    ready_follows_valid:
        Drive RREADY from RVALID combinationally (allowed by AXI) instead of holding it
        high while reading: a memory-port output that depends on an input.
    """

    def __init__(self, bus_width: int = 64, *, axi4: bool = False, max_burst: int = 16,
                 ready_follows_valid: bool = False):
        self.ready_follows_valid = ready_follows_valid
        self.bus_width = bus_width
        self.bus_bytes = bus_width // 8
        self.max_burst = max_burst
        len_w = 8 if axi4 else 4
        lock_w = 1 if axi4 else 2
        m = "m_axi_gmem_"
        s = "s_axi_control_"
        members = {
            "ap_clk": In(1), "ap_rst_n": In(1), "interrupt": Out(1),
            s + "AWVALID": In(1), s + "AWREADY": Out(1), s + "AWADDR": In(8),
            s + "WVALID": In(1), s + "WREADY": Out(1), s + "WDATA": In(32),
            s + "WSTRB": In(4), s + "BVALID": Out(1), s + "BREADY": In(1),
            s + "BRESP": Out(2), s + "ARVALID": In(1), s + "ARREADY": Out(1),
            s + "ARADDR": In(8), s + "RVALID": Out(1), s + "RREADY": In(1),
            s + "RDATA": Out(32), s + "RRESP": Out(2),
        }
        for ch in ("AW", "AR"):
            members.update({
                m + ch + "VALID": Out(1), m + ch + "READY": In(1), m + ch + "ADDR": Out(64),
                m + ch + "ID": Out(1), m + ch + "LEN": Out(len_w), m + ch + "SIZE": Out(3),
                m + ch + "BURST": Out(2), m + ch + "LOCK": Out(lock_w),
                m + ch + "CACHE": Out(4), m + ch + "PROT": Out(3), m + ch + "QOS": Out(4),
            })
        members.update({
            m + "WVALID": Out(1), m + "WREADY": In(1), m + "WDATA": Out(bus_width),
            m + "WSTRB": Out(bus_width // 8), m + "WLAST": Out(1),
            m + "BVALID": In(1), m + "BREADY": Out(1), m + "BRESP": In(2), m + "BID": In(1),
            m + "RVALID": In(1), m + "RREADY": Out(1), m + "RDATA": In(bus_width),
            m + "RRESP": In(2), m + "RLAST": In(1), m + "RID": In(1),
        })
        if not axi4:
            members[m + "WID"] = Out(1)
        super().__init__(members)

    def elaborate(self, platform) -> Module:
        m = Module()
        m.domains.sync = ClockDomain()
        m.d.comb += [ClockSignal().eq(self.ap_clk), ResetSignal().eq(~self.ap_rst_n)]

        def port(name: str) -> Signal:
            return getattr(self, name)

        def s(name: str) -> Signal:
            return port("s_axi_control_" + name)

        def g(name: str) -> Signal:
            return port("m_axi_gmem_" + name)

        count = Signal(32)
        src = Signal(64)
        dst = Signal(64)
        key = Signal(8)
        cycles = Signal(32)
        done = Signal()
        running = Signal()

        # ---- AXI4-Lite slave: a write needs AW and W together; one read at a time.
        write_now = Signal()
        m.d.comb += [
            write_now.eq(s("AWVALID") & s("WVALID") & ~s("BVALID")),
            s("AWREADY").eq(write_now), s("WREADY").eq(write_now),
            s("ARREADY").eq(~s("RVALID")),
        ]
        start = Signal()
        m.d.comb += start.eq(write_now & (s("AWADDR") == 0x00) & s("WDATA")[0] & ~running)
        with m.If(write_now):
            m.d.sync += s("BVALID").eq(1)
            with m.Switch(s("AWADDR")):
                with m.Case(0x10):
                    m.d.sync += count.eq(s("WDATA"))
                with m.Case(0x14):
                    m.d.sync += src.eq(s("WDATA"))
                with m.Case(0x18):
                    m.d.sync += dst.eq(s("WDATA"))
                with m.Case(0x1C):
                    m.d.sync += key.eq(s("WDATA"))
        with m.Elif(s("BVALID") & s("BREADY")):
            m.d.sync += s("BVALID").eq(0)
        with m.If(s("ARVALID") & ~s("RVALID")):
            m.d.sync += s("RVALID").eq(1)
            with m.Switch(s("ARADDR")):
                with m.Case(0x00):
                    m.d.sync += s("RDATA").eq(Const(0, 32) | (done << 1) | (~running << 2))
                with m.Case(0x10):
                    m.d.sync += s("RDATA").eq(count)
                with m.Case(0x20):
                    m.d.sync += s("RDATA").eq(cycles)
                with m.Default():
                    m.d.sync += s("RDATA").eq(0)
        with m.Elif(s("RVALID") & s("RREADY")):
            m.d.sync += s("RVALID").eq(0)
        m.d.comb += self.interrupt.eq(done)

        # ---- the copy engine: read one burst into a buffer, write it back, wait for B.
        buf = memory.Memory(shape=self.bus_width, depth=self.max_burst, init=[])
        m.submodules.buf = buf
        wr = buf.write_port()
        rd = buf.read_port(domain="comb")
        left = Signal(32)
        beats = Signal(range(self.max_burst + 1))
        index = Signal(range(self.max_burst + 1))
        size = (self.bus_bytes - 1).bit_length()
        mask = Signal(self.bus_width)
        m.d.comb += mask.eq(Const(int.from_bytes(b"\x01" * self.bus_bytes, "little"),
                                  self.bus_width) * key)
        for ch in ("AR", "AW"):
            m.d.comb += [g(ch + "SIZE").eq(size), g(ch + "BURST").eq(1),
                         g(ch + "CACHE").eq(0b0011), g(ch + "LEN").eq(beats - 1)]
        m.d.comb += [g("ARADDR").eq(src), g("AWADDR").eq(dst),
                     g("WSTRB").eq(-1), g("WDATA").eq(rd.data ^ mask),
                     rd.addr.eq(index), g("WLAST").eq(index == beats - 1)]
        with m.If(running):
            m.d.sync += cycles.eq(cycles + 1)

        with m.FSM():
            with m.State("IDLE"):
                with m.If(start):
                    m.d.sync += [running.eq(1), done.eq(0), cycles.eq(0), left.eq(count)]
                    m.next = "NEXT"
            with m.State("NEXT"):
                with m.If(left == 0):
                    m.d.sync += [running.eq(0), done.eq(1)]
                    m.next = "IDLE"
                with m.Else():
                    # Never cross a 4 KiB page: cut the burst at the page end.
                    page_left = (4096 - src[:12]) >> size
                    n1 = Signal(range(self.max_burst + 1))
                    n = Signal(range(self.max_burst + 1))
                    m.d.comb += [n1.eq(self.max_burst), n.eq(n1)]
                    with m.If(left < self.max_burst):
                        m.d.comb += n1.eq(left)
                    with m.If(page_left < n1):
                        m.d.comb += n.eq(page_left)
                    m.d.sync += [beats.eq(n), index.eq(0)]
                    m.next = "AR"
            for channel, then in (("AR", "R"), ("AW", "W")):    # one address, then data
                with m.State(channel):
                    m.d.comb += g(channel + "VALID").eq(1)
                    with m.If(g(channel + "READY")):
                        m.next = then
            with m.State("R"):
                m.d.comb += [g("RREADY").eq(g("RVALID") if self.ready_follows_valid else 1),
                             wr.addr.eq(index), wr.data.eq(g("RDATA")),
                             wr.en.eq(g("RVALID"))]
                with m.If(g("RVALID")):
                    m.d.sync += index.eq(index + 1)
                    with m.If(g("RLAST")):
                        m.d.sync += index.eq(0)
                        m.next = "AW"
            with m.State("W"):
                m.d.comb += g("WVALID").eq(1)
                with m.If(g("WREADY")):
                    m.d.sync += index.eq(index + 1)
                    with m.If(index == beats - 1):
                        m.next = "B"
            with m.State("B"):
                m.d.comb += g("BREADY").eq(1)
                with m.If(g("BVALID")):
                    m.d.sync += [src.eq(src + (beats << size)), dst.eq(dst + (beats << size)),
                                 left.eq(left - beats)]
                    m.next = "NEXT"
        return m


def copier_verilog(bus_width: int = 64, *, axi4: bool = False, max_burst: int = 16,
                   ready_follows_valid: bool = False) -> str:
    """Verilog text of :class:`Copier` as module ``vta_top``."""
    from amaranth.back import verilog

    return verilog.convert(Copier(bus_width, axi4=axi4, max_burst=max_burst,
                                  ready_follows_valid=ready_follows_valid),
                           name="vta_top", emit_src=False)
