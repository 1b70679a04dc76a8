"""Requantization with arbitrary scales (vta.compiler.requant): how close the fixed-point
steps come to ONNX's rule, that they never overflow, that the accelerator's ALU steps (with
per-channel values as tensor rows) compute the reference exactly, and the input zero
point's bias fold and border correction."""

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from vta.compiler import int8_reference as ref
from vta.compiler.cpu import conv as cpu_conv
from vta.compiler.epilogue import ChannelRequant, Epilogue, channel_requant
from vta.compiler.errors import OperatorError
from vta.compiler.requant import (
    Requant,
    fixed_point,
    fixed_point_layer,
    fold_bias,
    power_of_two,
    power_of_two_exponents,
)
from vta.compiler.workload import Conv2dWorkload, pad_patterns
from vta.compiler.zero_point import accelerator_requant, folded_bias, pad_correction_map
from vta.hw.isa import AluOp
from vta.sim.fsim_compute import alu_apply

EXAMPLES = int(os.environ.get("VTA_HYPOTHESIS_EXAMPLES", 100))
_SETTINGS = settings(max_examples=EXAMPLES, deadline=None,
                     suppress_health_check=[HealthCheck.too_slow])


def onnx_rule(acc, scale, zero_point, lo=-128, hi=127):
    """ONNX's QLinear requantization in exact arithmetic (round half to even)."""
    return np.clip(np.rint(acc * np.asarray(scale, np.float64)) + zero_point, lo, hi)


@pytest.mark.parametrize("scale", [2.0 ** -6 * 1.37, 0.0123, 0.00134, 0.00081, 1.34e-4, 3e-5,
                                   0.4123, 1.7123])
def test_fixed_point_is_within_one_step_of_onnx_and_mostly_identical(scale):
    rng = np.random.default_rng(1)
    acc = np.rint(rng.normal(0, 60 / scale, 100_000)).astype(np.int64)
    for zp, lo, hi in ((0, -128, 127), (-128, -128, 127), (-20, -128, 127), (5, 5, 127)):
        r, offset = fixed_point(scale, zp, lo, hi)
        got = ref.requantize_channels(acc, offset, r, axis=0).astype(np.int64)
        want = onnx_rule(acc, scale, zp, lo, hi)
        assert np.abs(got - want).max() <= 1
        assert (got == want).mean() >= 0.99, (scale, zp, (got != want).mean())
        assert r.clip_is_redundant() == (scale <= 1)


def test_fixed_point_saturates_exactly_and_never_wraps():
    scales = np.array([3e-5, 0.0007, 0.01, 0.3])
    r, offset = fixed_point(scales, -7)
    n = len(scales)
    lo, hi = r.vector("acc_lo", n), r.vector("acc_hi", n)
    mult, post = r.vector("multiplier", n), r.vector("post_offset", n)
    assert np.all(np.abs(lo * mult + post) < 2**31) and np.all(np.abs(hi * mult + post) < 2**31)
    # (Sums near +-2**31 wrap when the bias is added, like the hardware's.)
    extreme = np.array([[-2**30], [2**30], [0]], np.int64) * np.ones((1, n), np.int64)
    got = ref.requantize_channels(extreme, offset, r)
    assert got[0].tolist() == [-128] * n and got[1].tolist() == [127] * n
    assert got[2].tolist() == [-7] * n


@pytest.mark.parametrize("scale", [1234 / 2**22, 4321 / 2**24])
@pytest.mark.parametrize("zp", [0, -128, 17])
def test_a_layer_rounds_after_the_multiply_exactly_where_the_bias_folds(scale, zp):
    """With a bound on the sums, fixed_point_layer rounds after the multiply and folds the
    bias away: for a scale the multiplier holds exactly (and no ties in range) every result
    is ONNX's rule, where rounding inside the bias is off by up to M/2 steps; the ALU
    instructions are as many."""
    acc = np.arange(-600_000, 600_000, dtype=np.int64)
    bias = np.array([-777])
    want = onnx_rule(acc - 777, scale, zp)
    layer, total = fixed_point_layer(scale, zp, -128, 127, bias, 600_000)
    assert total is None and layer.post_offset[0] != 0
    got = ref.requantize_channels(acc, np.zeros(1, np.int64), layer, axis=0)
    assert np.array_equal(got, want)
    in_bias, offset = fixed_point(scale, zp)
    assert not any(in_bias.post_offset)
    assert not np.array_equal(ref.requantize_channels(acc, offset + bias, in_bias, axis=0), want)
    steps = [len(Epilogue(bias=b, requant=channel_requant(r, 1)[0]).alu_steps())
             for r, b in ((layer, False), (in_bias, True))]
    assert steps[0] == steps[1]


