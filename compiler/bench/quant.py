"""``vta bench quant``: the kit's quantization against onnxruntime's.

``vta bench quant`` compares, per model (the digits CNN and zoo models), with the same
calibration samples:

* the kit's quantizer in each of its modes: accuracy on the digits' held-out split, or
  top-1 agreement with the float model on seeded inputs (zoo models);
* onnxruntime's ``quantize_static`` (QDQ with int8 activations and QOperator with uint8
  activations, per-channel weights) run by onnxruntime, and the same files compiled by the
  kit without calibration: accuracy / agreement, and against onnxruntime's own int8 outputs
  the share of identical output values, the largest difference in output steps and the
  top-1 agreement;
* the kit's QDQ export run by onnxruntime against the kit;
* onnxruntime's QDQ model run literally (graph optimizations off: ONNX's definition, float
  ops between DequantizeLinear and QuantizeLinear) against onnxruntime's fused run: how far
  apart two correct executions of one quantized model are;
* onnxruntime's ``quantize_dynamic`` (DynamicQuantizeLinear, MatMulInteger / ConvInteger
  with int8 weights, float outputs) run by onnxruntime and compiled by the kit: the
  identical share and the largest absolute difference of the float outputs.

The kit's numbers come from its llvmlite CPU executable, which equals the accelerator bit
for bit; the digits CNN is also run on the accelerator (``--device``, a config with ALU
MUL by default) and checked to be identical.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from vta.hw.cli import Cli, add_config_argument
from vta.hw.errors import VTAError

__all__ = ["register", "QuantRow", "bench_model", "KIT_MODES"]

KIT_MODES: dict[str, dict[str, Any]] = {
    "kit pow2": {},
    "kit per-channel": {"per_channel": True},
    "kit per-channel asym": {"per_channel": True, "asymmetric": True},
    "kit percentile": {"per_channel": True, "calibration": "percentile"},
    "kit entropy": {"per_channel": True, "calibration": "entropy"},
}
"""The kit's quantizer modes the benchmark compares (options of ``quantize``)."""


def register(cli: Cli) -> None:
    cli.command("bench quant", "the kit's quantization and onnxruntime-quantized models "
                "(QDQ, QOperator) against onnxruntime: accuracy, agreement, identical "
                "outputs", setup=_setup_bench, run=_run_bench)


@dataclass
class QuantRow:
    """One variant of one model: its score and, where onnxruntime ran the same model, the
    parity of the kit's outputs with onnxruntime's."""

    model: str
    variant: str
    score: float                  # accuracy (digits) or top-1 agreement with float
    identical: float | None = None
    max_steps: float | None = None
    agreement: float | None = None
    note: str = ""


