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


@pytest.mark.parametrize("pack, unpack, shape, blocks, packed, at", [
    (pack_nchw, unpack_nchw, (3, 20, 5, 6), (2, 16), (2, 2, 5, 6, 2, 16), (2, 17, 4, 3)),
    (pack_oihw, unpack_oihw, (20, 12, 3, 3), (16, 8), (2, 2, 3, 3, 16, 8), (19, 9, 2, 1)),
])
def test_4d_packing_order_and_padding(rng, pack, unpack, shape, blocks, packed, at):
    x = rng.integers(-128, 128, shape, dtype=np.int8)
    p = pack(x, *blocks)
    assert p.shape == packed
    (a, b, h, w), (ba, bb) = at, blocks
    assert p[a // ba, b // bb, h, w, a % ba, b % bb] == x[a, b, h, w]
    pad_a, pad_b = shape[0] % ba, shape[1] % bb                          # zero padding
    assert not (pad_a and p[-1, :, :, :, pad_a:].any())
    assert not (pad_b and p[:, -1, :, :, :, pad_b:].any())
    assert np.array_equal(unpack(p, *shape[:2]), x)


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
