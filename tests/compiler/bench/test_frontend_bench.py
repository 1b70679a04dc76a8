"""``vta bench frontend``: ResNet-18 import, quantization, reference runs, and the whole
quantized graph on CPU kernels equal to the int8 reference."""

import pytest
from vta.hw.cli import main


@pytest.mark.slow
def test_frontend_bench_with_cpu_run(capsys):
    assert main(["bench", "frontend", "--repeat", "1", "--cpu"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("ResNet-18: build ONNX ") and "quantize" in lines[0]
    assert lines[1].startswith("numpy reference run: float ")
    assert lines[2].startswith("all-CPU llvmlite: build ") and lines[2].endswith("exact: True")
