"""`vta board build`: generated Verilog wrapper, Vivado TCL and hardware handoff, per board
and per PYNQ line (each line's Vivado release pins its own IP).

Each board is built with a small configuration of the board's own bus (width, profile,
clock, UltraRAM use) so the gateware elaborates in seconds; the structure checked is what
the board needs: Vivado release, part, PS, ports, address map, clock, interrupt, outputs.
"""

from __future__ import annotations

import json
import re
import subprocess
import tkinter
import xml.etree.ElementTree as ET

import pytest
from vta.boards import cache
from vta.boards.build import build, check_ports, design_name, dsp_cap
from vta.boards.hwh import hwh_xml
from vta.boards.table import BOARDS, BoardError
from vta.boards.vivado import VIVADO_RELEASES, vivado_release
from vta.driver.pynq_lines import PYNQ_LINES
from vta.hw.cli import main as vta_main
from vta.hw.config import VTAConfig
from vta.hw.ports import Port, top_ports
from vta.hw.regmap import REGISTERS
from vta.hw.toolchain import verilator_env, verilator_path


def small_config(board) -> VTAConfig:
    return VTAConfig.preset("tiny").replace(BUS_WIDTH=board.axi_width,
                                            AXI_PROFILE=board.axi_profile,
                                            CLOCK_MHZ=board.clock_mhz,
                                            ULTRA_RAM=board.default_config().ULTRA_RAM)


# Every board with every PYNQ line it has images of: "zcu104@3.1".
BUILDS = [f"{name}@{line}" for name, b in BOARDS.items() for line in b.pynq_lines]


@pytest.fixture(scope="module")
def plans(tmp_path_factory):
    root = tmp_path_factory.mktemp("builds")
    cache_root = tmp_path_factory.mktemp("cache")
    out = {}
    for key in BUILDS:
        name, line = key.split("@")
        out[key] = build(name, small_config(BOARDS[name]), root / key, cache_root=cache_root,
                         pynq_line=line)
    return out


def test_the_builds_cover_every_vivado_release():
    assert {PYNQ_LINES[k.split("@")[1]].vivado for k in BUILDS} == set(VIVADO_RELEASES)


def _tcl_commands(text: str) -> list[str]:
    """Split the script into complete TCL commands (Tcl's own parser decides)."""
    interp = tkinter.Tcl()
    commands, current = [], ""
    for line in text.splitlines():
        current += line + "\n"
        if interp.call("info", "complete", current):
            if current.strip() and not current.lstrip().startswith("#"):
                commands.append(" ".join(current.replace("\\\n", " ").split()))
            current = ""
    assert current.strip() == "", f"incomplete TCL at the end: {current[:200]}"
    return commands


@pytest.mark.slow
@pytest.mark.parametrize("key", BUILDS)
def test_build_folder_has_every_file(plans, key):
    plan = plans[key]
    name, line = key.split("@")
    b = BOARDS[name]
    for f in ("vta_top.v", "vta_top.json", "vta_bd_top.v", "build.tcl", "build.sh",
              "config.json", "build.json"):
        assert (plan.out_dir / f).is_file(), f
    info = json.loads((plan.out_dir / "build.json").read_text())
    assert info["part"] == b.part and info["board"] == name
    assert info["name"] == design_name(b, plan.config) and info["digest"] == plan.digest
    assert info["control_base"] == b.control_base
    assert (info["pynq"], info["vivado"]) == (line, PYNQ_LINES[line].vivado)
    assert VTAConfig.from_json(plan.out_dir / "config.json") == plan.config
    assert "vivado -mode batch" in (plan.out_dir / "build.sh").read_text()
    assert plan.bit is None
    assert f"where Vivado {PYNQ_LINES[line].vivado} is installed" in plan.summary()
    # UltraRAM boards mark the input, weight and accumulator buffers for UltraRAM
    ultra = (plan.out_dir / "vta_top.v").read_text().count('(* ram_style = "ultra" *)')
    assert ultra == (3 if b.default_config().ULTRA_RAM else 0)


