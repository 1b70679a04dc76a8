"""The accelerator's one AXI master: arbitration between DMA clients, bursts, ordering.

Read clients (fetch, load, compute) and the write client (store) speak the DMA contract of
:mod:`.interfaces`; this module turns their requests into legal AXI bursts:

- a request of ``beats`` beats is split into bursts of at most the profile's burst length
  (AXI3: 16 beats, AXI4: 256 beats) that never cross a 4 KiB boundary;
- read requests are granted round-robin; several read bursts may be outstanding (up to
  ``max_outstanding``); all use ID 0, so the slave answers in order and the master routes
  each beat to the client whose burst it belongs to, one beat per cycle;
- a write request's data follows its address bursts (``WLAST`` is generated here); the
  client's ``done`` pulses when the last burst of the request has its write response.

Signal names are Xilinx's (``ARVALID``, ``RDATA``, ...) so the top level can expose the
port as ``m_axi_gmem_*`` unchanged.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Signal
from amaranth.lib import fifo
from amaranth.lib.wiring import In, Out

from ..config import VTAConfig
from ..ports import memory_signals
from .component import ConfiguredComponent, check_int, require_config
from .interfaces import (
    ADDR_WIDTH,
    BEATS_WIDTH,
    DmaReadSignature,
    DmaWriteSignature,
    bus_signature,
)

__all__ = ["AxiMaster"]

_BOUNDARY = 4096


class AxiMaster(ConfiguredComponent):
    """One AXI master shared by ``n_readers`` read clients and one write client.

    Parameters
    ----------
    config:
        Bus width and AXI profile come from here.
    n_readers:
        Number of read clients (``rd[0]`` ... ``rd[n-1]``).
    axi_cache, axi_prot:
        Constant ``AxCACHE`` / ``AxPROT`` values (default: normal non-cacheable
        bufferable, unprivileged secure data).
    max_outstanding:
        Read bursts and write bursts that may be in flight at once (each).

    Members
    -------
    rd: ``In(DmaReadSignature(config)).array(n_readers)``
    wr: ``In(DmaWriteSignature(config))``
    axi: ``Out(bus_signature(memory_signals(config)))``
        The AXI port (:func:`vta.hw.ports.memory_signals`: ``config``'s bus width and
        profile).
    rd_bytes, wr_bytes: ``Out(8)``
        Bytes transferred this cycle (for the DMA counters).
    wr_idle: ``Out(1)``
        No write request in progress and every write response received.
    rd_idle: ``Out(1)``
        No read request in progress and every read burst completed.
    bus_error: ``Out(1)``
        A read or write response this cycle is not OKAY.
    rd_error: ``Out(n_readers)``
        Bit ``i``: a read beat delivered to client ``i`` this cycle carries an error
        response (its data is whatever the slave sent).
    wr_error: ``Out(1)``
        A write response this cycle is not OKAY (the write client's request).

    Raises
    ------
    ConfigError
        A parameter is out of range.
    """

    def __init__(self, config: VTAConfig, *, n_readers: int = 3, axi_cache: int = 0b0011,
                 axi_prot: int = 0b000, max_outstanding: int = 8) -> None:
        config = require_config(config, "AxiMaster")
        self._n_readers = check_int("AxiMaster", "n_readers", n_readers, 1, 8)
        self._cache = check_int("AxiMaster", "axi_cache", axi_cache, 0, 15)
        self._prot = check_int("AxiMaster", "axi_prot", axi_prot, 0, 7)
        self._outstanding = check_int("AxiMaster", "max_outstanding", max_outstanding, 1, 64)
        super().__init__(config)

    def _ports(self, config: VTAConfig) -> dict:
        return {
            "rd": In(DmaReadSignature(config)).array(self._n_readers),
            "wr": In(DmaWriteSignature(config)),
            "axi": Out(bus_signature(memory_signals(config))),
            "rd_bytes": Out(8),
            "wr_bytes": Out(8),
            "rd_idle": Out(1),
            "wr_idle": Out(1),
            "bus_error": Out(1),
            "rd_error": Out(self._n_readers),
            "wr_error": Out(1),
        }

    def _burst_len(self, m: Module, addr, remaining) -> Signal:
        """Beats of the next burst: min(remaining, profile limit, beats to 4 KiB)."""
        cfg = self._config
        log_bus = cfg.bus_bytes.bit_length() - 1
        to_boundary = Signal(range(_BOUNDARY // cfg.bus_bytes + 1))
        m.d.comb += to_boundary.eq((_BOUNDARY - addr[:12]) >> log_bus)
        limit = Signal(range(max(cfg.max_burst_beats, _BOUNDARY // cfg.bus_bytes) + 1))
        m.d.comb += limit.eq(cfg.max_burst_beats)
        with m.If(to_boundary < cfg.max_burst_beats):
            m.d.comb += limit.eq(to_boundary)
        length = Signal(range(cfg.max_burst_beats + 1))
        with m.If(remaining < limit):
            m.d.comb += length.eq(remaining)
        with m.Else():
            m.d.comb += length.eq(limit)
        return length

    def elaborate(self, platform) -> Module:
        m = Module()
        cfg = self._config
        axi = self.axi
        n = self._n_readers
        log_bus = cfg.bus_bytes.bit_length() - 1
        align = ~Const(cfg.bus_bytes - 1, ADDR_WIDTH)

        for ch in ("AW", "AR"):
            m.d.comb += [
                getattr(axi, f"{ch}ID").eq(0),
                getattr(axi, f"{ch}SIZE").eq(log_bus),
                getattr(axi, f"{ch}BURST").eq(0b01),                 # INCR
                getattr(axi, f"{ch}LOCK").eq(0),
                getattr(axi, f"{ch}CACHE").eq(self._cache),
                getattr(axi, f"{ch}PROT").eq(self._prot),
                getattr(axi, f"{ch}QOS").eq(0),
            ]
        if hasattr(axi, "WID"):
            m.d.comb += axi.WID.eq(0)

        # ---------------------------------------------------------------- reads
        # Round-robin grant among waiting read clients while no request is being split.
        rd_active = Signal()
        rd_client = Signal(range(n))
        rd_addr = Signal(ADDR_WIDTH)
        rd_left = Signal(BEATS_WIDTH)
        last_grant = Signal(range(n))
        grant = Signal(range(n))
        grant_valid = Signal()
        with m.Switch(last_grant):
            for last in range(n):
                with m.Case(last):
                    order = [(last + k) % n for k in range(1, n + 1)]
                    for j, idx in enumerate(order):
                        cond = self.rd[idx].req.valid
                        with (m.If(cond) if j == 0 else m.Elif(cond)):
                            m.d.comb += [grant.eq(idx), grant_valid.eq(1)]
        # In-order record of issued bursts: which client, and whether it ends the request.
        order = fifo.SyncFIFO(width=len(rd_client) + 1, depth=self._outstanding)
        m.submodules.rd_order = order
        rd_len = self._burst_len(m, rd_addr, rd_left)
        m.d.comb += [
            axi.ARVALID.eq(rd_active & order.w_rdy),
            axi.ARADDR.eq(rd_addr),
            axi.ARLEN.eq(rd_len - 1),
            order.w_data.eq(Cat(rd_client, rd_len == rd_left)),
            order.w_en.eq(axi.ARVALID & axi.ARREADY),
        ]
        ar_last = Signal()     # the final burst of the current request goes out now
        m.d.comb += ar_last.eq(axi.ARVALID & axi.ARREADY & (rd_len == rd_left))
        with m.If(axi.ARVALID & axi.ARREADY):
            m.d.sync += [rd_addr.eq(rd_addr + (rd_len << log_bus)), rd_left.eq(rd_left - rd_len)]
            with m.If(ar_last):
                m.d.sync += rd_active.eq(0)
        # A new request is taken while idle or in the cycle the last burst is issued, so
        # back-to-back one-burst requests (rows of a 2-D load) issue one burst per cycle.
        # (Placed after the statements above: its assignments win.)
        rd_free = Signal()
        m.d.comb += rd_free.eq(~rd_active | ar_last)
        for i in range(n):
            m.d.comb += self.rd[i].req.ready.eq(rd_free & grant_valid & (grant == i))
        with m.If(rd_free & grant_valid):
            with m.Switch(grant):
                for i in range(n):
                    with m.Case(i):
                        req = self.rd[i].req.payload
                        m.d.sync += [rd_addr.eq(req.addr & align), rd_left.eq(req.beats)]
            m.d.sync += [rd_client.eq(grant), last_grant.eq(grant),
                         rd_active.eq(self._any_beats(m, grant))]

        head_client = order.r_data[:len(rd_client)]
        head_last = order.r_data[-1]
        rready = Signal()
        for i in range(n):
            resp = self.rd[i].resp
            mine = order.r_rdy & (head_client == i)
            m.d.comb += [
                resp.valid.eq(axi.RVALID & mine),
                resp.payload.data.eq(axi.RDATA),
                resp.payload.last.eq(axi.RLAST & head_last),
            ]
            with m.If(mine):
                m.d.comb += rready.eq(resp.ready)
        m.d.comb += [
            axi.RREADY.eq(rready),
            order.r_en.eq(axi.RVALID & axi.RREADY & axi.RLAST),
            self.rd_idle.eq(~rd_active & ~order.r_rdy),
        ]
        with m.If(axi.RVALID & axi.RREADY):
            m.d.comb += self.rd_bytes.eq(cfg.bus_bytes)
            with m.If(axi.RRESP != 0):
                for i in range(n):
                    m.d.comb += self.rd_error[i].eq(head_client == i)

        # ---------------------------------------------------------------- writes
        wr = self.wr
        wr_active = Signal()
        wr_addr = Signal(ADDR_WIDTH)
        wr_left = Signal(BEATS_WIDTH)
        m.d.comb += wr.req.ready.eq(~wr_active)
        with m.If(wr.req.valid & ~wr_active):
            m.d.sync += [wr_addr.eq(wr.req.payload.addr & align), wr_left.eq(wr.req.payload.beats),
                         wr_active.eq(wr.req.payload.beats != 0)]
        wr_len = self._burst_len(m, wr_addr, wr_left)
        # Burst lengths for the W channel, and end-of-request flags for the B channel.
        w_lens = fifo.SyncFIFO(width=len(wr_len), depth=self._outstanding)
        b_last = fifo.SyncFIFO(width=1, depth=self._outstanding)
        m.submodules.w_lens = w_lens
        m.submodules.b_last = b_last
        aw_fire = Signal()
        m.d.comb += [
            axi.AWVALID.eq(wr_active & w_lens.w_rdy & b_last.w_rdy),
            axi.AWADDR.eq(wr_addr),
            axi.AWLEN.eq(wr_len - 1),
            aw_fire.eq(axi.AWVALID & axi.AWREADY),
            w_lens.w_data.eq(wr_len), w_lens.w_en.eq(aw_fire),
            b_last.w_data.eq(wr_len == wr_left), b_last.w_en.eq(aw_fire),
        ]
        with m.If(aw_fire):
            m.d.sync += [wr_addr.eq(wr_addr + (wr_len << log_bus)), wr_left.eq(wr_left - wr_len)]
            with m.If(wr_len == wr_left):
                m.d.sync += wr_active.eq(0)

        w_count = Signal.like(wr_len)
        w_fire = Signal()
        m.d.comb += [
            axi.WVALID.eq(wr.data.valid & w_lens.r_rdy),
            axi.WDATA.eq(wr.data.payload.data),
            axi.WSTRB.eq(wr.data.payload.strb),
            axi.WLAST.eq(w_count == w_lens.r_data - 1),
            wr.data.ready.eq(axi.WREADY & w_lens.r_rdy),
            w_fire.eq(axi.WVALID & axi.WREADY),
            w_lens.r_en.eq(w_fire & axi.WLAST),
        ]
        with m.If(w_fire):
            m.d.sync += w_count.eq(w_count + 1)
            with m.If(axi.WLAST):
                m.d.sync += w_count.eq(0)
            strb = wr.data.payload.strb
            m.d.comb += self.wr_bytes.eq(sum(strb[i] for i in range(len(strb))))

        m.d.comb += [
            axi.BREADY.eq(1),
            b_last.r_en.eq(axi.BVALID),
            wr.done.eq(axi.BVALID & b_last.r_rdy & b_last.r_data),
            self.wr_idle.eq(~wr_active & ~b_last.r_rdy),
        ]
        m.d.comb += [self.wr_error.eq(axi.BVALID & axi.BREADY & (axi.BRESP != 0)),
                     self.bus_error.eq(self.rd_error.any() | self.wr_error)]
        return m

    def _any_beats(self, m: Module, grant) -> Signal:
        """Whether the granted request asks for at least one beat (0 beats: a no-op)."""
        nonzero = Signal()
        with m.Switch(grant):
            for i in range(self._n_readers):
                with m.Case(i):
                    m.d.comb += nonzero.eq(self.rd[i].req.payload.beats != 0)
        return nonzero
