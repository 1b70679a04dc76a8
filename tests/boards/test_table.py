"""The board table: parts, capacities, ports and default configs."""

import pytest
from vta.boards.table import BOARDS, PARTS, BoardError, board, capacity_for
from vta.hw.config import VTAConfig


def test_the_four_boards_and_their_parts():
    assert {b: BOARDS[b].part for b in BOARDS} == {
        "pynq-z1": "xc7z020clg400-1", "pynq-z2": "xc7z020clg400-1",
        "ultra96-v2": "xczu3eg-sbva484-1-i", "zcu104": "xczu7ev-ffvc1156-2-e"}
    z020 = PARTS["xc7z020clg400-1"]
    assert (z020.lut, z020.ff, z020.bram36, z020.dsp) == (53_200, 106_400, 140, 220)
    assert capacity_for("XCZU3EG-SBVA484-1-I").dsp == 360
    assert capacity_for("xczu7ev-ffvc1156-2-e").lut == 230_400


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_every_board_is_consistent_with_its_default_config(name):
    b = BOARDS[name]
    cfg = b.default_config()
    b.check_config(cfg)                                   # bus width and profile match
    assert b.capacity.part == b.part
    if b.ps == "ps7":
        assert (b.control_port, b.data_port, b.irq_pin) == ("M_AXI_GP0", "S_AXI_HP0",
                                                            "IRQ_F2P")
        assert b.axi_profile == "axi3" and b.capacity.dsp_kind == "DSP48E1"
    else:
        assert (b.control_port, b.data_port) == ("M_AXI_HPM0_FPD", "S_AXI_HP0_FPD")
        assert b.axi_profile == "axi4" and b.capacity.dsp_kind == "DSP48E2"
    assert b.control_base % b.control_range == 0
    assert b.port_peak_gbs == b.axi_width / 8 * b.clock_mhz / 1000
    assert 0 < b.port_peak_gbs <= b.dram_peak_gbs


def test_lookup_by_alias_and_clear_errors():
    assert board("Ultra96").name == "ultra96-v2"
    assert board("PYNQZ2").name == "pynq-z2"
    with pytest.raises(BoardError, match="unknown board 'de10'; boards are pynq-z1"):
        board("de10")
    with pytest.raises(BoardError, match="unknown part"):
        capacity_for("xc7a35t")
    with pytest.raises(BoardError, match="128-bit bus but pynq-z1's S_AXI_HP0 is 64-bit"):
        BOARDS["pynq-z1"].check_config(VTAConfig.preset("zcu104"))
    with pytest.raises(BoardError, match="needs axi4"):
        BOARDS["zcu104"].check_config(VTAConfig.preset("zcu104").replace(AXI_PROFILE="axi3"))
