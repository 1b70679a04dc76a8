"""``vta bench sim``: the cycle-accurate simulators measured against each other.

For each configuration: the Verilator build time (cold: generating Verilog and compiling
into an empty cache; cached: opening the device when the library is already built), the
same blocked-GEMM program on ``pysim`` and ``verilator`` (simulated cycles per second of
each and the ratio), and -- for 16x16 configs -- the ResNet-18 layers C2-C11 of SPEC
section 8 run cycle-accurately through the kernel compiler or the hand-tiled ``conv2d``
written against the command queue (:mod:`.hand_tiled`; tiles chosen per layer to fit the
SRAM halves), each checked bit for bit against numpy, with cycles and GEMM utilization
per layer.  Speeds are medians of ``--repeat`` passes (default 5; the first pass checks
the outputs); the last line is ``verilator: <median> cycles/s``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from vta.hw.cli import Cli
from vta.hw.config import VTAConfig
from vta.hw.errors import VTAError

__all__ = ["RESNET18", "LayerResult", "SpeedResult", "measure_builds", "measure_speed",
           "run_resnet_layers", "choose_conv_tile"]

# SPEC section 8: name -> (H=W, IC, OC, kernel, pad, stride)
RESNET18: dict[str, tuple[int, int, int, int, int, int]] = {
    "C2": (56, 64, 64, 3, 1, 1), "C3": (56, 64, 128, 3, 1, 2), "C4": (56, 64, 128, 1, 0, 2),
    "C5": (28, 128, 128, 3, 1, 1), "C6": (28, 128, 256, 3, 1, 2),
    "C7": (28, 128, 256, 1, 0, 2), "C8": (14, 256, 256, 3, 1, 1),
    "C9": (14, 256, 512, 3, 1, 2), "C10": (14, 256, 512, 1, 0, 2),
    "C11": (7, 512, 512, 3, 1, 1),
}


@dataclass
class BuildTimes:
    config: str
    cold: float | None           # seconds, None when not measured
    cached_start: float          # open a device with the library cached (median)
    verilog_cached: bool = True


@dataclass
class SpeedResult:
    config: str
    program: str
    cycles: int
    pysim_cps: float | None
    verilator_cps: float
    verilator_cpu_cps: float
    pysim_note: str = ""

    @property
    def ratio(self) -> float | None:
        return self.verilator_cps / self.pysim_cps if self.pysim_cps else None


@dataclass
class LayerResult:
    name: str
    cycles: int
    macs: int
    utilization: float
    sim_cycles: int
    sim_seconds: float
    cpu_seconds: float
    schedule: str
    exact: bool
    extra: dict[str, Any] = field(default_factory=dict)


def measure_builds(config: VTAConfig, *, cold: bool, progress: bool = True) -> BuildTimes:
    """Cold build time (in a throw-away cache directory) and cached start time."""
    from vta.sim.verilator.build import build_for_config

    cold_s = None
    if cold:
        saved = os.environ.get("VTA_CACHE_DIR")
        with tempfile.TemporaryDirectory(prefix="vta-cold-") as tmp:
            os.environ["VTA_CACHE_DIR"] = tmp
            try:
                t0 = time.perf_counter()
                build_for_config(config, progress=progress)
                cold_s = time.perf_counter() - t0
            finally:
                if saved is None:
                    os.environ.pop("VTA_CACHE_DIR", None)
                else:
                    os.environ["VTA_CACHE_DIR"] = saved
    first = build_for_config(config, progress=progress)     # make sure the cache holds it
    if not first.cached and cold_s is None:
        cold_s = first.seconds
    # A cached start is what a new process pays: import, find the build, load, reset.
    script = ("import json, time\n"
              "t = time.perf_counter()\n"
              "from vta.hw import VTAConfig\n"
              "from vta.driver import open_device\n"
              f"cfg = VTAConfig.from_dict(json.loads({config.to_json()!r}))\n"
              "open_device('verilator', cfg, dram_bytes=16 << 20, progress=False)\n"
              "print(time.perf_counter() - t)\n")
    starts = []
    for _ in range(3):
        out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
        if out.returncode != 0:
            raise VTAError(f"cached start failed: {out.stderr.strip().splitlines()[-1]}")
        starts.append(float(out.stdout.strip().splitlines()[-1]))
    return BuildTimes(config.TARGET, cold_s, statistics.median(starts))


def _gemm_sizes(config: VTAConfig, scale: int) -> tuple[int, int, int]:
    b = config.block
    return config.batch * 4 * scale, 2 * b * scale, b * scale


def measure_speed(config: VTAConfig, *, scale: int | None = None, pysim: bool = True,
                  pysim_max_cycles: int = 200_000) -> SpeedResult:
    """Run one blocked-GEMM program on verilator and pysim; simulated cycles per second.

    Verilator's speed is simulated cycles over the time spent in its C run loop; pysim's
    is the hardware's cycle count over the run's wall time.  ``pysim_max_cycles`` skips
    pysim when verilator shows the program is longer than that.
    """
    from vta.driver import open_device

    from .fsim_throughput import blocked_gemm_program

    if scale is None:
        scale = 4 if config.block <= 4 else 1       # a few thousand cycles either way
    rows, k, n = _gemm_sizes(config, scale)
    label = f"blocked GEMM {rows}x{k}x{n}"

    def run_on(kind: str, **options: Any) -> tuple[Any, bool]:
        dev = open_device(kind, config, dram_bytes=16 << 20, **options)
        try:
            prog = blocked_gemm_program(config, dev.memory, np.random.default_rng(0),
                                        rows, k, n)
            result = dev.run(prog.insn_addr, prog.insn_count, timeout=None)
            got = dev.memory.view(prog.c_addr, rows * n).view(np.int8).reshape(rows, n)
            return result, bool(np.array_equal(got, prog.expected()))
        finally:
            dev.close()

    vres, vok = run_on("verilator", progress=False)
    if not vok:
        raise VTAError(f"{label}: verilator result differs from numpy")
    v_cps = vres.stats.cycles_per_second
    p_cps, note = None, ""
    if not pysim:
        note = "skipped"
    elif vres.cycles > pysim_max_cycles:
        note = f"skipped: {vres.cycles:,} cycles > --pysim-max-cycles"
    else:
        try:
            pres, pok = run_on("pysim")
        except VTAError as e:
            note = f"unavailable: {e}"
        else:
            if not pok:
                raise VTAError(f"{label}: pysim result differs from numpy")
            if pres.cycles != vres.cycles:
                note = f"pysim counted {pres.cycles} cycles"
            p_cps = pres.cycles / pres.wall_time if pres.wall_time else None
    return SpeedResult(config.TARGET, label, vres.cycles, p_cps, v_cps,
                       vres.stats.cycles_per_cpu_second, note)


def choose_conv_tile(config: VTAConfig, layer: tuple[int, int, int, int, int, int]
                     ) -> tuple[int, int, int]:
    """A :func:`.hand_tiled.conv2d` tile that fits the SRAM halves, favouring reuse.

    Larger output tiles (``t_o x t_h``) reuse each loaded input and weight more; among
    those, more input-channel blocks per step mean fewer, longer GEMMs.
    """
    hw, ic, oc, k, pad, stride = layer
    b = config.block
    ob, ib = -(-oc // b), -(-ic // b)
    ho = (hw + 2 * pad - k) // stride + 1
    wpad = hw + 2 * pad

    def divisors(n: int) -> list[int]:
        return [d for d in range(1, n + 1) if n % d == 0]

    best, best_key = None, None
    for t_o in divisors(ob):
        for t_i in divisors(ib):
            for t_h in divisors(ho):
                rows = (t_h - 1) * stride + k
                inp, wgt, acc = t_i * rows * wpad, t_o * t_i * k * k, t_o * t_h * ho
                if inp > config.inp_depth // 2 or wgt > config.wgt_depth // 2 \
                        or acc > (config.acc_depth - 2 * t_o) // 2:
                    continue
                uops = 2 * 2 * t_o * (t_i * t_h * ho) + 8
                if uops > config.uop_depth:
                    continue
                key = (t_o * t_h * min(t_i, 4), t_i, t_h)
                if best_key is None or key > best_key:
                    best, best_key = (t_o, t_i, t_h), key
    if best is None:
        raise VTAError(f"no conv2d tile of layer {layer} fits config {config.name}")
    return best


def _runtime_layer(dev: Any, name: str, check: bool) -> tuple[Any, str, bool]:
    """One layer through the hand-tiled ``conv2d`` written against the command queue."""
    from vta.runtime import CommandQueue

    from .hand_tiled import conv2d, conv2d_reference

    hw, ic, oc, k, pad, stride = layer = RESNET18[name]
    tile = choose_conv_tile(dev.config, layer)
    rng = np.random.default_rng(18)
    x = rng.integers(-128, 128, (1, ic, hw, hw), dtype=np.int8)
    w = rng.integers(-128, 128, (oc, ic, k, k), dtype=np.int8)
    bias = rng.integers(-64, 64, oc).astype(np.int32)
    # Random int8 products sum to about sqrt(ic k k) * 2^12.2: shift most of that away so
    # the requantised output spans [0, 127] instead of saturating.
    shift = int(min(15, max(0, round(np.log2(np.sqrt(ic * k * k)) + 12.2 - 5))))
    with CommandQueue(dev) as q:
        out, result = conv2d(q, x, w, bias, pad=pad, stride=stride, shift=shift, tile=tile)
    exact = bool(np.array_equal(out, conv2d_reference(x, w, bias, pad, stride, shift))) \
        if check else True
    return result, f"runtime o{tile[0]} i{tile[1]} h{tile[2]}", exact


def _compiler_layer(dev: Any, name: str, check: bool) -> tuple[Any, str, bool]:
    """One layer through the kernel compiler's conv2d schedule (``vta.compiler.ops``)."""
    from ..epilogue import Epilogue
    from ..ops import compile_conv2d
    from ..workload import resnet18_workload
    from .resnet18_layers import run_conv_layer

    w = resnet18_workload(name)
    epilogue = Epilogue(bias=True, shift=8, clip=(0, 127))
    kernel = compile_conv2d(w, dev.config, epilogue)
    result, wrong = run_conv_layer(dev, kernel, w, epilogue, np.random.default_rng(18),
                                   check=check)
    exact = wrong == 0
    s = kernel.schedule
    return result, f"compiler oc{s.oc_tile} ic{s.ic_tile} h{s.h_tile} w{s.w_tile} " \
        f"t{s.threads}", exact


