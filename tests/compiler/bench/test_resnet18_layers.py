"""``vta bench resnet18-layers`` on fsim: the table, the reference check, bad input."""

from vta.hw.cli import main


def test_resnet18_layers_bench_checks_and_reports_utilization(capsys):
    assert main(["bench", "resnet18-layers", "--device", "fsim", "--layers", "C8,C11"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert any(line.startswith("C8 ") for line in lines)
    assert lines[-1].startswith("utilization: ")
    assert 0.5 < float(lines[-1].split()[-1]) <= 1.0     # the cost model's estimate on fsim


def test_resnet18_layers_bench_rejects_an_unknown_layer(capsys):
    assert main(["bench", "resnet18-layers", "--layers", "C12"]) == 2
    assert "unknown layer C12" in capsys.readouterr().err
