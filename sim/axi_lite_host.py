"""Register access to an Amaranth AXI4-Lite slave from a simulator testbench.

Used by the pysim backend and by the gateware tests: ``await host.write(ctx, addr, value)``
and ``await host.read(ctx, addr)`` drive one AXI4-Lite transaction each, in an
``add_testbench`` coroutine of :class:`amaranth.sim.Simulator`.
"""

from __future__ import annotations

from typing import Any

from vta.hw.errors import VTAError

__all__ = ["AxiLiteHost", "AxiLiteError"]


class AxiLiteError(VTAError):
    """The control slave answered with an error response or never answered."""


class AxiLiteHost:
    """Drives the slave port ``port`` (an interface with the Xilinx AXI4-Lite names).

    Parameters
    ----------
    port:
        The slave's port object (``AWVALID``, ``AWREADY``, ... attributes).
    timeout:
        Cycles to wait for a handshake before raising :class:`AxiLiteError`.
    """

    def __init__(self, port: Any, timeout: int = 64) -> None:
        self.port = port
        self.timeout = timeout

    async def write(self, ctx: Any, addr: int, value: int, strb: int = 0xF) -> None:
        """Write ``value`` to byte address ``addr`` with byte enables ``strb``."""
        p = self.port
        ctx.set(p.AWADDR, addr)
        ctx.set(p.AWVALID, 1)
        ctx.set(p.WDATA, value & 0xFFFF_FFFF)
        ctx.set(p.WSTRB, strb)
        ctx.set(p.WVALID, 1)
        ctx.set(p.BREADY, 1)
        aw_done = w_done = False
        for _ in range(self.timeout):
            aw_ready = ctx.get(p.AWREADY)
            w_ready = ctx.get(p.WREADY)
            b_valid = ctx.get(p.BVALID)
            resp = ctx.get(p.BRESP)
            await ctx.tick()
            if not aw_done and aw_ready:
                aw_done = True
                ctx.set(p.AWVALID, 0)
            if not w_done and w_ready:
                w_done = True
                ctx.set(p.WVALID, 0)
            if b_valid and aw_done and w_done:
                ctx.set(p.BREADY, 0)
                break
        else:
            raise AxiLiteError(f"control write to {addr:#x} got no response in "
                               f"{self.timeout} cycles")
        if resp:
            raise AxiLiteError(f"control write to {addr:#x} answered BRESP={resp}")

    async def read(self, ctx: Any, addr: int) -> int:
        """Read the 32-bit register at byte address ``addr``."""
        p = self.port
        ctx.set(p.ARADDR, addr)
        ctx.set(p.ARVALID, 1)
        ctx.set(p.RREADY, 1)
        ar_done = False
        for _ in range(self.timeout):
            ar_ready = ctx.get(p.ARREADY)
            r_valid = ctx.get(p.RVALID)
            value = ctx.get(p.RDATA)
            resp = ctx.get(p.RRESP)
            await ctx.tick()
            if not ar_done and ar_ready:
                ar_done = True
                ctx.set(p.ARVALID, 0)
                continue
            if ar_done and r_valid:
                ctx.set(p.RREADY, 0)
                if resp:
                    raise AxiLiteError(f"control read of {addr:#x} answered RRESP={resp}")
                return value
        raise AxiLiteError(f"control read of {addr:#x} got no response in "
                           f"{self.timeout} cycles")
