"""The model zoo: every model imports and agrees with onnxruntime in float; the small ones
compile and MATCH on fsim (also CPU-only), the smallest on Verilator; vta inspect and
vta bench zoo."""

import numpy as np
import pytest
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh
from vta.compiler import compile as compile_model
from vta.compiler import inspect, zoo
from vta.compiler.bench.zoo import bench_model, onnxruntime_outputs
from vta.compiler.frontend import import_onnx, run
from vta.hw.cli import main

REQUIRED = {"resnet18", "resnet50", "mobilenet_v2", "dcgan", "yolov3_tiny", "resnet8",
            "ds_cnn", "autoencoder", "bert_tiny"}
SMALL = [n for n in zoo.names() if zoo.info(n).small]


def test_names_and_errors():
    assert REQUIRED <= set(zoo.names())
    assert set(SMALL) == {"resnet8", "ds_cnn", "autoencoder"}
    with pytest.raises(zoo.ZooError, match="no zoo model 'vgg'; expected one of resnet18"):
        zoo.load("vgg")


@pytest.mark.parametrize("name", ["resnet8", "ds_cnn", "autoencoder", "dcgan", "bert_tiny"])
def test_float_import_agrees_with_onnxruntime(name):
    model = zoo.load(name, seed=1)
    inputs = zoo.sample_inputs(name, 1, model)
    got = run(import_onnx(model), inputs)
    for out, ref in zip(model.graph.output, onnxruntime_outputs(model, inputs), strict=True):
        np.testing.assert_allclose(got[out.name], ref, rtol=1e-4, atol=1e-4)


def test_exporter_structure_is_kept():
    ops = {n.op_type for n in zoo.load("mobilenet_v2").graph.node}
    assert {"Conv", "Clip", "Add", "GlobalAveragePool", "Gemm"} <= ops
    dw = [n for n in zoo.load("mobilenet_v2").graph.node if n.op_type == "Conv"
          and any(a.name == "group" and a.i > 1 for a in n.attribute)]
    assert len(dw) == 17          # one depthwise conv per inverted residual block
    yolo = {n.op_type for n in zoo.load("yolov3_tiny").graph.node}
    assert {"LeakyRelu", "Pad", "MaxPool", "Resize", "Concat", "Sigmoid"} <= yolo
    bert = [n.op_type for n in zoo.load("bert_tiny").graph.node]
    for op in ("Gather", "Shape", "Unsqueeze", "Concat", "Reshape", "LayerNormalization",
               "Erf", "Softmax", "Transpose"):
        assert op in bert


@pytest.mark.parametrize("name", SMALL)
@pytest.mark.parametrize("cpu_only", [False, True])
def test_small_models_match_on_fsim(name, cpu_only):
    r = bench_model(name, "fsim", cpu_only=cpu_only)
    assert r.match
    assert r.rel_error < 0.15          # int8 against onnxruntime's float
    if not cpu_only and name != "autoencoder":   # batch-1 dense layers stay on the CPU
        assert r.vta_layers >= 4 and r.vta_mac_share > 0.5


@pytest.mark.slow
def test_smallest_model_matches_on_verilator(verilator):
    model = zoo.load("ds_cnn")
    inputs = zoo.sample_inputs("ds_cnn", 0, model)
    with compile_model(model, device=verilator("default"), calibration=[inputs]) as exe:
        out = exe(inputs)
        assert all(np.array_equal(out[k], v) for k, v in exe.reference(inputs).items())
        assert exe.total_cycles() > 0


def test_inspect_a_zoo_model_and_a_broken_one(capsys):
    report = inspect(zoo.load("ds_cnn"))
    assert report.ok
    where = {n.name: n.where for n in report.nodes}
    assert where["model/conv2d_1/Conv2D"] == "VTA"
    assert where["model/depthwise_conv2d_1/depthwise"] == "VTA"
    assert "groups" in {n.name: n.detail for n in report.nodes}[
        "model/depthwise_conv2d_1/depthwise"]
    pc = inspect(zoo.load("ds_cnn"), host="x86-64")     # a PC's CPU runs the GEMVs
    assert "does not pay" in {n.name: n.detail for n in pc.nodes}["model/dense/MatMul"]
    nodes = [h.make_node("Conv", ["x", "w"], ["c"], name="conv"),
             h.make_node("NonZero", ["c"], ["nz"], name="nz"),
             h.make_node("Resize", ["x", "", "sc"], ["y"], name="rs", mode="cubic")]
    graph = h.make_graph(nodes, "broken", [h.make_tensor_value_info("x", T.FLOAT, [1, 3, 6, 6])],
                         [h.make_tensor_value_info("nz", T.INT64, None),
                          h.make_tensor_value_info("y", T.FLOAT, None)],
                         [nh.from_array(np.ones((3, 3, 1, 1), np.float32), "w"),
                          nh.from_array(np.float32([1, 1, 2, 2]), "sc")])
    bad = inspect(h.make_model(graph, opset_imports=[h.make_opsetid("", 17)]))
    assert [p.name for p in bad.problems] == ["nz", "rs"]
    assert "mode=cubic" in bad.problems[1].detail
    assert main(["inspect", "ds_cnn"]) == 0
    assert "every node is supported" in capsys.readouterr().out


def test_bench_zoo_cli(capsys):
    assert main(["bench", "zoo", "--models", "autoencoder"]) == 0
    assert capsys.readouterr().out.strip().endswith("zoo: 1/1 models MATCH")
