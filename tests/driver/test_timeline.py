"""Timelines of Verilator runs: counter windows, Chrome/Perfetto trace JSON, the CLI."""

import json

import numpy as np
import pytest
from vta.compiler import ops
from vta.compiler.bench.resnet18_layers import run_conv_layer
from vta.compiler.epilogue import Epilogue
from vta.compiler.workload import Conv2dWorkload
from vta.driver import open_device
from vta.hw import VTAConfig
from vta.hw.cli import main
from vta.sim.timeline import MODULES, Timeline, TimelineError

pytestmark = pytest.mark.slow

REQUANT = Epilogue(bias=True, shift=8, clip=(0, 127))


def _slices(trace: dict) -> dict[str, list[dict]]:
    """Complete events by track name."""
    names = {(e["pid"], e["tid"]): e["args"]["name"] for e in trace["traceEvents"]
             if e["ph"] == "M" and e["name"] == "thread_name"}
    out: dict[str, list[dict]] = {}
    for e in trace["traceEvents"]:
        if e["ph"] == "X":
            out.setdefault(names[(e["pid"], e["tid"])], []).append(e)
    return out


def test_a_recorded_conv_layer_agrees_with_the_counters(tmp_path):
    w = Conv2dWorkload(1, 16, 8, 8, 16, (3, 3), (1, 1), (1, 1))
    with open_device("verilator", "tiny", progress=False) as dev:
        kernel = ops.compile_conv2d(w, dev.config, REQUANT)
        plain, _ = run_conv_layer(dev, kernel, w, REQUANT, np.random.default_rng(0))
        plain, _ = run_conv_layer(dev, kernel, w, REQUANT, np.random.default_rng(0))
        with dev.recording(window=64, label="conv") as tl:
            result, wrong = run_conv_layer(dev, kernel, w, REQUANT, np.random.default_rng(0))
    assert wrong == 0
    assert result.cycles == plain.cycles          # sampling the counters costs no cycle
    assert len(tl.runs) == 1 and tl.runs[0].label == "conv"
    assert tl.cycles == result.cycles and len(tl.runs[0].windows) > 10
    c = result.counters
    for m in MODULES:
        assert tl.busy(m) + tl.stall(m) == c[f"{m.upper()}_BUSY"], m
    assert tl.stall("load") == c["LOAD_STALL"] and tl.stall("store") == c["STORE_STALL"]
    assert sum(win.gemm_uops for win in tl.runs[0].windows) == c["GEMM_UOPS"]
    trace = json.loads(tl.save(tmp_path / "t.json").read_text())
    tracks = _slices(trace)
    assert {"load", "compute", "store", "GEMM", "DMA read", "runs"} <= set(tracks)
    for m in ("load", "compute", "store"):
        busy = sum(e["args"]["cycles"] for e in tracks[m] if e["name"] == "busy")
        wait = sum(e["args"]["cycles"] for e in tracks[m] if e["name"] == "wait token")
        assert busy + wait == c[f"{m.upper()}_BUSY"] and wait == c[f"{m.upper()}_STALL"]
        ends = [(e["ts"], e["ts"] + e["dur"]) for e in tracks[m]]
        assert all(a[1] <= b[0] + 1e-9 for a, b in zip(ends, ends[1:], strict=False))
    assert sum(e["args"]["uops"] for e in tracks["GEMM"]) == c["GEMM_UOPS"]
    assert sum(e["args"]["bytes"] for e in tracks["DMA read"]) == c["DMA_RD_BYTES"]
    clock = VTAConfig.preset("tiny").CLOCK_MHZ
    assert tracks["runs"][0]["dur"] == pytest.approx(result.cycles / clock)


def test_a_window_below_16_cycles_is_refused():
    with pytest.raises(TimelineError, match="at least 16 cycles"):
        Timeline(window=4)


def _write_alu_program(alu_program, folder) -> None:
    cfg = VTAConfig.preset("tiny")
    alu_program(folder, cfg, np.arange(cfg.batch * cfg.block_out, dtype=np.int32) - 7)


def test_sim_run_writes_a_timeline(tmp_path, capsys, alu_program):
    _write_alu_program(alu_program, tmp_path)
    out_json = tmp_path / "out.json"
    assert main(["sim", "run", str(tmp_path / "prog.bin"), "--device", "verilator",
                 "--dram", str(tmp_path / "in.img"), "--config", "tiny",
                 "--timeline", str(out_json), "--timeline-window", "16"]) == 0
    printed = capsys.readouterr().out
    counters = {line.split()[0]: int(line.split()[1]) for line in printed.splitlines()
                if line.split() and line.split()[0].endswith("_BUSY")}
    trace = json.loads(out_json.read_text())
    tracks = _slices(trace)
    for m in ("load", "compute", "store"):
        total = sum(e["args"]["cycles"] for e in tracks.get(m, []))
        assert total == counters[f"{m.upper()}_BUSY"], m
    assert tracks["runs"][0]["name"] == "prog.bin"
    assert f"wrote {out_json}" in printed


def test_sim_run_timeline_needs_verilator(tmp_path, capsys, alu_program):
    _write_alu_program(alu_program, tmp_path)
    assert main(["sim", "run", str(tmp_path / "prog.bin"), "--device", "fsim",
                 "--config", "tiny", "--timeline", str(tmp_path / "t.json")]) == 2
    assert "--timeline needs --device verilator" in capsys.readouterr().err
