"""``vta run``: the model compiler's command line.

``vta run [MODEL]`` compiles a model (an ``.onnx`` file, a saved executable, ``resnet18``,
or by default the bundled demo network), runs it on the chosen device with a progress bar
over layers, checks every output bit for bit against the numpy reference of the quantized
graph (prints ``MATCH`` or ``MISMATCH``; exit status 1 on a mismatch) and against the float
model (the quantization error; exit status 1 when the result is far from it, so a result
bit-exact to a broken reference is not taken for a good one), and prints the per-layer
profile.  A saved executable runs on the config it was compiled for; ``--config`` with a
different config recompiles its quantized graph for that config.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
from vta.hw.cli import Cli, add_config_argument
from vta.hw.errors import VTAError

from .cpu_cost import add_host_argument

DEVICES = ("fsim", "verilator", "pysim", "pynq")
#: Relative error (L2 norm of the difference over the float output's) beyond which a
#: quantized result is flagged as far from the float model.
FLOAT_TOLERANCE = 0.5


def register(cli: Cli) -> None:
    cli.command("run", "compile a model, run it on a device, check it against the numpy "
                "reference and print a per-layer profile", setup=_setup_run, run=_run)


def add_device_arguments(p: argparse.ArgumentParser, help: str | None = None) -> None:
    """``--device`` (one of :data:`DEVICES`, default fsim) and ``--config``: where a
    compiled model runs (``vta run``, the model benchmarks)."""
    p.add_argument("--device", default="fsim", choices=DEVICES, help=help)
    add_config_argument(p)


def use_default_kernel_cache() -> None:
    """Cache llvmlite objects on disk (``$VTA_CPU_CACHE``, default the kit's cache)."""
    from vta.hw.cache import kind_dir

    os.environ.setdefault("VTA_CPU_CACHE", str(kind_dir("cpu-kernels")))


# ------------------------------------------------------------------------------ models
def demo_graph(seed: int = 0) -> Any:
    """The bundled demo network: a small residual CNN on ``1x3x32x32`` (seeded weights).

    conv 3x3 3->32 + ReLU (stays on the CPU: 3 input channels), conv 3x3 32->32 + ReLU,
    conv 3x3 32->32 plus the skip, ReLU, 2x2 max pool, conv 3x3 32->64 + ReLU, conv 1x1
    64->64 + ReLU, global average pool, dense 64->10, softmax.
    """
    from .frontend import GraphBuilder

    rng = np.random.default_rng(seed)
    b = GraphBuilder("demo")

    def conv(x: str, name: str, cin: int, cout: int, k: int, relu: bool = True) -> str:
        w = rng.normal(0, np.sqrt(2 / (cin * k * k)), (cout, cin, k, k))
        y = b.conv2d(x, b.param(f"{name}.weight", w),
                     b.param(f"{name}.bias", rng.normal(0, 0.1, cout)), pads=k // 2,
                     name=name)
        return b.relu(y, name=f"{name}.relu") if relu else y

    x = b.input("image", (1, 3, 32, 32))
    y = conv(x, "conv1", 3, 32, 3)
    z = conv(conv(y, "conv2", 32, 32, 3), "conv3", 32, 32, 3, relu=False)
    y = b.relu(b.add(z, y, name="skip"), name="skip.relu")
    y = b.max_pool(y, 2, name="pool")
    y = conv(conv(y, "conv4", 32, 64, 3), "conv5", 64, 64, 1)
    y = b.flatten(b.global_avg_pool(y, name="gap"), name="flatten")
    y = b.dense(y, b.param("fc.weight", rng.normal(0, 0.2, (10, 64))),
                b.param("fc.bias", rng.normal(0, 0.1, 10)), name="fc")
    b.output(b.softmax(y, name="prob"))
    return b.build()


def _is_artifact(path: Path) -> bool:
    """A saved executable: a ``.vtax`` file (readable or not), or a zip with a manifest."""
    if path.suffix.lower() == ".vtax":
        return True
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as z:
        return "manifest.json" in z.namelist()


def _load_model(name: str | None, seed: int) -> Any:
    """A Graph or ModelProto for ``name`` (None: the demo), or a path to an artifact."""
    if name is None or name == "demo":
        return demo_graph(seed)
    from . import zoo

    if name in zoo.names():
        return zoo.load(name, seed)
    path = Path(name)
    if not path.is_file():
        raise VTAError(f"no model {name!r}: expected an .onnx file, a saved executable or "
                       f"one of {', '.join(('demo', *zoo.names()))}")
    if path.stat().st_size == 0:
        raise VTAError(f"{name} is empty (0 bytes): expected an .onnx model or a saved "
                       f"executable (.vtax)")
    return path


def _input_for(graph: Any, path: str | None, seed: int, zoo_name: str | None = None,
               nonfinite: str = "error") -> dict[str, np.ndarray]:
    from .frontend.tensor_checks import check_tensor

    names = list(graph.inputs)
    if path is None and zoo_name is not None:
        from . import zoo
        return zoo.sample_inputs(zoo_name, seed)
    if path is None:
        rng = np.random.default_rng(seed + 1)
        return {n: rng.standard_normal(graph.type_of(n).shape).astype(np.float32)
                for n in names}
    if len(names) != 1:
        raise VTAError(f"--input gives one array but the model has inputs {names}")
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise VTAError(f"cannot read input {path}: {e}") from None
    arr = check_tensor(f"input {path}", arr, nonfinite=nonfinite)
    want = graph.type_of(names[0]).shape
    if arr.shape != want:
        raise VTAError(f"input {path} has shape {list(arr.shape)}, the model expects "
                       f"{list(want)}")
    return {names[0]: arr.astype(np.float32)}


# ------------------------------------------------------------------------------ vta run
def _setup_run(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", nargs="?", default=None,
                   help="an .onnx file, a saved executable (.vtax), a zoo model (resnet18, "
                        "mobilenet_v2, bert_tiny, ...: vta.compiler.zoo), or nothing for "
                        "the bundled demo network")
    add_device_arguments(
        p, help="where accelerator layers run (default fsim; verilator for cycles)")
    p.set_defaults(config=None)     # default: the executable's config, else "default"
    p.add_argument("--input", metavar="FILE.npy", help="input array (default: seeded random)")
    from vta.driver.commands import add_max_cycles_argument

    add_max_cycles_argument(p)
    p.add_argument("--nonfinite", choices=("error", "saturate"), default="error",
                   help="NaN/inf in the input: refuse (default), or saturate (NaN -> 0, "
                        "+/-inf -> the extremes)")
    p.add_argument("--calibration", metavar="FILE.npy",
                   help="calibration samples for a float model (default: the input)")
    p.add_argument("--calibration-method", default="max",
                   choices=("max", "percentile", "entropy"),
                   help="range estimate of the kit's quantizer (float models)")
    p.add_argument("--per-channel", action="store_true",
                   help="per-output-channel weight scales (float models)")
    p.add_argument("--asymmetric", action="store_true",
                   help="activations with zero points (float models)")
    p.add_argument("--seed", type=int, default=0, help="seed of weights and random inputs")
    p.add_argument("--min-utilization", type=float, default=None,
                   help="place by estimated GEMM utilization instead of time: conv/dense "
                        "below it stay on the CPU (0: all the accelerator can run)")
    add_host_argument(p)
    p.add_argument("--cpu-only", action="store_true", help="run every layer on the CPU")
    p.add_argument("--save", metavar="FILE", help="also save the compiled executable")
    p.add_argument("--no-check", action="store_true",
                   help="skip the comparison with the numpy reference")
    p.add_argument("--timeline", metavar="FILE.json",
                   help="with --device verilator: write when each module was busy, per "
                        "layer, as Chrome/Perfetto trace JSON")
    p.add_argument("--roofline", metavar="FILE.png",
                   help="plot the accelerator layers' roofline (and print its table)")


def _compile_options(args: argparse.Namespace) -> dict[str, Any]:
    opts: dict[str, Any] = {"cpu_only": args.cpu_only, "host": args.host}
    for key in ("calibration_method", "per_channel", "asymmetric"):
        if getattr(args, key, None):
            opts[key] = getattr(args, key)
    if args.min_utilization is not None:
        opts["min_utilization"] = args.min_utilization
    return opts


def _run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .executable import load
    from .model_compiler import compile as compile_model
    from .model_compiler import is_quantized, to_graph

    use_default_kernel_cache()
    if args.timeline and args.device != "verilator":
        raise VTAError(f"--timeline needs --device verilator (the cycle-accurate model), "
                       f"not {args.device}")
    model = _load_model(args.model, args.seed)
    t0 = time.perf_counter()
    float_graph = None
    if isinstance(model, Path) and _is_artifact(model):
        exe = load(model, args.device)
        graph = exe.graph
        inputs = _input_for(graph, args.input, args.seed, nonfinite=args.nonfinite)
        what = f"loaded {model}"
        if args.config is not None:
            from vta.hw.config import VTAConfig
            asked = VTAConfig.load(args.config)
            if asked != exe.config:
                built_for = exe.config.name
                exe.close()
                exe = compile_model(graph, asked, args.device, **_compile_options(args))
                what = f"recompiled {model} (saved for {built_for})"
    else:
        from . import zoo

        graph = to_graph(model)
        float_graph = None if is_quantized(graph) else graph
        inputs = _input_for(graph, args.input, args.seed,
                            args.model if args.model in zoo.names() else None, args.nonfinite)
        if args.calibration:
            try:
                calibration: Any = np.load(args.calibration, allow_pickle=False)
            except (OSError, ValueError) as e:
                raise VTAError(f"cannot read calibration {args.calibration}: {e}") from None
        else:
            calibration = [inputs]
        exe = compile_model(graph, args.config or "default", args.device,
                            calibration=calibration, seed=args.seed,
                            **_compile_options(args))
        what = "compiled"
    compile_s = time.perf_counter() - t0
    try:
        print(f"{what} {exe.graph.name} for {exe.config.name} in {compile_s:.2f} s: "
              f"{len(exe.partition.vta_layers)} accelerator layers, "
              f"{len(exe.partition.cpu_layers)} CPU layers")
        if args.save:
            print(f"saved executable to {exe.save(args.save)}")
        t0 = time.perf_counter()
        device = exe.device       # open now (a Verilator model may build): the run is timed alone
        if hasattr(device, "max_cycles"):
            device.max_cycles = args.max_cycles
        print(f"opened {args.device} device in {time.perf_counter() - t0:.2f} s")
        with tqdm(total=len(exe.layers), desc=f"{exe.graph.name} on {args.device}",
                  unit="layer", leave=False, file=sys.stderr) as bar:
            t0 = time.perf_counter()
            outputs = exe(inputs, progress=lambda name: bar.update(1),
                          nonfinite=args.nonfinite)
            run_s = time.perf_counter() - t0
        print(exe.profile_table())
        _write_views(exe, args)
        cycles = exe.total_cycles()
        print(f"run time {run_s:.3f} s on {args.device}"
              + (f", {cycles:,} accelerator cycles" if cycles is not None else ""))
        for name, value in outputs.items():
            flat = value.reshape(value.shape[0], -1)
            top = np.argsort(-flat[0])[:5]
            print(f"output {name} {list(value.shape)} {value.dtype}: top-5 of first row "
                  f"{top.tolist()}")
        if args.no_check:
            return 0
        expected = exe.reference(inputs, nonfinite=args.nonfinite)
        bad = [n for n in outputs if not np.array_equal(outputs[n], expected[n])]
        if bad:
            diff = int((outputs[bad[0]] != expected[bad[0]]).sum())
            print(f"MISMATCH: output {bad[0]!r} differs from the numpy reference at {diff} "
                  "positions")
            return 1
        print("MATCH: outputs equal the numpy reference of the quantized graph bit for bit")
        return _float_check(float_graph, inputs, outputs, args.nonfinite)
    finally:
        exe.close()


def _float_check(float_graph: Any, inputs: dict[str, np.ndarray],
                 outputs: dict[str, np.ndarray], nonfinite: str) -> int:
    """Compare with the float model; print the quantization error; 1 if far from it."""
    if float_graph is None:
        print("float check: the float model is not available (a quantized graph or a saved "
              "executable): only the bit-exact check above applies")
        return 0
    from .frontend import run as run_graph
    from .frontend.interpreter import bind_inputs

    want = run_graph(float_graph, bind_inputs(float_graph, inputs, nonfinite=nonfinite))
    status = 0
    for name, got in outputs.items():
        ref = np.asarray(want[name], dtype=np.float64)
        diff = np.asarray(got, dtype=np.float64) - ref
        if not np.isfinite(ref).all():
            print(f"FLOAT CHECK FAILED: output {name!r} of the float model is not finite")
            status = 1
            continue
        norm = float(np.linalg.norm(ref))
        rel = float(np.linalg.norm(diff)) / norm if norm else float(np.abs(diff).max())
        line = (f"output {name!r}: max |error| {float(np.abs(diff).max()):.3g}, relative "
                f"error {rel:.3g} vs the float model")
        if rel > FLOAT_TOLERANCE:
            print(f"FLOAT CHECK FAILED: {line} (above {FLOAT_TOLERANCE}): the quantized model "
                  f"does not compute what the float model does")
            status = 1
        else:
            print(f"float check: {line}")
    return status


def _write_views(exe: Any, args: argparse.Namespace) -> None:
    """The timeline and roofline files ``vta run`` was asked for."""
    from .roofline import format_roofline, roofline_points, roofs_for

    exe.profile(timeline=args.timeline, roofline=args.roofline)
    if args.timeline:
        print(f"wrote {args.timeline}: {len(exe.timeline.runs)} accelerator runs "
              f"(open in ui.perfetto.dev)")
    if args.roofline:
        print(format_roofline(roofline_points(exe.profile()), roofs_for(exe.config)))
        print(f"wrote {args.roofline}")
