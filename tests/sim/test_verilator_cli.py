"""``vta sim build`` and ``vta sim trace`` on the tiny config."""

from __future__ import annotations

import pytest
from vta.hw import VTAConfig, isa
from vta.hw.cli import main

pytestmark = pytest.mark.slow      # builds the tiny model when the cache does not hold it


def test_sim_build_prints_the_library(capsys):
    assert main(["sim", "build", "--config", "tiny"]) == 0
    assert "libvtasim.so" in capsys.readouterr().out


def test_sim_trace_writes_a_window(tmp_path, capsys):
    cfg = VTAConfig.preset("tiny")
    prog = tmp_path / "finish.bin"
    prog.write_bytes(isa.encode([isa.Finish()], cfg))
    vcd = tmp_path / "run.vcd"
    assert main(["sim", "trace", str(prog), "--config", "tiny", "-o", str(vcd),
                 "--cycles", "40"]) == 0
    text = vcd.read_text()
    assert "m_axi_gmem_ARVALID" in text
    times = [int(line[1:]) for line in text.splitlines() if line.startswith("#")]
    assert times and max(times) - min(times) < 2 * 40
    assert "cycles" in capsys.readouterr().out
