"""A hardware handoff (``.hwh``) describing the block design that ``build.tcl`` creates.

On a board, Vivado writes the ``.hwh``.  Without Vivado -- the simulated overlay of
:mod:`vta.boards.pynq_sim`, tests -- :func:`hwh_xml` writes one with the same content for
the same design: the processing system with its fabric clock, reset, control master and
DRAM slave port, the reset block, the control interconnect, the interrupt concat and the
accelerator ``vta_0`` (module reference ``vta_bd_top``) with its register map and
address ranges -- each IP with the VLNV of the Vivado release the build targets
(:mod:`vta.boards.vivado`), whose version it records as ``VIVADOVERSION``.  It is the
EDK XML that both PYNQ lines parse (``pynqmetadata``'s HWH frontend): ``SYSTEMINFO``,
``MODULES/MODULE`` with ``PARAMETERS``, ``PORTS`` (``CONNECTIONS``), ``BUSINTERFACES``
(``PORTMAPS``), ``ADDRESSBLOCKS`` and ``MEMORYMAP/MEMRANGE``.

The accelerator carries the parameter ``VTA_CONFIG`` (the config name), which the PYNQ
driver checks, as the wrapper's Verilog parameter of the same name does on hardware.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from xml.etree import ElementTree as ET

from vta.hw import ports
from vta.hw.config import VTAConfig
from vta.hw.regmap import REGISTERS

from .table import Board
from .tcl import ACCEL_CELL, BD_NAME
from .vivado import VivadoRelease, vivado_release
from .wrapper import WRAPPER_MODULE, master_addr_width

__all__ = ["hwh_xml", "ps_clock_parameters"]

_AXIMM = "xilinx.com:interface:aximm:1.0"
_ACCESS = {"rw": "read-write", "ro": "read-only", "w1c": "read-write"}


@dataclass
class _Port:
    name: str
    direction: str          # "I" or "O"
    width: int = 1
    sigis: str = "undef"
    extra: dict[str, str] = field(default_factory=dict)
    connections: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class _Bus:
    name: str
    kind: str               # MASTER or SLAVE
    ports: dict[str, str]   # logical -> physical
    width: int = 32
    params: dict[str, str] = field(default_factory=dict)


@dataclass
class _Module:
    instance: str
    vlnv: str
    modtype: str
    attrs: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    ports: dict[str, _Port] = field(default_factory=dict)
    buses: list[_Bus] = field(default_factory=list)
    memranges: list[dict[str, str]] = field(default_factory=list)
    registers: bool = False

    def port(self, name: str, direction: str, width: int = 1, sigis: str = "undef",
             **extra: str) -> _Port:
        p = _Port(name, direction, width, sigis, dict(extra))
        self.ports[name] = p
        return p


def _connect(a: _Module, pa: str, b: _Module, pb: str) -> None:
    a.ports[pa].connections.append((b.instance, pb))
    b.ports[pb].connections.append((a.instance, pa))


def _axi_signals(lite: bool, protocol: str, data: int, addr: int, ids: int) -> list[tuple]:
    """(logical, master-side direction, width) of an AXI bus (:func:`ports.axi_signals`)."""
    sigs = ports.axi_signals(lite=lite, axi3=protocol == "AXI3", data_width=data,
                             addr_width=addr, id_width=ids)
    return [(name, "O" if d == "out" else "I", w) for name, (d, w) in sigs.items()]


def _add_bus(m: _Module, name: str, kind: str, sigs: list[tuple], prefix: str,
             protocol: str, data: int, lower: bool = False) -> _Bus:
    bus = _Bus(name, kind, {}, data, {"PROTOCOL": protocol, "DATA_WIDTH": str(data),
                                      "HAS_QOS": "1" if protocol != "AXI4LITE" else "0"})
    for logical, mdir, width in sigs:
        phys = f"{prefix}_{logical.lower() if lower else logical}"
        direction = mdir if kind == "MASTER" else ("I" if mdir == "O" else "O")
        m.port(phys, direction, width)
        bus.ports[logical] = phys
    m.buses.append(bus)
    return bus


def _connect_buses(a: _Module, ba: _Bus, b: _Module, bb: _Bus) -> None:
    for logical, phys in ba.ports.items():
        if logical in bb.ports:
            _connect(a, phys, b, bb.ports[logical])


def ps_clock_parameters(board: Board, config: VTAConfig) -> dict[str, str]:
    """The PS parameters PYNQ reads to set the fabric clock (clock 0 on, the rest off)."""
    mhz = config.CLOCK_MHZ
    src_mhz = 1000 if board.ps == "ps7" else 1500     # IO PLL
    div = max(1, round(src_mhz / mhz))
    div0, div1 = next(((a, div // a) for a in range(min(div, 63), 0, -1)
                       if div % a == 0 and div // a <= 63), (63, 1))
    achieved = f"{src_mhz / (div0 * div1):.6f}"
    params: dict[str, str] = {}
    for i in range(4):
        on = i == 0
        d0, d1 = (div0, div1) if on else (1, 1)
        if board.ps == "ps7":
            params.update({f"PCW_FPGA{i}_PERIPHERAL_FREQMHZ": str(mhz if on else 50),
                           f"PCW_FCLK{i}_PERIPHERAL_CLKSRC": "IO PLL",
                           f"PCW_FCLK{i}_PERIPHERAL_DIVISOR0": str(d0),
                           f"PCW_FCLK{i}_PERIPHERAL_DIVISOR1": str(d1),
                           f"PCW_FPGA_FCLK{i}_ENABLE": "1" if on else "0"})
        else:
            params.update({f"PSU__CRL_APB__PL{i}_REF_CTRL__FREQMHZ": str(mhz if on else 100),
                           f"PSU__CRL_APB__PL{i}_REF_CTRL__SRCSEL": "IOPLL",
                           f"PSU__CRL_APB__PL{i}_REF_CTRL__DIVISOR0": str(d0),
                           f"PSU__CRL_APB__PL{i}_REF_CTRL__DIVISOR1": str(d1),
                           f"PSU__FPGA_PL{i}_ENABLE": "1" if on else "0"})
    if board.ps == "ps7":
        params["PCW_ACT_FPGA0_PERIPHERAL_FREQMHZ"] = achieved
    # PYNQ 4 reads the achieved rate of every PS family under this one name.
    params["PSU__CRL_APB__PL0_REF_CTRL__ACT_FREQMHZ"] = achieved
    return params


def _ip_name(vlnv: str) -> str:
    return vlnv.split(":")[2]


def _design(board: Board, config: VTAConfig, release: VivadoRelease) -> list[_Module]:
    ps7 = board.ps == "ps7"
    hz = str(config.CLOCK_MHZ * 1_000_000)
    ps = _Module("ps", release.ps(board.ps), board.ps_ip,
                 {"IS_PL": "FALSE", "IPTYPE": "PERIPHERAL"})
    ps.params.update(ps_clock_parameters(board, config))
    if ps7:
        ps.params.update({"PCW_USE_M_AXI_GP0": "1", "PCW_USE_S_AXI_HP0": "1",
                          "PCW_S_AXI_HP0_DATA_WIDTH": str(config.BUS_WIDTH),
                          "C_S_AXI_HP0_DATA_WIDTH": str(config.BUS_WIDTH),
                          "PCW_USE_FABRIC_INTERRUPT": "1", "PCW_IRQ_F2P_INTR": "1"})
    else:
        ps.params.update({"PSU__USE__M_AXI_GP0": "1", "PSU__USE__S_AXI_GP2": "1",
                          "PSU__SAXIGP2__DATA_WIDTH": str(config.BUS_WIDTH),
                          "PSU__MAXIGP0__DATA_WIDTH": "32", "PSU__USE__IRQ0": "1"})
    ps.port(board.clock_pin, "O", 1, "clk", CLKFREQUENCY=hz)
    ps.port(board.reset_pin, "O", 1, "rst")
    ps.port(board.irq_pin, "I", 1, "INTERRUPT", SENSITIVITY="LEVEL_HIGH")
    ctrl_clk = f"{board.control_port}_ACLK" if ps7 else "maxihpm0_fpd_aclk"
    data_clk = f"{board.data_port}_ACLK" if ps7 else "saxihp0_fpd_aclk"
    ps.port(ctrl_clk, "I", 1, "clk", CLKFREQUENCY=hz)
    ps.port(data_clk, "I", 1, "clk", CLKFREQUENCY=hz)
    gp_protocol = "AXI3" if ps7 else "AXI4"
    gp_ids = 12 if ps7 else 16
    ps_gp = _add_bus(ps, board.control_port, "MASTER",
                     _axi_signals(False, gp_protocol, 32, 32 if ps7 else 40, gp_ids),
                     board.control_port, gp_protocol, 32)
    hp_protocol = config.AXI_PROFILE.upper()
    addr_w = master_addr_width(board)
    ps_hp = _add_bus(ps, board.data_port, "SLAVE",
                     _axi_signals(False, hp_protocol, config.BUS_WIDTH,
                                  32 if ps7 else 49, 6), board.data_port, hp_protocol,
                     config.BUS_WIDTH)

    rst = _Module("rst_ps", release.reset, _ip_name(release.reset))
    rst.port("slowest_sync_clk", "I", 1, "clk", CLKFREQUENCY=hz)
    rst.port("ext_reset_in", "I", 1, "rst")
    rst.port("peripheral_aresetn", "O", 1, "rst")
    rst.port("interconnect_aresetn", "O", 1, "rst")

    ic = _Module("ctrl_ic", release.interconnect, _ip_name(release.interconnect),
                 {"IPTYPE": "BUS", "MODCLASS": "BUS"}, {"NUM_SI": "1", "NUM_MI": "1"})
    for clk in release.interconnect_clocks():
        ic.port(clk, "I", 1, "clk", CLKFREQUENCY=hz)
    ic_rst, ic_periph_rst = release.interconnect_resets()
    for r in (*ic_rst, *ic_periph_rst):
        ic.port(r, "I", 1, "rst")
    ic_s = _add_bus(ic, "S00_AXI", "SLAVE",
                    _axi_signals(False, gp_protocol, 32, 32 if ps7 else 40, gp_ids),
                    "S00_AXI", gp_protocol, 32, lower=True)
    ic_m = _add_bus(ic, "M00_AXI", "MASTER",
                    _axi_signals(True, "AXI4LITE", ports.CONTROL_DATA_WIDTH,
                                 ports.CONTROL_ADDR_WIDTH, 0),
                    "M00_AXI", "AXI4LITE", 32, lower=True)

    cat = _Module("irq_concat", release.concat, _ip_name(release.concat),
                  params={"NUM_PORTS": "1", "IN0_WIDTH": "1", "dout_width": "1"})
    cat.port("In0", "I", 1, "INTERRUPT", SENSITIVITY="LEVEL_HIGH")
    cat.port("dout", "O", 1, "INTERRUPT", SENSITIVITY="LEVEL_HIGH")

    vta = _Module(ACCEL_CELL, f"xilinx.com:module_ref:{WRAPPER_MODULE}:1.0", WRAPPER_MODULE,
                  {"IPTYPE": "PERIPHERAL", "MODCLASS": "PERIPHERAL", "BDTYPE": "MODULE_REF"},
                  {"VTA_CONFIG": config.name, "VTA_TARGET": config.TARGET,
                   "VTA_MACS_PER_CYCLE": str(config.macs_per_cycle)},
                  registers=True)
    vta_lite = _Bus(ports.CONTROL_BUS, "SLAVE", {}, ports.CONTROL_DATA_WIDTH,
                    {"PROTOCOL": "AXI4LITE", "DATA_WIDTH": str(ports.CONTROL_DATA_WIDTH),
                     "ADDR_WIDTH": str(ports.CONTROL_ADDR_WIDTH)})
    vta_mm = _Bus(ports.MEMORY_BUS, "MASTER", {}, config.BUS_WIDTH,
                  {"PROTOCOL": hp_protocol, "DATA_WIDTH": str(config.BUS_WIDTH),
                   "ADDR_WIDTH": str(addr_w), "HAS_QOS": "1",
                   "MAX_BURST_LENGTH": str(config.max_burst_beats)})
    for p in ports.top_ports(config):
        address = p.bus == ports.MEMORY_BUS and p.logical in ("AWADDR", "ARADDR")
        width = addr_w if address else p.width
        if p.name == ports.CLOCK:
            vta.port(p.name, "I", 1, "clk", CLKFREQUENCY=hz)
        elif p.name == ports.RESET:
            vta.port(p.name, "I", 1, "rst")
        elif p.name == ports.INTERRUPT:
            vta.port(p.name, "O", 1, "INTERRUPT", SENSITIVITY="LEVEL_HIGH")
        else:
            vta.port(p.name, "I" if p.direction == "in" else "O", width)
            (vta_lite if p.bus == ports.CONTROL_BUS else vta_mm).ports[p.logical] = p.name
    vta.buses += [vta_lite, vta_mm]

    # Nets, as build.tcl connects them.
    _connect(ps, board.clock_pin, ps, ctrl_clk)
    _connect(ps, board.clock_pin, ps, data_clk)
    for m, pin in ((vta, "ap_clk"), (rst, "slowest_sync_clk"),
                   *((ic, c) for c in release.interconnect_clocks())):
        _connect(ps, board.clock_pin, m, pin)
    _connect(ps, board.reset_pin, rst, "ext_reset_in")
    for pin in ic_rst:
        _connect(rst, "interconnect_aresetn", ic, pin)
    for m, pin in ((vta, "ap_rst_n"), *((ic, p) for p in ic_periph_rst)):
        _connect(rst, "peripheral_aresetn", m, pin)
    _connect_buses(ps, ps_gp, ic, ic_s)
    _connect_buses(ic, ic_m, vta, vta_lite)
    _connect_buses(vta, vta_mm, ps, ps_hp)
    _connect(vta, "interrupt", cat, "In0")
    _connect(cat, "dout", ps, board.irq_pin)
    for bus, peer in ((ps_gp, "ctrl_ic"), (ps_hp, ACCEL_CELL)):
        bus.params["BUSNAME"] = peer
    ic_m.params["BUSNAME"] = ACCEL_CELL

    high = board.control_base + board.control_range - 1
    ps.memranges.append({
        "ADDRESSBLOCK": "reg0", "BASENAME": "C_BASEADDR",
        "BASEVALUE": f"0x{board.control_base:08X}", "HIGHNAME": "C_HIGHADDR",
        "HIGHVALUE": f"0x{high:08X}", "INSTANCE": ACCEL_CELL, "IS_DATA": "TRUE",
        "IS_INSTRUCTION": "TRUE", "MASTERBUSINTERFACE": board.control_port,
        "MEMTYPE": "REGISTER", "SLAVEBUSINTERFACE": ports.CONTROL_BUS})
    dram_high = board.dram_base + board.dram_size - 1
    vta.memranges.append({
        "ADDRESSBLOCK": "HP0_DDR_LOWOCM" if ps7 else "HP0_DDR_LOW", "BASENAME": "C_BASEADDR",
        "BASEVALUE": f"0x{board.dram_base:08X}", "HIGHNAME": "C_HIGHADDR",
        "HIGHVALUE": f"0x{dram_high:08X}", "INSTANCE": "ps", "IS_DATA": "TRUE",
        "IS_INSTRUCTION": "TRUE", "MASTERBUSINTERFACE": ports.MEMORY_BUS, "MEMTYPE": "MEMORY",
        "SLAVEBUSINTERFACE": board.data_port})
    return [cat, ic, ps, rst, vta]


def _registers_xml(parent: ET.Element, board: Board) -> None:
    blocks = ET.SubElement(parent, "ADDRESSBLOCKS")
    blk = ET.SubElement(blocks, "ADDRESSBLOCK", ACCESS="read-write",
                        INTERFACE=ports.CONTROL_BUS,
                        NAME="reg0", RANGE=str(board.control_range), USAGE="register")
    regs = ET.SubElement(blk, "REGISTERS")
    for r in REGISTERS:
        reg = ET.SubElement(regs, "REGISTER", NAME=r.name)
        for name, value in (("DESCRIPTION", r.doc), ("ADDRESS_OFFSET", hex(r.offset)),
                            ("SIZE", "32"), ("ACCESS", _ACCESS[r.access]),
                            ("IS_ENABLED", "true"), ("RESET_VALUE", "0")):
            ET.SubElement(reg, "PROPERTY", NAME=name, VALUE=value)


def hwh_xml(board: Board, config: VTAConfig, *, name: str | None = None,
            pynq_line: str | None = None) -> str:
    """The ``.hwh`` text of ``build.tcl``'s block design for ``board`` and ``config``.

    Parameters
    ----------
    name:
        The system name (``SYSTEMINFO NAME``); the block design's name by default.
    pynq_line:
        The PYNQ line the build is for (its Vivado release's IP); the board's current
        line by default.
    """
    release = vivado_release(board.line(pynq_line).vivado)
    device, package, speed = board.capacity.fields
    root = ET.Element("EDKSYSTEM", EDWVERSION="1.2",
                      TIMESTAMP=time.strftime("%a %b %d %H:%M:%S %Y", time.gmtime(0)),
                      VIVADOVERSION=release.version)
    ET.SubElement(root, "SYSTEMINFO", ARCH=board.family, BOARD=board.board_part,
                  DEVICE=device, NAME=name or BD_NAME, PACKAGE=package, SPEEDGRADE=speed)
    ET.SubElement(root, "EXTERNALPORTS")
    ET.SubElement(root, "EXTERNALINTERFACES")
    modules = ET.SubElement(root, "MODULES")
    for m in _design(board, config, release):
        attrs = {"FULLNAME": f"/{m.instance}", "INSTANCE": m.instance, "IS_ENABLE": "1",
                 "MODTYPE": m.modtype, "VLNV": m.vlnv, **m.attrs}
        el = ET.SubElement(modules, "MODULE", attrs)
        if m.registers:
            _registers_xml(el, board)
        params = ET.SubElement(el, "PARAMETERS")
        for k, v in m.params.items():
            ET.SubElement(params, "PARAMETER", NAME=k, VALUE=v)
        ports = ET.SubElement(el, "PORTS")
        for p in m.ports.values():
            pattrs = {"DIR": p.direction, "NAME": p.name, "SIGIS": p.sigis, **p.extra}
            if p.width > 1 or p.sigis == "INTERRUPT" and p.name in (board.irq_pin, "dout"):
                pattrs.update(LEFT=str(p.width - 1), RIGHT="0")
            if p.connections:
                peer = p.connections[0]
                pattrs["SIGNAME"] = f"{peer[0]}_{peer[1]}" if p.direction == "I" else \
                    f"{m.instance}_{p.name}"
            pel = ET.SubElement(ports, "PORT", pattrs)
            if p.connections:
                conns = ET.SubElement(pel, "CONNECTIONS")
                for inst, port in p.connections:
                    ET.SubElement(conns, "CONNECTION", INSTANCE=inst, PORT=port)
        buses = ET.SubElement(el, "BUSINTERFACES")
        for b in m.buses:
            busname = b.params.pop("BUSNAME", f"{m.instance}_{b.name}")
            bel = ET.SubElement(buses, "BUSINTERFACE", BUSNAME=busname, DATAWIDTH=str(b.width),
                                NAME=b.name, TYPE=b.kind, VLNV=_AXIMM)
            bparams = ET.SubElement(bel, "PARAMETERS")
            for k, v in b.params.items():
                ET.SubElement(bparams, "PARAMETER", NAME=k, VALUE=v)
            pmaps = ET.SubElement(bel, "PORTMAPS")
            for logical, phys in b.ports.items():
                ET.SubElement(pmaps, "PORTMAP", LOGICAL=logical, PHYSICAL=phys)
        if m.memranges:
            mmap = ET.SubElement(el, "MEMORYMAP")
            for r in m.memranges:
                ET.SubElement(mmap, "MEMRANGE", r)
    ET.indent(root, space="  ")
    return ('<?xml version="1.0" encoding="UTF-8" standalone="no" ?>\n'
            + ET.tostring(root, encoding="unicode") + "\n")
