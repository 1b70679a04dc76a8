"""The ``vta bench fsim`` program is a correct blocked GEMM; the CLI's last line format."""

import numpy as np
import pytest
from vta.compiler.bench.fsim_throughput import run_benchmark
from vta.hw import VTAConfig, VTAError
from vta.hw.cli import main


@pytest.mark.parametrize("preset,shape", [("default", (64, 96, 80)), ("tiny", (24, 20, 36))])
def test_benchmark_program_is_checked_against_numpy(preset, shape):
    cfg = VTAConfig.preset(preset)
    res = run_benchmark(cfg, *shape, repeat=2)
    assert res.macs == int(np.prod(shape)) and len(res.seconds) == 2 and res.gmacs > 0


def test_bad_shape():
    with pytest.raises(VTAError, match="multiples of BLOCK=16"):
        run_benchmark(VTAConfig.preset("default"), 64, 100, 64, repeat=1)


def test_cli_last_line(capsys):
    assert main(["bench", "fsim", "--rows", "32", "--k", "64", "--n", "48", "--repeat", "1"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("fsim: ") and last.endswith(" GMAC/s")
    float(last.split()[1])
