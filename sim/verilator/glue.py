"""The C++ and Verilog glue around a design under simulation, generated from its ports.

Port widths differ per configuration (a 64-bit RDATA is a Verilator ``QData``, a 128-bit one
a ``VlWide<4>``; AxLEN is 4 or 8 bits), so the harness never names a C type itself: the
build generates ``vta_ports.h`` from the design's port list (:func:`port_glue`) -- read from
the gateware's JSON manifest (:func:`vta.hw.ports.ports_from_manifest`) when there is one,
or parsed from the Verilog module header (:func:`ports_from_verilog`) -- and
``vta_regmap.h`` from :mod:`vta.hw.regmap` (:func:`regmap_header`), so the harness's
register offsets and bits are the register map's.
"""

from __future__ import annotations

import re

from vta.hw.ports import (
    CLOCK,
    CONTROL_DATA_WIDTH,
    CONTROL_PREFIX,
    INTERRUPT,
    MEMORY_ADDR_WIDTH,
    MEMORY_PREFIX,
    RESET,
    Port,
    PortError,
    control_signals,
    port_directions,
)
from vta.hw.regmap import CTRL_DONE, CTRL_IDLE, CTRL_START, REGISTERS

__all__ = ["ports_from_verilog", "port_glue", "regmap_header", "sim_wrapper",
           "verilated_members", "clock_trigger_member", "clocked_eval", "REQUIRED_PORTS"]

_G = MEMORY_PREFIX
_S = CONTROL_PREFIX

# The memory-port signals harness.cpp and dram_model.cpp drive or read (IDs, QoS, cache
# and protection attributes are left to the design).
_HARNESS_MEMORY = ("AWVALID", "AWREADY", "AWADDR", "AWLEN", "AWSIZE", "AWBURST", "WVALID",
                   "WREADY", "WDATA", "WSTRB", "WLAST", "BVALID", "BREADY", "BRESP",
                   "ARVALID", "ARREADY", "ARADDR", "ARLEN", "ARSIZE", "ARBURST", "RVALID",
                   "RREADY", "RDATA", "RRESP", "RLAST")
_DIRECTIONS = port_directions()

#: Ports the harness reads or drives, with their direction (widths are checked separately).
REQUIRED_PORTS: dict[str, str] = {
    name: _DIRECTIONS[name] for name in
    (CLOCK, RESET, INTERRUPT, *(_S + n for n in control_signals()),
     *(_G + n for n in _HARNESS_MEMORY))}

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
                        (_S + "WDATA", CONTROL_DATA_WIDTH), (_S + "RDATA", CONTROL_DATA_WIDTH),
                        (_G + "ARADDR", None), (_G + "AWADDR", None)):
        if width is not None and by_name[name].width != width:
            raise PortError(f"port {name} is {by_name[name].width} bits, expected {width}")
        if width is None and by_name[name].width > MEMORY_ADDR_WIDTH:
            raise PortError(f"port {name} is {by_name[name].width} bits, at most "
                            f"{MEMORY_ADDR_WIDTH} expected")


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


def clock_trigger_member(root_header: str, sources: dict[str, str], ports: list[Port],
                         members: dict[str, str] | None = None) -> str | None:
    """The Verilated root member holding the clock's last evaluated value, when the
    harness may simulate a quiet cycle with one evaluation; else ``None``.

    One evaluation with the clock rising replaces "low phase, then edge" when the outputs
    the harness samples before the edge hold their last evaluated values: outputs that do
    not depend combinationally on any input.  Verilator computes such dependent outputs in
    its input-combinational ("ico") functions, so the check is that no output other than
    the control port's (whose outputs the harness samples only while a transfer is in
    flight, and then evaluates both phases) is assigned there.  ``root_header`` is the
    text of ``<prefix>___024root.h``, ``sources`` the generated ``.cpp`` texts by name.
    A Verilator that names things differently -- no such member, or no assignment this
    parser recognises in an "ico" function (a reader that sees nothing proves nothing) --
    yields ``None``: two evaluations per cycle.
    """
    names = set(re.findall(rf"\b(__Vtrigprevexpr___TOP__{CLOCK}__\d+)\b", root_header))
    if len(names) != 1:
        return None
    members = members or {}
    watched = {members.get(p.name, p.name) for p in ports
               if p.direction == "out" and not p.name.startswith(_S)}
    assigned = re.compile(r"(?:vlSelfRef\.|vlSelf->)(\w+)\s*=[^=]")
    understood = False
    for text in sources.values():
        inside = False
        for line in text.splitlines():
            if line.startswith(("void ", "VL_ATTR_COLD void ", "static void ")):
                inside = "_ico_" in line.split("(")[0]
            elif line.startswith("}"):
                inside = False
            elif inside:
                for m in assigned.finditer(line):
                    understood = True
                    if m.group(1) in watched:
                        return None
    return names.pop() if understood else None


