"""The board table: parts, capacities, ports, PYNQ lines and default configs."""

import pytest
from vta.boards.table import BOARDS, PARTS, BoardError, board, capacity_for
from vta.boards.vivado import VIVADO_RELEASES, vivado_release
from vta.driver.pynq_lines import PYNQ_LINES
from vta.hw.config import VTAConfig


def test_the_boards_and_their_parts():
    assert {b: BOARDS[b].part for b in BOARDS} == {
        "pynq-z1": "xc7z020clg400-1", "pynq-z2": "xc7z020clg400-1",
        "ultra96-v2": "xczu3eg-sbva484-1-i", "zcu104": "xczu7ev-ffvc1156-2-e",
        "kv260": "xck26-sfvc784-2LV-c", "kr260": "xck26-sfvc784-2LV-c"}
    z020 = PARTS["xc7z020clg400-1"]
    assert (z020.lut, z020.ff, z020.bram36, z020.dsp, z020.uram) == (53_200, 106_400, 140,
                                                                      220, 0)
    k26 = capacity_for("XCK26-SFVC784-2LV-C")
    assert (k26.lut, k26.ff, k26.bram36, k26.dsp, k26.uram) == (117_120, 234_240, 144,
                                                                 1_248, 64)
    assert capacity_for("XCZU3EG-SBVA484-1-I").dsp == 360
    assert capacity_for("xczu7ev-ffvc1156-2-e").lut == 230_400
    assert "URAM" not in z020.as_dict() and k26.as_dict()["URAM"] == 64


def test_hwh_part_fields_follow_vivados_naming():
    assert PARTS["xc7z020clg400-1"].fields == ("7z020", "clg400", "-1")
    assert PARTS["xczu7ev-ffvc1156-2-e"].fields == ("xczu7ev", "ffvc1156", "-2")
    assert PARTS["xck26-sfvc784-2LV-c"].fields == ("xck26", "sfvc784", "-2LV")


def test_pynq_lines_python_and_vivado_per_board():
    got = {n: (b.pynq_lines, b.python, b.vivado, b.clock_mhz) for n, b in BOARDS.items()}
    assert got == {
        "pynq-z1": (("3.1",), "3.10", "2024.1", 100),
        "pynq-z2": (("3.1",), "3.10", "2024.1", 100),
        "ultra96-v2": (("3.1",), "3.10", "2024.1", 333),
        "zcu104": (("4.0", "3.1"), "3.12", "2025.2", 333),
        "kv260": (("4.0", "3.1"), "3.12", "2025.2", 250),
        "kr260": (("4.0", "3.1"), "3.12", "2025.2", 250)}
    for b in BOARDS.values():
        for name in b.pynq_lines:                 # every line has images for the family
            assert PYNQ_LINES[name].supports_family(b.family), (b.name, name)
            assert vivado_release(PYNQ_LINES[name].vivado)
    # PYNQ 4.0 dropped the Zynq-7000 boards
    assert not PYNQ_LINES["4.0"].supports_family("zynq")
    assert set(VIVADO_RELEASES) == {p.vivado for p in PYNQ_LINES.values()}


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_every_board_is_consistent_with_its_default_config(name):
    b = BOARDS[name]
    cfg = b.default_config()
    b.check_config(cfg)                                   # bus width and profile match
    assert b.capacity.part == b.part
    assert b.clock_mhz == cfg.CLOCK_MHZ
    if b.ps == "ps7":
        assert (b.control_port, b.data_port, b.irq_pin) == ("M_AXI_GP0", "S_AXI_HP0",
                                                            "IRQ_F2P")
        assert b.axi_profile == "axi3" and b.capacity.dsp_kind == "DSP48E1"
        assert b.ps_ip == "processing_system7"
    else:
        assert (b.control_port, b.data_port) == ("M_AXI_HPM0_FPD", "S_AXI_HP0_FPD")
        assert b.axi_profile == "axi4" and b.capacity.dsp_kind == "DSP48E2"
        assert b.ps_ip == "zynq_ultra_ps_e"
    assert b.control_base % b.control_range == 0
    assert b.port_peak_gbs == b.axi_width / 8 * b.clock_mhz / 1000
    assert 0 < b.port_peak_gbs <= b.dram_peak_gbs
    assert b.as_dict()["python"] == b.python


def test_the_k26_preset_uses_the_soms_ultraram():
    kv, kr = BOARDS["kv260"], BOARDS["kr260"]
    assert kv.default_config() == kr.default_config() == VTAConfig.preset("k26")
    cfg = kv.default_config()
    assert cfg.ULTRA_RAM and cfg.WIDE_ISA
    # 4096-deep buffers: one UltraRAM column each (4096 x 72 bits per block)
    assert cfg.inp_depth == cfg.wgt_depth == cfg.acc_depth == 4096
    with pytest.raises(BoardError, match="puts its buffers in UltraRAM but ultra96-v2's "
                                         "xczu3eg-sbva484-1-i has none"):
        BOARDS["ultra96-v2"].check_config(cfg)


def test_lookup_by_alias_and_clear_errors():
    assert board("Ultra96").name == "ultra96-v2"
    assert board("PYNQZ2").name == "pynq-z2"
    assert board("KV-260").name == "kv260"
    with pytest.raises(BoardError, match="unknown board 'de10'; boards are pynq-z1"):
        board("de10")
    with pytest.raises(BoardError, match="unknown part"):
        capacity_for("xc7a35t")
    with pytest.raises(BoardError, match="128-bit bus but pynq-z1's S_AXI_HP0 is 64-bit"):
        BOARDS["pynq-z1"].check_config(VTAConfig.preset("zcu104"))
    with pytest.raises(BoardError, match="needs axi4"):
        BOARDS["zcu104"].check_config(VTAConfig.preset("zcu104").replace(AXI_PROFILE="axi3"))
    with pytest.raises(BoardError, match="pynq-z1 has no PYNQ 4.0 image; its PYNQ lines "
                                         "are 3.1.x"):
        BOARDS["pynq-z1"].line("4.0")
    assert BOARDS["zcu104"].line("3.1.x").vivado == "2024.1"
    with pytest.raises(BoardError, match=r"no block design for Vivado '2019.1'; the flow "
                                         r"targets 2024.1, 2025.2"):
        vivado_release("2019.1")
