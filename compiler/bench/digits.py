"""``vta bench digits``: the digits CNN trained in the project (scikit-learn's bundled
digits), quantized to int8 and run on VTA: float against int8-on-VTA accuracy on the
held-out split, and the VTA logits checked bit for bit against the int8 reference."""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

import numpy as np
from vta.hw.cli import Cli

from ..commands import add_device_arguments, use_default_kernel_cache


def register(cli: Cli) -> None:
    cli.command("bench digits", "train the digits CNN, quantize, run on VTA: float vs "
                "int8-on-VTA accuracy", setup=_setup, run=_run)


def _setup(p: argparse.ArgumentParser) -> None:
    add_device_arguments(p)
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--latency", action="store_true",
                   help="also batch-1 latency per image: the CPU-only executable vs "
                        "onnxruntime's own int8 model (one thread both)")


def digits_latency(epochs: int = 8, seed: int = 0, calls: int = 2000) -> dict[str, float]:
    """Seconds per batch-1 call of the digits CNN: the kit's CPU-only executable and
    onnxruntime running its own int8 quantization of the same float model (best of 7
    rounds of ``calls`` calls each, interleaved; wall clock, so load matters)."""
    from ..frontend import quantize
    from ..frontend.digits import load_digits_split, train_digits_cnn
    from ..frontend.ort_peer import digits_int8_session
    from ..model_compiler import compile as compile_model

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
    from ..frontend import quantize
    from ..frontend import run as reference_run
    from ..frontend.digits import load_digits_split, train_digits_cnn
    from ..model_compiler import compile as compile_model

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


def _run(args: argparse.Namespace) -> int:
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
