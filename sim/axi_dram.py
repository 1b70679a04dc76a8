"""A Python AXI slave that serves a :class:`~vta.sim.dram.Dram` to an Amaranth simulation.

:class:`AxiDram` is an Amaranth simulator *process* (``sim.add_process(model.process)``)
attached to an AXI master port with Xilinx signal names (``ARVALID``, ``RDATA``, ...).  It
models registered slave outputs: address channels accept up to ``max_outstanding`` bursts,
the first beat of a read burst appears ``latency`` cycles after its address was accepted,
later bursts stream back-to-back (one beat per cycle), write data is accepted one beat per
cycle once its address has arrived, and each write burst is answered one cycle after its
last beat.  Accesses outside the DRAM are answered SLVERR and recorded in ``errors``.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import numpy as np

from .dram import Dram

__all__ = ["AxiDram"]

_OKAY, _SLVERR = 0, 2


class AxiDram:
    """Serve ``dram`` on the AXI master port ``port`` of a simulated design.

    Parameters
    ----------
    dram:
        The memory; reads and writes go straight to ``dram.mem``.
    port:
        Object with the AXI master signals (``ARVALID``, ``ARADDR``, ... ``BREADY``).
    bus_bytes:
        Data width of the port in bytes.
    latency:
        Cycles from an accepted read address to its first data beat (>= 1).
    max_outstanding:
        Read (and write) bursts the slave accepts before it stops taking addresses.
    """

    def __init__(self, dram: Dram, port: Any, bus_bytes: int, *, latency: int = 8,
                 max_outstanding: int = 8) -> None:
        self.dram = dram
        self.port = port
        self.bus_bytes = bus_bytes
        self.latency = max(1, int(latency))
        self.max_outstanding = max_outstanding
        self.errors: list[str] = []
        self.read_beats = 0
        self.write_beats = 0
        self.read_bursts: list[tuple[int, int]] = []    # (addr, beats), for tests
        self.write_bursts: list[tuple[int, int]] = []
        self.record_bursts = True
        self.cycle = 0                                  # clock edges seen so far

    def _offset(self, addr: int, what: str) -> int | None:
        off = addr - self.dram.base
        if 0 <= off and off + self.bus_bytes <= self.dram.size:
            return off
        if len(self.errors) < 16:
            self.errors.append(f"AXI {what} of {self.bus_bytes} bytes at {addr:#x} is outside "
                               f"DRAM [{self.dram.base:#x}, {self.dram.base + self.dram.size:#x})")
        return None

    async def process(self, ctx: Any) -> None:
        """The simulator process; runs forever (add it with ``add_process``)."""
        p = self.port
        nb = self.bus_bytes
        full_strb = (1 << nb) - 1
        mem = self.dram.mem
        latency = self.latency
        reads: deque[list[int]] = deque()     # [first-beat cycle, addr, beats left]
        writes: deque[list[int]] = deque()    # [addr, beats left]
        responses: deque[tuple[int, int]] = deque()   # (cycle due, resp)
        w_error = False
        ar_ready = aw_ready = True
        r_valid = w_ready = b_valid = False
        ctx.set(p.ARREADY, 1)
        ctx.set(p.AWREADY, 1)
        r_state = (False, 0, 0, 0)
        cycle = self.cycle                 # keeps counting across a simulator reset
        sampled = (p.ARVALID, p.ARADDR, p.ARLEN, p.RREADY, p.AWVALID, p.AWADDR, p.AWLEN,
                   p.WVALID, p.WDATA, p.WSTRB, p.BREADY)
        async for (_, _, arvalid, araddr, arlen, rready, awvalid, awaddr, awlen, wvalid,
                   wdata, wstrb, bready) in ctx.tick().sample(*sampled):
            cycle += 1
            self.cycle = cycle
            # -- handshakes that completed at this clock edge
            if arvalid and ar_ready:
                reads.append([cycle + latency - 1, araddr, arlen + 1])
                if self.record_bursts:
                    self.read_bursts.append((araddr, arlen + 1))
            if r_valid and rready:
                head = reads[0]
                head[1] += nb
                head[2] -= 1
                self.read_beats += 1
                if head[2] == 0:
                    reads.popleft()
            if awvalid and aw_ready:
                writes.append([awaddr, awlen + 1])
                if self.record_bursts:
                    self.write_bursts.append((awaddr, awlen + 1))
            if wvalid and w_ready:
                head = writes[0]
                off = self._offset(head[0], "write")
                if off is None:
                    w_error = True
                elif wstrb == full_strb:
                    mem[off:off + nb] = np.frombuffer(wdata.to_bytes(nb, "little"), np.uint8)
                else:
                    for i in range(nb):
                        if wstrb >> i & 1:
                            mem[off + i] = wdata >> (8 * i) & 0xFF
                head[0] += nb
                head[1] -= 1
                self.write_beats += 1
                if head[1] == 0:
                    writes.popleft()
                    responses.append((cycle + 1, _SLVERR if w_error else _OKAY))
                    w_error = False
            if b_valid and bready:
                b_valid = False
                ctx.set(p.BVALID, 0)
            # -- outputs for the next cycle
            ready = len(reads) < self.max_outstanding
            if ready != ar_ready:
                ar_ready = ready
                ctx.set(p.ARREADY, ready)
            ready = len(writes) < self.max_outstanding
            if ready != aw_ready:
                aw_ready = ready
                ctx.set(p.AWREADY, ready)
            ready = bool(writes)
            if ready != w_ready:
                w_ready = ready
                ctx.set(p.WREADY, ready)
            if reads and reads[0][0] <= cycle:
                _, addr, left = reads[0]
                off = self._offset(addr, "read")
                if off is None:
                    state = (True, 0, _SLVERR, left == 1)
                else:
                    state = (True, int.from_bytes(mem[off:off + nb].tobytes(), "little"),
                             _OKAY, left == 1)
            else:
                state = (False, r_state[1], r_state[2], False)
            if state != r_state:
                if state[0] != r_state[0]:
                    ctx.set(p.RVALID, state[0])
                if state[1] != r_state[1]:
                    ctx.set(p.RDATA, state[1])
                if state[2] != r_state[2]:
                    ctx.set(p.RRESP, state[2])
                if state[3] != r_state[3]:
                    ctx.set(p.RLAST, state[3])
                r_state = state
            r_valid = state[0]
            if not b_valid and responses and responses[0][0] <= cycle:
                _, resp = responses.popleft()
                b_valid = True
                ctx.set(p.BVALID, 1)
                ctx.set(p.BRESP, resp)
