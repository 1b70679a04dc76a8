"""`vta board predict`: a model's accelerator time on each board's preset at its clock."""

from __future__ import annotations

import json

import pytest
from vta.boards.table import BOARDS, BoardError
from vta.compiler.board_predict import predict
from vta.compiler.commands import demo_graph
from vta.hw.cli import main as vta_main
from vta.hw.errors import VTAError


@pytest.mark.parametrize("name", ["pynq-z1", "ultra96-v2", "zcu104", "kv260"])
def test_cost_model_prediction_per_board(name):
    b = BOARDS[name]
    p = predict(name, demo_graph(), cycles="estimate", fit=False)
    assert (p.board, p.preset, p.clock_mhz, p.source) == (name, b.config, b.clock_mhz,
                                                          "estimate")
    assert p.config == b.default_config().name
    assert p.cycles > 0 and p.vta_layers > 0 and p.cpu_layers > 0
    assert p.milliseconds == pytest.approx(p.cycles / (b.clock_mhz * 1e3))
    assert p.fit is None and p.within_target is None


@pytest.mark.slow
def test_verilator_prediction_on_the_pynq_preset():
    """Measured cycles of the board's preset (the Verilator model of the pynq config)."""
    est = predict("pynq-z2", demo_graph(), cycles="estimate", fit=False)
    got = predict("pynq-z2", demo_graph(), cycles="verilator", fit=False)
    assert got.source == "verilator" and got.config == est.config
    # the cost model is a model: the measured count is in its neighbourhood
    assert 0.5 * est.cycles < got.cycles < 2 * est.cycles


def test_cli_prints_every_board_once_per_design(capsys):
    status = vta_main(["board", "predict", "demo", "--cycles", "estimate", "--no-fit",
                       "--json"])
    out = capsys.readouterr().out.strip().splitlines()
    assert status == 0
    rows = json.loads(out[-1])
    assert [r["board"] for r in rows] == list(BOARDS)
    by = {r["board"]: r for r in rows}
    # boards sharing a preset and clock share the prediction
    assert by["pynq-z1"]["cycles"] == by["pynq-z2"]["cycles"]
    assert by["kv260"]["cycles"] == by["kr260"]["cycles"]
    assert by["kv260"]["clock_mhz"] == 250 and by["pynq-z1"]["clock_mhz"] == 100
    assert sum(line.endswith("...") for line in out) == 4       # four designs compiled


def test_errors_are_one_line(capsys, tmp_path):
    assert vta_main(["board", "predict", "demo", "--board", "de10", "--no-fit"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("vta: error: unknown board 'de10'")
    assert vta_main(["board", "predict", str(tmp_path / "none.onnx"), "--no-fit"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"vta: error: no model '{tmp_path / 'none.onnx'}': expected an .onnx "
                   f"file, resnet18 or demo"]
    with pytest.raises(VTAError, match="--cycles must be one of verilator, estimate"):
        predict("kv260", demo_graph(), cycles="guess")
    with pytest.raises(BoardError, match="unknown board"):
        predict("arty", demo_graph(), cycles="estimate")
