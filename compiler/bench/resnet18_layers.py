"""``vta bench resnet18-layers``: the ResNet-18 convolutions through the kernel compiler.

For each layer C1-C11 (C1's 3 input channels padded to BLOCK): compile (schedule, lower,
record micro-kernels), run on the chosen device with random int8 data and a
requantization, check the output bit for bit against the numpy reference, and report MACs,
instructions, DRAM bytes, cycles (measured on timed devices; the cost model's estimate
beside them), GEMM utilization and compile time.  The last line is ``utilization:
<value>`` over C2-C11.

``--requant`` picks the requantization (:data:`REQUANT_MODES`): the SPEC's per-tensor
``bias, >> 8, clip [0, 127]`` (default); ``per-channel`` power-of-two shifts, one per
output channel (an SHR reading a row of per-lane amounts: every config); ``per-channel-mul``
fixed-point multipliers per output channel (:func:`vta.compiler.requant.fixed_point`: needs
a config with ``ALU_MUL``, e.g. ``--config default_mul``).  ``--x-zero-point Z`` gives the
input a zero point (folded into the bias, border rows corrected); without one the
fixed-point requantization rounds after the multiply and the bias folds into the clamp and
post-offset, as the importer does it (:func:`vta.compiler.requant.fixed_point_layer`).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
from vta.hw.cli import Cli, add_config_argument
from vta.hw.errors import VTAError

LAYERS = [f"C{i}" for i in range(1, 12)]
REQUANT_MODES = ("per-tensor", "per-channel", "per-channel-mul")
"""The requantizations ``--requant`` offers (see the module docstring)."""


class LayerRequant:
    """A layer's requantization for the benchmark, as the compiler builds it for an imported
    layer: its weights and bias, the epilogue, the packed bias and constant rows, and the
    reference, for a ``mode`` of :data:`REQUANT_MODES` and an input zero point."""

    def __init__(self, mode: str, w: Any, rng: np.random.Generator,
                 x_zero_point: int = 0) -> None:
        from ..epilogue import Epilogue, channel_requant
        from ..int8_reference import wrap32
        from ..requant import Requant, fixed_point_layer, power_of_two
        from ..zero_point import accelerator_requant

        if mode not in REQUANT_MODES:
            raise VTAError(f"--requant must be one of {', '.join(REQUANT_MODES)}, not "
                           f"{mode!r}")
        o = w.out_channels
        self.x_zero_point = x_zero_point
        if mode == "per-tensor":        # the SPEC's: >> 8 without rounding, clip [0, 127]
            self.requant, offset = Requant(shift=8, lo=0, hi=127), np.zeros(1, np.int64)
        elif mode == "per-channel":
            self.requant, offset = power_of_two(rng.integers(6, 11, o), 0, 0, 127)
        scales = rng.uniform(4e-4, 4e-3, o) if mode == "per-channel-mul" else None
        self.bias = rng.integers(-4000, 4000, o, dtype=np.int32)
        self.weight = rng.integers(-128, 128, (o, w.in_channels, *w.kernel), dtype=np.int8)
        if scales is not None:
            # Rounding after the multiply, the bias folded into the clamp and post-offset
            # (|sum((x - zx) * w)| <= (128 + |zx|) * sum(|w|)), as the importer does it.
            bound = (128 + abs(x_zero_point)) * np.abs(
                self.weight.reshape(o, -1).astype(np.int64)).sum(axis=1)
            self.requant, total = fixed_point_layer(scales, -128, -128, 127, self.bias, bound)
        else:
            total = wrap32(self.bias.astype(np.int64) + offset)
        self.total = None if total is None else np.asarray(total, np.int64)
        # ... and the accelerator's form: the zero point's -zx * sum(w) folded in too.
        vta_requant, self.bias_rows = accelerator_requant(self.requant, self.total,
                                                          self.weight, x_zero_point)
        structure, shift, self.rows = channel_requant(vta_requant, o)
        clip = None if vta_requant.clip_is_redundant() else (vta_requant.lo, vta_requant.hi)
        self.epilogue = Epilogue(bias=self.bias_rows is not None, shift=shift, clip=clip,
                                 requant=structure,
                                 pad_correction=bool(x_zero_point) and any(w.padding))

    def operands(self, w: Any, config: Any) -> dict[str, np.ndarray]:
        """The packed ``bias`` and ``consts`` operands."""
        from ..int8_reference import wrap32
        from ..packing import pack_bias, pack_const_rows
        from ..workload import pad_patterns
        from ..zero_point import pad_correction_rows

        ocb = -(-w.out_channels // config.block)
        out = {}
        if self.bias_rows is not None:
            out["bias"] = pack_bias(self.bias_rows, config, ocb)
        rows = [self.rows[name] for name in self.epilogue.const_rows]
        if self.epilogue.pad_correction:
            rows += list(pad_correction_rows(self.weight, self.x_zero_point, pad_patterns(w)))
        if rows:
            out["consts"] = pack_const_rows(wrap32(np.stack(rows)), config, ocb)
        return out

    def reference(self, x: np.ndarray, w: Any) -> np.ndarray:
        """The layer's output by the numpy reference (the layer's own requantization)."""
        from .. import int8_reference as ref

        acc = ref.conv2d(x, self.weight, w.stride, w.padding, x_zero_point=self.x_zero_point)
        none = np.zeros(w.out_channels, np.int64)
        return ref.requantize_channels(acc, none if self.total is None else self.total,
                                       self.requant)


def run_conv_layer(dev: Any, kernel: Any, w: Any, epilogue: Any,
                   rng: np.random.Generator, *, check: bool = True,
                   requant: LayerRequant | None = None) -> tuple[Any, int]:
    """Run a compiled conv2d ``kernel`` of workload ``w`` on random int8 data and bias
    (with ``requant``'s bias, constant rows and reference when given).

    Returns the device's :class:`~vta.driver.RunResult` and the number of outputs that
    differ from the numpy reference (0 when ``check`` is False).
    """
    from vta.runtime import pack_nchw, pack_oihw, unpack_nchw

    from .. import int8_reference as ref
    from ..emit import queue_for
    from ..packing import pack_bias

    c = dev.config
    q = queue_for(dev)
    x = rng.integers(-128, 128, (1, w.in_channels, w.height, w.width), dtype=np.int8)
    if requant is None:
        wt = rng.integers(-128, 128, (w.out_channels, w.in_channels, *w.kernel), dtype=np.int8)
        b = rng.integers(-4000, 4000, w.out_channels, dtype=np.int32)
    else:
        wt, b = requant.weight, requant.bias
    host = {"data": pack_nchw(x, c.batch, c.block), "weight": pack_oihw(wt, c.block, c.block)}
    if requant is None:
        host["bias"] = pack_bias(b, c, -(-w.out_channels // c.block))
    else:
        host.update(requant.operands(w, c))
    arrays = {k: q.array(v) for k, v in host.items()}
    arrays["out"] = q.empty(*kernel.operand_shapes()["out"])
    try:
        result = kernel.run(dev, **arrays)
        wrong = 0
        if check:
            got = unpack_nchw(arrays["out"].numpy(), 1, w.out_channels)
            want = ref.conv2d_epilogue(x, wt, epilogue, b, None, w.stride, w.padding) \
                if requant is None else requant.reference(x, w)
            wrong = int((got != want).sum())
    finally:
        for a in arrays.values():
            a.free()
    return result, wrong


def register(cli: Cli) -> None:
    cli.command("bench resnet18-layers",
                "compile and run ResNet-18 conv layers C1-C11; per-layer cycles and GEMM "
                "utilization", setup=_setup, run=_run)


def _setup(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="fsim", help="fsim, verilator, pysim or pynq")
    add_config_argument(p)
    p.add_argument("--no-latency-hiding", action="store_true",
                   help="one virtual thread: loads, compute and stores serialise")
    p.add_argument("--layers", default=",".join(LAYERS),
                   help="comma-separated subset, e.g. C2,C5 (default: all)")
    p.add_argument("--no-check", action="store_true",
                   help="skip the comparison with the numpy reference")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--requant", default="per-tensor", choices=REQUANT_MODES,
                   help="per-tensor (the SPEC's shift), per-channel (power-of-two shifts "
                        "per channel), per-channel-mul (fixed-point multipliers per "
                        "channel: needs ALU_MUL, e.g. --config default_mul)")
    p.add_argument("--x-zero-point", type=int, default=0, metavar="Z",
                   help="an input zero point (int8): folded into the bias, border rows "
                        "corrected")


def _run(args: argparse.Namespace) -> int:
    from tqdm import tqdm
    from vta.driver import open_device

    from .. import ops
    from ..epilogue import Epilogue
    from ..workload import resnet18_workload

    names = [n.strip().upper() for n in args.layers.split(",") if n.strip()]
    unknown = [n for n in names if n not in LAYERS]
    if unknown:
        raise VTAError(f"unknown layer {unknown[0]}; expected a subset of C1..C11")
    dev = open_device(args.device, args.config)
    c = dev.config
    if args.requant == "per-channel-mul" and not c.ALU_MUL:
        raise VTAError(f"--requant per-channel-mul multiplies on the ALU: config {c.name} "
                       "has no ALU MUL (use --config default_mul)")
    if not -128 <= args.x_zero_point <= 127:
        raise VTAError(f"--x-zero-point must be an int8 value, not {args.x_zero_point}")
    plain = args.requant == "per-tensor" and not args.x_zero_point
    overrides = {"threads": 1} if args.no_latency_hiding else {}
    rng = np.random.default_rng(args.seed)
    rows = []
    compile_total = 0.0
    for name in tqdm(names, desc=f"resnet18 on {args.device}", unit="layer", leave=False):
        w = resnet18_workload(name)
        requant = None if plain else LayerRequant(args.requant, w, rng, args.x_zero_point)
        epilogue = requant.epilogue if requant else Epilogue(bias=True, shift=8, clip=(0, 127))
        t0 = time.perf_counter()
        kernel = ops.compile_conv2d(w, c, epilogue, **overrides)
        kernel.uop_kernels()
        compile_s = time.perf_counter() - t0
        compile_total += compile_s
        result, wrong = run_conv_layer(dev, kernel, w, epilogue, rng, check=not args.no_check,
                                       requant=requant)
        if wrong:
            raise VTAError(f"{name}: output differs from the numpy reference at {wrong} "
                           f"positions")
        est = kernel.estimate
        cycles = result.cycles if result is not None and result.cycles else None
        counters = result.counters if result is not None else {}
        dram = counters.get("DMA_RD_BYTES", 0) + counters.get("DMA_WR_BYTES", 0) \
            or est.dram_bytes
        used = cycles or est.cycles
        rows.append({"layer": name, "macs": w.macs, "insns": result.insn_count if result
                     else est.instructions, "dram": dram, "cycles": cycles,
                     "est": est.cycles, "util": w.macs / (used * c.macs_per_cycle),
                     "compile_ms": compile_s * 1e3, "schedule": kernel.schedule})
    measured = all(r["cycles"] for r in rows)
    print(f"ResNet-18 layers on {args.device} ({c.name}), latency hiding "
          f"{'off' if args.no_latency_hiding else 'on'}, {args.requant} requantization"
          f"{f', input zero point {args.x_zero_point}' if args.x_zero_point else ''}; cycles "
          f"{'measured' if measured else 'estimated by the cost model (untimed device)'}")
    print(f"{'layer':<6}{'MACs':>12}{'insns':>8}{'DRAM bytes':>12}{'cycles':>11}"
          f"{'est.':>11}{'err':>7}{'util':>7}{'compile':>10}  schedule")
    for r in rows:
        err = f"{(r['est'] - r['cycles']) / r['cycles']:+.0%}" if r["cycles"] else "-"
        s = r["schedule"]
        print(f"{r['layer']:<6}{r['macs']:>12,}{r['insns']:>8}{r['dram']:>12,}"
              f"{r['cycles'] or '-':>11}{r['est']:>11}{err:>7}{r['util']:>7.3f}"
              f"{r['compile_ms']:>8.1f}ms  oc{s.oc_tile} ic{s.ic_tile} h{s.h_tile} "
              f"w{s.w_tile} t{s.threads} {s.order}")
    main = [r for r in rows if r["layer"] != "C1"]
    print(f"compile time: {compile_total * 1e3:.0f} ms for {len(rows)} layers")
    if measured and rows:
        errs = sorted(abs(r["est"] - r["cycles"]) / r["cycles"] for r in rows)
        worst = max(rows, key=lambda r: abs(r["est"] - r["cycles"]) / r["cycles"])
        print(f"cost model error: median {errs[len(errs) // 2]:.1%}, max {errs[-1]:.1%} "
              f"({worst['layer']})")
    if main:
        macs = sum(r["macs"] for r in main)
        cycles = sum(r["cycles"] or r["est"] for r in main)
        print(f"utilization: {macs / (cycles * c.macs_per_cycle):.4f}")
    return 0
