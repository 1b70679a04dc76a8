"""The epilogue's order of operations, the reference operators, and their ALU lowering."""

import numpy as np
import pytest
from vta.compiler import ops
from vta.compiler import reference_ops as ref
from vta.compiler.elementwise import epilogue_kernels
from vta.compiler.reference_ops import Epilogue, OperatorError
from vta.driver import open_device
from vta.hw.isa import AluOp
from vta.runtime import pack_nchw, pack_oihw, unpack_nchw


def naive_conv(x, w, s, p):
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    xp = np.pad(x.astype(np.int64), ((0, 0), (0, 0), (p, p), (p, p)))
    oh, ow = (h + 2 * p - kh) // s + 1, (wd + 2 * p - kw) // s + 1
    out = np.zeros((n, o, oh, ow), np.int64)
    for y in range(oh):
        for z in range(ow):
            win = xp[:, :, y * s:y * s + kh, z * s:z * s + kw]
            out[:, :, y, z] = np.einsum("nchw,ochw->no", win, w.astype(np.int64))
    return out.astype(np.int32)


def test_reference_conv_matches_naive_loops():
    rng = np.random.default_rng(0)
    x = rng.integers(-128, 128, (2, 5, 9, 7), dtype=np.int8)
    w = rng.integers(-128, 128, (6, 5, 3, 3), dtype=np.int8)
    for s, p in ((1, 0), (2, 1), (3, 2)):
        assert np.array_equal(ref.conv2d(x, w, s, p), naive_conv(x, w, s, p))


def test_reference_wraps_like_int32():
    x = np.full((1, 4096 * 64), 127, np.int8)    # 127*127*262144 overflows int32
    w = np.full((1, 4096 * 64), 127, np.int8)
    want = np.int64(127 * 127 * 4096 * 64)
    assert ref.dense(x, w)[0, 0] == np.int32(((want + 2**31) % 2**32) - 2**31)


def test_epilogue_order_bias_shift_clip_residual_clip_truncate():
    acc = np.array([[1000, -1000, 300000, 5]], np.int32).reshape(1, 4, 1, 1)
    bias = np.array([24, 8, 0, -5], np.int32)
    res = np.array([100, 100, -100, 127], np.int8).reshape(1, 4, 1, 1)
    ep = Epilogue(bias=True, shift=3, clip=(-50, 120), residual=True)
    # (1024>>3=128 ->120) +100 = 220 -> int8 -36; (-992>>3=-124 -> -50) + 100 = 50;
    # 300000>>3 = 37500 -> 120, -100 -> 20; 0 -> 0 + 127 = 127.
    assert ref.apply_epilogue(acc, ep, bias, res).reshape(-1).tolist() == [-36, 50, 20, 127]
    ep2 = Epilogue(bias=True, shift=3, clip=(-50, 120), residual=True, residual_clip=(0, 127))
    assert ref.apply_epilogue(acc, ep2, bias, res).reshape(-1).tolist() == [127, 50, 20, 127]


def test_epilogue_kernels_follow_that_order():
    ep = Epilogue(bias=True, shift=2, clip=(0, 127), residual=True, residual_clip=(0, 100))
    ks = epilogue_kernels(ep, ((2, 4, 1),), ((0, 8), (1, 8), (2, 8), (3, 8)), 10)
    assert [(k.alu_opcode, k.use_imm, k.imm) for k in ks] == [
        (AluOp.ADD, False, 0), (AluOp.SHR, True, 2), (AluOp.MAX, True, 0),
        (AluOp.MIN, True, 127), (AluOp.ADD, False, 0), (AluOp.MAX, True, 0),
        (AluOp.MIN, True, 100)]
    assert ks[4].uops[0] == (0, 10, 0)       # residual row = output row + 10
    assert ks[0].loops == ((2, 4, 1, 0),)     # bias row advances per channel block


def test_epilogue_validation():
    with pytest.raises(OperatorError, match="shift must be an integer in"):
        Epilogue(shift=-1)
    with pytest.raises(OperatorError, match="clip must be"):
        Epilogue(clip=(5, 1))
    with pytest.raises(OperatorError, match="residual_clip needs residual"):
        Epilogue(residual_clip=(0, 1))


def test_plain_conv_without_epilogue_truncates(tmp_path):
    dev = open_device("fsim", "tiny")
    rng = np.random.default_rng(2)
    x = rng.integers(-128, 128, (1, 4, 5, 5), dtype=np.int8)
    w = rng.integers(-128, 128, (4, 4, 3, 3), dtype=np.int8)
    got = ops.conv2d(dev, pack_nchw(x, 1, 4), pack_oihw(w, 4, 4), padding=1)
    assert np.array_equal(unpack_nchw(got, 1, 4), ref.conv2d(x, w, 1, 1).astype(np.int8))
