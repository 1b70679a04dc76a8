"""Quantized ONNX models as users bring them: onnxruntime's QDQ and QOperator models of the
digits CNN compiled without calibration and compared with onnxruntime's own int8 run, the
silent wrong results of the old import (each a regression test), bad quantization
parameters (one line at import) and ``vta quantize``."""

from __future__ import annotations

import logging
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import vta.compiler
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper
from onnx.reference import ReferenceEvaluator
from vta.compiler.frontend import ModelError, import_onnx
from vta.compiler.frontend.digits import load_digits_split, train_digits_cnn
from vta.compiler.frontend.models import digits_cnn_onnx

RNG = np.random.default_rng(5)


def _model(nodes, inputs, outputs, inits, opset=19):
    graph = h.make_graph(nodes, "m", [h.make_tensor_value_info(n, t, s) for n, t, s in inputs],
                         [h.make_tensor_value_info(n, t, s) for n, t, s in outputs],
                         [numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()])
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", opset)])
    model.ir_version = 9
    return model


def _ort(model, feeds):
    return ort.InferenceSession(model.SerializeToString(),
                                providers=["CPUExecutionProvider"]).run(None, feeds)


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """The digits CNN quantized by onnxruntime (QDQ int8, QOperator uint8, per-channel
    weights) with 359 training images, and the held-out split."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    logging.getLogger().setLevel(logging.ERROR)
    data = load_digits_split(0)
    net = train_digits_cnn(data)
    path = tmp_path_factory.mktemp("digits") / "float.onnx"
    onnx.save(digits_cnn_onnx(net.params), path)
    models = {}
    for fmt, act in ((QuantFormat.QDQ, QuantType.QInt8), (QuantFormat.QOperator,
                                                         QuantType.QUInt8)):
        class Reader(CalibrationDataReader):
            def __init__(self):
                self.it = iter({"image": x[None]} for x in data.x_train[:359])

            def get_next(self):
                return next(self.it, None)
        out = path.with_name(f"{fmt.name}.onnx")
        quantize_static(str(path), str(out), Reader(), quant_format=fmt, per_channel=True,
                        activation_type=act, weight_type=QuantType.QInt8)
        models[fmt.name] = onnx.load(str(out))
    return models, data


@pytest.mark.parametrize("fmt", ["QDQ", "QOperator"])
def test_onnxruntime_quantized_digits_compile_without_calibration(digits, fmt):
    models, data = digits
    model = models[fmt]
    if fmt == "QOperator":
        assert "QGemm" in {n.op_type for n in model.graph.node}    # com.microsoft
    feeds = [{"image": x[None]} for x in data.x_test]
    want = np.concatenate([_ort(model, f)[0] for f in feeds])
    with vta.compiler.compile(model, "default_mul", "fsim") as exe:   # no calibration
        graph_ops = exe.graph.op_counts()
        assert "qconv2d" in graph_ops and "conv2d" not in graph_ops    # never re-quantized
        assert any(lay.name.startswith("conv2") for lay in exe.partition.vta_layers)
        got = np.concatenate([exe(f)["logits"] for f in feeds])
        ref = np.concatenate([exe.reference(f)["logits"] for f in feeds])
    assert np.array_equal(got, ref)                         # VTA == the kit's reference
    step = min(abs(d) for d in np.unique(np.diff(np.unique(want))) if d > 0)
    # Identical output values (99.25% with this seed: the fixed-point multiplier's and the
    # folded rounding offset's errors move a few values across a rounding boundary).
    assert (got == want).mean() >= 0.99
    assert np.abs(got - want).max() <= step * 1.001          # at most one output step
    assert (got.argmax(1) == want.argmax(1)).mean() >= 0.995
    acc = (got.argmax(1) == data.y_test).mean()
    assert abs(acc - (want.argmax(1) == data.y_test).mean()) <= 0.001


# ------------------------------------------------------------------ silent wrong results
def test_quantize_dequantize_pair_with_different_zero_points_is_not_merged():
    nodes = [h.make_node("QuantizeLinear", ["x", "s", "z1"], ["q"]),
             h.make_node("DequantizeLinear", ["q", "s", "z2"], ["y"])]
    model = _model(nodes, [("x", T.FLOAT, [1, 16])], [("y", T.FLOAT, [1, 16])],
                   {"s": np.float32(0.1), "z1": np.uint8(100), "z2": np.uint8(90)})
    x = RNG.uniform(-5, 5, (1, 16)).astype(np.float32)
    with vta.compiler.compile(model) as exe:
        np.testing.assert_array_equal(exe(x)["y"], ReferenceEvaluator(model).run(None, {"x": x})[0])


def test_a_model_ending_in_quantize_linear_returns_its_uint8_codes():
    nodes = [h.make_node("QuantizeLinear", ["x", "s", "z"], ["y"])]
    model = _model(nodes, [("x", T.FLOAT, [1, 8])], [("y", T.UINT8, [1, 8])],
                   {"s": np.float32(0.05), "z": np.uint8(128)})
    x = RNG.uniform(-5, 5, (1, 8)).astype(np.float32)
    with vta.compiler.compile(model) as exe:
        got = exe(x)["y"]
    assert got.dtype == np.uint8
    np.testing.assert_array_equal(got, ReferenceEvaluator(model).run(None, {"x": x})[0])


def test_integer_inputs_and_outputs_compile():
    """A uint8 image in, int32 sums out (ConvInteger with an input zero point and padding:
    the zero point used to be dropped)."""
    nodes = [h.make_node("ConvInteger", ["x", "w", "xz"], ["y"], pads=[1, 1, 1, 1])]
    model = _model(nodes, [("x", T.UINT8, [1, 3, 6, 6])], [("y", T.INT32, [1, 4, 6, 6])],
                   {"w": RNG.integers(-100, 100, (4, 3, 3, 3)).astype(np.int8),
                    "xz": np.uint8(131)})
    x = RNG.integers(0, 256, (1, 3, 6, 6)).astype(np.uint8)
    with vta.compiler.compile(model) as exe:
        got = exe(x)["y"]
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, ReferenceEvaluator(model).run(None, {"x": x})[0])


def test_a_qdq_model_is_not_re_quantized():
    """DQ -> Conv -> Q keeps the model's scales: one integer layer, exact against ONNX
    (power-of-two scales here, so no fixed-point rounding is involved)."""
    w = RNG.integers(-100, 100, (8, 4, 3, 3)).astype(np.int8)
    nodes = [h.make_node("QuantizeLinear", ["x", "xs", "xz"], ["xq"]),
             h.make_node("DequantizeLinear", ["xq", "xs", "xz"], ["xd"]),
             h.make_node("DequantizeLinear", ["w", "ws"], ["wd"], axis=0),
             h.make_node("Conv", ["xd", "wd"], ["c"], pads=[1, 1, 1, 1]),
             h.make_node("Relu", ["c"], ["r"]),
             h.make_node("QuantizeLinear", ["r", "ys", "yz"], ["yq"]),
             h.make_node("DequantizeLinear", ["yq", "ys", "yz"], ["y"])]
    model = _model(nodes, [("x", T.FLOAT, [1, 4, 6, 6])], [("y", T.FLOAT, [1, 8, 6, 6])],
                   {"xs": np.float32(1 / 32), "xz": np.int8(-3), "w": w,
                    "ws": np.full(8, 1 / 64, np.float32), "ys": np.float32(1 / 8),
                    "yz": np.int8(-128)})
    graph = import_onnx(model)
    assert graph.op_counts().get("qconv2d") == 1 and "conv2d" not in graph.op_counts()
    x = RNG.uniform(-3, 3, (1, 4, 6, 6)).astype(np.float32)
    with vta.compiler.compile(model, "default", "fsim", min_utilization=0) as exe:
        assert exe.partition.vta_layers                    # power-of-two: no ALU MUL needed
        got = exe(x)["y"]
    want = ReferenceEvaluator(model).run(None, {"x": x})[0]
    assert np.abs(got - want).max() <= 1 / 8 and (got == want).mean() > 0.97


# ------------------------------------------------------------------ bad input
def _qlinear_conv(**over):
    inits = {"xs": np.float32(0.02), "xz": np.uint8(128), "w": np.ones((4, 3, 1, 1), np.int8),
             "ws": np.full(4, 0.01, np.float32), "wz": np.zeros(4, np.int8),
             "ys": np.float32(0.1), "yz": np.uint8(10)}
    inits.update(over)
    nodes = [h.make_node("QLinearConv", ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz"], ["y"],
                         name="qc")]
    return _model(nodes, [("x", T.UINT8, [1, 3, 4, 4])], [("y", T.UINT8, [1, 4, 4, 4])], inits)


@pytest.mark.parametrize("over, message", [
    ({"xs": np.float32(0.0)}, "x scale 0.0 is not a positive finite number"),
    ({"ys": np.float32(-1.0)}, "y scale -1.0 is not a positive finite number"),
    ({"ws": np.array([0.01, np.nan, 0.01, 0.01], np.float32)}, "w scale nan is not a positive"),
    ({"xs": np.float32(np.inf)}, "x scale inf is not a positive finite number"),
    ({"ws": np.full(3, 0.01, np.float32)}, "w scale has 3 values; axis 0 of [4, 3, 1, 1] needs "
                                           "1 or 4"),
    ({"yz": np.int16(10)}, "y zero point is int16; the kit imports int8 and uint8"),
    ({"w": np.ones((4, 3, 1, 1), np.int32)}, "w is int32; the kit imports int8 and uint8"),
])
def test_bad_quantization_parameters_are_one_line_at_import(over, message):
    with pytest.raises(ModelError) as info:
        import_onnx(_qlinear_conv(**over))
    text = str(info.value)
    assert "\n" not in text and "node 'qc'" in text and message in text, text


def test_a_bias_not_at_x_scale_times_w_scale_is_refused():
    nodes = [h.make_node("DequantizeLinear", ["xq", "xs"], ["xd"]),
             h.make_node("DequantizeLinear", ["w", "ws"], ["wd"], axis=0),
             h.make_node("DequantizeLinear", ["b", "bs"], ["bd"], axis=0),
             h.make_node("Conv", ["xd", "wd", "bd"], ["c"], name="conv"),
             h.make_node("QuantizeLinear", ["c", "ys"], ["y"])]
    model = _model(nodes, [("xq", T.UINT8, [1, 3, 4, 4])], [("y", T.UINT8, [1, 2, 4, 4])],
                   {"xs": np.float32(0.02), "w": np.ones((2, 3, 1, 1), np.int8),
                    "ws": np.full(2, 0.01, np.float32), "b": np.ones(2, np.int32),
                    "bs": np.full(2, 0.0003, np.float32), "ys": np.float32(0.1)})
    with pytest.raises(ModelError, match=r"node 'conv': bias scale .* of channel 0 is not "
                                         r"x_scale \* w_scale"):
        import_onnx(model)


def test_a_zero_point_of_another_type_than_its_input_is_refused():
    nodes = [h.make_node("DequantizeLinear", ["xq", "xs", "xz"], ["y"], name="dq")]
    model = _model(nodes, [("xq", T.UINT8, [1, 4])], [("y", T.FLOAT, [1, 4])],
                   {"xs": np.float32(0.1), "xz": np.int8(3)})
    with pytest.raises(ModelError) as info:
        import_onnx(model)
    text = str(info.value)
    assert "\n" not in text and "node 'dq'" in text and \
        "zero point type int8 does not match the input's uint8" in text, text


def test_a_float_model_without_calibration_is_one_line():
    nodes = [h.make_node("Relu", ["x"], ["y"])]
    model = _model(nodes, [("x", T.FLOAT, [1, 4])], [("y", T.FLOAT, [1, 4])], {})
    model.graph.name = "plain"
    with pytest.raises(ModelError) as info:
        vta.compiler.compile(model)
    text = str(info.value)
    assert "\n" not in text and "model 'plain' is float: compile needs calibration" in text


# ------------------------------------------------------------------ vta quantize
def test_vta_quantize_writes_a_qdq_model_onnxruntime_runs(tmp_path):
    data = load_digits_split(0)
    net = train_digits_cnn(data, epochs=2)
    src = tmp_path / "digits.onnx"
    onnx.save(digits_cnn_onnx(net.params), src)
    calib = tmp_path / "calib.npy"
    np.save(calib, data.x_train[:64].reshape(64, 1, 1, 8, 8))
    out = tmp_path / "digits.int8.onnx"
    run = subprocess.run([sys.executable, "-m", "vta.hw.cli", "quantize", str(src), "-o",
                          str(out), "--calibration", str(calib), "--per-channel"],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    model = onnx.load(str(out))
    onnx.checker.check_model(model)
    assert {"QuantizeLinear", "DequantizeLinear", "Conv", "Gemm"} <= {
        n.op_type for n in model.graph.node}
    x = data.x_test[:40]
    ours = np.concatenate([_ort(model, {"image": xi[None]})[0] for xi in x])
    float_out = net.logits(x)
    assert (ours.argmax(1) == float_out.argmax(1)).mean() >= 0.95
    # The kit imports its own export back without calibration: the same integer layers.
    with vta.compiler.compile(model) as exe:
        again = np.concatenate([exe(xi[None])["logits"] for xi in x])
    assert (again.argmax(1) == ours.argmax(1)).mean() >= 0.95
    bad = subprocess.run([sys.executable, "-m", "vta.hw.cli", "quantize", str(out), "-o",
                          str(tmp_path / "twice.onnx")], capture_output=True, text=True)
    assert bad.returncode != 0 and "already quantized" in bad.stderr


def test_a_folded_bias_changes_no_value_on_the_accelerator():
    """A QLinearConv without an input zero point whose scale ratio needs a post-offset
    (M > 2**-8): its bias folds into the clamp and post-offset (fold_bias: no bias input,
    one ALU instruction less) and every output equals the unfolded requantization, on the
    accelerator (fsim, default_mul) and the CPU."""
    from vta.compiler import int8_reference as ref
    from vta.compiler.requant import fixed_point

    x = RNG.integers(-128, 128, (1, 16, 8, 8)).astype(np.int8)
    w = RNG.integers(-8, 9, (16, 16, 3, 3)).astype(np.int8)     # outputs mostly in range
    bias = RNG.integers(-5000, 5000, 16).astype(np.int32)
    ws = RNG.uniform(0.01, 0.03, 16).astype(np.float32)
    xs, ys, yz = np.float32(0.05), np.float32(0.1), np.int8(3)    # M = 0.005..0.015
    nodes = [h.make_node("QLinearConv", ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz", "b"],
                         ["y"], pads=[1, 1, 1, 1])]
    model = _model(nodes, [("x", T.INT8, [1, 16, 8, 8])], [("y", T.INT8, [1, 16, 8, 8])],
                   {"xs": xs, "xz": np.int8(0), "w": w, "ws": ws, "wz": np.zeros(16, np.int8),
                    "ys": ys, "yz": yz, "b": bias})
    conv = next(n for n in import_onnx(model).nodes if n.op == "qconv2d")
    assert len(conv.inputs) == 2 and "post_offset" in conv.attrs      # folded: no bias
    r, offset = fixed_point(np.float64(xs) * ws.astype(np.float64) / np.float64(ys), int(yz))
    want = ref.requantize_channels(ref.conv2d(x, w, 1, 1), ref.wrap32(bias + offset), r)
    with vta.compiler.compile(model, "default_mul", "fsim", min_utilization=0.0) as exe:
        assert [lay.name for lay in exe.partition.vta_layers] == [conv.name]
        np.testing.assert_array_equal(exe(x)["y"], want)
    with vta.compiler.compile(model, "default_mul", "fsim", cpu_only=True) as exe:
        np.testing.assert_array_equal(exe(x)["y"], want)


def test_an_input_zero_point_folds_with_the_bias_on_the_accelerator():
    """A QLinearConv with a uint8 input and its zero point, padding and per-channel scale
    ratios on both sides of 2**-8: the importer rounds after the multiply and folds the
    bias, the accelerator folds the zero point's ``-zx * sum(w)`` too -- no bias add,
    the border rows corrected -- and every output equals the CPU executable bit for bit
    and onnxruntime within one step."""
    x = RNG.integers(0, 256, (1, 16, 8, 8)).astype(np.uint8)
    w = RNG.integers(-60, 61, (16, 16, 3, 3)).astype(np.int8)
    bias = RNG.integers(-3000, 3000, 16).astype(np.int32)
    ws = RNG.uniform(0.005, 0.05, 16).astype(np.float32)     # M = 0.0025 .. 0.025
    inits = {"xs": np.float32(0.05), "xz": np.uint8(117), "w": w, "ws": ws,
             "wz": np.zeros(16, np.int8), "ys": np.float32(0.1), "yz": np.uint8(140),
             "b": bias}
    nodes = [h.make_node("QLinearConv", ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz", "b"],
                         ["y"], pads=[1, 1, 1, 1])]
    model = _model(nodes, [("x", T.UINT8, [1, 16, 8, 8])], [("y", T.UINT8, [1, 16, 8, 8])],
                   inits)
    conv = next(n for n in import_onnx(model).nodes if n.op == "qconv2d")
    assert len(conv.inputs) == 2 and conv.attrs["x_zero_point"] == 117 - 128
    assert all(conv.attrs["post_offset"])
    with vta.compiler.compile(model, "default_mul", "fsim", min_utilization=0.0) as exe:
        (layer,) = exe.partition.vta_layers
        ops = [(s.op.name, s.src if isinstance(s.src, str) else "imm")
               for s in layer.epilogue.alu_steps()]
        assert not layer.epilogue.bias and layer.epilogue.pad_correction
        assert ops == [("ADD", "pads"), ("MAX", "lo"), ("MIN", "hi"), ("MUL", "mul"),
                       ("ADD", "post"), ("SHR", "imm"), ("SHR", "imm")]
        got = exe(x)["y"]
    with vta.compiler.compile(model, "default_mul", "fsim", cpu_only=True) as exe:
        np.testing.assert_array_equal(exe(x)["y"], got)
    peer = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    want = peer.run(None, {"x": x})[0]
    assert got.dtype == np.uint8
    assert np.abs(got.astype(int) - want).max() <= 1 and (got == want).mean() >= 0.99