def run_resnet_layers(config: VTAConfig, names: list[str], *, check: bool = True,
                      schedule: str = "auto",
                      progress: Callable[[str], None] | None = None
                      ) -> Iterator[LayerResult]:
    """Run ResNet-18 layers on the verilator device; one result each.

    ``schedule`` is ``"compiler"`` (the kernel compiler's conv2d), ``"runtime"`` (the
    hand-tiled conv2d written against the command queue) or ``"auto"``: the compiler's
    when it handles the layer, else the hand-tiled one.
    """
    from vta.driver import open_device

    if schedule not in ("auto", "compiler", "runtime"):
        raise VTAError(f"schedule must be auto, compiler or runtime, not {schedule!r}")
    dev = open_device("verilator", config, dram_bytes=128 << 20, progress=False)
    try:
        for name in names:
            hw, ic, oc, k, pad, stride = RESNET18[name]
            if progress:
                progress(name)
            result = None
            if schedule in ("auto", "compiler"):
                try:
                    result, how, exact = _compiler_layer(dev, name, check)
                except (ImportError, VTAError):
                    if schedule == "compiler":
                        raise
            if result is None:
                result, how, exact = _runtime_layer(dev, name, check)
            stats = result.stats if isinstance(result.stats, list) else [result.stats]
            ho = (hw + 2 * pad - k) // stride + 1
            macs = ho * ho * oc * ic * k * k
            yield LayerResult(name, result.cycles, macs,
                              macs / (result.cycles * config.macs_per_cycle),
                              sum(s.sim_cycles for s in stats),
                              sum(s.sim_seconds for s in stats),
                              sum(s.cpu_seconds for s in stats), how, exact)
    finally:
        dev.close()


