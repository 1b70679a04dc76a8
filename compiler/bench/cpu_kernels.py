"""``vta bench cpu-kernels``: each llvmlite CPU fallback kernel against its numpy
reference on ResNet-18 shapes (median times and the speed-up; ``--json`` for a record)."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from vta.hw.cli import Cli

from .timing import median_seconds


def register(cli: Cli) -> None:
    cli.command("bench cpu-kernels",
                "each llvmlite CPU kernel vs its numpy reference on ResNet-18 shapes",
                setup=_setup, run=_run)


def _cases() -> list[tuple[str, Callable[[], Any], Callable[[], Any]]]:
    """(name, kernel call, numpy call) on ResNet-18 shapes, same inputs for both."""
    from vta.compiler.cpu import conv, elementwise, layout_kernels, pool, softmax
    from vta.runtime import layout as rt_layout

    from .. import int8_reference as ref
    from ..frontend import interpreter

    rng = np.random.default_rng(0)

    def i8(*shape: int) -> np.ndarray:
        return rng.integers(-128, 128, shape).astype(np.int8)

    x_img = rng.normal(size=(1, 3, 224, 224)).astype(np.float32)
    q_img = i8(1, 3, 224, 224)
    w1, b1 = i8(64, 3, 7, 7), rng.integers(-2 ** 16, 2 ** 16, 64).astype(np.int32)
    c1 = conv.qconv2d_kernel(q_img.shape, w1, b1, 2, 3, 9, 0, 127)
    x2, w2 = i8(1, 64, 56, 56), i8(64, 64, 3, 3)
    c2 = conv.qconv2d_kernel(x2.shape, w2, None, 1, 1, 10, 0, 127)
    act = i8(1, 64, 112, 112)
    mp = pool.max_pool_kernel(act.shape, (3, 3), (2, 2), (1, 1, 1, 1))
    last = i8(1, 512, 7, 7)
    gap = pool.global_avg_pool_kernel(last.shape)
    xd, wd = i8(1, 512), i8(1000, 512)
    bd = rng.integers(-1000, 1000, 1000).astype(np.int32)
    fc = conv.qdense_kernel(xd.shape, wd, bd, 8)
    xb, wb = i8(16, 512), i8(1008, 512)
    dense16 = conv.qdense_kernel(xb.shape, wb, None, 8)
    logits = (rng.normal(size=(1, 1000)) * 4).astype(np.float32)
    sm = softmax.softmax_kernel(logits.shape)
    qk = elementwise.quantize_kernel(x_img.shape, 2.0 ** -5)
    dq = elementwise.dequantize_kernel(q_img.shape, 2.0 ** -5)
    a, b = i8(1, 64, 56, 56), i8(1, 64, 56, 56)
    add = elementwise.qadd_kernel(a.shape, 1, 0, 1, 1, 0, 127)
    pk = layout_kernels.pack_kernel(a.shape, 1, 16)
    packed = rt_layout.pack_nchw(a, 1, 16)
    upk = layout_kernels.unpack_kernel(packed.shape, 1, 64)

    def np_softmax(x: np.ndarray) -> np.ndarray:
        e = np.exp(x - x.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)

    return [
        ("conv C1 224x224x3 7x7/2 (int8)", lambda: c1(q_img),
         lambda: ref.requantize(ref.conv2d(q_img, w1, 2, 3), b1, 9, 0, 127)),
        ("conv C2 56x56x64 3x3 (int8)", lambda: c2(x2),
         lambda: ref.requantize(ref.conv2d(x2, w2, 1, 1), 0, 10, 0, 127)),
        ("max_pool 112x112x64 3x3/2", lambda: mp(act),
         lambda: interpreter.max_pool(act, (3, 3), (2, 2), (1, 1, 1, 1))),
        ("global_avg_pool 7x7x512", lambda: gap(last), lambda: interpreter.global_avg_pool(last)),
        ("dense 1x512x1000", lambda: fc(xd),
         lambda: ref.requantize(ref.dense(xd, wd), bd, 8, -128, 127)),
        ("dense 16x512x1008", lambda: dense16(xb),
         lambda: ref.requantize(ref.dense(xb, wb), 0, 8, -128, 127)),
        ("softmax 1x1000 (float, vs np.exp softmax)", lambda: sm(logits),
         lambda: np_softmax(logits)),
        ("quantize 1x3x224x224", lambda: qk(x_img),
         lambda: interpreter.quantize(x_img, 2.0 ** -5)),
        ("dequantize 1x3x224x224", lambda: dq(q_img),
         lambda: interpreter.dequantize(q_img, 2.0 ** -5)),
        ("residual add 56x56x64", lambda: add(a, b),
         lambda: ref.qadd(a, b, 1, 0, 1, 1, 0, 127)),
        ("pack NCHW->NCHW1n16c 56x56x64", lambda: pk(a),
         lambda: rt_layout.pack_nchw(a, 1, 16)),
        ("unpack NCHW1n16c->NCHW 56x56x64", lambda: upk(packed),
         lambda: rt_layout.unpack_nchw(packed, 1, 64)),
    ]


def _setup(p: argparse.ArgumentParser) -> None:
    p.add_argument("--repeat", type=int, default=15, help="timed runs per case (median)")
    p.add_argument("--json", action="store_true", help="print results as JSON")


def _run(args: argparse.Namespace) -> int:
    from tqdm import tqdm
    from vta.compiler.cpu.llvm_jit import host_description

    t0 = time.perf_counter()
    cases = _cases()
    build = time.perf_counter() - t0
    rows = []
    for name, kernel, numpy_fn in tqdm(cases, desc="cpu kernels", leave=False):
        tk = median_seconds(kernel, args.repeat)
        tn = median_seconds(numpy_fn, args.repeat)
        rows.append({"case": name, "kernel_us": tk * 1e6, "numpy_us": tn * 1e6,
                     "speedup": tn / tk})
    if args.json:
        print(json.dumps({"host": host_description().split()[0], "build_seconds": build,
                          "cases": rows}, indent=1))
        return 0
    print(f"host {host_description().split()[0]}; kernels built in {build:.2f} s; "
          f"median of {args.repeat} runs")
    print(f"{'case':<44} {'llvmlite us':>12} {'numpy us':>12} {'speedup':>8}")
    for r in rows:
        print(f"{r['case']:<44} {r['kernel_us']:>12.1f} {r['numpy_us']:>12.1f} "
              f"{r['speedup']:>7.1f}x")
    slower = [r["case"] for r in rows if r["speedup"] < 1.0]
    print("every kernel at least as fast as numpy" if not slower
          else f"slower than numpy: {', '.join(slower)}")
    return 0
