"""``vta bench frontend``: the front half of compiling ResNet-18 -- ONNX build and
import, int8 calibration and quantization, the float and int8 numpy reference runs and,
with ``--cpu``, the whole quantized graph on llvmlite CPU kernels."""

from __future__ import annotations

import argparse
import time

import numpy as np
from vta.hw.cli import Cli

from .timing import median_seconds


def register(cli: Cli) -> None:
    cli.command("bench frontend",
                "ResNet-18: ONNX import, int8 quantization, reference and CPU runs",
                setup=_setup, run=_run)


def _setup(p: argparse.ArgumentParser) -> None:
    p.add_argument("--repeat", type=int, default=3, help="timed reference runs (median)")
    p.add_argument("--cpu", action="store_true",
                   help="also build and run the whole quantized graph on CPU kernels")


def _run(args: argparse.Namespace) -> int:
    from ..frontend.interpreter import run
    from ..frontend.models import resnet18_onnx
    from ..frontend.onnx_import import import_onnx
    from ..frontend.quantize import quantize

    x = np.random.default_rng(0).normal(size=(1, 3, 224, 224)).astype(np.float32)
    t0 = time.perf_counter()
    model = resnet18_onnx(0)
    t1 = time.perf_counter()
    graph = import_onnx(model)
    t2 = time.perf_counter()
    qgraph = quantize(graph, [x])
    t3 = time.perf_counter()
    print(f"ResNet-18: build ONNX {t1 - t0:.2f} s, import {t2 - t1:.2f} s, "
          f"calibrate+quantize (1 sample) {t3 - t2:.2f} s")
    tf = median_seconds(lambda: run(graph, x), args.repeat)
    tq = median_seconds(lambda: run(qgraph, x), args.repeat)
    print(f"numpy reference run: float {tf:.3f} s, int8 {tq:.3f} s (median of {args.repeat})")
    if args.cpu:
        from vta.compiler.cpu.executor import CpuExecutable

        exe = CpuExecutable(qgraph)
        tc = median_seconds(lambda: exe(x), args.repeat)
        same = all(np.array_equal(a, b) for a, b in zip(exe(x).values(),
                                                        run(qgraph, x).values(), strict=False))
        print(f"all-CPU llvmlite: build {exe.compile_seconds:.2f} s, run {tc:.3f} s "
              f"({tq / tc:.1f}x the int8 reference), exact: {same}")
    return 0
