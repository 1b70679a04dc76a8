"""``vta quantize MODEL.onnx -o MODEL.int8.onnx``: quantize a float model with the kit's own
post-training quantization (power-of-two scales; ``--per-channel``, ``--asymmetric``,
``--calibration-method``) and write it as a standard QDQ model
(:func:`~vta.compiler.frontend.qdq_export.export_qdq`) that onnxruntime runs.  ``vta bench
quant`` (:mod:`vta.compiler.bench.quant`) compares it with onnxruntime's quantization."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

import numpy as np
from vta.hw.cli import Cli
from vta.hw.errors import VTAError

__all__ = ["register", "quantize_model"]


def register(cli: Cli) -> None:
    cli.command("quantize", "quantize a float ONNX model with the kit's post-training "
                "quantization and write it as a standard QDQ ONNX model",
                setup=_setup_quantize, run=_run_quantize)


def quantize_model(model: Any, samples: Sequence[Any], **options: Any) -> Any:
    """The kit's quantization of a float ONNX model (or path) as a QDQ ``ModelProto``."""
    from .frontend import import_onnx, quantize
    from .frontend.graph import is_quantized
    from .frontend.qdq_export import export_qdq

    graph = import_onnx(model)
    if is_quantized(graph):
        raise VTAError(f"model {graph.name!r} is already quantized (it has integer "
                       "operators); vta quantize takes a float model")
    return export_qdq(quantize(graph, samples, **options))


def _setup_quantize(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="a float .onnx model")
    p.add_argument("-o", "--output", required=True, help="where to write the QDQ model")
    p.add_argument("--calibration", metavar="FILE.npy",
                   help="calibration samples (a stack of inputs; default: seeded random)")
    p.add_argument("--samples", type=int, default=8,
                   help="seeded random calibration samples when no file is given")
    p.add_argument("--calibration-method", default="max",
                   choices=("max", "percentile", "entropy"))
    p.add_argument("--per-channel", action="store_true", help="per-channel weight scales")
    p.add_argument("--asymmetric", action="store_true", help="activations with zero points")
    p.add_argument("--seed", type=int, default=0)


def _run_quantize(args: argparse.Namespace) -> int:
    import onnx

    from .frontend import import_onnx

    graph = import_onnx(args.model)
    if args.calibration:
        try:
            samples: Any = list(np.load(args.calibration, allow_pickle=False))
        except (OSError, ValueError) as e:
            raise VTAError(f"cannot read calibration {args.calibration}: {e}") from None
    else:
        rng = np.random.default_rng(args.seed)
        samples = [{n: rng.standard_normal(graph.type_of(n).shape).astype(np.float32)
                    for n in graph.inputs} for _ in range(args.samples)]
    model = quantize_model(args.model, samples, per_channel=args.per_channel,
                           asymmetric=args.asymmetric, calibration=args.calibration_method)
    onnx.checker.check_model(model)
    onnx.save(model, args.output)
    ops = sorted({n.op_type for n in model.graph.node})
    print(f"wrote {args.output}: {len(model.graph.node)} nodes ({', '.join(ops)}), "
          f"calibrated on {len(samples)} samples")
    return 0