def test_a_layer_without_a_bound_or_fold_keeps_the_bias_add():
    """No bound (an input zero point): fixed_point's default form and the bias with its
    offsets; a bias the fold cannot take: the same; one that does not fit int32: one line."""
    r, total = fixed_point_layer([1e-3, 0.02], 3, -128, 127, np.array([10, -10]), None)
    default, offset = fixed_point([1e-3, 0.02], 3)
    assert r == default and total.tolist() == (offset + [10, -10]).tolist()
    big = np.array([2**31 - 2**20, 0])
    r, total = fixed_point_layer([1e-3, 0.02], 3, -128, 127, big, 2**21)
    assert r == default and total is not None
    with pytest.raises(OperatorError, match="bias with the requantization offsets does not fit"):
        fixed_point_layer([1e-3, 0.02], 3, -128, 127, np.array([2**31 - 1, 0]), None)


def test_power_of_two_is_round_half_up_plus_the_zero_point():
    acc = np.arange(-5000, 5000, dtype=np.int64)
    for s in (0, 1, 4, 9):
        r, offset = power_of_two(s, 3, -128, 120)
        got = ref.requantize_channels(acc, offset, r, axis=0)
        want = np.clip(np.floor(acc * 2.0 ** -s + 0.5) + 3, -128, 120)
        assert np.array_equal(got, want)
    assert power_of_two_exponents([0.25, 2.0 ** -20]).tolist() == [2, 20]
    assert power_of_two_exponents([0.25, 0.3]) is None


def test_requant_validation_names_the_value():
    with pytest.raises(OperatorError, match="multiplier needs the clamp"):
        Requant(shift=20, multiplier=700)
    with pytest.raises(OperatorError, match=r"shift must be integers in \[0, 62\], not 63"):
        Requant(shift=63)
    with pytest.raises(OperatorError, match="different channel counts"):
        Requant(shift=(1, 2, 3), pre_shift=(1, 2))
    with pytest.raises(OperatorError, match="scale must be positive and finite, not nan"):
        fixed_point([0.1, float("nan")])
    r = Requant.from_attrs(fixed_point([0.01, 0.02])[0].attrs())
    assert r.uses_multiplier and r.channels == 2


def _run_alu(ep, acc, bias, rows):
    """Execute the epilogue's ALU steps with the golden model's lane semantics; constant
    rows and the bias are tensor operands (one value per lane = channel)."""
    c = acc.shape[1]
    out = acc.copy()
    for step in ep.alu_steps():
        if step.src == "bias":
            src = bias.reshape(1, c, 1, 1)
        elif isinstance(step.src, str):
            src = rows[step.src].reshape(1, c, 1, 1)
            if step.op == AluOp.SHR:
                assert rows[step.src].min() >= 0 and rows[step.src].max() <= 15
        else:
            assert -32768 <= step.src <= 32767
            src = step.src
        out = alu_apply(step.op, out, src, 5)
    return out.astype(np.int8)


@_SETTINGS
@given(seed=st.integers(0, 2**16), per_channel=st.booleans(), mul=st.booleans(),
       zp=st.integers(-128, 127))
def test_channel_steps_on_the_alu_compute_the_reference(seed, per_channel, mul, zp):
    """The ALU steps of channel_requant (immediates or per-channel rows), run with the
    golden model's ALU, give requantize_channels bit for bit, over full-range int32 sums."""
    rng = np.random.default_rng(seed)
    c = 5
    if mul:
        scales = rng.uniform(1e-5, 0.9, c) if per_channel else np.full(c, rng.uniform(1e-5, 2))
        r, offset = fixed_point(scales, zp)
    else:
        shifts = rng.integers(0, 31, c) if per_channel else np.full(c, rng.integers(0, 31))
        r, offset = power_of_two(shifts, zp)
    bias = ref.wrap32(rng.integers(-2**20, 2**20, c) + offset)
    acc = rng.integers(-2**31, 2**31, (2, c, 3, 2), dtype=np.int64).astype(np.int32)
    structure, shift, rows = channel_requant(r, c)
    clip = None if r.clip_is_redundant() else (r.lo, r.hi)
    ep = Epilogue(bias=True, shift=shift, clip=clip, requant=structure)
    want = ref.requantize_channels(acc, bias, r)
    assert np.array_equal(ref.apply_epilogue(acc, ep, bias, rows=rows), want)
    assert np.array_equal(_run_alu(ep, acc, bias, rows), want)
    assert ep.multiplies == (mul and r.uses_multiplier)


