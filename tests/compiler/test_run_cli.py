"""``vta run`` (and the model benchmarks) through the CLI dispatcher."""

from __future__ import annotations

import numpy as np
import pytest
from vta.compiler.executable import Executable
from vta.hw.cli import main


@pytest.fixture(autouse=True)
def _kernel_cache(tmp_path_factory, monkeypatch):
    # Keep the CLI's llvmlite object cache out of the home directory.
    monkeypatch.setenv("VTA_CPU_CACHE", str(tmp_path_factory.getbasetemp() / "cpu-cache"))


def _onnx_model(path):
    """A small float ONNX CNN: conv+relu, conv+relu, global pool, flatten, gemm."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(5)

    def init(name, shape, scale):
        return numpy_helper.from_array(rng.normal(0, scale, shape).astype(np.float32), name)

    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", pads=[1] * 4,
                         kernel_shape=[3, 3]),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], name="conv2", pads=[1] * 4,
                         kernel_shape=[3, 3]),
        helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
        helper.make_node("GlobalAveragePool", ["r2"], ["g"], name="gap"),
        helper.make_node("Flatten", ["g"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "w3", "b3"], ["y"], name="fc", transB=1),
    ]
    inits = [init("w1", (32, 16, 3, 3), 0.1), init("b1", (32,), 0.1),
             init("w2", (32, 32, 3, 3), 0.1), init("b2", (32,), 0.1),
             init("w3", (10, 32), 0.3), init("b3", (10,), 0.1)]
    graph = helper.make_graph(
        nodes, "small_cnn", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                           [1, 16, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path.write_bytes(model.SerializeToString())
    return path


def test_run_demo(capsys):
    assert main(["run"]) == 0
    out = capsys.readouterr().out
    assert "compiled demo" in out
    assert "MATCH: outputs equal the numpy reference" in out
    assert "vta:fsim" in out and "conv2" in out and "softmax" in out


def test_run_onnx_save_and_rerun_artifact(tmp_path, capsys):
    model = _onnx_model(tmp_path / "small.onnx")
    art = tmp_path / "small.vtax"
    x = np.random.default_rng(2).standard_normal((1, 16, 8, 8)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    assert main(["run", str(model), "--input", str(tmp_path / "x.npy"), "--save",
                 str(art)]) == 0
    first = capsys.readouterr().out
    assert "compiled small_cnn" in first and "MATCH" in first and art.is_file()
    assert main(["run", str(art), "--input", str(tmp_path / "x.npy")]) == 0
    second = capsys.readouterr().out
    assert f"loaded {art}" in second and "MATCH" in second
    top = [line for line in first.splitlines() if line.startswith("output ")]
    assert top and top == [line for line in second.splitlines() if line.startswith("output ")]


def test_run_reports_mismatch(monkeypatch, capsys):
    real = Executable.reference

    def off_by_one(self, inputs, **options):
        out = real(self, inputs, **options)
        return {k: v + np.float32(1) for k, v in out.items()}

    monkeypatch.setattr(Executable, "reference", off_by_one)
    assert main(["run", "--cpu-only"]) == 1
    assert "MISMATCH" in capsys.readouterr().out


def test_run_errors(tmp_path, capsys):
    assert main(["run", str(tmp_path / "missing.onnx")]) == 2
    assert "vta: error: no model" in capsys.readouterr().err
    np.save(tmp_path / "bad.npy", np.zeros((1, 3, 8, 8), np.float32))
    assert main(["run", "--input", str(tmp_path / "bad.npy")]) == 2
    err = capsys.readouterr().err
    assert "vta: error:" in err and "expects [1, 3, 32, 32]" in err
    with pytest.raises(SystemExit):
        main(["run", "--device", "nope"])


def _last_error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert err and err[-1].startswith("vta: error: ")
    return err[-1]


@pytest.mark.parametrize("value,words", [
    (np.array(["a", "b"]), "holds strings"),
    (np.ones((1, 3, 32, 32), np.complex64), "is complex"),
])
def test_run_refuses_non_numeric_inputs_and_calibration(tmp_path, capsys, value, words):
    np.save(tmp_path / "bad.npy", value)
    assert main(["run", "--input", str(tmp_path / "bad.npy"), "--no-check"]) == 2
    assert words in _last_error(capsys)
    assert main(["run", "--calibration", str(tmp_path / "bad.npy"), "--no-check"]) == 2
    msg = _last_error(capsys)
    assert "calibration sample 0 for input 'image'" in msg and words in msg


def test_run_nan_input_is_an_error_or_saturated_on_request(tmp_path, capsys):
    x = np.random.default_rng(1).standard_normal((1, 3, 32, 32)).astype(np.float32)
    x[0, 1, 2, 3] = np.nan
    np.save(tmp_path / "nan.npy", x)
    assert main(["run", "--input", str(tmp_path / "nan.npy")]) == 2
    assert "first nan at index (0, 1, 2, 3)" in _last_error(capsys)
    assert main(["run", "--input", str(tmp_path / "nan.npy"), "--nonfinite", "saturate"]) == 0
    out = capsys.readouterr().out
    assert "MATCH" in out and "float check: output 'prob'" in out


def test_run_flags_a_result_far_from_the_float_model(tmp_path, capsys):
    """Calibrated on data 1000 times too small, every activation saturates: the result is
    bit-exact to the (equally wrong) quantized reference, but the float check fails."""
    x = np.random.default_rng(1).standard_normal((1, 3, 32, 32)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "cal.npy", x * 1e-3)
    assert main(["run", "--input", str(tmp_path / "x.npy"), "--calibration",
                 str(tmp_path / "cal.npy")]) == 1
    out = capsys.readouterr().out
    assert "MATCH" in out and "FLOAT CHECK FAILED: output 'prob'" in out


def test_run_broken_executables_and_empty_models(tmp_path, capsys):
    import zipfile

    model = _onnx_model(tmp_path / "small.onnx")
    art = tmp_path / "small.vtax"
    assert main(["run", str(model), "--save", str(art), "--no-check"]) == 0
    capsys.readouterr()
    (tmp_path / "cut.vtax").write_bytes(art.read_bytes()[:200])
    (tmp_path / "junk.vtax").write_bytes(b"not a zip at all" * 10)
    with zipfile.ZipFile(tmp_path / "bare.vtax", "w") as z:
        z.writestr("other.txt", "x")
    for name in ("cut.vtax", "junk.vtax", "bare.vtax"):
        assert main(["run", str(tmp_path / name)]) == 2
        msg = _last_error(capsys)
        assert f"{name} is a broken vta-kit executable" in msg and "ONNX" not in msg
    (tmp_path / "empty.onnx").write_bytes(b"")
    assert main(["run", str(tmp_path / "empty.onnx")]) == 2
    assert "empty.onnx is empty (0 bytes)" in _last_error(capsys)


def test_run_executable_with_another_config_recompiles(tmp_path, capsys):
    art = tmp_path / "demo.vtax"
    assert main(["run", "--config", "tiny", "--save", str(art), "--no-check"]) == 0
    capsys.readouterr()
    assert main(["run", str(art)]) == 0
    out = capsys.readouterr().out
    assert f"loaded {art}" in out and "for 1x4_" in out           # its own config: tiny
    assert main(["run", str(art), "--config", "default"]) == 0
    out = capsys.readouterr().out
    assert f"recompiled {art} (saved for 1x4_" in out and "for 1x16_" in out
    assert "MATCH" in out
