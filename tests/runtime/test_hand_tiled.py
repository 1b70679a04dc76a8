"""The hand-tiled GEMM and convolution (the worked examples of docs/runtime.md), checked
bit for bit against numpy."""

import numpy as np
import pytest
from vta.compiler.bench.hand_tiled import conv2d, conv2d_reference, gemm_reference, tiled_gemm
from vta.runtime import CommandError


@pytest.mark.parametrize("shape, tile", [((48, 96, 128), (3, 2, 4)), ((20, 40, 72), (1, 1, 1))])
def test_tiled_gemm_default_config(qd, rng, shape, tile):
    m, n, k = shape                          # the second shape needs padding to blocks
    a = rng.integers(-128, 128, (m, k), dtype=np.int8)
    w = rng.integers(-128, 128, (n, k), dtype=np.int8)
    out, result = tiled_gemm(qd, a, w, shift=9, tile=tile)
    assert np.array_equal(out, gemm_reference(a, w, 9))
    assert result.macs >= m * n * k


def test_tiled_gemm_rejects_tiles_that_do_not_fit(q, rng):
    a = rng.integers(-128, 128, (8, 8), dtype=np.int8)
    with pytest.raises(CommandError, match="must divide"):
        tiled_gemm(q, a, a, tile=(3, 1, 1))
    with pytest.raises(CommandError, match="shift must be in \\[0, 15\\]"):
        tiled_gemm(q, a, a, shift=16)


def test_resnet18_c8_convolution(qd, rng):
    """SPEC C8: 14x14, 256 -> 256 channels, 3x3, pad 1, stride 1, requantised."""
    x = rng.integers(-128, 128, (1, 256, 14, 14), dtype=np.int8)
    w = rng.integers(-128, 128, (256, 256, 3, 3), dtype=np.int8)
    bias = rng.integers(-64, 64, 256).astype(np.int32)
    out, result = conv2d(qd, x, w, bias, pad=1, stride=1, shift=15)
    ref = conv2d_reference(x, w, bias, 1, 1, 15)
    assert 0.2 < (ref > 0).mean() and (ref == 127).mean() < 0.2     # a non-trivial output
    assert np.array_equal(out, ref)
    assert result.macs == 14 * 14 * 256 * 256 * 9
    assert qd.stats["uop_evictions"] == 0


def test_strided_convolution_on_tiny_config(q, rng):
    """A C3-like layer (3x3, stride 2, pad 1) scaled to the tiny config."""
    x = rng.integers(-128, 128, (1, 8, 10, 10), dtype=np.int8)
    w = rng.integers(-128, 128, (16, 8, 3, 3), dtype=np.int8)
    bias = rng.integers(-20, 20, 16).astype(np.int32)
    out, _ = conv2d(q, x, w, bias, pad=1, stride=2, shift=9, tile=(2, 2, 1))
    assert np.array_equal(out, conv2d_reference(x, w, bias, 1, 2, 9))