@pytest.mark.slow
@pytest.mark.parametrize("key", BUILDS)
def test_tcl_builds_the_block_design(plans, key):
    name, line = key.split("@")
    plan, b, cfg = plans[key], BOARDS[name], plans[key].config
    release = vivado_release(PYNQ_LINES[line].vivado)
    cmds = _tcl_commands(plan.tcl.read_text())
    joined = "\n".join(cmds)

    def has(pattern: str) -> None:
        assert re.search(pattern, joined), pattern

    def lit(text: str) -> None:
        assert text in joined, text

    # Written for one Vivado release, checked when it runs, every IP pinned to its version.
    lit(f"set vivado_release {release.version}")
    has(r"if \{\[version -short\] ne \$vivado_release\} \{ error ")
    has(rf"set part {b.part}")
    has(r"create_project -force \$name .* -part \$part")
    has(rf"set board_part {re.escape(b.board_part)}")
    lit(f"create_bd_cell -type ip -vlnv {release.ps(b.ps)} ps")
    assert release.ps(b.ps).split(":")[2] == b.ps_ip
    has(r"create_bd_cell -type module -reference vta_bd_top vta_0")
    lit(f"create_bd_cell -type ip -vlnv {release.interconnect} ctrl_ic")
    lit(f"create_bd_cell -type ip -vlnv {release.reset} rst_ps")
    lit(f"create_bd_cell -type {release.concat_type} -vlnv {release.concat} irq_concat")
    vlnvs = re.findall(r"-vlnv (\S+)", joined)
    assert all(v.count(":") == 3 for v in vlnvs), vlnvs       # vendor:library:name:version
    if release.version == "2024.1":        # PYNQ 3.1's base overlays use these
        assert ":axi_interconnect:2.1" in joined and "xilinx.com:ip:xlconcat:2.1" in joined
    else:                                  # 2025.2: SmartConnect and the inline-HDL concat
        assert ":smartconnect:1.0" in joined and "inline_hdl:ilconcat:1.0" in joined
        assert "axi_interconnect" not in joined and "xlconcat" not in joined
    if b.ps == "ps7":
        lit(f"CONFIG.PCW_FPGA0_PERIPHERAL_FREQMHZ {{{cfg.CLOCK_MHZ}}}")
        lit(f"CONFIG.PCW_S_AXI_HP0_DATA_WIDTH {{{cfg.BUS_WIDTH}}}")
        lit("CONFIG.PCW_USE_S_AXI_HP0 {1}")
        lit("CONFIG.PCW_IRQ_F2P_INTR {1}")
    else:
        lit(f"CONFIG.PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ {{{cfg.CLOCK_MHZ}}}")
        lit(f"CONFIG.PSU__SAXIGP2__DATA_WIDTH {{{cfg.BUS_WIDTH}}}")
        lit("CONFIG.PSU__USE__IRQ0 {1}")
    # Clock, reset, buses, interrupt.
    has(rf"set clk_pin \[get_bd_pins ps/{b.clock_pin}\]")
    clock_net = next(c for c in cmds if c.startswith("connect_bd_net $clk_pin"))
    for pin in ("vta_0/ap_clk", "rst_ps/slowest_sync_clk",
                *(f"ctrl_ic/{c}" for c in release.interconnect_clocks())):
        assert pin in clock_net
    has(rf"connect_bd_net \[get_bd_pins ps/{b.reset_pin}\] \[get_bd_pins rst_ps/ext_reset_in\]")
    has(r"connect_bd_net \[get_bd_pins rst_ps/peripheral_aresetn\] \[get_bd_pins vta_0/ap_rst_n\]")
    ic_rst, ic_periph = release.interconnect_resets()
    for pin in ic_rst:
        has(rf"connect_bd_net \[get_bd_pins rst_ps/interconnect_aresetn\] "
            rf"\[get_bd_pins ctrl_ic/{pin}\]")
    periph_net = next(c for c in cmds if c.startswith(
        "connect_bd_net [get_bd_pins rst_ps/peripheral_aresetn]"))
    assert all(f"ctrl_ic/{p}" in periph_net for p in ic_periph)
    has(rf"connect_bd_intf_net \[get_bd_intf_pins ps/{b.control_port}\] "
        rf"\[get_bd_intf_pins ctrl_ic/S00_AXI\]")
    has(r"connect_bd_intf_net \[get_bd_intf_pins ctrl_ic/M00_AXI\] "
        r"\[get_bd_intf_pins vta_0/s_axi_control\]")
    has(rf"connect_bd_intf_net \[get_bd_intf_pins vta_0/m_axi_gmem\] "
        rf"\[get_bd_intf_pins ps/{b.data_port}\]")
    has(rf"connect_bd_net \[get_bd_pins irq_concat/dout\] \[get_bd_pins ps/{b.irq_pin}\]")
    # Address map and outputs.
    has(rf"assign_bd_address -offset {b.control_base:#010x} -range "
        rf"{b.control_range // 1024}K .*vta_0/s_axi_control")
    has(r"launch_runs impl_1 -to_step write_bitstream")
    has(r"file copy -force \$bit \[file join \$here \$name.bit\]")
    has(r"file copy -force \$hwh \[file join \$here \$name.hwh\]")
    sources = re.search(r"add_files -norecurse \[list (.*)\]", joined).group(1)
    assert "vta_top.v" in sources and "vta_bd_top.v" in sources


