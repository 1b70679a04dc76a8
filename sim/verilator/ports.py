"""Top-level ports of the design under simulation, and the C++ glue generated from them.

Port widths differ per configuration (a 64-bit RDATA is a Verilator ``QData``, a 128-bit one
a ``VlWide<4>``; AxLEN is 4 or 8 bits), so the harness never names a C type itself: the
build generates ``vta_ports.h`` from the port list -- read from the gateware's JSON manifest
when there is one, or parsed from the Verilog module header.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vta.hw.errors import VTAError

__all__ = ["Port", "PortError", "ports_from_verilog", "ports_from_manifest", "port_glue",
           "bus_bytes_of", "verilated_members", "REQUIRED_PORTS"]


class PortError(VTAError):
    """The design's ports do not match what the Verilator harness drives."""


@dataclass(frozen=True)
class Port:
    """One top-level port; ``direction`` is ``"in"`` or ``"out"`` (the design's view)."""

    name: str
    direction: str
    width: int


_G = "m_axi_gmem_"
_S = "s_axi_control_"

# Ports the harness reads or drives, with their direction (widths are checked separately).
REQUIRED_PORTS: dict[str, str] = {
    "ap_clk": "in", "ap_rst_n": "in", "interrupt": "out",
    **{_S + n: "in" for n in ("AWVALID", "AWADDR", "WVALID", "WDATA", "WSTRB", "BREADY",
                              "ARVALID", "ARADDR", "RREADY")},
    **{_S + n: "out" for n in ("AWREADY", "WREADY", "BVALID", "BRESP", "ARREADY", "RVALID",
                               "RDATA", "RRESP")},
    **{_G + n: "out" for n in ("ARVALID", "ARADDR", "ARLEN", "ARSIZE", "ARBURST", "RREADY",
                               "AWVALID", "AWADDR", "AWLEN", "AWSIZE", "AWBURST", "WVALID",
                               "WDATA", "WSTRB", "WLAST", "BREADY")},
    **{_G + n: "in" for n in ("ARREADY", "RVALID", "RDATA", "RRESP", "RLAST", "AWREADY",
                              "WREADY", "BVALID", "BRESP")},
}

_DECL = re.compile(r"^\s*(input|output|inout)\s+(?:wire\s+|reg\s+|logic\s+)?(?:signed\s+)?"
                   r"(?:\[\s*(\d+)\s*:\s*(\d+)\s*\]\s*)?([A-Za-z_]\w*)\s*[;,)]?", re.M)


def ports_from_verilog(text: str, module: str = "vta_top") -> list[Port]:
    """Parse the port declarations of ``module`` from (Amaranth-generated) Verilog.

    Raises
    ------
    PortError
        When the module is not in the text or declares no ports.
    """
    start = re.search(rf"^\s*module\s+{re.escape(module)}\b", text, re.M)
    if start is None:
        raise PortError(f"the Verilog has no module {module!r} (the simulated top level)")
    end = text.find("endmodule", start.end())
    body = text[start.end(): end if end >= 0 else len(text)]
    ports = []
    for m in _DECL.finditer(body):
        direction, msb, lsb, name = m.groups()
        width = abs(int(msb) - int(lsb)) + 1 if msb is not None else 1
        ports.append(Port(name, {"input": "in", "output": "out"}.get(direction, "inout"),
                          width))
    if not ports:
        raise PortError(f"module {module!r} declares no ports")
    return ports


