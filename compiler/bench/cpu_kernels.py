"""``vta bench cpu-kernels``: each CPU fallback kernel against numpy and onnxruntime
(:mod:`vta.compiler.frontend.ort_peer`, one thread) on ResNet-18 and MobileNet-v2 shapes
(median times and the speed-ups; ``--json`` for a record)."""

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
                "each CPU kernel vs its numpy reference and onnxruntime (one thread) on "
                "ResNet-18 and MobileNet-v2 shapes",
                setup=_setup, run=_run)


def _cases() -> list[tuple[str, Callable[[], Any], Callable[[], Any],
                          Callable[[], Any] | None]]:
    """(name, kit kernel call, numpy call, onnxruntime call) on ResNet-18 and MobileNet-v2
    shapes, same inputs for all three.  The kit's kernel is llvmlite code except where
    the name says ``numpy`` (the reference implementation runs those on the CPU)."""
    from onnx import helper
    from vta.compiler.cpu import conv, elementwise, layout_kernels, norm, pool, softmax
    from vta.runtime import layout as rt_layout

    from .. import int8_reference as ref
    from ..frontend import interpreter
    from ..frontend import ort_peer as peer

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

    # MobileNet-v2's first depthwise conv (numpy on the CPU) and BERT-tiny's layer norm.
    xdw, wdw = i8(1, 32, 112, 112), i8(32, 1, 3, 3)
    seq = rng.normal(size=(1, 128, 128)).astype(np.float32)
    gamma, beta = rng.normal(size=128).astype(np.float32), rng.normal(size=128).astype(
        np.float32)
    ln = norm.layer_norm_kernel(seq.shape, -1, gamma, beta, 1e-5)
    shape5 = np.array([1, 4, 16, 56, 56], np.int64)
    pack_nodes = [helper.make_node("Reshape", ["x", "s5"], ["r"]),
                  helper.make_node("Transpose", ["r"], ["y"], perm=[0, 1, 3, 4, 2])]
    unpack_nodes = [helper.make_node("Transpose", ["x"], ["t"], perm=[0, 1, 4, 2, 3]),
                    helper.make_node("Reshape", ["t", "s4"], ["y"])]
    ort_pack = peer.session(pack_nodes, {"x": a}, {"s5": shape5})
    ort_unpack = peer.session(unpack_nodes, {"x": packed.reshape(1, 4, 56, 56, 16)},
                              {"s4": np.array([1, 64, 56, 56], np.int64)})
    packed5 = packed.reshape(1, 4, 56, 56, 16)

    def dw_numpy() -> np.ndarray:
        return ref.requantize(ref.conv2d(xdw, wdw, 1, 1, 1, 32), 0, 7, -128, 127)

    return [
        ("conv C1 224x224x3 7x7/2 (int8)", lambda: c1(q_img),
         lambda: ref.requantize(ref.conv2d(q_img, w1, 2, 3), b1, 9, 0, 127),
         peer.qlinear_conv(q_img, w1, b1, 2, 3)),
        ("conv C2 56x56x64 3x3 (int8)", lambda: c2(x2),
         lambda: ref.requantize(ref.conv2d(x2, w2, 1, 1), 0, 10, 0, 127),
         peer.qlinear_conv(x2, w2, None, 1, 1)),
        ("depthwise 112x112x32 3x3 (int8, numpy)", dw_numpy, dw_numpy,
         peer.qlinear_conv(xdw, wdw, None, 1, 1, 32)),
        ("max_pool 112x112x64 3x3/2", lambda: mp(act),
         lambda: interpreter.max_pool(act, (3, 3), (2, 2), (1, 1, 1, 1)),
         peer.single_op("MaxPool", {"x": act}, kernel_shape=[3, 3], strides=[2, 2],
                        pads=[1, 1, 1, 1])),
        ("global_avg_pool 7x7x512", lambda: gap(last), lambda: interpreter.global_avg_pool(last),
         peer.single_op("QLinearGlobalAveragePool", {"x": last}, True, True, channels_last=0)),
        ("dense 1x512x1000", lambda: fc(xd),
         lambda: ref.requantize(ref.dense(xd, wd), bd, 8, -128, 127),
         peer.qlinear_matmul(xd, np.ascontiguousarray(wd.T))),
        ("dense 16x512x1008", lambda: dense16(xb),
         lambda: ref.requantize(ref.dense(xb, wb), 0, 8, -128, 127),
         peer.qlinear_matmul(xb, np.ascontiguousarray(wb.T))),
        ("softmax 1x1000 (float, vs np.exp softmax)", lambda: sm(logits),
         lambda: np_softmax(logits), peer.single_op("Softmax", {"x": logits}, axis=-1)),
        ("layer norm 128x128 (float)", lambda: ln(seq),
         lambda: interpreter.layer_norm(seq, gamma, beta),
         peer.single_op("LayerNormalization", {"x": seq}, consts={"g": gamma, "b": beta},
                        extra_inputs=("g", "b"), axis=-1)),
        ("quantize 1x3x224x224", lambda: qk(x_img),
         lambda: interpreter.quantize(x_img, 2.0 ** -5),
         peer.single_op("QuantizeLinear", {"x": x_img}, consts={
             "s": np.float32(2.0 ** -5), "z": np.int8(0)}, extra_inputs=("s", "z"))),
        ("dequantize 1x3x224x224", lambda: dq(q_img),
         lambda: interpreter.dequantize(q_img, 2.0 ** -5),
         peer.single_op("DequantizeLinear", {"x": q_img}, consts={
             "s": np.float32(2.0 ** -5), "z": np.int8(0)}, extra_inputs=("s", "z"))),
        ("residual add 56x56x64", lambda: add(a, b),
         lambda: ref.qadd(a, b, 1, 0, 1, 1, 0, 127),
         peer.single_op("QLinearAdd", {"a": a, "b": b}, True, True)),
        ("pack NCHW->NCHW1n16c 56x56x64", lambda: pk(a),
         lambda: rt_layout.pack_nchw(a, 1, 16), lambda: ort_pack(a)),
        ("unpack NCHW1n16c->NCHW 56x56x64", lambda: upk(packed),
         lambda: rt_layout.unpack_nchw(packed, 1, 64), lambda: ort_unpack(packed5)),
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
    for name, kernel, numpy_fn, ort_fn in tqdm(cases, desc="cpu kernels", leave=False):
        tk = median_seconds(kernel, args.repeat)
        tn = median_seconds(numpy_fn, args.repeat)
        to = median_seconds(ort_fn, args.repeat)
        rows.append({"case": name, "kernel_us": tk * 1e6, "numpy_us": tn * 1e6,
                     "onnxruntime_us": to * 1e6, "speedup": tn / tk, "vs_onnxruntime": to / tk})
    if args.json:
        print(json.dumps({"host": host_description().split()[0], "build_seconds": build,
                          "cases": rows}, indent=1))
        return 0
    print(f"host {host_description().split()[0]}; kernels built in {build:.2f} s; "
          f"median of {args.repeat} runs, one thread (wall-clock: depends on load)")
    print(f"{'case':<44} {'kit us':>10} {'numpy us':>10} {'ort us':>10} {'vs numpy':>9} "
          f"{'vs ort':>7}")
    for r in rows:
        print(f"{r['case']:<44} {r['kernel_us']:>10.1f} {r['numpy_us']:>10.1f} "
              f"{r['onnxruntime_us']:>10.1f} {r['speedup']:>8.1f}x "
              f"{r['vs_onnxruntime']:>6.2f}x")
    slower = [r["case"] for r in rows if r["vs_onnxruntime"] < 1.0]
    print("every kernel at least as fast as onnxruntime" if not slower
          else f"slower than onnxruntime: {', '.join(slower)}")
    return 0