@pytest.mark.slow
@pytest.mark.parametrize("key", [f"{n}@{b.pynq_lines[0]}" for n, b in BOARDS.items()])
def test_wrapper_declares_the_interfaces_and_lints(plans, key):
    name = key.split("@")[0]
    plan, b, cfg = plans[key], BOARDS[name], plans[key].config
    text = (plan.out_dir / "vta_bd_top.v").read_text()
    protocol = "AXI3" if cfg.AXI_PROFILE == "axi3" else "AXI4"
    assert f"PROTOCOL {protocol}, DATA_WIDTH {cfg.BUS_WIDTH}" in text
    assert "PROTOCOL AXI4LITE, DATA_WIDTH 32, ADDR_WIDTH 8" in text
    assert f"FREQ_HZ {cfg.CLOCK_MHZ * 1_000_000}" in text
    assert "POLARITY ACTIVE_LOW" in text and "SENSITIVITY LEVEL_HIGH" in text
    assert f"parameter VTA_CONFIG = \"{cfg.name}\"" in text
    for port in top_ports(cfg):
        if port.bus:
            assert f"aximm:1.0 {port.bus} {port.logical}\"" in text, port.name
    addr = 31 if b.ps == "ps7" else 63
    assert f"output wire [{addr}:0] m_axi_gmem_ARADDR" in text
    proc = subprocess.run([str(verilator_path()), "--lint-only", "-Wno-fatal",
                           "--top-module", "vta_bd_top", "vta_bd_top.v", "vta_top.v"],
                          cwd=plan.out_dir, env=verilator_env(), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    wrapper_msgs = [ln for ln in proc.stderr.splitlines()
                    if ln.startswith("%") and "vta_bd_top.v" in ln and "SYMRSVDWORD" not in ln]
    assert not wrapper_msgs, wrapper_msgs


@pytest.mark.parametrize("key", BUILDS)
def test_hwh_describes_the_same_design(key):
    name, line = key.split("@")
    b = BOARDS[name]
    cfg = b.default_config()
    release = vivado_release(PYNQ_LINES[line].vivado)
    root = ET.fromstring(hwh_xml(b, cfg, pynq_line=line))
    assert root.get("VIVADOVERSION") == release.version
    sysinfo = root.find("SYSTEMINFO")
    assert sysinfo.get("ARCH") == b.family
    assert (sysinfo.get("DEVICE"), sysinfo.get("PACKAGE"), sysinfo.get("SPEEDGRADE")) \
        == b.capacity.fields
    mods = {m.get("INSTANCE"): m for m in root.iter("MODULE")}
    assert set(mods) == {"ps", "rst_ps", "ctrl_ic", "irq_concat", "vta_0"}
    assert {i: m.get("VLNV") for i, m in mods.items() if i != "vta_0"} == {
        "ps": release.ps(b.ps), "rst_ps": release.reset, "ctrl_ic": release.interconnect,
        "irq_concat": release.concat}
    ic_pins = {p.get("NAME") for p in mods["ctrl_ic"].find("PORTS")}
    ic_rst, ic_periph = release.interconnect_resets()
    assert {*release.interconnect_clocks(), *ic_rst, *ic_periph} <= ic_pins
    ps, vta = mods["ps"], mods["vta_0"]
    assert ps.get("MODTYPE") == b.ps_ip
    rng = ps.find("MEMORYMAP/MEMRANGE")
    assert (rng.get("INSTANCE"), rng.get("SLAVEBUSINTERFACE"), rng.get("MASTERBUSINTERFACE")) \
        == ("vta_0", "s_axi_control", b.control_port)
    assert int(rng.get("BASEVALUE"), 16) == b.control_base
    assert int(rng.get("HIGHVALUE"), 16) == b.control_base + b.control_range - 1
    params = {p.get("NAME"): p.get("VALUE") for p in vta.iter("PARAMETER")}
    assert params["VTA_CONFIG"] == cfg.name
    regs = [r.get("NAME") for r in vta.iter("REGISTER")]
    assert regs == [r.name for r in REGISTERS]
    # Every accelerator port is connected, to the PS or the interconnect, as in build.tcl.
    ports = {p.get("NAME"): p for p in vta.find("PORTS")}
    assert set(ports) == {p.name for p in top_ports(cfg)}
    for pname, p in ports.items():
        peers = {c.get("INSTANCE") for c in p.iter("CONNECTION")}
        assert peers, pname
        if pname.startswith("m_axi_gmem_"):
            assert peers == {"ps"}
            assert p.find("CONNECTIONS/CONNECTION").get("PORT").startswith(b.data_port)
        if pname.startswith("s_axi_control_"):
            assert peers == {"ctrl_ic"}
    assert ports["ap_clk"].get("CLKFREQUENCY") == str(cfg.CLOCK_MHZ * 1_000_000)
    irq = {c.get("INSTANCE") + "/" + c.get("PORT")
           for c in mods["irq_concat"].iter("CONNECTION")}
    assert irq == {"vta_0/interrupt", f"ps/{b.irq_pin}"}


@pytest.mark.slow
def test_cache_hit_copies_the_bitstream(plans, tmp_path):
    plan = plans["pynq-z1@3.1"]
    b = plan.board
    # A finished Vivado run, stored under the digest of these sources.
    bit, hwh = tmp_path / "x.bit", tmp_path / "x.hwh"
    bit.write_bytes(b"\x00\x09bitstream")
    hwh.write_text(hwh_xml(b, plan.config))
    root = tmp_path / "cache"
    entry = cache.store(b.name, b.part, plan.config.name, plan.digest, bit, hwh,
                        name=plan.name, root=root)
    assert json.loads((entry.path / "manifest.json").read_text())["digest"] == plan.digest
    again = build("pynq-z1", plan.config, tmp_path / "again", cache_root=root)
    assert again.digest == plan.digest           # same sources, same key
    assert again.cached and again.bit.read_bytes() == bit.read_bytes()
    assert again.hwh.name == f"{plan.name}.hwh"
    assert [e.path for e in cache.entries(root)] == [entry.path]
    # A damaged entry is a miss, not a wrong bitstream.
    entry.bit.write_bytes(b"tampered")
    assert cache.lookup(b.name, plan.config.name, plan.digest, root=root) is None


def test_build_rejects_mismatched_config_and_port_drift(tmp_path):
    with pytest.raises(BoardError, match="128-bit bus but pynq-z2's S_AXI_HP0 is 64-bit"):
        build("pynq-z2", "zcu104", tmp_path)
    cfg = VTAConfig.preset("pynq")
    ports = top_ports(cfg)
    drift = [p if p.name != "m_axi_gmem_ARLEN" else Port(p.name, "out", 8) for p in ports]
    with pytest.raises(BoardError, match="ARLEN is out 8 bits; the board flow expects out 4"):
        check_ports(drift, cfg)
    with pytest.raises(BoardError, match="has no port interrupt"):
        check_ports(ports[:-1], cfg)
    with pytest.raises(BoardError, match="does not connect: debug"):
        check_ports([*ports, Port("debug", "out", 1)], cfg)


def test_dsp_cap_only_where_the_part_is_short():
    # The pynq preset packs two int8 products per DSP: 128 DSPs, no cap; one per MAC
    # (256) exceeds the xc7z020's 220 DSPs and gets a cap of 90%.
    assert dsp_cap(BOARDS["pynq-z1"], VTAConfig.preset("pynq")) is None
    unpacked = VTAConfig.preset("pynq").replace(GEMM_DSP_PACK=False)
    assert dsp_cap(BOARDS["pynq-z1"], unpacked) == 198
    assert dsp_cap(BOARDS["zcu104"], VTAConfig.preset("zcu104")) is None
    assert dsp_cap(BOARDS["ultra96-v2"], VTAConfig.preset("ultra96")) is None


def test_cli_errors_are_one_line(capsys, tmp_path):
    assert vta_main(["board", "build", "--board", "arty", "-o", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("vta: error: unknown board 'arty'")
    assert vta_main(["board", "build", "--board", "pynq-z2", "--pynq", "4.0",
                     "-o", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["vta: error: pynq-z2 has no PYNQ 4.0 image; its PYNQ lines are 3.1.x"]


@pytest.mark.slow
def test_run_without_vivado_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))     # no vivado (and nothing else)
    cfg = tmp_path / "small.json"
    small_config(BOARDS["kv260"]).to_json(cfg)
    status = vta_main(["board", "build", "--board", "kv260", "--config", str(cfg),
                       "-o", str(tmp_path / "b"), "--run", "--no-cache"])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1
    assert err[0].startswith("vta: error: Vivado is not on PATH; the build files are in ")
    assert err[0].endswith("on a machine with Vivado 2025.2")
