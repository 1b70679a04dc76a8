"""Packed layouts: round trips, padding and the element order the hardware expects."""

import numpy as np
import pytest
from vta.runtime import (
    CommandError,
    pack_matrix,
    pack_nchw,
    pack_oihw,
    unpack_matrix,
    unpack_nchw,
    unpack_oihw,
)


def test_nchw_packing_order_and_padding(rng):
    x = rng.integers(-128, 128, (3, 20, 5, 6), dtype=np.int8)
    p = pack_nchw(x, 2, 16)
    assert p.shape == (2, 2, 5, 6, 2, 16)
    n, c, h, w = 2, 17, 4, 3
    assert p[n // 2, c // 16, h, w, n % 2, c % 16] == x[n, c, h, w]
    assert not p[1, :, :, :, 1].any() and not p[:, 1, :, :, :, 4:].any()   # zero padding
    assert np.array_equal(unpack_nchw(p, 3, 20), x)


def test_oihw_packing_order_and_padding(rng):
    w = rng.integers(-128, 128, (20, 12, 3, 3), dtype=np.int8)
    p = pack_oihw(w, 16, 8)
    assert p.shape == (2, 2, 3, 3, 16, 8)
    o, i, kh, kw = 19, 9, 2, 1
    assert p[o // 16, i // 8, kh, kw, o % 16, i % 8] == w[o, i, kh, kw]
    assert np.array_equal(unpack_oihw(p, 20, 12), w)


def test_matrix_packing(rng):
    a = rng.integers(-128, 128, (5, 33), dtype=np.int8)
    p = pack_matrix(a, 4, 16)
    assert p.shape == (2, 3, 4, 16)
    assert p[1, 2, 0, 0] == a[4, 32]
    assert np.array_equal(unpack_matrix(p, 5, 33), a)


def test_layout_errors():
    with pytest.raises(CommandError, match="4-D array"):
        pack_nchw(np.zeros((2, 2)), 1, 16)
    with pytest.raises(CommandError, match="block must be a positive integer"):
        pack_nchw(np.zeros((1, 1, 1, 1)), 1, 0)
    with pytest.raises(CommandError, match="6-D packed"):
        unpack_oihw(np.zeros((2, 2, 2, 2)))
