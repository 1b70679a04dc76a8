"""``vta sim build`` and ``vta sim trace``: the Verilator model from the command line."""

from __future__ import annotations

import argparse

from vta.hw.cli import Cli, add_config_argument
from vta.hw.config import VTAConfig
from vta.hw.errors import VTAError


def register(cli: Cli) -> None:
    cli.command("sim build", "build (or find cached) the Verilator simulator of a config",
                setup=_setup_build, run=_run_build)
    cli.command("sim trace", "run a program on the Verilator model and dump a waveform of "
                "a window of cycles", setup=_setup_trace, run=_run_trace)


def _setup_build(p: argparse.ArgumentParser) -> None:
    add_config_argument(p)
    p.add_argument("--trace", choices=("vcd", "fst"), default=None,
                   help="compile waveform tracing in (a separate cache entry)")


def _run_build(args: argparse.Namespace) -> int:
    from vta.sim.verilator.build import build_for_config

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
    from .backends import open_device
    from .commands import place_program, read_program
    from .dram_image import DramImage

    cfg = VTAConfig.load(args.config)
    if args.start < 0 or args.cycles <= 0:
        raise VTAError(f"--start must be >= 0 and --cycles > 0, not {args.start}, "
                       f"{args.cycles}")
    program = read_program(args.program, cfg)
    image = DramImage.load(args.dram) if args.dram else DramImage()
    with open_device("verilator", cfg, trace="fst" if args.fst else "vcd") as device:
        image.place(device)
        addr, count = place_program(device, program)
        start = device.model.cycle + args.start
        device.trace(args.output, start, start + args.cycles)
        result = device.run(addr, count, timeout=args.timeout)
        device.model.close_trace()
        print(result.table())
    print(f"wrote {args.output}: cycles {args.start}..{args.start + args.cycles} of the run")
    return 0