def _ort_session(model: Any, fused: bool = True) -> Any:
    """An onnxruntime CPU session; ``fused=False`` turns its graph optimizations off, so a
    QDQ model runs as ONNX defines it (DequantizeLinear, the float op, QuantizeLinear)
    instead of through onnxruntime's fused integer kernels."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    if not fused:
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    data = model if isinstance(model, (str, Path)) else model.SerializeToString()
    return ort.InferenceSession(str(data) if isinstance(data, Path) else data, opts,
                                providers=["CPUExecutionProvider"])


def _ort_quantize(float_path: Path, out: Path, feeds: Sequence[dict[str, np.ndarray]],
                  qdq: bool) -> None:
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.it = iter(feeds)

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.it, None)

    import logging
    logging.getLogger().setLevel(logging.ERROR)
    quantize_static(str(float_path), str(out), Reader(),
                    quant_format=QuantFormat.QDQ if qdq else QuantFormat.QOperator,
                    per_channel=True, activation_type=QuantType.QInt8 if qdq
                    else QuantType.QUInt8, weight_type=QuantType.QInt8)


def _ort_quantize_dynamic(float_path: Path, out: Path) -> None:
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic
    logging.getLogger().setLevel(logging.ERROR)
    quantize_dynamic(str(float_path), str(out), weight_type=QuantType.QInt8)


def _run_all(fn: Callable[[dict[str, np.ndarray]], np.ndarray],
             feeds: Sequence[dict[str, np.ndarray]]) -> np.ndarray:
    return np.stack([np.asarray(fn(f)).reshape(-1) for f in feeds])


def _kit_runner(graph_or_model: Any, output: str) -> Callable[[dict[str, np.ndarray]],
                                                              np.ndarray]:
    """The kit's CPU executable of an already quantized graph or model (bit-exact with
    the accelerator)."""
    from ..model_compiler import compile as compile_model

    exe = compile_model(graph_or_model, "default", "fsim", cpu_only=True)
    return lambda f: exe(f)[output]


def _parity(kit: np.ndarray, ort: np.ndarray, step: float) -> tuple[float, float, float]:
    """(share of identical values, largest difference in output steps, top-1 agreement)."""
    return (float((kit == ort).mean()), float(np.abs(kit - ort).max() / step),
            float((kit.argmax(1) == ort.argmax(1)).mean()))


def _output_step(model: Any) -> float:
    """The scale of the quantized tensor a QDQ/QOperator model dequantizes last."""
    from onnx import numpy_helper

    inits = {i.name: i for i in model.graph.initializer}
    for node in reversed(model.graph.node):
        if node.op_type == "DequantizeLinear" and node.input[1] in inits:
            return float(numpy_helper.to_array(inits[node.input[1]]).reshape(-1)[0])
    return 1.0


def bench_model(name: str, float_model: Any, calib: Sequence[dict[str, np.ndarray]],
                evals: Sequence[dict[str, np.ndarray]], labels: np.ndarray | None,
                modes: dict[str, dict[str, Any]] = KIT_MODES,
                progress: Callable[[str], None] = lambda s: None) -> list[QuantRow]:
    """Every variant of one model (see the module docstring)."""
    import onnx

    from ..frontend import import_onnx, quantize
    from ..frontend.qdq_export import export_qdq

    float_model = _without_softmax(float_model)
    output = float_model.graph.output[0].name
    float_out = _run_all(lambda f: _ort_session_cached(float_model).run(None, f)[0], evals)

    def score(out: np.ndarray) -> float:
        ref = labels if labels is not None else float_out.argmax(1)
        return float((out.argmax(1) == ref).mean())

    rows = [QuantRow(name, "float", score(float_out))]
    graph = import_onnx(float_model)
    calib_samples = [dict(f) for f in calib]
    for variant, opts in modes.items():
        progress(f"{name}: {variant}")
        qgraph = quantize(graph, calib_samples, **opts)
        kit = _run_all(_kit_runner(qgraph, output), evals)
        row = QuantRow(name, variant, score(kit))
        if variant == "kit per-channel":   # its QDQ export, run by onnxruntime
            try:
                session = _ort_session(export_qdq(qgraph))
            except VTAError as e:
                row.note = f"no QDQ export: {e}"
            else:
                ort_out = _run_all(lambda f, s=session: s.run(None, f)[0], evals)
                step = qgraph.type_of(qgraph.producer(output).inputs[0]).scale or 1.0
                row.identical, row.max_steps, row.agreement = _parity(kit, ort_out, step)
                row.note = "vs onnxruntime on the kit's QDQ export"
        rows.append(row)
    with tempfile.TemporaryDirectory(prefix="vta-quant-") as tmp:
        float_path = Path(tmp) / "float.onnx"
        onnx.save(float_model, float_path)
        for fmt, qdq in (("QDQ", True), ("QOperator", False)):
            progress(f"{name}: onnxruntime {fmt}")
            path = Path(tmp) / f"{fmt}.onnx"
            _ort_quantize(float_path, path, calib, qdq)
            model = onnx.load(str(path))
            session = _ort_session(model)
            ort_out = _run_all(lambda f, s=session: s.run(None, f)[0], evals)
            rows.append(QuantRow(name, f"onnxruntime {fmt}", score(ort_out)))
            if qdq:
                rows.append(_unfused_row(name, model, evals, ort_out, score))
            t0 = time.perf_counter()
            try:
                kit = _run_all(_kit_runner(model, output), evals)
            except VTAError as e:
                rows.append(QuantRow(name, f"kit on ORT {fmt}", float("nan"),
                                     note=f"error: {e}"))
                continue
            row = QuantRow(name, f"kit on ORT {fmt}", score(kit),
                           note=f"no calibration; {time.perf_counter() - t0:.1f} s")
            row.identical, row.max_steps, row.agreement = _parity(kit, ort_out,
                                                                   _output_step(model))
            rows.append(row)
        rows += _dynamic_rows(name, float_path, Path(tmp) / "dynamic.onnx", output, evals,
                              score, progress)
    return rows


def _unfused_row(name: str, model: Any, evals: Sequence[dict[str, np.ndarray]],
                 fused_out: np.ndarray, score: Callable[[np.ndarray], float]) -> QuantRow:
    """onnxruntime's literal run of a QDQ model (ONNX's definition, float ops between
    DequantizeLinear and QuantizeLinear) against its fused int8 run: how far two correct
    executions of the same quantized model are apart -- the ceiling for any other one."""
    session = _ort_session(model, fused=False)
    literal = _run_all(lambda f: session.run(None, f)[0], evals)
    row = QuantRow(name, "onnxruntime QDQ unfused", score(literal),
                   note="ONNX's definition, graph optimizations off, vs onnxruntime QDQ")
    row.identical, row.max_steps, row.agreement = _parity(literal, fused_out,
                                                           _output_step(model))
    return row


def _dynamic_rows(name: str, float_path: Path, path: Path, output: str,
                  evals: Sequence[dict[str, np.ndarray]], score: Callable[[np.ndarray], float],
                  progress: Callable[[str], None]) -> list[QuantRow]:
    """onnxruntime's ``quantize_dynamic`` model run by onnxruntime and by the kit: its
    outputs are float, so the difference is absolute (in the note), not in steps."""
    import onnx

    progress(f"{name}: onnxruntime dynamic")
    _ort_quantize_dynamic(float_path, path)
    model = onnx.load(str(path))
    session = _ort_session(model)
    ort_out = _run_all(lambda f: session.run(None, f)[0], evals)
    rows = [QuantRow(name, "onnxruntime dynamic", score(ort_out))]
    try:
        kit = _run_all(_kit_runner(model, output), evals)
    except VTAError as e:
        return rows + [QuantRow(name, "kit on ORT dynamic", float("nan"), note=f"error: {e}")]
    identical, _, agreement = _parity(kit, ort_out, 1.0)
    diff = float(np.abs(kit.astype(np.float64) - ort_out).max())
    return rows + [QuantRow(name, "kit on ORT dynamic", score(kit), identical, None, agreement,
                            note=f"float output: max |diff| {diff:.3g}")]


def _without_softmax(model: Any) -> Any:
    """A model ending in Softmax cut before it: parity is measured on the quantized logits
    (the float softmax of both runtimes differs in the last bits; top-1 is unchanged)."""
    from onnx import helper

    last = model.graph.node[-1]
    if last.op_type != "Softmax" or last.output[0] != model.graph.output[0].name:
        return model
    cut = model.__class__()
    cut.CopyFrom(model)
    del cut.graph.node[-1]
    out = cut.graph.output[0]
    shape = [d.dim_value for d in out.type.tensor_type.shape.dim]
    cut.graph.output.remove(out)
    cut.graph.output.append(helper.make_tensor_value_info(last.input[0],
                                                          out.type.tensor_type.elem_type,
                                                          shape))
    return cut


_SESSIONS: dict[int, Any] = {}


def _ort_session_cached(model: Any) -> Any:
    key = id(model)
    if key not in _SESSIONS:
        _SESSIONS[key] = _ort_session(model)
    return _SESSIONS[key]


def digits_case(epochs: int = 8, seed: int = 0, calibration: int = 359
                ) -> tuple[Any, list[dict[str, np.ndarray]], list[dict[str, np.ndarray]],
                           np.ndarray]:
    """The digits CNN (trained) as ONNX, calibration feeds (training images), the held-out
    images and labels."""
    from ..frontend.digits import load_digits_split, train_digits_cnn
    from ..frontend.models import digits_cnn_onnx

    data = load_digits_split(seed)
    net = train_digits_cnn(data, epochs=epochs, seed=seed)
    calib = [{"image": x[None]} for x in data.x_train[:calibration]]
    evals = [{"image": x[None]} for x in data.x_test]
    return digits_cnn_onnx(net.params), calib, evals, data.y_test


def zoo_case(name: str, calibration: int, images: int, seed: int = 0
             ) -> tuple[Any, list[dict[str, np.ndarray]], list[dict[str, np.ndarray]]]:
    """A zoo model with seeded inputs: ``calibration`` feeds and ``images`` others."""
    from .. import zoo

    model = zoo.load(name, seed)
    feeds = [zoo.sample_inputs(name, seed + 100 + i, model) for i in range(calibration + images)]
    return model, feeds[:calibration], feeds[calibration:]


def check_digits_on_vta(model: Any, evals: Sequence[dict[str, np.ndarray]], config: str,
                        device: str) -> tuple[bool, list[str]]:
    """An onnxruntime-quantized digits model on the accelerator equals the kit's CPU
    executable bit for bit; returns (identical, the accelerator layers)."""
    from ..model_compiler import compile as compile_model

    cpu = _run_all(_kit_runner(model, "logits"), evals)
    with compile_model(model, config, device) as exe:
        vta = _run_all(lambda f: exe(f)["logits"], evals)
        layers = [lay.name for lay in exe.partition.vta_layers]
    return bool(np.array_equal(cpu, vta)), layers


def format_rows(rows: Sequence[QuantRow]) -> str:
    lines = [f"{'model':<14}{'variant':<24}{'score':>8}{'identical':>11}{'max diff':>10}"
             f"{'top-1 agr':>11}  note",
             "-" * 90]
    for r in rows:
        def num(v: float | None, fmt: str) -> str:
            return "-" if v is None else format(v, fmt)
        lines.append(f"{r.model:<14}{r.variant:<24}{r.score:>8.4f}{num(r.identical, '.4f'):>11}"
                     f"{num(r.max_steps, '.0f'):>10}{num(r.agreement, '.4f'):>11}  {r.note}")
    return "\n".join(lines)


def _setup_bench(p: argparse.ArgumentParser) -> None:
    p.add_argument("--models", default="digits,resnet8,ds_cnn,mobilenet_v2,resnet18,resnet50",
                   help="digits and zoo model names, comma-separated (default: the digits "
                        "CNN and every zoo classifier)")
    p.add_argument("--images", type=int, default=32,
                   help="seeded inputs per zoo model for top-1 agreement")
    p.add_argument("--calibration", type=int, default=16,
                   help="calibration inputs per zoo model (the digits use 359 images)")
    p.add_argument("--device", default="fsim", help="device of the digits' VTA check")
    add_config_argument(p)
    p.set_defaults(config="default_mul")
    p.add_argument("--seed", type=int, default=0)


def _run_bench(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from ..commands import use_default_kernel_cache

    use_default_kernel_cache()
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    rows: list[QuantRow] = []
    with tqdm(total=len(names), desc="bench quant", unit="model", leave=False) as bar:
        for name in names:
            def progress(text: str) -> None:
                bar.set_postfix_str(text)
            if name == "digits":
                model, calib, evals, labels = digits_case(seed=args.seed)
                rows += bench_model("digits", model, calib, evals, labels, progress=progress)
                with tempfile.TemporaryDirectory() as tmp:
                    import onnx
                    float_path = Path(tmp) / "f.onnx"
                    onnx.save(model, float_path)
                    _ort_quantize(float_path, Path(tmp) / "q.onnx", calib, True)
                    same, layers = check_digits_on_vta(onnx.load(str(Path(tmp) / "q.onnx")),
                                                       evals, args.config, args.device)
                print(f"digits, onnxruntime QDQ on VTA ({args.config}, {args.device}): "
                      f"accelerator layers {layers}; "
                      f"{'identical to' if same else 'DIFFERENT from'} the CPU executable")
            else:
                model, calib, evals = zoo_case(name, args.calibration, args.images, args.seed)
                rows += bench_model(name, model, calib, evals, None, progress=progress)
            bar.update(1)
    print(format_rows(rows))
    print("score: accuracy on the held-out split (digits) or top-1 agreement with the float "
          "model (zoo); identical / max diff (output steps) / top-1 agr: against "
          "onnxruntime running the same quantized model")
    return 0
