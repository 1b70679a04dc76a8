"""The accelerator's top-level ports, as the board flow sees them.

The gateware's ``vta_top`` module has Xilinx-style port names (``ap_clk``, ``ap_rst_n``,
``s_axi_control_*``, ``m_axi_gmem_*``, ``interrupt``).  :func:`expected_ports` derives the
list from a configuration (the contract between the gateware and the board flow);
:func:`ports_from_manifest` reads the list the gateware wrote beside its Verilog, and
:func:`check_ports` compares the two so a drift fails the build with one line.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from vta.hw.config import VTAConfig

from .table import BoardError

__all__ = ["Port", "expected_ports", "ports_from_manifest", "check_ports", "bus_signals",
           "CONTROL", "MASTER"]

CONTROL = "s_axi_control"
MASTER = "m_axi_gmem"


@dataclass(frozen=True)
class Port:
    """One top-level port: ``direction`` is ``"in"`` or ``"out"`` (the accelerator's view)."""

    name: str
    direction: str
    width: int

    @property
    def bus(self) -> str | None:
        """``s_axi_control`` / ``m_axi_gmem`` for bus signals, else None."""
        for prefix in (CONTROL, MASTER):
            if self.name.startswith(prefix + "_"):
                return prefix
        return None

    @property
    def logical(self) -> str:
        """The AXI signal name (``AWADDR``) of a bus port, else the port name."""
        bus = self.bus
        return self.name[len(bus) + 1:] if bus else self.name


def _control_ports() -> list[Port]:
    sigs = [("AWVALID", "in", 1), ("AWREADY", "out", 1), ("AWADDR", "in", 8),
            ("WVALID", "in", 1), ("WREADY", "out", 1), ("WDATA", "in", 32),
            ("WSTRB", "in", 4), ("BVALID", "out", 1), ("BREADY", "in", 1),
            ("BRESP", "out", 2), ("ARVALID", "in", 1), ("ARREADY", "out", 1),
            ("ARADDR", "in", 8), ("RVALID", "out", 1), ("RREADY", "in", 1),
            ("RDATA", "out", 32), ("RRESP", "out", 2)]
    return [Port(f"{CONTROL}_{n}", d, w) for n, d, w in sigs]


def _master_ports(config: VTAConfig) -> list[Port]:
    axi3 = config.AXI_PROFILE == "axi3"
    len_w, lock_w = (4, 2) if axi3 else (8, 1)
    bus = config.BUS_WIDTH
    sigs: list[tuple[str, str, int]] = []
    for ch in ("AW", "AR"):
        if ch == "AR":
            sigs += [("WVALID", "out", 1), ("WREADY", "in", 1), ("WDATA", "out", bus),
                     ("WSTRB", "out", bus // 8), ("WLAST", "out", 1)]
            if axi3:
                sigs.append(("WID", "out", 1))
            sigs += [("BVALID", "in", 1), ("BREADY", "out", 1), ("BRESP", "in", 2),
                     ("BID", "in", 1)]
        sigs += [(f"{ch}VALID", "out", 1), (f"{ch}READY", "in", 1), (f"{ch}ADDR", "out", 64),
                 (f"{ch}ID", "out", 1), (f"{ch}LEN", "out", len_w), (f"{ch}SIZE", "out", 3),
                 (f"{ch}BURST", "out", 2), (f"{ch}LOCK", "out", lock_w),
                 (f"{ch}CACHE", "out", 4), (f"{ch}PROT", "out", 3), (f"{ch}QOS", "out", 4)]
    sigs += [("RVALID", "in", 1), ("RREADY", "out", 1), ("RDATA", "in", bus),
             ("RRESP", "in", 2), ("RLAST", "in", 1), ("RID", "in", 1)]
    return [Port(f"{MASTER}_{n}", d, w) for n, d, w in sigs]


def expected_ports(config: VTAConfig) -> list[Port]:
    """Every port of ``vta_top`` for ``config``, per the top-level contract."""
    return ([Port("ap_clk", "in", 1), Port("ap_rst_n", "in", 1)] + _control_ports()
            + _master_ports(config) + [Port("interrupt", "out", 1)])


def ports_from_manifest(manifest: dict[str, Any]) -> list[Port]:
    """Read the port list of the gateware's ``vta_top.json`` manifest.

    Accepts ``ports`` as a list of ``{"name", "direction"/"dir", "width"}`` objects or a
    mapping ``name -> {"direction", "width"}``; directions ``in``/``input``/``i`` and
    ``out``/``output``/``o``.

    Raises
    ------
    BoardError
        The manifest has no readable port list.
    """
    raw = manifest.get("ports")
    if isinstance(raw, dict):
        items = [{"name": k, **v} for k, v in raw.items()]
    elif isinstance(raw, list):
        items = raw
    else:
        raise BoardError("the gateware manifest has no 'ports' list; regenerate it with "
                         "`vta hw verilog`")
    ports = []
    for item in items:
        try:
            name = item["name"]
            direction = str(item.get("direction", item.get("dir"))).lower()
            width = int(item.get("width", 1))
        except (KeyError, TypeError, ValueError):
            raise BoardError(f"unreadable port entry in the gateware manifest: {item!r}") \
                from None
        direction = {"input": "in", "i": "in", "output": "out", "o": "out"}.get(
            direction, direction)
        if direction not in ("in", "out"):
            raise BoardError(f"port {name} of the gateware manifest has direction "
                             f"{direction!r}; expected in or out")
        ports.append(Port(name, direction, width))
    return ports


def check_ports(actual: Iterable[Port], config: VTAConfig) -> None:
    """Raise :class:`BoardError` naming the first port that differs from the contract."""
    got = {p.name: p for p in actual}
    want = {p.name: p for p in expected_ports(config)}
    for name, port in want.items():
        if name not in got:
            raise BoardError(f"vta_top has no port {name} ({port.direction}, {port.width} "
                             f"bits) that the board flow connects")
        if got[name] != port:
            g = got[name]
            raise BoardError(f"vta_top port {name} is {g.direction} {g.width} bits; the board "
                             f"flow expects {port.direction} {port.width} bits")
    extra = sorted(set(got) - set(want))
    if extra:
        raise BoardError(f"vta_top has ports the board flow does not connect: "
                         f"{', '.join(extra)}")


def bus_signals(ports: Iterable[Port], bus: str) -> list[Port]:
    return [p for p in ports if p.bus == bus]
