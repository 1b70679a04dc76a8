"""``vta run``, ``vta bench resnet18`` and ``vta bench digits``: the model compiler's CLI.

``vta run [MODEL]`` compiles a model (an ``.onnx`` file, a saved executable, ``resnet18``,
or by default the bundled demo network), runs it on the chosen device with a progress bar
over layers, checks every output bit for bit against the numpy reference of the quantized
graph (prints ``MATCH`` or ``MISMATCH``; exit status 1 on a mismatch) and prints the
per-layer profile.
"""

from __future__ import annotations

import argparse
import os
import statistics
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


def register(cli: Cli) -> None:
    cli.command("run", "compile a model, run it on a device, check it against the numpy "
                "reference and print a per-layer profile", setup=_setup_run, run=_run)
    cli.command("bench resnet18", "ResNet-18 end to end: import, quantize and compile time, "
                "run time and cycles on a device", setup=_setup_resnet, run=_run_resnet)
    cli.command("bench digits", "train the digits CNN, quantize, run on VTA: float vs "
                "int8-on-VTA accuracy", setup=_setup_digits, run=_run_digits)


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
    return path


def _input_for(graph: Any, path: str | None, seed: int, zoo_name: str | None = None
               ) -> dict[str, np.ndarray]:
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
    p.add_argument("--device", default="fsim", choices=DEVICES,
                   help="where accelerator layers run (default fsim; verilator for cycles)")
    add_config_argument(p)
    p.add_argument("--input", metavar="FILE.npy", help="input array (default: seeded random)")
    p.add_argument("--calibration", metavar="FILE.npy",
                   help="calibration samples for a float model (default: the input)")
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
    if args.min_utilization is not None:
        opts["min_utilization"] = args.min_utilization
    return opts


def _run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .executable import load
    from .model_compiler import compile as compile_model
    from .model_compiler import to_graph

    use_default_kernel_cache()
    if args.timeline and args.device != "verilator":
        raise VTAError(f"--timeline needs --device verilator (the cycle-accurate model), "
                       f"not {args.device}")
    model = _load_model(args.model, args.seed)
    t0 = time.perf_counter()
    if isinstance(model, Path) and _is_artifact(model):
        exe = load(model, args.device)
        graph = exe.graph
        inputs = _input_for(graph, args.input, args.seed)
        what = f"loaded {model}"
    else:
        from . import zoo

        graph = to_graph(model)
        inputs = _input_for(graph, args.input, args.seed,
                            args.model if args.model in zoo.names() else None)
        if args.calibration:
            try:
                calibration: Any = np.load(args.calibration, allow_pickle=False)
            except (OSError, ValueError) as e:
                raise VTAError(f"cannot read calibration {args.calibration}: {e}") from None
        else:
            calibration = [inputs]
        exe = compile_model(graph, args.config, args.device, calibration=calibration,
                            seed=args.seed, **_compile_options(args))
        what = "compiled"
    compile_s = time.perf_counter() - t0
    try:
        print(f"{what} {exe.graph.name} for {exe.config.name} in {compile_s:.2f} s: "
              f"{len(exe.partition.vta_layers)} accelerator layers, "
              f"{len(exe.partition.cpu_layers)} CPU layers")
        if args.save:
            print(f"saved executable to {exe.save(args.save)}")
        t0 = time.perf_counter()
        exe.device  # noqa: B018 - open now (a Verilator model may build) so the run is timed alone
        print(f"opened {args.device} device in {time.perf_counter() - t0:.2f} s")
        with tqdm(total=len(exe.layers), desc=f"{exe.graph.name} on {args.device}",
                  unit="layer", leave=False, file=sys.stderr) as bar:
            t0 = time.perf_counter()
            outputs = exe(inputs, progress=lambda name: bar.update(1))
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
        expected = exe.reference(inputs)
        bad = [n for n in outputs if not np.array_equal(outputs[n], expected[n])]
        if bad:
            diff = int((outputs[bad[0]] != expected[bad[0]]).sum())
            print(f"MISMATCH: output {bad[0]!r} differs from the numpy reference at {diff} "
                  "positions")
            return 1
        print("MATCH: outputs equal the numpy reference of the quantized graph bit for bit")
        return 0
    finally:
        exe.close()


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


