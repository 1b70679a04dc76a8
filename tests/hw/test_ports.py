"""The one top-level port table: the gateware's ports, the AXI signal table, manifests."""

import pytest
from amaranth.hdl import Shape
from amaranth.lib.wiring import In
from vta.hw import VTAConfig
from vta.hw.gateware.top import VTACore, VTATop
from vta.hw.ports import (
    PortError,
    axi_signals,
    control_signals,
    memory_signals,
    port_directions,
    ports_from_manifest,
    top_ports,
)


@pytest.mark.parametrize("preset", ["default", "pynq", "zcu104"])
def test_the_gateware_has_exactly_the_table_ports_in_order(preset):
    cfg = VTAConfig.preset(preset)
    members = VTATop(cfg).signature.members
    table = top_ports(cfg)
    assert list(members) == [p.name for p in table]
    for p in table:
        assert Shape.cast(members[p.name].shape).width == p.width
        assert (members[p.name].flow == In) == (p.direction == "in"), p.name
    core = list(VTACore(cfg).signature.members)
    assert core == [p.name for p in table if p.name not in ("ap_clk", "ap_rst_n")]


def test_axi_profiles_and_lite():
    axi3 = memory_signals(VTAConfig.preset("pynq"))
    assert axi3["ARLEN"] == ("out", 4) and axi3["AWLOCK"] == ("out", 2) and "WID" in axi3
    axi4 = memory_signals(VTAConfig.preset("zcu104"))
    assert axi4["ARLEN"] == ("out", 8) and "WID" not in axi4 and axi4["RDATA"] == ("in", 128)
    lite = control_signals()
    assert len(lite) == 17 and lite["AWADDR"] == ("out", 8) and lite["WSTRB"] == ("out", 4)
    assert set(lite) < set(axi_signals(lite=False, data_width=32, addr_width=8))
    dirs = port_directions()
    assert dirs["s_axi_control_AWADDR"] == "in" and dirs["m_axi_gmem_WID"] == "out"
    assert dirs["interrupt"] == "out" and dirs["ap_clk"] == "in"


def test_manifest_port_lists():
    cfg = VTAConfig.preset("tiny")
    ports = top_ports(cfg)
    as_list = {"ports": [{"name": p.name, "direction": "input" if p.direction == "in"
                          else "output", "width": p.width} for p in ports]}
    as_map = {"ports": {p.name: {"dir": p.direction, "width": p.width} for p in ports}}
    assert ports_from_manifest(as_list) == ports == ports_from_manifest(as_map)
    with pytest.raises(PortError, match="no 'ports' list"):
        ports_from_manifest({"top": "vta_top"})
    with pytest.raises(PortError, match="direction 'sideways'; expected in or out"):
        ports_from_manifest({"ports": [{"name": "x", "direction": "sideways", "width": 1}]})
    with pytest.raises(PortError, match="unreadable port entry"):
        ports_from_manifest({"ports": [{"direction": "in"}]})
