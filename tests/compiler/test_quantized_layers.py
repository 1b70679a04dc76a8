"""Asymmetric and per-channel int8 layers through the model compiler: uint8 inputs and
outputs, input zero points (bias fold and border correction), fixed-point requantization
with per-channel multipliers on a config with ALU MUL, per-channel power-of-two shifts on
the default config -- every backend bit for bit against the graph reference."""

from __future__ import annotations

import numpy as np
import pytest
import vta.compiler
from vta.compiler.frontend import GraphBuilder
from vta.compiler.frontend import run as reference_run
from vta.compiler.int8_reference import wrap32
from vta.compiler.requant import fixed_point_layer, power_of_two


def _layer(b, rng, x, name, o, *, k=3, pads=1, strides=1, mul=True, zp_out=-128,
           relu=True, dense=False, groups=1, dilations=1):
    """A qconv2d/qdense with random weights reading ``x`` (its zero point from its type),
    requantized per channel to an output with zero point ``zp_out``."""
    t = b.type_of(x)
    c = t.shape[1] // groups
    shape = (o, c) if dense else (o, c, k, k)
    weight = rng.integers(-127, 128, shape).astype(np.int8)
    w = b.param(f"{name}.w", weight)
    lo = zp_out if relu else -128
    if mul:     # as the importer makes it: the bias folded in where it can be
        bound = (128 + abs(t.zero_point)) * np.abs(weight.reshape(o, -1).astype(np.int64)
                                                   ).sum(axis=1)
        r, total = fixed_point_layer(rng.uniform(2e-4, 3e-3, o), zp_out, lo, 127,
                                     rng.integers(-4000, 4000, o), bound)
    else:
        r, offset = power_of_two(rng.integers(6, 12, o), zp_out, lo, 127)
        total = wrap32(rng.integers(-4000, 4000, o) + offset)
    inputs = [x, w] if total is None else [x, w, b.param(f"{name}.b", wrap32(total))]
    attrs = dict(r.attrs(), x_zero_point=t.zero_point, out_scale=0.05, out_zero_point=zp_out)
    if not dense:
        attrs.update(pads=pads, strides=strides)
    if groups > 1:
        attrs.update(groups=groups)
    if dilations > 1:
        attrs.update(dilations=dilations)
    return b.node("qdense" if dense else "qconv2d", inputs, name, **attrs)


def asymmetric_net(mul: bool = True, seed: int = 0):
    """uint8 image -> int8 (zero point -128+37) -> three convs (padded, strided, 1x1) with
    zero points -> flatten -> dense -> uint8 logits."""
    rng = np.random.default_rng(seed)
    b = GraphBuilder("asym")
    x = b.input("image", (1, 8, 12, 12), "uint8")
    y = b.node("qcast", [x], "to_int8", dtype="int8")
    y = _layer(b, rng, y, "c1", 32, mul=mul, zp_out=-128)
    y = _layer(b, rng, y, "c2", 32, strides=2, mul=mul, zp_out=-100)
    y = _layer(b, rng, y, "c3", 16, k=1, pads=0, mul=mul, zp_out=3, relu=False)
    y = b.flatten(y)
    y = _layer(b, rng, y, "fc", 10, mul=mul, zp_out=7, relu=False, dense=True)
    b.output(b.node("qcast", [y], "to_uint8", dtype="uint8", output="logits"))
    return b.build()


def grouped_net(mul: bool = True, seed: int = 0):
    """uint8 image -> int8 -> grouped convs with input zero points: a depthwise 3x3
    (stride 2, TensorFlow's 'SAME' pads: bottom and right only), groups of 4 input / 8
    output channels (super-groups of whole blocks), dilated with asymmetric pads, and groups
    of 3 channels that fill no block (one zero-padded super-group)."""
    rng = np.random.default_rng(seed)
    b = GraphBuilder("grouped_asym")
    x = b.input("image", (1, 32, 11, 11), "uint8")
    y = b.node("qcast", [x], "to_int8", dtype="int8")
    y = _layer(b, rng, y, "dw", 32, strides=2, pads=(0, 0, 1, 1), mul=mul, zp_out=-90,
               groups=32)
    y = _layer(b, rng, y, "g8", 64, pads=(2, 1, 3, 0), dilations=2, mul=mul, zp_out=-128,
               groups=8)
    y = _layer(b, rng, y, "1x1", 6, k=1, pads=0, mul=mul, zp_out=-20)
    y = _layer(b, rng, y, "g2", 6, mul=mul, zp_out=5, relu=False, groups=2)
    b.output(b.node("qcast", [y], "to_uint8", dtype="uint8", output="out"))
    return b.build()