# ------------------------------------------------------------------------------ benches
def _setup_resnet(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="fsim", choices=DEVICES)
    add_config_argument(p)
    p.add_argument("--repeat", type=int, default=None,
                   help="timed runs (median quoted; default 3 on fsim, 1 otherwise)")
    p.add_argument("--image-size", type=int, default=224)
    p.add_argument("--seed", type=int, default=0)
    add_host_argument(p)
    p.add_argument("--tvm-offload", action="store_true",
                   help="C1 and the classifier on the CPU, the layers TVM's VTA flow "
                        "offloads (to compare cycles with TVM's figures)")


def _run_resnet(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .frontend import import_onnx, quantize
    from .frontend.models import resnet18_onnx
    from .model_compiler import compile as compile_model

    use_default_kernel_cache()
    repeat = args.repeat or (3 if args.device == "fsim" else 1)
    if repeat < 1:
        raise VTAError(f"--repeat must be at least 1, not {repeat}")
    t0 = time.perf_counter()
    graph = import_onnx(resnet18_onnx(args.seed, image_size=args.image_size))
    import_s = time.perf_counter() - t0
    x = np.random.default_rng(args.seed + 1).standard_normal(
        (1, 3, args.image_size, args.image_size)).astype(np.float32)
    t0 = time.perf_counter()
    qgraph = quantize(graph, [x])
    quant_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    from .zoo_bench import tvm_cpu_nodes

    exe = compile_model(qgraph, args.config, args.device, host=args.host,
                        cpu_nodes=tvm_cpu_nodes(qgraph) if args.tvm_offload else ())
    compile_s = time.perf_counter() - t0
    try:
        exe.device  # noqa: B018 - open (and build a simulator model) before timing runs
        times = []
        for i in range(repeat):
            with tqdm(total=len(exe.layers), desc=f"resnet18 run {i + 1}/{repeat}",
                      unit="layer", leave=False, file=sys.stderr) as bar:
                t0 = time.perf_counter()
                out = exe(x, progress=lambda name: bar.update(1))
                times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        want = exe.reference(x)
        ref_s = time.perf_counter() - t0
        exact = all(np.array_equal(out[k], want[k]) for k in out)
        prof = exe.profile()
        cycles = exe.total_cycles()
        est = sum(r.est_cycles or 0 for r in prof if r.device.startswith("vta"))
        vta_s = sum(r.seconds for r in prof if r.device.startswith("vta"))
        cpu_s = sum(r.seconds for r in prof if r.device == "cpu")
        print(f"ResNet-18 1x3x{args.image_size}x{args.image_size} on {args.device} "
              f"({exe.config.name})")
        print(f"  ONNX build + import  {import_s:8.3f} s")
        print(f"  quantize (calibrate) {quant_s:8.3f} s")
        print(f"  compile              {compile_s:8.3f} s  ("
              + ", ".join(f"{k} {v:.3f}" for k, v in exe.compile_stats.items()) + ")")
        print(f"  run (median of {repeat})    {statistics.median(times):8.3f} s  "
              f"(accelerator layers {vta_s:.3f} s, CPU {cpu_s:.3f} s in the last run)")
        print(f"  numpy reference      {ref_s:8.3f} s")
        print(f"  layers               {len(exe.partition.vta_layers)} on VTA, "
              f"{len(exe.partition.cpu_layers)} on CPU")
        print("  cycles               " + (f"{cycles:,} measured" if cycles is not None
                                            else f"{est:,} estimated (untimed device)"))
        print(f"  result               {'MATCH' if exact else 'MISMATCH'} "
              "(bit-exact vs the numpy reference)")
        return 0 if exact else 1
    finally:
        exe.close()


def _setup_digits(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="fsim", choices=DEVICES)
    add_config_argument(p)
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--latency", action="store_true",
                   help="also batch-1 latency per image: the CPU-only executable vs "
                        "onnxruntime's own int8 model (one thread both)")


