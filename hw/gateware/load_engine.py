"""The 2-D DMA engine behind every LOAD: DRAM rows -> one SRAM, with zero padding.

One :class:`LoadEngine` serves one memory type (INP, WGT, UOP, ACC or ACC_8BIT).  It runs
three independent parts that meet only through ready/valid handshakes, so the bus streams
one beat per cycle and several row requests are outstanding at once:

* the *request issuer* asks the DMA for one request per data row, as far ahead as the AXI
  master accepts them;
* the *unpacker* turns bus beats into elements: a sub-beat element (4-byte uops on a
  64-bit bus) is one lane of a beat, skipping the lanes outside the row; an element of
  several beats (256-byte weight tiles) is assembled from consecutive beats;
* the *writer* walks the padded footprint in SRAM order, one element per cycle: a zero for
  padding, the next unpacked element for data.

The instruction is done when the writer has written the last element of the footprint;
by then every beat of every request has been consumed.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib.wiring import In, Out

from ..config import VTAConfig
from ..errors import ConfigError
from .component import ConfiguredComponent, require_config
from .formats import memory_layout
from .interfaces import DmaReadSignature, SramWriteSignature
from .row_dma import LaneWalk, RowRequests

__all__ = ["LoadEngine", "share_dma"]


class LoadEngine(ConfiguredComponent):
    """Execute LOAD instructions of one memory type into one SRAM write port.

    Parameters
    ----------
    config : VTAConfig
        Bus width and instruction layout.
    elem_bytes : int
        Size of one element in DRAM (a power of two).
    depth : int
        SRAM depth in elements; SRAM addresses wrap modulo ``depth``.
    sram_width : int
        Width of one SRAM row in bits: ``elem_bytes * 8``, or four times that for
        ``sign_extend`` (int8 -> int32 lanes of an ACC_8BIT load).
    sign_extend : bool
        Sign-extend each int8 lane of the DRAM element to 32 bits (ACC_8BIT).

    Members
    -------
    start : In(1)
        Pulse for one cycle with ``insn`` valid to begin an instruction (only while idle).
    insn : In(LOAD layout)
        The LOAD instruction; sampled when ``start`` is high.
    busy : Out(1)
        An instruction is in progress.
    done : Out(1)
        Pulses once when the instruction's last SRAM write happens (or at once for an
        empty load).
    dma : Out(DmaReadSignature)
        The read client.
    wr : Out(SramWriteSignature)
        Write port into the SRAM.

    Raises
    ------
    ConfigError
        If ``config`` is not a configuration, or the sizes are not powers of two or do not
        match each other.
    """

    def __init__(self, config: VTAConfig, *, elem_bytes: int, depth: int, sram_width: int,
                 sign_extend: bool = False) -> None:
        config = require_config(config, "LoadEngine")
        for name, value in (("elem_bytes", elem_bytes), ("depth", depth)):
            if value < 1 or value & (value - 1):
                raise ConfigError(f"LoadEngine {name} must be a power of two, not {value!r}")
        expected = elem_bytes * 8 * (4 if sign_extend else 1)
        if sram_width != expected:
            raise ConfigError(f"LoadEngine sram_width must be {expected} for {elem_bytes}-byte "
                              f"elements{' (sign-extended)' if sign_extend else ''}, "
                              f"not {sram_width}")
        self._elem_bytes = elem_bytes
        self._depth = depth
        self._sram_width = sram_width
        self._sign_extend = sign_extend
        self._layout = memory_layout(config)
        super().__init__(config)

    def _ports(self, config: VTAConfig) -> dict:
        return {
            "start": In(1),
            "insn": In(self._layout),
            "busy": Out(1),
            "done": Out(1),
            "dma": Out(DmaReadSignature(config)),
            "wr": Out(SramWriteSignature(self._depth, self._sram_width)),
        }

    def elaborate(self, platform) -> Module:
        m = Module()
        cfg = self._config
        E = self._elem_bytes
        B = cfg.bus_bytes
        ew = E * 8

        # Latched instruction fields.
        insn = Signal(self._layout)
        with m.If(self.start):
            m.d.sync += insn.eq(self.insn)
        new = self.insn
        y_size, y_pad_0, x_pad_0 = insn.y_size, insn.y_pad_0, insn.x_pad_0

        # ---------------------------------------------------------------- request issuer
        requests = RowRequests(m, self.dma.req, elem_bytes=E, bus_bytes=B,
                               x_size=insn.x_size, x_stride=insn.x_stride)
        with m.If(self.start):
            m.d.sync += requests.start(new.dram_base, Mux(new.x_size != 0, new.y_size, 0))

        # ---------------------------------------------------------------- unpacker
        resp = self.dma.resp
        elem_valid = Signal()
        elem_ready = Signal()
        elem_data = Signal(ew)
        if E < B:
            walk = LaneWalk(elem_bytes=E, bus_bytes=B, name="unpack")
            with m.If(self.start):
                m.d.sync += walk.start(new.dram_base, new.x_size)
            m.d.comb += [
                elem_valid.eq(resp.valid),
                elem_data.eq(resp.payload.data.word_select(walk.slot, ew)),
                resp.ready.eq(elem_ready & walk.beat_end),
            ]
            with m.If(elem_valid & elem_ready):
                walk.step(m, insn.x_size, insn.x_stride)
        else:
            k = E // B
            if k == 1:
                m.d.comb += [elem_valid.eq(resp.valid), elem_data.eq(resp.payload.data),
                             resp.ready.eq(elem_ready)]
            else:
                beat = Signal(range(k))
                held = Signal((k - 1) * B * 8)    # earlier beats of the element, oldest low
                at_last = beat == k - 1
                m.d.comb += [
                    elem_valid.eq(resp.valid & at_last),
                    elem_data.eq(Cat(held, resp.payload.data)),
                    resp.ready.eq(~at_last | elem_ready),
                ]
                with m.If(resp.valid & resp.ready):
                    m.d.sync += [beat.eq(Mux(at_last, 0, beat + 1)),
                                 held.eq(Cat(held[B * 8:], resp.payload.data))]
                with m.If(self.start):
                    m.d.sync += beat.eq(0)

        # ---------------------------------------------------------------- writer
        # Walk rows r < y_pad_0 + y_size + y_pad_1 and columns c < x_pad_0 + x_size +
        # x_pad_1 in SRAM order; data sits in rows [y_pad_0, y_pad_0 + y_size) and columns
        # [x_pad_0, x_pad_0 + x_size).
        active = Signal()
        addr = Signal(range(self._depth))
        row = Signal(21)
        col = Signal(18)
        row_last = Signal(21)
        col_last = Signal(18)
        data_row = Signal()
        data_col = Signal()
        m.d.comb += self.busy.eq(active | self.start)

        n_rows = Mux(new.x_size != 0, new.y_pad_0 + new.y_size + new.y_pad_1, 0)
        n_cols = new.x_pad_0 + new.x_size + new.x_pad_1
        with m.If(self.start):
            m.d.sync += [addr.eq(new.sram_base), row.eq(0), col.eq(0),
                         row_last.eq(n_rows - 1), col_last.eq(n_cols - 1)]
            with m.If(n_rows == 0):
                m.d.comb += self.done.eq(1)       # x_size == 0 (or nothing at all): a NOP
            with m.Else():
                m.d.sync += active.eq(1)
            m.d.sync += [data_row.eq((new.y_pad_0 == 0) & (new.y_size != 0)),
                         data_col.eq(new.x_pad_0 == 0)]

        is_data = data_row & data_col
        write = Signal()
        m.d.comb += [
            write.eq(active & (~is_data | elem_valid)),
            elem_ready.eq(active & is_data),
            self.wr.en.eq(write),
            self.wr.addr.eq(addr),
        ]
        if self._sign_extend:
            lanes = [elem_data.word_select(i, 8) for i in range(E)]
            value = Cat(*(Cat(b, b[7].replicate(24)) for b in lanes))
        else:
            value = elem_data
        m.d.comb += self.wr.data.eq(Mux(is_data, value, 0))

        with m.If(write):
            m.d.sync += addr.eq(addr + 1)
            with m.If(col == col_last):
                m.d.sync += col.eq(0)
                with m.If(row == row_last):
                    m.d.sync += active.eq(0)
                    m.d.comb += self.done.eq(1)
                with m.Else():
                    m.d.sync += row.eq(row + 1)
                    # Row r + 1 holds data if y_pad_0 <= r + 1 < y_pad_0 + y_size.
                    m.d.sync += [data_row.eq((row + 1 >= y_pad_0) & (row + 1 < y_pad_0 + y_size)),
                                 data_col.eq(x_pad_0 == 0)]
            with m.Else():
                m.d.sync += col.eq(col + 1)
                m.d.sync += data_col.eq((col + 1 >= x_pad_0) & (col + 1 < x_pad_0 + insn.x_size))
        return m


def share_dma(m: Module, dma, engines: list[LoadEngine], sel: Signal) -> None:
    """Connect the DMA read client ``dma`` to ``engines[sel]``; every engine sees the
    response data, only the selected one the handshakes (one runs at a time)."""
    req, resp = dma.req, dma.resp
    with m.Switch(sel):
        for i, eng in enumerate(engines):
            with m.Case(i):
                m.d.comb += [req.valid.eq(eng.dma.req.valid),
                             req.payload.eq(eng.dma.req.payload),
                             eng.dma.req.ready.eq(req.ready),
                             eng.dma.resp.valid.eq(resp.valid),
                             resp.ready.eq(eng.dma.resp.ready)]
    for eng in engines:
        m.d.comb += eng.dma.resp.payload.eq(resp.payload)