@_SETTINGS
@given(seed=st.integers(0, 2**16), zp=st.integers(-128, 127), taps=st.integers(1, 4608))
def test_a_folded_bias_gives_the_same_results_with_one_alu_step_less(seed, zp, taps):
    """fold_bias: the requantization without the bias add equals the one after it on every
    sum within the bound (int8 data and weights over ``taps`` products), at the clamp's
    edges and the bound's ends included; the golden model's ALU computes it, one step
    shorter."""
    rng = np.random.default_rng(seed)
    c = 6
    r, offset = fixed_point(rng.uniform(2.0**-8, 0.5, c), zp)    # a post-offset: M > 2**-8
    bias = ref.wrap32(rng.integers(-2**24, 2**24, c) + offset)
    bound = 128 * 128 * taps
    folded = fold_bias(r, bias, bound)
    assert folded is not None
    edges = np.concatenate([r.vector(k, c) - bias + d for k in ("acc_lo", "acc_hi")
                            for d in (-1, 0, 1)])
    acc = np.concatenate([rng.integers(-bound, bound + 1, 60 * c), np.clip(edges, -bound, bound),
                          np.full(c, bound), np.full(c, -bound)])
    acc = acc[: acc.size // c * c].reshape(1, c, -1, 1).astype(np.int32, copy=False)
    want = ref.requantize_channels(acc, bias, r)
    none = np.zeros(c, np.int64)
    assert np.array_equal(ref.requantize_channels(acc, none, folded), want)
    steps = {}
    for form, b, ep_bias in ((r, bias, True), (folded, none, False)):
        structure, shift, rows = channel_requant(form, c)
        clip = None if form.clip_is_redundant() else (form.lo, form.hi)
        ep = Epilogue(bias=ep_bias, shift=shift, clip=clip, requant=structure)
        assert np.array_equal(_run_alu(ep, acc, b, rows), want)
        steps[ep_bias] = len(ep.alu_steps())
    assert steps[False] == steps[True] - 1


def test_fold_bias_declines_where_it_would_not_be_exact_or_shorter():
    with_post, off = fixed_point([0.1, 0.2])
    assert fold_bias(with_post, off + 5, 2**31 - 5) is None          # acc + bias may wrap
    assert fold_bias(with_post, off + 5, 2**31 - 6) is not None
    without_post, off = fixed_point([1e-3, 2e-3])                   # M <= 2**-8: no post
    assert not any(without_post.post_offset) and fold_bias(without_post, off, 1000) is None
    pre, off = fixed_point([1e-6])                                  # a pre-shift first
    assert pre.pre_shift[0] > 0 and fold_bias(pre, off, 1000) is None
    assert fold_bias(power_of_two([3])[0], [4], 1000) is None       # no clamp, no multiply


def test_channel_requant_uses_immediates_where_they_fit():
    r, _ = power_of_two([3, 3, 3])
    assert channel_requant(r, 3)[:2] == (None, 3)           # the plain epilogue's shift
    r, _ = power_of_two([3, 4, 20])
    structure, shift, rows = channel_requant(r, 3)
    assert shift == 0 and structure.shifts == (None, None)  # 20 = 15 + 5: two row passes
    assert rows["shr0"].tolist() == [3, 4, 15] and rows["shr1"].tolist() == [0, 0, 5]
    r, _ = fixed_point([0.001] * 3)          # one multiplier below 2**15: an immediate
    structure, _, rows = channel_requant(r, 3)
    assert structure.clamp and sorted(rows) == ["hi", "lo"] and structure.multiplier > 1
    r, _ = fixed_point([0.001, 0.002, 0.003])
    assert sorted(channel_requant(r, 3)[2]) == ["hi", "lo", "mul"]
    assert [s.op for s in structure.steps()] == [AluOp.MAX, AluOp.MIN, AluOp.MUL,
                                                 AluOp.SHR, AluOp.SHR]
    with pytest.raises(OperatorError, match="requant steps takes its shifts"):
        Epilogue(shift=2, requant=ChannelRequant(shifts=(3,)))


@_SETTINGS
@given(seed=st.integers(0, 2**16), k=st.integers(1, 5), stride=st.integers(1, 3),
       pad=st.integers(0, 3), zx=st.integers(-128, 127))
def test_zero_point_fold_and_border_correction_give_the_padded_conv(seed, k, stride, pad,
                                                                   zx):
    """sum(x*w) with zero padding, minus zx*sum(w), plus the border correction, is the conv
    of (x - zx) padded with zeros (ONNX's QLinearConv / ConvInteger sum)."""
    pad = min(pad, k - 1)
    rng = np.random.default_rng(seed)
    h = int(rng.integers(max(1, k - 2 * pad), 9))
    x = rng.integers(-128, 128, (2, 3, h, h + 1), dtype=np.int8)
    w = rng.integers(-128, 128, (4, 3, k, k), dtype=np.int8)
    wl = Conv2dWorkload(2, 3, h, h + 1, 4, (k, k), (stride, stride), (pad, pad))
    vta = (ref.conv2d(x, w, stride, pad).astype(np.int64)
           + folded_bias(None, w, zx).reshape(1, -1, 1, 1) + pad_correction_map(w, zx, wl))
    assert np.array_equal(ref.wrap32(vta), ref.conv2d(x, w, stride, pad, x_zero_point=zx))
    patterns = pad_patterns(wl)
    inner = sum(1 for r in patterns.rows if r == (0, 0)) * sum(
        1 for c in patterns.cols if c == (0, 0))
    assert patterns.border_count() == wl.out_height * wl.out_width - inner


def test_cpu_conv_kernel_with_zero_point_wide_weights_and_fixed_point():
    rng = np.random.default_rng(3)
    x = rng.integers(-128, 128, (1, 6, 7, 7), dtype=np.int8)
    r, offset = fixed_point(rng.uniform(1e-4, 0.01, 5), -9)
    bias = ref.wrap32(rng.integers(-5000, 5000, 5) + offset)
    for w in (rng.integers(-128, 128, (5, 6, 3, 3), dtype=np.int8),
              rng.integers(-255, 256, (5, 6, 3, 3)).astype(np.int16)):
        for zx in (0, -128, 101):
            k = cpu_conv.qconv2d_kernel(x.shape, w, bias, 2, 1, requant=r, x_zero_point=zx)
            want = ref.requantize_channels(ref.conv2d(x, w, 2, 1, x_zero_point=zx), bias, r)
            assert np.array_equal(k(x), want)
    dense = cpu_conv.qdense_kernel((3, 6), w[:, :, 0, 0], bias, requant=r, x_zero_point=7)
    xd = x[0, :, :3, 0].T.copy()
    want = ref.requantize_channels(ref.dense(xd, w[:, :, 0, 0], 7), bias, r)
    assert np.array_equal(dense(xd), want)


@_SETTINGS
@given(seed=st.integers(0, 2**16), zx=st.integers(-128, 127), zy=st.integers(-128, 127))
def test_the_accelerator_folds_zero_point_and_bias_exactly(seed, zx, zy):
    """accelerator_requant: the requantization of the accelerator's sums ``sum(x' * w)``
    (input padded with its zero point) equals the layer's own on ``sum((x - zx) * w) +
    bias`` for every sum the bound allows, its ends included; a power-of-two form keeps the
    bias rows (``bias - zx * sum(w)``, wrapped) and a layer without bias or zero point none."""
    rng = np.random.default_rng(seed)
    c, taps = 5, 9 * 32
    w = rng.integers(-128, 128, (c, taps)).astype(np.int8)
    bias = rng.integers(-2**20, 2**20, c)
    bound = (128 + abs(zx)) * np.abs(w.astype(np.int64)).sum(axis=1)
    scales = rng.uniform(1e-4, 0.05, c)         # below 2**-12 a pre-shift: no fold
    layer, total = fixed_point_layer(scales, zy, -128, 127, bias, bound)
    assert (total is None) == (scales.min() >= 2.0**-12)
    vta, rows = accelerator_requant(layer, total, w, zx)
    assert (rows is None) == (total is None)
    limit = 128 * np.abs(w.astype(np.int64)).sum(axis=1)
    sums = np.concatenate([rng.integers(-limit, limit + 1, (200, c)), limit[None], -limit[None]])
    zs = np.int64(zx) * w.astype(np.int64).sum(axis=1)
    none = np.zeros(c, np.int64)
    got = ref.requantize_channels(sums, none if rows is None else rows, vta, axis=1)
    want = ref.requantize_channels(sums - zs, none if total is None else total, layer, axis=1)
    assert np.array_equal(got, want)
    pow2, offset = power_of_two(rng.integers(6, 11, c), zy)
    same, rows = accelerator_requant(pow2, bias + offset, w, zx)
    assert same == pow2 and np.array_equal(rows, ref.wrap32(folded_bias(bias + offset, w, zx)))
    assert accelerator_requant(layer, None, w, 0) == (layer, None)