# ---------------------------------------------------------------------------- the command
def register(cli: Cli) -> None:
    cli.command("bench sim", "pysim vs verilator speed, Verilator build times, and "
                "ResNet-18 C2-C11 cycles/utilization on the cycle-accurate simulator",
                setup=_setup_bench, run=_run_bench)


def _setup_bench(p: argparse.ArgumentParser) -> None:
    p.add_argument("--configs", default="tiny,default", metavar="A,B",
                   help="configurations to measure (default: tiny,default)")
    p.add_argument("--layers", default="C2-C11", metavar="SPEC",
                   help="ResNet-18 layers for 16x16 configs: C2-C11, C5,C8 or none")
    p.add_argument("--cold", action="store_true",
                   help="also time a cold build in an empty cache when one is cached")
    p.add_argument("--no-pysim", action="store_true", help="skip the pysim runs")
    p.add_argument("--pysim-max-cycles", type=int, default=20_000, metavar="N",
                   help="skip pysim for programs longer than N cycles (default 20000)")
    p.add_argument("--schedule", choices=("auto", "compiler", "runtime"), default="auto",
                   help="layer schedules: the kernel compiler's, the runtime's hand-tiled "
                        "conv2d, or auto (compiler when available, default)")
    p.add_argument("--no-check", action="store_true",
                   help="skip checking layer outputs against numpy")
    p.add_argument("--repeat", type=int, default=5, metavar="N",
                   help="speed measurements per config; the median is reported "
                        "(default 5; the first pass also checks the outputs)")