@pytest.mark.parametrize("mul,config", [(True, "default_mul"), (False, "default")])
def test_grouped_convs_with_zero_points_run_on_vta_and_match(mul, config):
    """A grouped convolution's input zero point: the bias fold and the border rows over
    the block-diagonal weight of its super-groups, with dilation and asymmetric pads."""
    g = grouped_net(mul)
    x = np.random.default_rng(4).integers(0, 256, (1, 32, 11, 11)).astype(np.uint8)
    want = reference_run(g, x)["out"]
    with vta.compiler.compile(g, config, "fsim", min_utilization=0) as exe:
        layers = {lay.name: lay for lay in exe.partition.vta_layers}
        assert set(layers) == {"dw", "g8", "1x1", "g2"}
        for name, groups in (("dw", 32), ("g8", 8), ("g2", 2)):
            lay = layers[name]
            assert lay.workload.groups == groups and lay.epilogue.pad_correction
        assert np.array_equal(exe(x)["out"], want)


@pytest.mark.parametrize("mul,config", [(True, "default_mul"), (False, "default")])
def test_asymmetric_per_channel_layers_run_on_vta_and_match(mul, config):
    g = asymmetric_net(mul)
    x = np.random.default_rng(1).integers(0, 256, (1, 8, 12, 12)).astype(np.uint8)
    want = reference_run(g, x)
    assert want["logits"].dtype == np.uint8
    with vta.compiler.compile(g, config, "fsim", min_utilization=0) as exe:
        assert [lay.name for lay in exe.partition.vta_layers] == ["c1", "c2", "c3", "fc"]
        c1 = exe.partition.vta_layers[0].epilogue
        assert c1.pad_correction and c1.multiplies == mul and c1.const_rows
        got = exe(x)
        assert got["logits"].dtype == np.uint8 and np.array_equal(got["logits"],
                                                                  want["logits"])
    with vta.compiler.compile(g, config, "fsim", cpu_only=True) as exe:
        assert np.array_equal(exe(x)["logits"], want["logits"])


def test_multipliers_stay_on_the_cpu_without_alu_mul_with_a_reason():
    g = asymmetric_net(True)
    x = np.random.default_rng(2).integers(0, 256, (1, 8, 12, 12)).astype(np.uint8)
    with vta.compiler.compile(g, "default", "fsim", min_utilization=0) as exe:
        assert not exe.partition.vta_layers
        reasons = {lay.reason for lay in exe.partition.cpu_layers if lay.reason}
        assert reasons == {"its requantization multiplies (scales that are not powers of "
                           "two) and the config has no ALU MUL (ALU_MUL=true, e.g. preset "
                           "'default_mul')"}
        assert np.array_equal(exe(x)["logits"], reference_run(g, x)["logits"])


def test_save_load_keeps_the_constant_rows(tmp_path):
    g = asymmetric_net(True, seed=3)
    x = np.random.default_rng(3).integers(0, 256, (1, 8, 12, 12)).astype(np.uint8)
    with vta.compiler.compile(g, "default_mul", "fsim", min_utilization=0) as exe:
        want = exe(x)["logits"]
        path = exe.save(tmp_path / "asym.vtax")
    with vta.compiler.load(path) as exe:
        assert exe.partition.vta_layers[0].epilogue.requant is not None
        assert np.array_equal(exe(x)["logits"], want)


@pytest.mark.slow
def test_fixed_point_and_zero_points_on_verilator(verilator):
    """The RTL (ALU MUL, tensor-operand SHR/MAX/MIN/ADD, the border correction) equals the
    reference bit for bit."""
    cases = [(asymmetric_net(True, seed=5), (1, 8, 12, 12), 5, "logits"),
             (grouped_net(True, seed=6), (1, 32, 11, 11), 6, "out")]
    for g, shape, seed, output in cases:
        x = np.random.default_rng(seed).integers(0, 256, shape).astype(np.uint8)
        with vta.compiler.compile(g, "default_mul", verilator("default_mul"),
                                  min_utilization=0) as exe:
            assert len(exe.partition.vta_layers) == 4
            assert np.array_equal(exe(x)[output], reference_run(g, x)[output])
