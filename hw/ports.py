"""The accelerator's top-level ports as one table: gateware, board flow and Verilator glue.

``vta_top`` has Xilinx-style port names so Vivado infers its interfaces: ``ap_clk``, the
active-low ``ap_rst_n``, the AXI4-Lite control slave ``s_axi_control_*`` (the register
file of :mod:`vta.hw.regmap`), the AXI master ``m_axi_gmem_*`` to DRAM (AXI3 or AXI4 by
``config.AXI_PROFILE``) and ``interrupt``.  :func:`axi_signals` is the AXI signal table
(also used for the processor-side buses the board flow describes), :func:`top_ports`
the ports of ``vta_top`` in order; the gateware builds its signatures from them, the
board flow checks and wraps the generated design against them, and the Verilator glue
drives them.  :func:`ports_from_manifest` reads the port list the gateware writes beside
its Verilog.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import VTAError

if TYPE_CHECKING:
    from .config import VTAConfig

__all__ = ["Port", "PortError", "CLOCK", "RESET", "INTERRUPT", "CONTROL_BUS", "MEMORY_BUS",
           "CONTROL_PREFIX", "MEMORY_PREFIX", "CONTROL_ADDR_WIDTH", "CONTROL_DATA_WIDTH",
           "MEMORY_ADDR_WIDTH", "MEMORY_ID_WIDTH",
           "axi_signals", "control_signals", "memory_signals", "top_ports", "port_directions",
           "ports_from_manifest"]

CLOCK = "ap_clk"
RESET = "ap_rst_n"            # active low
INTERRUPT = "interrupt"
CONTROL_BUS = "s_axi_control"
MEMORY_BUS = "m_axi_gmem"
CONTROL_PREFIX = CONTROL_BUS + "_"
MEMORY_PREFIX = MEMORY_BUS + "_"
CONTROL_ADDR_WIDTH = 8        # a 256-byte register window (regmap.REGMAP_BYTES)
CONTROL_DATA_WIDTH = 32
MEMORY_ADDR_WIDTH = 64
MEMORY_ID_WIDTH = 1


class PortError(VTAError):
    """A design's ports do not match what is expected of ``vta_top`` (or a manifest's port
    list cannot be read)."""


@dataclass(frozen=True)
class Port:
    """One top-level port: ``direction`` is ``"in"`` or ``"out"`` (the design's view)."""

    name: str
    direction: str
    width: int

    @property
    def bus(self) -> str | None:
        """``s_axi_control`` / ``m_axi_gmem`` for bus signals, else None."""
        for bus in (CONTROL_BUS, MEMORY_BUS):
            if self.name.startswith(bus + "_"):
                return bus
        return None

    @property
    def logical(self) -> str:
        """The AXI signal name (``AWADDR``) of a bus port, else the port name."""
        bus = self.bus
        return self.name[len(bus) + 1:] if bus else self.name


def axi_signals(*, lite: bool, axi3: bool = False, data_width: int, addr_width: int,
                id_width: int = 0) -> dict[str, tuple[str, int]]:
    """Every signal of an AXI port: name -> (direction from the master, width in bits).

    Channel by channel (AW, W, B, AR, R), handshake and payload first.  AXI4-Lite has no
    IDs, bursts or attributes; full AXI has ``xLEN`` of 4 bits and ``xLOCK`` of 2 in AXI3
    (plus ``WID``), 8 and 1 in AXI4.
    """
    out, inp = "out", "in"

    def address(ch: str) -> dict[str, tuple[str, int]]:
        sigs = {f"{ch}VALID": (out, 1), f"{ch}READY": (inp, 1), f"{ch}ADDR": (out, addr_width)}
        if not lite:
            sigs.update({f"{ch}ID": (out, id_width), f"{ch}LEN": (out, 4 if axi3 else 8),
                         f"{ch}SIZE": (out, 3), f"{ch}BURST": (out, 2),
                         f"{ch}LOCK": (out, 2 if axi3 else 1), f"{ch}CACHE": (out, 4),
                         f"{ch}PROT": (out, 3), f"{ch}QOS": (out, 4)})
        return sigs

    sigs = address("AW")
    sigs.update({"WVALID": (out, 1), "WREADY": (inp, 1), "WDATA": (out, data_width),
                 "WSTRB": (out, data_width // 8)})
    if not lite:
        sigs["WLAST"] = (out, 1)
        if axi3:
            sigs["WID"] = (out, id_width)
    sigs.update({"BVALID": (inp, 1), "BREADY": (out, 1), "BRESP": (inp, 2)})
    if not lite:
        sigs["BID"] = (inp, id_width)
    sigs.update(address("AR"))
    sigs.update({"RVALID": (inp, 1), "RREADY": (out, 1), "RDATA": (inp, data_width),
                 "RRESP": (inp, 2)})
    if not lite:
        sigs.update({"RLAST": (inp, 1), "RID": (inp, id_width)})
    return sigs


def control_signals(addr_width: int = CONTROL_ADDR_WIDTH) -> dict[str, tuple[str, int]]:
    """The AXI4-Lite control port (direction from the host, its master)."""
    return axi_signals(lite=True, data_width=CONTROL_DATA_WIDTH, addr_width=addr_width)


def memory_signals(config: VTAConfig) -> dict[str, tuple[str, int]]:
    """The AXI memory port for ``config`` (direction from the accelerator, its master)."""
    return axi_signals(lite=False, axi3=config.AXI_PROFILE == "axi3",
                       data_width=config.BUS_WIDTH, addr_width=MEMORY_ADDR_WIDTH,
                       id_width=MEMORY_ID_WIDTH)


def _flip(direction: str) -> str:
    return "in" if direction == "out" else "out"


def _top_ports(memory: dict[str, tuple[str, int]]) -> list[Port]:
    return ([Port(CLOCK, "in", 1), Port(RESET, "in", 1)]
            # The control port is a slave: the host's outputs are the design's inputs.
            + [Port(CONTROL_PREFIX + name, _flip(d), w)
               for name, (d, w) in control_signals().items()]
            + [Port(MEMORY_PREFIX + name, d, w) for name, (d, w) in memory.items()]
            + [Port(INTERRUPT, "out", 1)])


def top_ports(config: VTAConfig) -> list[Port]:
    """Every port of ``vta_top`` for ``config``, in the gateware's order."""
    return _top_ports(memory_signals(config))


def port_directions() -> dict[str, str]:
    """The direction of every port ``vta_top`` may have, whatever the configuration."""
    memory = axi_signals(lite=False, axi3=True, data_width=8, addr_width=MEMORY_ADDR_WIDTH,
                         id_width=MEMORY_ID_WIDTH)
    return {p.name: p.direction for p in _top_ports(memory)}


_DIRECTIONS = {"in": "in", "input": "in", "i": "in", "out": "out", "output": "out", "o": "out"}


def ports_from_manifest(manifest: str | Path | dict[str, Any]) -> list[Port]:
    """Read the port list of a gateware manifest (``vta_top.json``, or its parsed dict).

    Accepts ``"ports"`` as a list of ``{"name", "direction" (or "dir"), "width"}`` objects
    or a map from name to ``{"direction", "width"}``; directions ``in``/``input``/``i``
    and ``out``/``output``/``o``.

    Raises
    ------
    PortError
        The manifest cannot be read or has no readable port list.
    """
    if not isinstance(manifest, dict):
        try:
            manifest = json.loads(Path(manifest).read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise PortError(f"cannot read the manifest {manifest}: {e}") from None
    raw = manifest.get("ports") if isinstance(manifest, dict) else None
    if isinstance(raw, dict):
        raw = [{"name": k, **v} for k, v in raw.items()]
    if not isinstance(raw, list) or not raw:
        raise PortError("the gateware manifest has no 'ports' list of {name, direction, "
                        "width}; regenerate it with `vta hw verilog`")
    ports = []
    for item in raw:
        try:
            name = str(item["name"])
            direction = str(item.get("direction", item.get("dir"))).lower()
            width = int(item.get("width", 1))
        except (KeyError, TypeError, ValueError, AttributeError):
            raise PortError(f"unreadable port entry in the gateware manifest: {item!r} "
                            f"(needs name, direction and width)") from None
        if direction not in _DIRECTIONS:
            raise PortError(f"port {name} of the gateware manifest has direction "
                            f"{direction!r}; expected in or out")
        ports.append(Port(name, _DIRECTIONS[direction], width))
    return ports
