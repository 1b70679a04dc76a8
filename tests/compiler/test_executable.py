"""The compiled executable: exact outputs, profile, save/load round trip."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
import vta.compiler
from vta.compiler.artifact import ArtifactError
from vta.compiler.commands import demo_graph
from vta.compiler.executable import Executable
from vta.compiler.frontend import ModelError, quantize
from vta.compiler.frontend import run as reference_run
from vta.driver import open_device
from vta.hw.errors import VTAError

RNG = np.random.default_rng(3)


@pytest.fixture(scope="module")
def demo():
    """The demo network, quantized, with its input."""
    graph = demo_graph(0)
    x = RNG.standard_normal((1, 3, 32, 32)).astype(np.float32)
    return quantize(graph, [x]), x


def _exact(got: dict, want: dict) -> None:
    assert got.keys() == want.keys()
    for k in want:
        assert got[k].dtype == want[k].dtype and np.array_equal(got[k], want[k]), k


def test_int_graph_matches_reference_on_fsim(residual_graph):
    g = residual_graph()
    x = RNG.integers(-128, 128, (1, 3, 16, 16)).astype(np.int8)
    with vta.compiler.compile(g, "default", "fsim", host="x86-64") as exe:
        assert [lay.describe() for lay in exe.partition.vta_layers] == ["c2", "c3+add"]
        _exact(exe(x), reference_run(g, x))
        _exact(exe(x), reference_run(g, x))   # a second call reuses the device buffers


def test_rescaled_residual_add_runs_fused_and_exact(residual_graph):
    """A rescaling skip add (residual << 1, + 1, >> 1) fused into the conv, and an add of two
    accelerator convs, bit for bit against the reference."""
    g = residual_graph(plain_add=False)
    x = RNG.integers(-128, 128, (1, 3, 16, 16)).astype(np.int8)
    with vta.compiler.compile(g, "default", "fsim", host="x86-64") as exe:
        assert [lay.describe() for lay in exe.partition.vta_layers] == ["c2", "c3+add"]
        _exact(exe(x), reference_run(g, x))
    with vta.compiler.compile(g, "default", "fsim") as exe:   # beats a Cortex-A9
        assert [lay.describe() for lay in exe.partition.vta_layers] == ["c1", "c2", "c3+add"]
        _exact(exe(x), reference_run(g, x))


def test_cpu_only_and_vta_agree(demo):
    qgraph, x = demo
    want = reference_run(qgraph, x)
    with vta.compiler.compile(qgraph, cpu_only=True) as exe:
        _exact(exe(x), want)
        assert {r.device for r in exe.profile()} == {"cpu"}
    with vta.compiler.compile(qgraph, min_utilization=0.0) as exe:
        assert len(exe.partition.vta_layers) == 6   # the five convs and the dense
        _exact(exe(x), want)


def test_profile(demo, residual_graph):
    qgraph, x = demo
    with vta.compiler.compile(qgraph, host="x86-64") as exe:
        exe(x)
        prof = exe.profile()
        vta_rows = [r for r in prof if r.device == "vta:fsim"]
        assert [r.name for r in vta_rows] == [lay.describe() for lay in
                                              exe.partition.vta_layers]
        assert vta_rows[0].name == "conv2" and vta_rows[0].macs == 32 * 32 * 32 * 32 * 9
        assert all(r.est_cycles > 0 and r.bytes > 0 and r.cycles is None for r in vta_rows)
        assert {r.op for r in prof} >= {"pack", "unpack", "qconv2d", "max_pool", "softmax"}
        assert exe.total_cycles() is None    # fsim is untimed
        assert "conv2" in exe.profile_table()
    with vta.compiler.compile(residual_graph(), host="x86-64") as exe:
        exe(RNG.integers(-128, 128, (1, 3, 16, 16)).astype(np.int8))
        fused = [r for r in exe.profile() if r.name == "c3+add"]
        assert len(fused) == 1 and fused[0].op == "qconv2d+qadd"
        assert "c3+add" in exe.profile_table()


def test_save_load_round_trip_is_bit_exact(demo, tmp_path):
    qgraph, x = demo
    with vta.compiler.compile(qgraph, min_utilization=0.0) as exe:
        first = exe(x)
        path = exe.save(tmp_path / "demo.vtax")
    with zipfile.ZipFile(path) as z:
        manifest = json.loads(z.read("manifest.json"))
    assert manifest["format"] == "vta-kit-executable/1"
    assert [d["device"] for d in manifest["layers"]].count("vta") == 6
    with vta.compiler.load(path) as loaded:
        assert isinstance(loaded, Executable)
        assert [lay.describe() for lay in loaded.layers] == [
            lay.describe() for lay in exe.layers]
        x2 = RNG.standard_normal((1, 3, 32, 32)).astype(np.float32)
        _exact(loaded(x), first)
        _exact(loaded(x2), reference_run(qgraph, x2))


def test_load_runs_on_a_given_device(demo, tmp_path):
    qgraph, x = demo
    with vta.compiler.compile(qgraph) as exe:
        path = exe.save(tmp_path / "demo.vtax")
        want = exe(x)
    dev = open_device("fsim", "default")
    try:
        with Executable.load(path, device=dev) as loaded:
            _exact(loaded(x), want)
        assert not dev.closed             # a device passed in is not closed by the executable
    finally:
        dev.close()


def test_artifact_errors(demo, tmp_path):
    qgraph, _ = demo
    with pytest.raises(ArtifactError, match="no executable"):
        vta.compiler.load(tmp_path / "missing.vtax")
    junk = tmp_path / "junk.vtax"
    junk.write_bytes(b"not a zip")
    with pytest.raises(ArtifactError, match="junk.vtax is a broken vta-kit executable"):
        vta.compiler.load(junk)
    with vta.compiler.compile(qgraph) as exe:
        path = exe.save(tmp_path / "demo.vtax")
    # Tamper with a kernel description: the re-lowered program no longer matches the digest.
    with zipfile.ZipFile(path) as z:
        items = {n: z.read(n) for n in z.namelist()}
    manifest = json.loads(items["manifest.json"])
    vta_layer = next(d for d in manifest["layers"] if d["device"] == "vta")
    vta_layer["digest"] = "0" * 32
    items["manifest.json"] = json.dumps(manifest).encode()
    bad = tmp_path / "tampered.vtax"
    with zipfile.ZipFile(bad, "w") as z:
        for n, data in items.items():
            z.writestr(n, data)
    with pytest.raises(ArtifactError, match="different instruction program"):
        vta.compiler.load(bad)


def test_input_errors(demo):
    qgraph, _ = demo
    with vta.compiler.compile(qgraph) as exe:
        with pytest.raises(ModelError, match="shape"):
            exe(np.zeros((1, 3, 8, 8), np.float32))
        with pytest.raises(ModelError, match="no input"):
            exe({"nope": np.zeros((1, 3, 32, 32), np.float32)})


def test_compile_errors(residual_graph):
    with pytest.raises(ModelError, match="calibration"):
        vta.compiler.compile(demo_graph(0))
    with pytest.raises(ModelError, match="no model file"):
        vta.compiler.compile("/nonexistent/model.onnx")
    with pytest.raises(ModelError, match="onnx.ModelProto"):
        vta.compiler.compile(42)
    with pytest.raises(VTAError, match="unknown device 'gpu'"):
        vta.compiler.compile(residual_graph(), device="gpu")


def test_compile_float_graph_with_random_calibration():
    g = demo_graph(1)
    x = RNG.standard_normal((1, 3, 32, 32)).astype(np.float32)
    with vta.compiler.compile(g, calibration="random") as exe:
        assert set(exe.compile_stats) >= {"quantize", "partition", "vta_kernels",
                                          "cpu_kernels"}
        _exact(exe(x), exe.reference(x))


def test_cpu_only_model_runs_as_a_bound_plan(demo):
    """A model entirely on the CPU runs its kernels bound to fixed buffers: one machine
    code call per layer, outputs fresh arrays, the profile made on demand."""
    qgraph, x = demo
    with vta.compiler.compile(qgraph, cpu_only=True) as exe:
        assert exe._plan is not None and len(exe._plan.steps) == len(exe.layers)
        first = exe(x)
        x2 = RNG.standard_normal((1, 3, 32, 32)).astype(np.float32)
        second = exe(x2)
        _exact(first, reference_run(qgraph, x))        # not overwritten by the next call
        _exact(second, reference_run(qgraph, x2))
        rows = exe.profile()
        assert [r.name for r in rows] == [lay.name for lay in exe.layers]
        assert all(r.device == "cpu" and r.seconds >= 0 for r in rows)
        assert "conv1" in exe.profile_table()
    with vta.compiler.compile(qgraph) as exe:          # accelerator layers: no plan
        assert exe._plan is None
