"""Partitioning a quantized graph between VTA and the CPU (vta.compiler.partition)."""

from __future__ import annotations

import numpy as np
import pytest
from vta.compiler.cpu_cost import HOSTS, host_for, vta_seconds
from vta.compiler.frontend import GraphBuilder, ModelError
from vta.compiler.partition import CpuLayer, VtaLayer, partition
from vta.hw.config import VTAConfig


def test_placement_and_reasons(default_config, residual_graph):
    # Against a PC's CPU the 3-channel conv (3/16 of each GEMM used) does not pay.
    p = partition(residual_graph(), default_config, host="x86-64")
    placement = p.placement()
    assert placement == {"c1": "cpu", "c2": "vta", "c3": "vta", "add": "vta", "pool": "cpu"}
    c1 = next(lay for lay in p.layers if lay.name == "c1")
    assert isinstance(c1, CpuLayer) and "does not pay" in c1.reason
    assert "x86-64 CPU" in c1.reason and "utilization 0.1" in c1.reason
    fused = next(lay for lay in p.layers if "add" in lay.nodes)
    assert isinstance(fused, VtaLayer)
    assert fused.nodes == ("c3", "add") and fused.residual == "c1" and fused.output == "add"
    assert fused.epilogue.residual and fused.epilogue.residual_clip == (0, 127)
    assert fused.epilogue.clip == (-128, 127) and fused.epilogue.shift == 6
    assert "vta  c3+add" in p.summary()
    # Against the PYNQ's Cortex-A9 (the default config's board) it does.
    assert partition(residual_graph(), default_config).placement()["c1"] == "vta"


def test_host_profiles_and_the_time_rule(default_config):
    a9, x86 = host_for(default_config), host_for(default_config, "x86-64")
    assert a9.name == "cortex-a9" and x86.measured and not a9.measured
    assert host_for(VTAConfig.preset("ultra96")).name == "cortex-a53"
    assert a9.rate("conv") < HOSTS["cortex-a53"].rate("conv") < x86.rate("conv")
    assert x86.rate("reference") < x86.rate("conv")      # numpy runs grouped convs
    assert vta_seconds(100_000, default_config) == pytest.approx(1e-3)   # 100 MHz
    with pytest.raises(ModelError, match="unknown host profile 'z80'"):
        host_for(default_config, "z80")

def test_rescaling_add_is_fused(default_config, residual_graph):
    # ResNet's skip add: residual << 1, + 1, >> 1, ReLU clip.
    p = partition(residual_graph(plain_add=False), default_config)
    assert p.placement()["add"] == "vta"
    fused = next(lay for lay in p.layers if "add" in lay.nodes)
    assert fused.nodes == ("c3", "add") and fused.residual == "c1"
    ep = fused.epilogue
    assert (ep.lshift, ep.residual_lshift, ep.residual_offset, ep.residual_shift,
            ep.residual_clip) == (0, 1, 1, 1, (0, 127))


def test_rescaled_add_shifts_follow_the_operands(default_config, qconv, qadd):
    b = GraphBuilder("order")
    x = b.input("x", (1, 16, 8, 8), "int8")
    y = qconv(b, x, "a", 16)
    z = qconv(b, y, "b", 16)     # the conv is the add's second operand
    b.output(qadd(b, y, z, "add", lshift_a=3, lshift_b=0, offset=4, shift=3, lo=-128))
    fused = partition(b.build(), default_config).layers[-1]
    assert isinstance(fused, VtaLayer) and fused.nodes == ("b", "add")
    ep = fused.epilogue
    assert (ep.lshift, ep.residual_lshift, ep.residual_offset, ep.residual_shift,
            ep.residual_clip) == (0, 3, 4, 3, (-128, 127))


def test_adds_the_epilogue_cannot_do_stay_on_cpu(default_config, qconv, qadd):
    b = GraphBuilder("wide")
    x = b.input("x", (1, 16, 8, 8), "int8")
    y = qconv(b, x, "a", 16)
    z = qconv(b, y, "b", 16)
    y = qadd(b, z, y, "big_offset", offset=1 << 20, shift=21)
    z = qconv(b, y, "c", 16)
    b.output(qadd(b, z, y, "wide_shift", lshift_a=40))   # SHR by more than 31
    p = partition(b.build(), default_config)
    assert p.placement()["big_offset"] == "cpu" and p.placement()["wide_shift"] == "cpu"
    assert p.placement()["b"] == "vta" and p.placement()["c"] == "vta"


def test_no_fusion_option_and_forced_cpu(default_config, residual_graph):
    p = partition(residual_graph(), default_config, fuse_residual=False)
    assert p.placement()["add"] == "cpu"
    p = partition(residual_graph(), default_config, cpu_nodes=["c2"])
    assert p.placement()["c2"] == "cpu"
    assert next(lay for lay in p.layers if lay.name == "c2").reason == "forced by cpu_nodes"
    p = partition(residual_graph(), default_config, cpu_only=True)
    assert set(p.placement().values()) == {"cpu"}


