"""``vta bench zoo``: every zoo model (:mod:`vta.compiler.zoo`) compiled and run on a device.

Per model: nodes on VTA / on the CPU, the share of multiply-accumulates on VTA, quantize and
compile time, run time, the cost model's accelerator cycles (measured cycles on a timed
device such as Verilator), MATCH against the numpy reference of the quantized graph (bit
for bit), and agreement with onnxruntime running the float model (relative L2 error of the
first output; top-1 agreement for classifiers).  The last line is ``zoo: N/N models MATCH``.
Wall-clock times depend on the machine's load; cycle counts do not.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from vta.hw.cli import Cli, add_config_argument
from vta.hw.errors import VTAError

from ..cpu_cost import add_host_argument
from ..layer_profile import node_macs

__all__ = ["ZooResult", "bench_model", "register", "format_table"]


@dataclass
class ZooResult:
    """One model's row of the zoo table."""

    name: str
    vta_layers: int
    cpu_layers: int
    vta_mac_share: float
    macs: int
    quantize_s: float
    compile_s: float
    run_s: float
    est_cycles: int
    cycles: int | None
    match: bool
    rel_error: float
    top1_agree: bool | None


def _total_macs(graph: Any) -> int:
    return sum(node_macs(graph, n) for n in graph.nodes)


def onnxruntime_outputs(model: Any, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
    """The float model's outputs from onnxruntime (one thread)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), opts,
                                providers=["CPUExecutionProvider"])
    return sess.run(None, inputs)


def tvm_cpu_nodes(graph: Any) -> list[str]:
    """The conv/dense nodes TVM's VTA flow leaves on the CPU: the first convolution (the
    stem) and the last dense layer (the classifier) -- its ``graph_pack`` offloads from
    the first pooling to the global pooling.  Cycle counts of that layer set compare with
    TVM's published figures."""
    convs = [n.name for n in graph.nodes if n.op == "qconv2d"]
    dense = [n.name for n in graph.nodes if n.op == "qdense"]
    return convs[:1] + dense[-1:]


def bench_model(name: str, device: str = "fsim", config: Any = None, seed: int = 0,
                cpu_only: bool = False, host: str | None = None,
                tvm_offload: bool = False) -> ZooResult:
    """Compile and run zoo model ``name``; see the module docstring for the figures
    (``host``: the CPU profile of the partitioner; ``tvm_offload``: keep
    :func:`tvm_cpu_nodes` on the CPU)."""
    from .. import zoo
    from ..frontend import import_onnx, quantize
    from ..model_compiler import compile as compile_model

    info = zoo.info(name)
    model = zoo.load(name, seed)
    inputs = zoo.sample_inputs(name, seed, model)
    graph = import_onnx(model)
    t0 = time.perf_counter()
    qgraph = quantize(graph, [inputs])
    quantize_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    exe = compile_model(qgraph, config, device, cpu_only=cpu_only, host=host,
                        cpu_nodes=tvm_cpu_nodes(qgraph) if tvm_offload else ())
    compile_s = time.perf_counter() - t0
    try:
        exe.device  # noqa: B018 - open (and build a simulator model) before timing
        t0 = time.perf_counter()
        out = exe(inputs)
        run_s = time.perf_counter() - t0
        want = exe.reference(inputs)
        match = all(np.array_equal(out[k], want[k]) for k in want)
        prof = exe.profile()
        est = sum(r.est_cycles or 0 for r in prof if r.device.startswith("vta"))
        part = exe.partition
        on_vta = {n for lay in part.vta_layers for n in lay.nodes}
        vta_macs = sum(node_macs(qgraph, qgraph.node(n)) for n in on_vta)
        total = _total_macs(qgraph)
        peer = onnxruntime_outputs(model, inputs)
        first = model.graph.output[0].name
        got, ref = out[first].astype(np.float64), peer[0].astype(np.float64)
        rel = float(np.linalg.norm(got - ref) / max(np.linalg.norm(ref), 1e-30))
        top1 = None
        if info.task == "classifier":
            top1 = bool(np.argmax(got.reshape(got.shape[0], -1)[0])
                        == np.argmax(ref.reshape(ref.shape[0], -1)[0]))
        return ZooResult(name, len(part.vta_layers), len(part.cpu_layers),
                         vta_macs / max(total, 1), total, quantize_s, compile_s, run_s, est,
                         exe.total_cycles(), match, rel, top1)
    finally:
        exe.close()


def format_table(rows: list[ZooResult], device: str) -> str:
    head = (f"{'model':<14}{'VTA':>5}{'CPU':>5}{'MACs':>9}{'on VTA':>8}{'quant s':>9}"
            f"{'compile s':>10}{'run s':>8}{'est. cycles':>13}{'cycles':>13}  {'result':<9}"
            f"{'vs onnxruntime':<20}")
    lines = [f"zoo on {device} (wall-clock figures depend on load; cycles do not)", head,
             "-" * len(head)]
    for r in rows:
        agree = f"rel {r.rel_error:.3f}" + ("" if r.top1_agree is None else
                                            f", top-1 {'same' if r.top1_agree else 'DIFF'}")
        cyc = f"{r.cycles:,}" if r.cycles is not None else "-"
        lines.append(f"{r.name:<14}{r.vta_layers:>5}{r.cpu_layers:>5}{r.macs / 1e6:>8.0f}M"
                     f"{r.vta_mac_share * 100:>7.1f}%{r.quantize_s:>9.2f}{r.compile_s:>10.2f}"
                     f"{r.run_s:>8.2f}{r.est_cycles:>13,}{cyc:>13}  "
                     f"{'MATCH' if r.match else 'MISMATCH':<9}{agree}")
    lines.append(f"zoo: {sum(r.match for r in rows)}/{len(rows)} models MATCH")
    return "\n".join(lines)


# ------------------------------------------------------------------------------ CLI
def register(cli: Cli) -> None:
    cli.command("bench zoo", "every zoo model: placement, MACs on VTA, compile and run time, "
                "cycles, MATCH, agreement with onnxruntime", setup=_setup, run=_run)


def _setup(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="fsim", choices=("fsim", "verilator", "pysim"))
    add_config_argument(p)
    p.add_argument("--models", nargs="+", metavar="NAME", help="a subset of the zoo")
    p.add_argument("--cpu-only", action="store_true", help="every layer on the CPU")
    add_host_argument(p)
    p.add_argument("--tvm-offload", action="store_true",
                   help="the stem convolution and the classifier on the CPU, the layers "
                        "TVM's VTA flow offloads (to compare cycles with TVM's figures)")
    p.add_argument("--seed", type=int, default=0)


def _run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .. import zoo
    from ..commands import use_default_kernel_cache

    use_default_kernel_cache()
    names = args.models or list(zoo.names())
    for n in names:
        zoo.info(n)
    rows = []
    for n in tqdm(names, desc="zoo", unit="model", leave=False, file=sys.stderr):
        try:
            rows.append(bench_model(n, args.device, args.config, args.seed, args.cpu_only,
                                    args.host, args.tvm_offload))
        except VTAError as e:
            print(f"{n}: {e}", file=sys.stderr)
            rows.append(ZooResult(n, 0, 0, 0.0, 0, 0.0, 0.0, 0.0, 0, None, False,
                                  float("nan"), None))
    flags = "".join(f" --{f}" for f, on in (("cpu-only", args.cpu_only),
                                            ("tvm-offload", args.tvm_offload)) if on)
    flags += f" --host {args.host}" if args.host else ""
    print(format_table(rows, args.device + flags))
    return 0 if all(r.match for r in rows) else 1
