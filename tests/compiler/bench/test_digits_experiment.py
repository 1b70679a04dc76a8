"""The digits CNN trained in the project (scikit-learn's bundled digits), quantized and run
on VTA (fsim): int8-on-VTA accuracy within 1 point of float on the held-out split."""

from __future__ import annotations

import pytest
from vta.compiler.bench.digits import digits_experiment


@pytest.mark.slow
def test_digits_int8_on_vta_within_one_point_of_float():
    r = digits_experiment("fsim", "default", epochs=8, seed=0)
    assert r["test_images"] > 300
    assert r["exact"]                                   # VTA == int8 numpy reference
    assert r["vta_accuracy"] == r["reference_accuracy"]
    assert r["float_accuracy"] > 0.95                   # the network did learn
    assert abs(r["vta_accuracy"] - r["float_accuracy"]) <= 0.01
    assert "conv2" in r["vta_layers"]                   # the main conv runs on the accelerator