def test_add_of_two_accelerator_convs_is_fused_once(default_config, qconv, qadd):
    b = GraphBuilder("two")
    x = b.input("x", (1, 16, 8, 8), "int8")
    main = qconv(b, x, "main", 16)
    skip = qconv(b, x, "skip", 16, k=1)
    b.output(qadd(b, main, skip, "add", lshift_b=1, offset=1, shift=1))
    p = partition(b.build(), default_config, min_utilization=0.0)
    assert [lay.describe() for lay in p.layers] == ["skip", "main+add"]
    assert all(isinstance(lay, VtaLayer) for lay in p.layers)
    assert p.layers[1].residual == "skip" and p.layers[1].epilogue.residual_lshift == 1


def test_min_utilization_zero_puts_small_conv_on_vta(default_config, residual_graph):
    p = partition(residual_graph(), default_config, min_utilization=0.0)
    assert p.placement()["c1"] == "vta"


def test_fused_layer_runs_where_the_add_is(default_config, qconv, qadd):
    # The skip operand is computed after the conv it is added to: the fused layer must
    # come after it.
    b = GraphBuilder("late")
    x = b.input("x", (1, 16, 8, 8), "int8")
    main = qconv(b, x, "main", 16)
    skip = qconv(b, x, "skip", 16, k=1)
    b.output(qadd(b, main, skip, "add"))
    p = partition(b.build(), default_config)
    order = [lay.name for lay in p.layers]
    assert order == ["skip", "main"]
    assert p.layers[1].nodes == ("main", "add") and p.layers[1].residual == "skip"


def test_per_channel_shifts_and_asymmetric_pads_run_on_vta(default_config, qconv):
    b = GraphBuilder("odd")
    x = b.input("x", (1, 16, 8, 8), "int8")
    y = qconv(b, x, "perchan", 16, shift=tuple([5] * 8 + [6] * 8))
    y = qconv(b, y, "uniform", 16, shift=tuple([5] * 16))
    y = qconv(b, y, "asym", 16, pads=(1, 1, 0, 0))
    b.output(y)
    p = partition(b.build(), default_config)
    layers = {lay.name: lay for lay in p.layers}
    # Per-channel shifts: one SHR reading a row of per-lane amounts.
    perchan = layers["perchan"]
    assert isinstance(perchan, VtaLayer) and perchan.epilogue.const_rows == ("shr0",)
    assert isinstance(layers["uniform"], VtaLayer) and layers["uniform"].epilogue.shift == 5
    asym = layers["asym"]
    assert isinstance(asym, VtaLayer)
    assert (asym.workload.padding, asym.workload.padding_end) == ((1, 1), (0, 0))


def test_a_multiplier_needs_alu_mul(default_config, qconv):
    b = GraphBuilder("mul")
    x = b.input("x", (1, 16, 8, 8), "int8")
    b.output(qconv(b, x, "fixed", 16, shift=20, multiplier=tuple(range(700, 716)),
                   acc_lo=-(1 << 18), acc_hi=1 << 18))
    g = b.build()
    layer = partition(g, default_config).layers[0]
    assert isinstance(layer, CpuLayer) and "ALU MUL" in layer.reason
    layer = partition(g, VTAConfig.preset("default_mul"), min_utilization=0).layers[0]
    assert isinstance(layer, VtaLayer) and layer.epilogue.multiplies


def test_dense_placement_follows_cost_model(default_config):
    b = GraphBuilder("fc")
    x = b.input("x", (1, 512), "int8")
    rng = np.random.default_rng(7)
    w = b.param("w", rng.integers(-5, 6, (1000, 512)).astype(np.int8))
    bias = rng.integers(-500, 500, 1000).astype(np.int32)
    b.output(b.node("qdense", [x, w, b.param("b", bias)], "fc", shift=4, lo=-128,
                    hi=127, out_scale=1.0))
    g = b.build()
    fc = partition(g, default_config, host="x86-64").layers[0]
    assert isinstance(fc, CpuLayer) and "does not pay" in fc.reason   # a GEMV only streams weights
    fc = partition(g, default_config).layers[0]     # ... but beats a Cortex-A9
    assert isinstance(fc, VtaLayer) and fc.op == "dense"
    fc = partition(g, default_config, min_utilization=0.1).layers[0]   # a floor
    assert isinstance(fc, CpuLayer) and "below 0.10" in fc.reason


def test_errors(default_config, residual_graph):
    b = GraphBuilder("float")
    x = b.input("x", (1, 3, 8, 8))
    b.output(b.relu(x))
    with pytest.raises(ModelError, match="not quantized"):
        partition(b.build(), default_config)
    with pytest.raises(ModelError, match="not a node"):
        partition(residual_graph(), default_config, cpu_nodes=["nope"])
    with pytest.raises(ModelError, match="min_utilization"):
        partition(residual_graph(), default_config, min_utilization=2)