def ports_from_manifest(manifest: str | Path | dict[str, Any]) -> list[Port]:
    """Read the port list of a gateware manifest (``vta_top.json``).

    Accepts ``"ports"`` as a list of ``{"name", "direction", "width"}`` objects or as a map
    from name to ``{"direction", "width"}``; directions ``in``/``input``/``out``/``output``.
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
        raise PortError("the manifest has no 'ports' list of {name, direction, width}")
    ports = []
    for item in raw:
        try:
            direction = str(item["direction"]).lower()
            direction = {"input": "in", "output": "out"}.get(direction, direction)
            ports.append(Port(str(item["name"]), direction, int(item["width"])))
        except (KeyError, TypeError, ValueError):
            raise PortError(f"manifest port entry {item!r} needs name, direction and "
                            f"width") from None
    return ports


def bus_bytes_of(ports: list[Port]) -> int:
    """Data bytes per beat of the AXI master (from ``m_axi_gmem_RDATA``)."""
    by_name = {p.name: p for p in ports}
    rdata = by_name.get(_G + "RDATA")
    if rdata is None:
        raise PortError(f"the design has no {_G}RDATA port")
    return rdata.width // 8


def _check(ports: list[Port]) -> None:
    by_name = {p.name: p for p in ports}
    missing = [n for n in REQUIRED_PORTS if n not in by_name]
    if missing:
        raise PortError(f"the design lacks port(s) the harness needs: {', '.join(missing)}")
    for name, direction in REQUIRED_PORTS.items():
        if by_name[name].direction != direction:
            raise PortError(f"port {name} is {by_name[name].direction}put, expected "
                            f"{direction}put")
    bus = by_name[_G + "RDATA"].width
    if bus % 32 or bus not in (32, 64, 128, 256, 512):
        raise PortError(f"{_G}RDATA is {bus} bits; expected 32, 64, 128, 256 or 512")
    for name, width in ((_G + "WDATA", bus), (_G + "WSTRB", bus // 8),
                        (_S + "WDATA", 32), (_S + "RDATA", 32),
                        (_G + "ARADDR", None), (_G + "AWADDR", None)):
        if width is not None and by_name[name].width != width:
            raise PortError(f"port {name} is {by_name[name].width} bits, expected {width}")
        if width is None and by_name[name].width > 64:
            raise PortError(f"port {name} is {by_name[name].width} bits, at most 64 expected")


def _words(width: int) -> int:
    return (width + 31) // 32


def verilated_members(header: str) -> dict[str, str]:
    """Map port names to C++ member names from a Verilated model header.

    Verilator renames ports that clash with C++ words (``interrupt`` becomes
    ``__SYM__interrupt``), so the glue must use the names it actually generated.
    """
    members = {}
    for m in re.finditer(r"VL_(?:IN|OUT|INOUT)\w*\(\s*&?(\w+)\s*,", header):
        member = m.group(1)
        members[member.removeprefix("__SYM__")] = member
    return members


def port_glue(ports: list[Port], top: str = "Vvta_top",
              members: dict[str, str] | None = None) -> str:
    """The C++ header ``vta_ports.h`` for these ports (checked against REQUIRED_PORTS).

    ``members`` maps port names to the Verilated model's member names (see
    :func:`verilated_members`); ports map to themselves when omitted.

    Raises
    ------
    PortError
        When a port the harness needs is missing or has the wrong direction or width.
    """
    _check(ports)
    ports = sorted(ports, key=lambda p: p.name)    # the same header whatever the source order
    members = members or {}

    def member(name: str) -> str:
        return members.get(name, name)

    by_name = {p.name: p for p in ports}
    bus = by_name[_G + "RDATA"].width
    lines = [
        "// Generated by vta.sim.verilator.ports from the design's port list; do not edit.",
        "#ifndef VTA_PORTS_H", "#define VTA_PORTS_H", "", "#include <cstdint>",
        "#include <cstring>", f'#include "{top}.h"', "",
        f"#define VTA_BUS_BYTES {bus // 8}", "",
        f"static inline void vta_ports_zero_inputs({top}* t) {{",
    ]
    for p in ports:
        if p.direction != "in":
            continue
        if p.width > 64:
            lines.append(f"    for (int i = 0; i < {_words(p.width)}; i++) "
                         f"t->{member(p.name)}[i] = 0;")
        else:
            lines.append(f"    t->{member(p.name)} = 0;")
    lines.append("}")

    def ref(name: str) -> str:
        return f"t->{member(name)}.data()" if by_name[name].width > 64 \
            else f"&t->{member(name)}"

    lines += [
        "",
        "// Little-endian hosts: byte i of the beat is bits [8i+7:8i] of the port.",
        f"static inline void vta_set_rdata({top}* t, const uint8_t* p) {{",
        f"    std::memcpy({ref(_G + 'RDATA')}, p, {bus // 8});",
        "}",
        f"static inline void vta_get_wdata(const {top}* t, uint8_t* p) {{",
        f"    std::memcpy(p, {ref(_G + 'WDATA')}, {bus // 8});",
        "}",
        f"static inline uint64_t vta_get_wstrb(const {top}* t) {{",
    ]
    if bus // 8 > 64:
        lines.append(f"    return t->{_G}WSTRB[0] | (uint64_t)t->{_G}WSTRB[1] << 32;")
    else:
        lines.append(f"    return t->{_G}WSTRB;")
    lines += [
        "}",
        f"static inline bool vta_get_interrupt(const {top}* t) {{",
        f"    return t->{member('interrupt')};",
        "}", "", "#endif  // VTA_PORTS_H", ""]
    return "\n".join(lines)



def sim_wrapper(ports: list[Port], top: str = "vta_top", name: str = "vta_sim_top") -> str:
    """Verilog of a wrapper with ``top``'s ports that samples ``ap_rst_n`` in a flip-flop.

    Verilator re-evaluates all logic fed by a top-level input on every ``eval()``; the
    gateware's synchronous reset reaches every register's next-state logic, so a raw reset
    input makes most of the design "input logic" evaluated twice per cycle.  Registering
    the reset (as a board's reset synchroniser does) keeps that logic in the clocked region;
    the reset takes effect, and ends, one cycle later.
    """
    ordered = sorted(ports, key=lambda p: p.name)
    decls, conns = [], []
    for p in ordered:
        rng = f"[{p.width - 1}:0] " if p.width > 1 else ""
        decls.append(f"  {'input' if p.direction == 'in' else 'output'} {rng}{p.name};")
        conns.append(f"    .{p.name}({'rst_n_q' if p.name == 'ap_rst_n' else p.name})")
    return "\n".join([
        "// Generated by vta.sim.verilator.ports; do not edit.",
        f"module {name}({', '.join(p.name for p in ordered)});", *decls,
        "  reg rst_n_q = 1'b0;",
        "  always @(posedge ap_clk) rst_n_q <= ap_rst_n;",
        f"  {top} dut (", ",\n".join(conns), "  );", "endmodule", ""])
