"""`vta hw verilog`: one Verilog file per preset that Verilator lints clean, plus manifest.

Amaranth's generated Verilog always carries a few style warnings (initial values on
procedurally assigned regs, unused bits, width extension, incomplete cases) and the
required port name ``interrupt`` is a C++ word; those categories are waived, every other
``-Wall`` warning fails the test.
"""

from __future__ import annotations

import json
import re
import subprocess

import pytest
from vta.hw import PRESETS, VTAConfig
from vta.hw.cli import main
from vta.hw.ports import memory_signals
from vta.hw.regmap import REGISTERS
from vta.hw.toolchain import verilator_env, verilator_path

WAIVED = ("PROCASSINIT", "UNUSEDSIGNAL", "WIDTHEXPAND", "WIDTHTRUNC", "CASEINCOMPLETE",
          "DECLFILENAME", "SYMRSVDWORD")


@pytest.mark.slow
@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_preset_generates_and_lints_clean(preset, tmp_path, capsys):
    assert main(["hw", "verilog", "--config", preset, "-o", str(tmp_path)]) == 0
    assert "wrote" in capsys.readouterr().out
    text = (tmp_path / "vta_top.v").read_text()
    manifest = json.loads((tmp_path / "vta_top.json").read_text())
    config = VTAConfig.preset(preset)

    # The manifest lists exactly the ports of module vta_top, with their widths.
    header = re.search(r"^module vta_top\((.*?)\);", text, re.M | re.S).group(1)
    names = {p.strip() for p in header.split(",")}
    ports = {p["name"]: p for p in manifest["ports"]}
    assert names == set(ports)
    for name, port in ports.items():
        decl = re.search(rf"^\s*(input|output)\s+(\[(\d+):0\]\s+)?{name};", text, re.M)
        assert decl, name
        assert decl.group(1) == port["direction"]
        assert int(decl.group(3) or 0) + 1 == port["width"], name
    for name, (direction, width) in memory_signals(config).items():
        port = ports[f"m_axi_gmem_{name}"]
        assert (port["direction"], port["width"]) == \
            ("output" if direction == "out" else "input", width)
    assert {"ap_clk", "ap_rst_n", "interrupt", "s_axi_control_AWADDR"} <= set(ports)
    assert manifest["config"] == config.to_dict()
    assert manifest["memory"]["protocol"] == config.AXI_PROFILE
    assert [r["offset"] for r in manifest["registers"]] == [r.offset for r in REGISTERS]

    cmd = [str(verilator_path()), "--lint-only", "-Wall", *(f"-Wno-{w}" for w in WAIVED),
           "--top-module", "vta_top", str(tmp_path / "vta_top.v")]
    run = subprocess.run(cmd, env=verilator_env(), capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "%Warning" not in run.stderr and "%Error" not in run.stderr, run.stderr[-3000:]


def test_unknown_config_fails_before_elaboration(tmp_path, capsys):
    assert main(["hw", "verilog", "--config", "nosuch", "-o", str(tmp_path)]) == 2
    assert "nosuch" in capsys.readouterr().err
    assert not (tmp_path / "vta_top.v").exists()


def test_invalid_config_key_is_named(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"LOG_BLOCK": 9}))
    assert main(["hw", "verilog", "--config", str(bad), "-o", str(tmp_path)]) == 2
    assert "LOG_BLOCK" in capsys.readouterr().err


def test_bad_axi_cache_is_rejected(tmp_path, capsys):
    assert main(["hw", "verilog", "--config", "tiny", "--axi-cache", "16",
                 "-o", str(tmp_path)]) == 2
    assert "axi-cache" in capsys.readouterr().err