def clocked_eval(sources: dict[str, str], top: str = "Vvta_top") -> bool:
    """Whether the harness may run an evaluation's clocked regions alone, skipping the
    input-combinational ("ico") one, in a cycle whose inputs all equal those of the last
    evaluation.

    Verilator 5 re-runs the "ico" region -- all logic downstream of a top-level input -- at
    the start of every ``eval()``; the clocked regions after an edge recompute whatever of
    it also depends on state, with the same inputs, so with unchanged inputs the region
    recomputes the values it left.  The check: the generated ``<top>___024root___eval``
    calls the "ico" phase, then the "act" and "nba" phases, and nothing else, and those two
    are ``bool`` functions of the root that the harness can call (:func:`port_glue` writes
    the loop).  Any other shape -- a Verilator that adds a region -- yields False: whole
    evaluations.
    """
    root = f"{top}___024root"
    text = "\n".join(sources.values())
    for phase in ("act", "nba"):
        if not re.search(rf"^bool {root}___eval_phase__{phase}\({root}\* vlSelf\) {{", text,
                         re.M):
            return False
    body = re.search(rf"^void {root}___eval\({root}\* vlSelf\) {{\n(.*?)^}}", text,
                     re.M | re.S)
    if body is None:
        return False
    phases = [f"{root}___eval_phase__{p}" for p in ("ico", "act", "nba")]
    calls = re.findall(r"\b(\w+)\(", body.group(1))
    bookkeeping = {"VL_DEBUG_IF", "VL_DBG_MSGF", "VL_UNLIKELY", "VL_FATAL_MT", "ref", "get",
                   f"{root}___dump_triggers__ico", f"{root}___dump_triggers__act"}
    order = [c for c in calls if c in phases]
    return set(calls) <= bookkeeping | set(phases) and order == phases


def _bytes(width: int) -> int:
    """Bytes of a Verilated port member of ``width`` bits (CData, SData, IData, QData or
    a VlWide of 32-bit words)."""
    if width > 64:
        return 4 * _words(width)
    return 1 if width <= 8 else 2 if width <= 16 else 4 if width <= 32 else 8


def port_glue(ports: list[Port], top: str = "Vvta_top",
              members: dict[str, str] | None = None, clock_trigger: str | None = None,
              clocked: bool = False) -> str:
    """The C++ header ``vta_ports.h`` for these ports (checked against REQUIRED_PORTS).

    ``members`` maps port names to the Verilated model's member names (see
    :func:`verilated_members`); ports map to themselves when omitted.  ``clock_trigger``
    (from :func:`clock_trigger_member`) enables the harness's single-evaluation cycles, and
    with ``clocked`` (from :func:`clocked_eval`) its clocked-only evaluations of cycles
    whose inputs did not change.

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
        "// Generated by vta.sim.verilator.glue from the design's port list; do not edit.",
        "#ifndef VTA_PORTS_H", "#define VTA_PORTS_H", "", "#include <cstdint>",
        "#include <cstring>", f'#include "{top}.h"', "",
        f"#define VTA_BUS_BYTES {bus // 8}", "",
        *([f'#include "{top}___024root.h"', f"#define VTA_CLOCK_TRIGGER {clock_trigger}", ""]
          if clock_trigger else []),
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

    if clock_trigger and clocked:
        root = f"{top}___024root"
        inputs = [p for p in ports if p.direction == "in" and p.name != CLOCK]
        lines += [
            "",
            "// Clocked-only evaluations (glue.clocked_eval): the regions of one eval() after",
            "// the input-combinational one, for a cycle whose inputs equal the last",
            "// evaluation's (vta_snapshot_inputs).",
            "#define VTA_CLOCKED_EVAL 1",
            f"#define VTA_INPUT_BYTES {sum(_bytes(p.width) for p in inputs)}",
            f"bool {root}___eval_phase__act({root}* vlSelf);",
            f"bool {root}___eval_phase__nba({root}* vlSelf);",
            f"static inline void vta_eval_clocked({top}* t) {{",
            f"    {root}* r = t->rootp;",
            "    for (int n = 0;; n++) {",
            f"        for (int a = 0; {root}___eval_phase__act(r); a++)",
            "            if (a > 10000) VL_FATAL_MT(__FILE__, __LINE__, \"\", "
            "\"active region did not converge\");",
            f"        if (!{root}___eval_phase__nba(r)) break;",
            "        if (n > 10000) VL_FATAL_MT(__FILE__, __LINE__, \"\", "
            "\"NBA region did not converge\");",
            "    }",
            "}",
            f"static inline void vta_snapshot_inputs(const {top}* t, uint8_t* p) {{",
        ]
        offset = 0
        for p in inputs:
            lines.append(f"    std::memcpy(p + {offset}, {ref(p.name)}, {_bytes(p.width)});")
            offset += _bytes(p.width)
        lines.append("}")

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
        f"    return t->{member(INTERRUPT)};",
        "}", "", "#endif  // VTA_PORTS_H", ""]
    return "\n".join(lines)



def regmap_header() -> str:
    """The C++ header ``vta_regmap.h``: every register offset (``VTA_REG_<NAME>``), the
    CTRL bits (``VTA_CTRL_START``/``DONE``/``IDLE``) and the write strobe of a whole
    control word (``VTA_CONTROL_WSTRB``), from :mod:`vta.hw.regmap` and
    :mod:`vta.hw.ports`."""
    lines = ["// Generated by vta.sim.verilator.glue from vta.hw.regmap; do not edit.",
             "#ifndef VTA_REGMAP_H", "#define VTA_REGMAP_H", ""]
    lines += [f"#define VTA_REG_{r.name} {r.offset:#04x}u" for r in REGISTERS]
    lines += ["", f"#define VTA_CTRL_START {CTRL_START:#x}u",
              f"#define VTA_CTRL_DONE {CTRL_DONE:#x}u", f"#define VTA_CTRL_IDLE {CTRL_IDLE:#x}u",
              f"#define VTA_CONTROL_WSTRB {(1 << CONTROL_DATA_WIDTH // 8) - 1:#x}u", "",
              "#endif  // VTA_REGMAP_H", ""]
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
        conns.append(f"    .{p.name}({'rst_n_q' if p.name == RESET else p.name})")
    return "\n".join([
        "// Generated by vta.sim.verilator.glue; do not edit.",
        f"module {name}({', '.join(p.name for p in ordered)});", *decls,
        "  reg rst_n_q = 1'b0;",
        f"  always @(posedge {CLOCK}) rst_n_q <= {RESET};",
        f"  {top} dut (", ",\n".join(conns), "  );", "endmodule", ""])
