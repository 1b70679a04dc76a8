"""``vta bench resnet18``: ResNet-18 end to end -- ONNX build and import, quantization
and compile time, the median run time and the cycles on a device, and the outputs
checked bit for bit against the numpy reference (``result MATCH``; exit status 1 on a
mismatch)."""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np
from vta.hw.cli import Cli
from vta.hw.errors import VTAError

from ..commands import add_device_arguments, use_default_kernel_cache
from ..cpu_cost import add_host_argument
from .zoo import tvm_cpu_nodes


def register(cli: Cli) -> None:
    cli.command("bench resnet18", "ResNet-18 end to end: import, quantize and compile time, "
                "run time and cycles on a device", setup=_setup, run=_run)


def _setup(p: argparse.ArgumentParser) -> None:
    add_device_arguments(p)
    p.add_argument("--repeat", type=int, default=None,
                   help="timed runs (median quoted; default 3 on fsim, 1 otherwise)")
    p.add_argument("--image-size", type=int, default=224)
    p.add_argument("--seed", type=int, default=0)
    add_host_argument(p)
    p.add_argument("--tvm-offload", action="store_true",
                   help="C1 and the classifier on the CPU, the layers TVM's VTA flow "
                        "offloads (to compare cycles with TVM's figures)")


def _run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from ..frontend import import_onnx, quantize
    from ..frontend.models import resnet18_onnx
    from ..model_compiler import compile as compile_model

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
