"""Post-training quantization: scales, fused requantization, accuracy against float."""

import numpy as np
import pytest
from vta.compiler import int8_reference as int8
from vta.compiler.frontend import interpreter as ref
from vta.compiler.frontend.errors import ModelError
from vta.compiler.frontend.graph import GraphBuilder
from vta.compiler.frontend.quantize import calibrate, frac_bits, quantize, quantize_weights

RNG = np.random.default_rng(0)


def _resblock(per_channel_scale=1.0):
    b = GraphBuilder("res")
    x = b.input("x", (1, 8, 6, 6))
    w1 = RNG.normal(0, 0.3, (8, 8, 3, 3)) * np.linspace(0.2, 1, 8)[:, None, None, None] \
        * per_channel_scale
    y = b.relu(b.conv2d(x, b.param("w1", w1), b.param("b1", RNG.normal(0, .1, 8)), pads=1,
                        name="conv1"), name="relu1")
    y = b.conv2d(y, b.param("w2", RNG.normal(0, 0.3, (8, 8, 3, 3))), pads=1, name="conv2")
    y = b.relu(b.add(y, x, name="add"), name="out_relu")
    y = b.clip(b.max_pool(y, 2, name="pool"), 0.0, 2.0, name="clip")
    y = b.dense(b.flatten(b.global_avg_pool(y, name="gap"), name="flat"),
                b.param("wd", RNG.normal(0, 0.5, (5, 8))), b.param("bd", RNG.normal(0, .1, 5)),
                name="fc")
    b.output(b.softmax(y, name="prob"))
    return b.build()


def test_frac_bits_and_weights():
    assert frac_bits(1.0) == 6 and frac_bits(0.99) == 7 and frac_bits(127) == 0
    assert frac_bits(200) == -1 and frac_bits(0.0) == 0
    w = np.array([[0.5, -0.25], [0.01, 0.02]])
    q, f = quantize_weights(w, per_channel=False)
    assert f.tolist() == [7] and q.tolist() == [[64, -32], [1, 3]]
    q, f = quantize_weights(w, per_channel=True)
    assert f.tolist() == [7, 12] and q[1].tolist() == [41, 82]


def test_quantized_graph_structure_and_semantics():
    g = _resblock()
    samples = [RNG.normal(size=(1, 8, 6, 6)).astype(np.float32) for _ in range(4)]
    q = quantize(g, samples)
    assert q.op_counts() == {"quantize": 1, "qconv2d": 2, "qadd": 1, "max_pool": 1,
                             "qlut": 1, "global_avg_pool": 1, "flatten": 1, "qdense": 1,
                             "dequantize": 1, "softmax": 1}
    assert q.inputs == ("x",) and q.outputs == ("prob",)
    conv1 = q.node("conv1")
    assert conv1.attr("lo") == 0 and conv1.attr("hi") == 127       # ReLU fused
    add = q.node("add")
    assert add.attr("lo") == 0                                       # ReLU after add fused
    for name, t in q.types.items():
        if t.dtype == "int8" and name not in q.params:
            assert np.log2(t.scale) == int(np.log2(t.scale))        # power-of-two scales
    assert conv1.attr("shift") > 0 and q.params["conv1.bias:q"].dtype == np.int32
    clip = q.node("clip")           # a standalone Clip is a table over its 256 codes
    table = q.params[clip.inputs[1]]
    assert clip.op == "qlut" and table.max() == int(2.0 / q.type_of("clip:q").scale)
    # close to the float model
    for s in samples:
        np.testing.assert_allclose(ref.run(q, s)["prob"], ref.run(g, s)["prob"], atol=0.08)


def test_requantization_is_an_exact_alu_sequence():
    """qconv2d == GEMM, then ADD bias, SHR, MAX, MIN and truncation on int32 lanes."""
    g = _resblock()
    x = RNG.normal(size=(1, 8, 6, 6)).astype(np.float32)
    q = quantize(g, [x])
    env = ref.run_all(q, x)
    node = q.node("conv1")
    acc = int8.conv2d(env[node.inputs[0]], q.params[node.inputs[1]], 1, 1).astype(np.int64)
    acc = acc + q.params[node.inputs[2]].astype(np.int64)[None, :, None, None]
    acc = (acc + 2 ** 31) % 2 ** 32 - 2 ** 31
    acc = np.minimum(np.maximum(acc >> node.attr("shift"), node.attr("lo")), node.attr("hi"))
    np.testing.assert_array_equal((acc & 0xFF).astype(np.uint8).view(np.int8),
                                  env[node.output])


def test_per_channel_weights_give_per_channel_shifts_and_better_accuracy():
    g = _resblock(per_channel_scale=1.0)
    samples = [RNG.normal(size=(1, 8, 6, 6)).astype(np.float32) for _ in range(4)]
    q = quantize(g, samples, per_channel=True)
    shifts = q.node("conv1").attr("shift")
    assert isinstance(shifts, tuple) and len(shifts) == 8 and len(set(shifts)) > 1
    qt = quantize(g, samples)
    want = ref.run_all(g, samples[0])["relu1"]
    env_t, env_c = ref.run_all(qt, samples[0]), ref.run_all(q, samples[0])
    err_t = np.abs(ref.dequantize(env_t["relu1:q"], qt.type_of("relu1:q").scale) - want).mean()
    err_c = np.abs(ref.dequantize(env_c["relu1:q"], q.type_of("relu1:q").scale) - want).mean()
    assert err_c <= err_t


