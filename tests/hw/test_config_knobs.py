"""The implementation knobs GEMM_DSP_PACK and ALU_TENSOR_II: checked like every key, and
the pynq preset that sets them keeps TVM's core parameters and instruction layout."""

from __future__ import annotations

import pytest
from vta.hw import VTAConfig
from vta.hw.errors import ConfigError
from vta.hw.isa import layout_for


def test_pynq_preset_fits_the_xc7z020():
    pynq, default = VTAConfig.preset("pynq"), VTAConfig.preset("default")
    assert pynq.GEMM_DSP_PACK and pynq.ALU_TENSOR_II == 2
    # TVM's core parameters but an 8 KiB uop buffer (2 BRAM36 instead of 8): the uop fields
    # of GEMM/ALU instructions narrow from 13/14 to 11/12 bits, the rest of the layout stays.
    assert pynq.name == "1x16_i8w8a32_13_15_18_17"
    assert default.replace(TARGET="pynq", BUS_WIDTH=64, LOG_UOP_BUFF_SIZE=13).name == pynq.name
    assert layout_for(pynq) != layout_for(default)
    assert layout_for(pynq.replace(LOG_UOP_BUFF_SIZE=15)) == layout_for(default)
    assert pynq.gemm_multipliers == 128 <= 220 * 9 // 10        # xc7z020: 220 DSPs
    assert default.gemm_multipliers == default.macs_per_cycle == 256
    assert pynq.derived()["gemm_multipliers"] == 128
    for name in ("default", "ultra96", "zcu104", "k26", "tiny"):  # full speed: DSPs suffice
        cfg = VTAConfig.preset(name)
        assert not cfg.GEMM_DSP_PACK and cfg.ALU_TENSOR_II == 1, name


def test_knobs_round_trip_through_json(tmp_path):
    cfg = VTAConfig.preset("tiny").replace(GEMM_DSP_PACK=True, ALU_TENSOR_II=2)
    cfg.to_json(tmp_path / "c.json")
    assert VTAConfig.from_json(tmp_path / "c.json") == cfg
    # A TVM-style file naming the pynq target gets the preset's knobs unless it says so.
    assert VTAConfig.from_dict({"TARGET": "pynq"}).ALU_TENSOR_II == 2
    assert VTAConfig.from_dict({"TARGET": "pynq", "ALU_TENSOR_II": 1}).ALU_TENSOR_II == 1


@pytest.mark.parametrize("values, message", [
    ({"GEMM_DSP_PACK": 1}, "GEMM_DSP_PACK must be true or false, not 1"),
    ({"ALU_TENSOR_II": 3}, "ALU_TENSOR_II must be one of 1, 2, not 3"),
    ({"ALU_TENSOR_II": "2"}, "ALU_TENSOR_II must be an integer, not '2'"),
    ({"ALU_TENSOR_II": True}, "ALU_TENSOR_II must be an integer, not True"),
])
def test_bad_knobs_are_one_line_errors_naming_the_key(values, message):
    with pytest.raises(ConfigError) as err:
        VTAConfig.from_dict(values)
    assert str(err.value) == message
    with pytest.raises(ConfigError, match="GEMM_DSP_PACK must be one of False, True, not 1"):
        VTAConfig(GEMM_DSP_PACK=1)
