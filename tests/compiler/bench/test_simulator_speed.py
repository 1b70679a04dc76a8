"""``vta bench sim`` on the tiny config; the hand-tiled conv2d tiles of its layers."""

from __future__ import annotations

import re

import pytest
from vta.compiler.bench.simulator_speed import RESNET18, choose_conv_tile
from vta.hw import VTAConfig
from vta.hw.cli import main

pytestmark = pytest.mark.slow      # builds the tiny model when the cache does not hold it


def test_bench_sim_last_line(capsys):
    assert main(["bench", "sim", "--configs", "tiny", "--layers", "none"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert re.fullmatch(r"verilator: \d+ cycles/s", out[-1])
    text = "\n".join(out)
    assert "cached start" in text and "blocked GEMM" in text and "ratio" in text


def test_bench_sim_reports_the_median_of_repeated_runs(capsys):
    assert main(["bench", "sim", "--configs", "tiny", "--layers", "none", "--no-pysim",
                 "--repeat", "3"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"blocked GEMM speed: median [\d,]+ cycles/s over 3 runs", out)


def test_repeat_below_one_is_one_line(capsys):
    assert main(["bench", "sim", "--configs", "tiny", "--repeat", "0"]) == 2
    assert "--repeat must be at least 1" in capsys.readouterr().err


def test_bad_layer_spec_is_one_line(capsys):
    assert main(["bench", "sim", "--configs", "tiny", "--layers", "C99"]) == 2
    assert "unknown ResNet-18 layer" in capsys.readouterr().err


@pytest.mark.parametrize("name", sorted(RESNET18))
def test_conv_tiles_fit_the_default_config(name):
    cfg = VTAConfig.preset("default")
    hw, ic, oc, k, pad, stride = RESNET18[name]
    t_o, t_i, t_h = choose_conv_tile(cfg, RESNET18[name])
    ho = (hw + 2 * pad - k) // stride + 1
    assert oc // 16 % t_o == 0 and ic // 16 % t_i == 0 and ho % t_h == 0
    assert t_i * ((t_h - 1) * stride + k) * (hw + 2 * pad) <= cfg.inp_depth // 2