def test_percentile_calibration_ignores_outliers():
    b = GraphBuilder("p")
    b.output(b.relu(b.input("x", (1, 1000)), name="r"))
    g = b.build()
    x = np.abs(RNG.normal(size=(1, 1000))).astype(np.float32)
    x[0, 0] = 100.0
    assert calibrate(g, [x])["r"].amax == 100.0
    assert calibrate(g, [x], "percentile", 99.0)["r"].amax < 4.0
    # Entropy (KL) calibration clips the outlier too, and keeps the bulk.
    t = calibrate(g, [x], "entropy")["r"]
    assert 2.0 < t.amax < 10.0 and t.hi == t.amax and t.lo >= 0


def test_concat_rescales_to_the_coarsest_input():
    b = GraphBuilder("cat")
    x = b.input("x", (1, 2, 3, 3))
    big = b.conv2d(x, b.param("w", np.full((2, 2, 1, 1), 4.0)), name="big")
    b.output(b.concat([x, big], name="cat"))
    g = b.build()
    xs = np.full((1, 2, 3, 3), 0.5, np.float32)
    q = quantize(g, [xs])
    assert q.op_counts()["qrescale"] == 1
    np.testing.assert_allclose(ref.run(q, xs)["cat"], ref.run(g, xs)["cat"], rtol=0.02)


def test_ops_without_an_int8_form_stay_float_and_bad_calibration_is_an_error():
    b = GraphBuilder("bad")
    x = b.input("x", (1, 2, 3, 3))
    y = b.batch_norm(x, *(b.param(n, np.ones(2)) for n in "abcd"), name="lonely_bn")
    b.output(y)
    q = quantize(b.build(), [np.zeros((1, 2, 3, 3), np.float32)])
    assert q.node("lonely_bn").op == "batch_norm"        # runs in float32 on the CPU
    with pytest.raises(ModelError, match="at least one sample"):
        quantize(b.build(), [])
    with pytest.raises(ModelError, match="calibration must be"):
        calibrate(b.build(), [np.zeros((1, 2, 3, 3))], "mse")


def test_asymmetric_activations_use_a_zero_point_and_all_256_codes():
    g = _resblock()
    samples = [RNG.normal(size=(1, 8, 6, 6)).astype(np.float32) for _ in range(4)]
    q = quantize(g, samples, asymmetric=True)
    relu1 = q.type_of("relu1:q")
    assert relu1.zero_point == -128                     # [0, max] -> codes -128..127
    conv1 = q.node("conv1")
    assert conv1.attr("lo") == -128 and conv1.attr("out_zero_point") == -128
    assert q.node("conv2").attr("x_zero_point") == -128
    sym = quantize(g, samples)
    want = ref.run_all(g, samples[0])["relu1"]
    err = {}
    for name, qg in (("asym", q), ("sym", sym)):
        t = qg.type_of("relu1:q")
        got = ref.dequantize(ref.run_all(qg, samples[0])["relu1:q"], t.scale, t.zero_point)
        err[name] = np.abs(got - want).mean()
    assert err["asym"] < err["sym"]
    for s in samples:
        np.testing.assert_allclose(ref.run(q, s)["prob"], ref.run(g, s)["prob"], atol=0.08)


@pytest.mark.parametrize("options", [{"per_channel": True}, {"asymmetric": True},
                                     {"per_channel": True, "asymmetric": True,
                                      "calibration": "entropy"}])
def test_kit_quantization_runs_on_the_default_config_exactly(options):
    """Power-of-two scales, per-channel or asymmetric: shifts, zero points and clips only,
    so every conv runs on the accelerator without ALU MUL, bit for bit."""
    import vta.compiler

    g = _resblock()
    samples = [RNG.normal(size=(1, 8, 6, 6)).astype(np.float32) for _ in range(4)]
    q = quantize(g, samples, **options)
    with vta.compiler.compile(q, "default", "fsim", min_utilization=0) as exe:
        assert {lay.name for lay in exe.partition.vta_layers} >= {"conv1", "conv2"}
        got = exe(samples[1])["prob"]
        np.testing.assert_array_equal(got, ref.run(q, samples[1])["prob"])


def test_clip_with_min_above_max_returns_max():
    """ONNX Clip with min > max returns max everywhere (the quantizer used to swap them)."""
    b = GraphBuilder("clip")
    x = b.input("x", (1, 4, 3, 3))
    y = b.conv2d(x, b.param("w", np.eye(4).reshape(4, 4, 1, 1)), name="conv")
    b.output(b.clip(y, 2.0, 1.0, name="clip"))
    g = b.build()
    xs = RNG.normal(size=(1, 4, 3, 3)).astype(np.float32)
    assert np.all(ref.run(g, xs)["clip"] == 1.0)
    q = quantize(g, [xs])
    np.testing.assert_allclose(ref.run(q, xs)["clip"], 1.0)
