"""Rooflines and per-layer timelines of compiled models (``vta run --timeline --roofline``)."""

import json

import pytest
from vta.compiler.layer_profile import LayerProfile
from vta.compiler.roofline import format_roofline, plot_roofline, roofline_points, roofs_for
from vta.hw import VTAConfig
from vta.hw.cli import main
from vta.hw.errors import VTAError


def test_roofs_and_points_follow_the_config_and_the_profile(tmp_path):
    roofs = roofs_for(VTAConfig.preset("default"))
    assert (roofs.peak_macs_per_cycle, roofs.dram_bytes_per_cycle) == (256, 8.0)
    assert roofs.ridge == 32 and roofs.attainable(4) == 32 and roofs.attainable(100) == 256
    assert roofs_for(VTAConfig.preset("zcu104")).dram_bytes_per_cycle == 16.0
    prof = [LayerProfile("c1", "qconv2d", "vta:verilator", 0.1, 1000, 900, 64000, 4000),
            LayerProfile("c2", "qconv2d", "vta:fsim", 0.1, None, 500, 64000, 32000),
            LayerProfile("pool", "max_pool", "cpu", 0.1, None, None, 0, 100)]
    pts = roofline_points(prof)
    assert [(p.name, p.cycles, p.measured) for p in pts] == [("c1", 1000, True),
                                                             ("c2", 500, False)]
    assert pts[0].intensity == 16 and pts[0].macs_per_cycle == 64
    table = format_roofline(pts, roofs)
    assert "c1" in table and "memory" in table and "ridge at 32.0" in table
    plot_roofline(pts, roofs, tmp_path / "r.png")
    assert (tmp_path / "r.png").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(VTAError, match="no accelerator layer"):
        plot_roofline([], roofs)


@pytest.mark.slow
def test_vta_run_writes_a_per_layer_timeline_and_a_roofline(tmp_path, capsys):
    trace, png = tmp_path / "t.json", tmp_path / "r.png"
    assert main(["run", "--device", "verilator", "--config", "tiny", "--timeline",
                 str(trace), "--roofline", str(png)]) == 0
    out = capsys.readouterr().out
    assert "MATCH" in out and "of roof" in out and png.read_bytes()[:4] == b"\x89PNG"
    cycles = int(out.split(" accelerator cycles")[0].rsplit(", ", 1)[1].replace(",", ""))
    events = json.loads(trace.read_text())["traceEvents"]
    tracks = {e["tid"]: e["args"]["name"] for e in events
              if e["ph"] == "M" and e["name"] == "thread_name"}
    runs = [e for e in events if e["ph"] == "X" and tracks[e["tid"]] == "runs"]
    assert {"conv2", "conv3+skip", "conv5"} <= {e["name"] for e in runs}
    assert sum(e["args"]["cycles"] for e in runs) == cycles
    assert {"load", "compute", "store"} <= set(tracks.values())


def test_a_timeline_needs_the_cycle_accurate_device(capsys):
    assert main(["run", "--device", "fsim", "--timeline", "t.json"]) == 2
    assert "--timeline needs --device verilator" in capsys.readouterr().err
