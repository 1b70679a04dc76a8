"""``vta bench sim`` (simulator speed, build times, ResNet-18 layers) and ``vta sim build``."""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from vta.hw.cli import Cli, add_config_argument
from vta.hw.config import VTAConfig
from vta.hw.errors import VTAError


def register(cli: Cli) -> None:
    cli.command("bench sim", "pysim vs verilator speed, Verilator build times, and "
                "ResNet-18 C2-C11 cycles/utilization on the cycle-accurate simulator",
                setup=_setup_bench, run=_run_bench)
    cli.command("sim build", "build (or find cached) the Verilator simulator of a config",
                setup=_setup_build, run=_run_build)
    cli.command("sim trace", "run a program on the Verilator model and dump a waveform of "
                "a window of cycles", setup=_setup_trace, run=_run_trace)


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


def _layer_names(spec: str) -> list[str]:
    from .bench import RESNET18

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
    from tqdm import tqdm

    from .bench import measure_builds, measure_speed, run_resnet_layers

    configs = [VTAConfig.load(name.strip()) for name in args.configs.split(",") if name]
    layers = _layer_names(args.layers)
    speeds: dict[str, float] = {}       # config name -> verilator cycles/s
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
        speeds[cfg.TARGET] = speed.verilator_cps
        if layers and cfg.block == 16 and cfg.batch == 1:
            print(f"{'layer':<6}{'cycles':>12}{'MACs':>14}{'util':>8}"
                  f"{'sim s':>8}{'M cyc/s':>9}  exact  schedule")
            total_cycles = total_sim = 0
            total_secs = total_cpu = 0.0
            utils = []
            t0 = time.perf_counter()
            bar = tqdm(total=len(layers), desc="ResNet-18 layers", file=sys.stderr,
                       leave=False)
            for r in run_resnet_layers(cfg, layers, check=not args.no_check,
                                       schedule=args.schedule,
                                       progress=bar.set_postfix_str):
                bar.update(1)
                total_cycles += r.cycles
                total_sim += r.sim_cycles
                total_secs += r.sim_seconds
                total_cpu += r.cpu_seconds
                utils.append(r.utilization)
                bar.clear()
                print(f"{r.name:<6}{r.cycles:>12,}{r.macs:>14,}"
                      f"{r.utilization:>8.3f}{r.sim_seconds:>8.2f}"
                      f"{r.sim_cycles / r.sim_seconds / 1e6:>9.2f}  "
                      f"{'yes' if r.exact else 'NO ':<5}  {r.schedule}", flush=True)
                if not r.exact:
                    bar.close()
                    raise VTAError(f"layer {r.name}: verilator output differs from numpy")
            bar.close()
            wall = time.perf_counter() - t0
            print(f"ResNet-18 {layers[0]}-{layers[-1]}: {total_cycles:,} cycles, GEMM "
                  f"utilization median {statistics_median(utils):.3f}, simulated in "
                  f"{total_secs:.1f} s ({wall:.1f} s wall with runtime and checks)")
            print(f"ResNet-18 simulation speed: {total_sim / total_secs:,.0f} cycles/s wall, "
                  f"{total_sim / total_cpu:,.0f} cycles per CPU second")
            speeds[cfg.TARGET] = total_sim / total_secs if total_secs else 0.0
    if speeds:
        # The default config's figure (its long ResNet runs when measured) comes last.
        cps = speeds.get("sim", list(speeds.values())[-1])
        print(f"verilator: {cps:.0f} cycles/s")
    return 0


def statistics_median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def _setup_build(p: argparse.ArgumentParser) -> None:
    add_config_argument(p)
    p.add_argument("--trace", choices=("vcd", "fst"), default=None,
                   help="compile waveform tracing in (a separate cache entry)")


def _run_build(args: argparse.Namespace) -> int:
    from .build import build_for_config

    built = build_for_config(VTAConfig.load(args.config), trace=args.trace)
    state = "cached" if built.cached else "built"
    print(f"{built.library}  ({state} in {built.seconds:.1f} s)")
    return 0


def _setup_trace(p: argparse.ArgumentParser) -> None:
    p.add_argument("program", help="binary instructions ending with FINISH")
    p.add_argument("-o", "--output", required=True, metavar="FILE",
                   help="waveform file (.vcd, or .fst with --fst)")
    p.add_argument("--dram", metavar="IMAGE", help="DRAM image to load first (vta sim run's)")
    p.add_argument("--start", type=int, default=0, metavar="N",
                   help="first cycle to record, counted from the start of the run")
    p.add_argument("--cycles", type=int, default=10_000, metavar="N",
                   help="cycles to record (default 10000)")
    p.add_argument("--fst", action="store_true", help="write FST instead of VCD")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds (default 60)")
    add_config_argument(p)


def _run_trace(args: argparse.Namespace) -> int:
    from pathlib import Path

    from vta.driver import open_device
    from vta.driver.dram_image import DramImage

    cfg = VTAConfig.load(args.config)
    if args.start < 0 or args.cycles <= 0:
        raise VTAError(f"--start must be >= 0 and --cycles > 0, not {args.start}, "
                       f"{args.cycles}")
    try:
        program = Path(args.program).read_bytes()
    except OSError as e:
        raise VTAError(f"cannot read {args.program}: {e.strerror}") from None
    n = cfg.insn_bytes
    if not program or len(program) % n:
        raise VTAError(f"{args.program}: {len(program)} bytes is not a positive multiple of "
                       f"the {n}-byte instruction")
    image = DramImage.load(args.dram) if args.dram else DramImage()
    with open_device("verilator", cfg, trace="fst" if args.fst else "vcd") as device:
        image.place(device)
        prog = device.alloc(len(program), 4096)
        device.copy_to_device(prog, program)
        start = device.model.cycle + args.start
        device.trace(args.output, start, start + args.cycles)
        result = device.run(prog.addr, len(program) // n, timeout=args.timeout)
        device.model.close_trace()
        print(result.table())
    print(f"wrote {args.output}: cycles {args.start}..{args.start + args.cycles} of the run")
    return 0