def digits_latency(epochs: int = 8, seed: int = 0, calls: int = 2000) -> dict[str, float]:
    """Seconds per batch-1 call of the digits CNN: the kit's CPU-only executable and
    onnxruntime running its own int8 quantization of the same float model (best of 7
    rounds of ``calls`` calls each, interleaved; wall clock, so load matters)."""
    from .frontend import quantize
    from .frontend.digits import load_digits_split, train_digits_cnn
    from .frontend.ort_peer import digits_int8_session
    from .model_compiler import compile as compile_model

    data = load_digits_split(seed)
    net = train_digits_cnn(data, epochs=epochs, seed=seed)
    graph = net.graph(batch=1)
    samples = [data.x_train[i:i + 1] for i in range(64)]
    peer = digits_int8_session(graph, samples)
    x = np.ascontiguousarray(data.x_test[:1])
    with compile_model(quantize(graph, samples[:8]), cpu_only=True) as exe:
        best = {"kit": float("inf"), "onnxruntime": float("inf")}
        for _ in range(7):
            for name, fn in (("kit", lambda: exe(x)), ("onnxruntime", lambda: peer(x))):
                fn()
                t0 = time.perf_counter()
                for _ in range(calls):
                    fn()
                best[name] = min(best[name], (time.perf_counter() - t0) / calls)
    return best


def digits_experiment(device: str = "fsim", config: Any = None, epochs: int = 8,
                      seed: int = 0) -> dict[str, Any]:
    """Train the digits CNN, quantize it, compile it for VTA, run the held-out split.

    The whole held-out split runs as one batch (one executable call). Returns a dict with
    ``float_accuracy``, ``vta_accuracy``, ``reference_accuracy`` (the int8 numpy
    reference), ``exact`` (VTA logits equal the reference's bit for bit), the executable's
    partition summary and timings.
    """
    from .frontend import quantize
    from .frontend import run as reference_run
    from .frontend.digits import load_digits_split, train_digits_cnn
    from .model_compiler import compile as compile_model

    data = load_digits_split(seed)
    t0 = time.perf_counter()
    net = train_digits_cnn(data, epochs=epochs, seed=seed)
    train_s = time.perf_counter() - t0
    n = len(data.x_test)
    float_acc = float((net.logits(data.x_test).argmax(1) == data.y_test).mean())
    graph = net.graph(batch=n)
    qgraph = quantize(graph, [data.x_train[:n]])
    t0 = time.perf_counter()
    exe = compile_model(qgraph, config, device)
    compile_s = time.perf_counter() - t0
    try:
        t0 = time.perf_counter()
        logits = exe(data.x_test)[graph.outputs[0]]
        run_s = time.perf_counter() - t0
        ref = reference_run(qgraph, data.x_test)[graph.outputs[0]]
        return {"float_accuracy": float_acc,
                "vta_accuracy": float((logits.argmax(1) == data.y_test).mean()),
                "reference_accuracy": float((ref.argmax(1) == data.y_test).mean()),
                "exact": bool(np.array_equal(logits, ref)), "test_images": n,
                "vta_layers": [lay.describe() for lay in exe.partition.vta_layers],
                "summary": exe.partition.summary(), "train_s": train_s,
                "compile_s": compile_s, "run_s": run_s}
    finally:
        exe.close()


def _run_digits(args: argparse.Namespace) -> int:
    use_default_kernel_cache()
    r = digits_experiment(args.device, args.config, args.epochs, args.seed)
    print(f"digits CNN, {r['test_images']} held-out images, one batch on {args.device}")
    print(r["summary"])
    print(f"  float accuracy        {r['float_accuracy']:.4f}")
    print(f"  int8 reference        {r['reference_accuracy']:.4f}")
    print(f"  int8 on VTA           {r['vta_accuracy']:.4f}  "
          f"({'MATCH' if r['exact'] else 'MISMATCH'} with the reference)")
    print(f"  difference            {(r['vta_accuracy'] - r['float_accuracy']) * 100:+.2f} "
          "points")
    print(f"  train {r['train_s']:.2f} s, compile {r['compile_s']:.2f} s, run "
          f"{r['run_s']:.2f} s")
    if args.latency:
        lat = digits_latency(args.epochs, args.seed)
        print(f"  batch 1, CPU only     {lat['kit'] * 1e6:.1f} us per image (onnxruntime int8: "
              f"{lat['onnxruntime'] * 1e6:.1f} us, {lat['onnxruntime'] / lat['kit']:.2f}x; "
              f"load {os.getloadavg()[0]:.1f})")
    return 0 if r["exact"] else 1
