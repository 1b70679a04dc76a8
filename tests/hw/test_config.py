"""VTAConfig: presets, derived values, TVM-style JSON, validation messages naming the key."""

import dataclasses
import json

import pytest
from vta.hw import PRESETS, ConfigError, VTAConfig


def test_default_derived_values():
    c = VTAConfig.preset("default")
    assert c.name == "1x16_i8w8a32_15_15_18_17"
    assert c.model_name == "sim_1x16_i8w8a32_15_15_18_17"
    assert (c.uop_depth, c.inp_depth, c.wgt_depth, c.acc_depth, c.out_depth) == \
        (8192, 2048, 1024, 2048, 2048)
    assert (c.log_uop_depth, c.log_inp_depth, c.log_wgt_depth, c.log_acc_depth,
            c.log_out_depth) == (13, 11, 10, 11, 11)
    assert (c.inp_elem_bytes, c.wgt_elem_bytes, c.acc_elem_bytes, c.out_elem_bytes,
            c.uop_elem_bytes) == (16, 256, 64, 16, 4)
    assert c.LOG_OUT_BUFF_SIZE == 15 and c.out_buff_size == 32 * 1024
    assert (c.batch, c.block_in, c.block_out, c.macs_per_cycle) == (1, 16, 16, 256)
    assert (c.insn_bytes, c.insn_width, c.uop_width) == (16, 128, 32)
    assert [c.elem_bytes(m) for m in range(6)] == [4, 256, 16, 64, 16, 16]
    assert [c.depth(m) for m in range(6)] == [8192, 1024, 2048, 2048, 2048, 2048]
    assert c.derived()["peak_gops"] == pytest.approx(51.2)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets(name):
    c = VTAConfig.preset(name)
    assert VTAConfig.load(name) == c
    if name in ("default", "ultra96", "zcu104"):   # TVM's samples: the core parameters
        assert c.name == "1x16_i8w8a32_15_15_18_17"
    if name == "pynq":           # an 8 KiB uop buffer keeps the xc7z020 under 80% BRAM
        assert c.name == "1x16_i8w8a32_13_15_18_17"
    if name == "k26":            # 4096-deep INP/WGT/ACC buffers in the K26's UltraRAM
        assert c.name == "1x16_i8w8a32_15_16_20_18" and c.ULTRA_RAM and c.WIDE_ISA
    assert c.uop_depth * c.uop_elem_bytes == c.uop_buff_size


def test_target_specifics():
    assert VTAConfig.preset("pynq").bus_bytes == 8
    assert VTAConfig.preset("pynq").max_burst_beats == 16
    z = VTAConfig.preset("zcu104")
    assert (z.BUS_WIDTH, z.CLOCK_MHZ, z.AXI_PROFILE, z.max_burst_beats) == (128, 333, "axi4", 256)
    t = VTAConfig.preset("tiny")
    assert t.block == 4 and t.inp_depth == 512 and t.wgt_depth == 256 and t.acc_depth == 512


def test_json_round_trip_with_tvm_keys(tmp_path):
    tvm = {"TARGET": "pynq", "HW_VER": "0.0.2", "LOG_INP_WIDTH": 3, "LOG_WGT_WIDTH": 3,
           "LOG_ACC_WIDTH": 5, "LOG_BATCH": 0, "LOG_BLOCK": 4, "LOG_UOP_BUFF_SIZE": 15,
           "LOG_INP_BUFF_SIZE": 15, "LOG_WGT_BUFF_SIZE": 18, "LOG_ACC_BUFF_SIZE": 17}
    path = tmp_path / "vta_config.json"
    path.write_text(json.dumps(tvm))
    c = VTAConfig.from_json(path)
    # TVM's own pynq file keeps TVM's 32 KiB uop buffer (the kit's preset has 8 KiB)
    assert c == VTAConfig.preset("pynq").replace(LOG_UOP_BUFF_SIZE=15)
    assert VTAConfig.load(str(path)) == c
    out = tmp_path / "out.json"
    text = c.to_json(out)
    assert json.loads(out.read_text()) == json.loads(text)
    assert {k: json.loads(text)[k] for k in tvm} == tvm
    assert VTAConfig.from_json(out) == c


@pytest.mark.parametrize("key,value,message", [
    ("LOG_BLOCK", 9, "LOG_BLOCK must be [1, 6], not 9"),
    ("LOG_INP_WIDTH", 4, "LOG_INP_WIDTH must be 3, not 4"),
    ("LOG_ACC_BUFF_SIZE", 3, "LOG_ACC_BUFF_SIZE must be [4, 24], not 3"),
    ("BUS_WIDTH", 32, "BUS_WIDTH must be one of 64, 128, not 32"),
    ("TARGET", "fpga", "TARGET must be one of"),
    ("HW_VER", "0.0.1", "HW_VER must be '0.0.2'"),
    ("CMD_QUEUE_DEPTH", 100, "CMD_QUEUE_DEPTH must be a power of two, not 100"),
    ("LOG_WGT_BUFF_SIZE", 8, "LOG_WGT_BUFF_SIZE=8 gives 256 bytes, fewer than two"),
    ("LOG_BLOCK", "4", "LOG_BLOCK must be an integer, not '4'"),
    ("WIDE_ISA", 1, "WIDE_ISA must be true or false"),
])
def test_validation_names_the_key(key, value, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        VTAConfig.from_dict({key: value})


def test_bad_files_and_names(tmp_path):
    with pytest.raises(ConfigError, match="unknown config key 'LOG_BLOK'"):
        VTAConfig.from_dict({"LOG_BLOK": 4})
    with pytest.raises(ConfigError, match="unknown preset 'huge'"):
        VTAConfig.preset("huge")
    with pytest.raises(ConfigError, match="neither a preset"):
        VTAConfig.load("huge")
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    with pytest.raises(ConfigError, match="not valid JSON"):
        VTAConfig.from_json(bad)
    with pytest.raises(ConfigError, match="cannot read config file"):
        VTAConfig.from_json(tmp_path / "missing.json")
    bad.write_text("[1]")
    with pytest.raises(ConfigError, match="must hold a JSON object"):
        VTAConfig.from_json(bad)


def test_frozen_and_replace():
    c = VTAConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.LOG_BLOCK = 3  # type: ignore[misc]
    assert c.replace(LOG_BLOCK=5).block == 32
