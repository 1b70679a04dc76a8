"""``vta bench resnet18`` on fsim at a small image size: timings, cycles and the MATCH."""

import pytest
from vta.hw.cli import main


@pytest.mark.slow
def test_bench_resnet18_small_image(capsys):
    assert main(["bench", "resnet18", "--image-size", "32", "--repeat", "1"]) == 0
    out = capsys.readouterr().out
    assert "compile" in out and "MATCH" in out and "on VTA" in out