def _layer_names(spec: str) -> list[str]:
    if spec.lower() == "none":
        return []
    names: list[str] = []
    order = list(RESNET18)
    for part in spec.upper().split(","):
        lo, _, hi = part.partition("-")
        if lo not in RESNET18 or (hi and hi not in RESNET18):
            raise VTAError(f"unknown ResNet-18 layer in {spec!r}; layers are "
                           f"{', '.join(order)} (ranges like C2-C11)")
        names += order[order.index(lo):order.index(hi) + 1] if hi else [lo]
    return names


def _run_bench(args: argparse.Namespace) -> int:
    from vta.sim.fsim_compute import single_thread_blas

    # Idle OpenBLAS worker threads spin on the second core and slow the simulator down.
    with single_thread_blas():
        return _bench(args)


def _bench(args: argparse.Namespace) -> int:
    if args.repeat < 1:
        raise VTAError(f"--repeat must be at least 1, not {args.repeat}")
    configs = [VTAConfig.load(name.strip()) for name in args.configs.split(",") if name]
    layers = _layer_names(args.layers)
    speeds: dict[str, float] = {}       # config name -> median verilator cycles/s
    for cfg in configs:
        print(f"== config {cfg.TARGET} ({cfg.name}, {cfg.BUS_WIDTH}-bit bus)", flush=True)
        builds = measure_builds(cfg, cold=args.cold)
        cold = f"{builds.cold:.1f} s" if builds.cold is not None else \
            "cached (use --cold to measure)"
        print(f"build: cold {cold}; cached start {builds.cached_start:.2f} s")
        speed = measure_speed(cfg, pysim=not args.no_pysim,
                              pysim_max_cycles=args.pysim_max_cycles)
        pys = f"{speed.pysim_cps:,.0f} cycles/s" if speed.pysim_cps else "n/a"
        print(f"{speed.program} ({speed.cycles:,} cycles): pysim {pys}"
              f"{' (' + speed.pysim_note + ')' if speed.pysim_note else ''}; "
              f"verilator {speed.verilator_cps:,.0f} cycles/s "
              f"({speed.verilator_cpu_cps:,.0f} per CPU second)"
              + (f"; ratio {speed.ratio:,.0f}x" if speed.ratio else ""), flush=True)
        if layers and cfg.block == 16 and cfg.batch == 1:
            speeds[cfg.TARGET] = _layer_speed(cfg, layers, args)
        else:
            # No layer workload: the median of repeated blocked-GEMM runs.
            runs = [speed.verilator_cps] + [
                measure_speed(cfg, pysim=False).verilator_cps
                for _ in range(args.repeat - 1)]
            print(f"blocked GEMM speed: median {statistics.median(runs):,.0f} cycles/s "
                  f"over {len(runs)} runs")
            speeds[cfg.TARGET] = statistics.median(runs)
    if speeds:
        # The default config's figure (its long ResNet runs when measured) comes last.
        cps = speeds.get("sim", list(speeds.values())[-1])
        print(f"verilator: {cps:.0f} cycles/s")
    return 0


def _layer_speed(cfg: VTAConfig, layers: list[str], args: argparse.Namespace) -> float:
    """Run the ResNet-18 layers ``args.repeat`` times (the first pass prints the table and
    checks the outputs); print and return the median simulated cycles per wall second."""
    from tqdm import tqdm

    print(f"{'layer':<6}{'cycles':>12}{'MACs':>14}{'util':>8}"
          f"{'sim s':>8}{'M cyc/s':>9}  exact  schedule")
    walls: list[float] = []         # cycles/s of each pass, in simulator wall time
    cpus: list[float] = []          # cycles per CPU second of each pass
    t0 = time.perf_counter()
    bar = tqdm(total=len(layers) * args.repeat, desc="ResNet-18 layers", file=sys.stderr,
               leave=False)
    for rep in range(args.repeat):
        total_cycles = total_sim = 0
        total_secs = total_cpu = 0.0
        utils = []
        for r in run_resnet_layers(cfg, layers, check=not args.no_check and rep == 0,
                                   schedule=args.schedule,
                                   progress=lambda name, rep=rep: bar.set_postfix_str(
                                       f"{name} pass {rep + 1}/{args.repeat}")):
            bar.update(1)
            total_cycles += r.cycles
            total_sim += r.sim_cycles
            total_secs += r.sim_seconds
            total_cpu += r.cpu_seconds
            utils.append(r.utilization)
            if rep:
                continue
            bar.clear()
            print(f"{r.name:<6}{r.cycles:>12,}{r.macs:>14,}"
                  f"{r.utilization:>8.3f}{r.sim_seconds:>8.2f}"
                  f"{r.sim_cycles / r.sim_seconds / 1e6:>9.2f}  "
                  f"{'yes' if r.exact else 'NO ':<5}  {r.schedule}", flush=True)
            if not r.exact:
                bar.close()
                raise VTAError(f"layer {r.name}: verilator output differs from numpy")
        if rep == 0:
            bar.clear()
            print(f"ResNet-18 {layers[0]}-{layers[-1]}: {total_cycles:,} cycles, GEMM "
                  f"utilization median {statistics_median(utils):.3f}", flush=True)
        walls.append(total_sim / total_secs if total_secs else 0.0)
        cpus.append(total_sim / total_cpu if total_cpu else 0.0)
    bar.close()
    wall = time.perf_counter() - t0
    print(f"ResNet-18 simulation speed, median of {args.repeat} passes: "
          f"{statistics.median(walls):,.0f} cycles/s wall "
          f"({', '.join(f'{w / 1e6:.2f}' for w in walls)} M), "
          f"{statistics.median(cpus):,.0f} cycles per CPU second "
          f"({', '.join(f'{c / 1e6:.2f}' for c in cpus)} M); {wall:.1f} s in all")
    return statistics.median(walls)


def statistics_median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0
