"""``vta board list|build|deploy|run`` and ``vta hw resources``."""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from vta.hw.cli import Cli, add_config_argument
from vta.hw.config import VTAConfig

from . import build as build_mod
from . import deploy as deploy_mod
from . import resources as res_mod
from .table import BOARDS, BoardError, capacity_for
from .table import board as lookup_board


def register(cli: Cli) -> None:
    cli.command("board list", "list the supported boards and their figures",
                setup=_setup_list, run=_run_list)
    cli.command("board build", "generate Verilog and the Vivado build of a board's bitstream",
                setup=_setup_build, run=_run_build)
    cli.command("board deploy", "copy a bitstream and .hwh to a PYNQ board and load it",
                setup=_setup_deploy, run=_run_deploy)
    cli.command("board run", "run a model on a PYNQ board over SSH (vta run --device pynq)",
                setup=_setup_run, run=_run_run)
    cli.command("hw resources", "synthesis estimate (LUT, FF, BRAM, DSP) and fit verdict",
                setup=_setup_resources, run=_run_resources)


def _board_argument(p: argparse.ArgumentParser, required: bool = True) -> None:
    p.add_argument("--board", required=required, metavar="BOARD",
                   help=f"one of {', '.join(BOARDS)}")


# ---------------------------------------------------------------------------- list
def _setup_list(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print the table as JSON")


def _run_list(args: argparse.Namespace) -> int:
    if args.json:
        print(json.dumps({n: b.as_dict() for n, b in BOARDS.items()}, indent=1))
        return 0
    for b in BOARDS.values():
        c = b.capacity
        print(f"{b.name:<11} {b.title:<18} {b.part:<22} {b.ps:<6} {b.clock_mhz} MHz, "
              f"{b.axi_profile.upper()} {b.axi_width}-bit {b.data_port}, regs at "
              f"{b.control_base:#010x}; {c.lut} LUT {c.dsp} DSP; DRAM {b.dram_peak_gbs} GB/s; "
              f"config {b.config}")
    return 0


# ---------------------------------------------------------------------------- build
def _setup_build(p: argparse.ArgumentParser) -> None:
    _board_argument(p)
    p.add_argument("--config", default=None, metavar="NAME|FILE",
                   help="preset or JSON file (default: the board's own preset)")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="build folder")
    p.add_argument("--run", action="store_true",
                   help="run Vivado now (it must be on PATH)")
    p.add_argument("--no-cache", action="store_true", help="ignore the bitstream cache")
    p.add_argument("--jobs", type=int, default=4, help="parallel Vivado jobs (default 4)")


def _run_build(args: argparse.Namespace) -> int:
    plan = build_mod.build(args.board, args.config, args.output, run=args.run,
                           use_cache=not args.no_cache, jobs=args.jobs)
    print(plan.summary())
    return 0


# ---------------------------------------------------------------------------- deploy
def _remote_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", required=True, help="the board's host name or address")
    p.add_argument("--user", default="xilinx", help="SSH user (default xilinx)")
    p.add_argument("--port", type=int, default=22, help="SSH port")
    p.add_argument("--remote-dir", default="/home/xilinx/vta", help="folder on the board")
    p.add_argument("--python", default=deploy_mod.PYNQ_PYTHON, help="PYNQ's Python on the board")
    p.add_argument("--dry-run", action="store_true", help="print the commands only")


def _remote(args: argparse.Namespace) -> deploy_mod.Remote:
    return deploy_mod.Remote(args.host, args.user, args.port, args.remote_dir, args.python)


def _setup_deploy(p: argparse.ArgumentParser) -> None:
    _board_argument(p)
    _remote_arguments(p)
    p.add_argument("--bit", help="bitstream (default: the one in --build-dir)")
    p.add_argument("--build-dir", help="a `vta board build` folder")


def _find_bit(args: argparse.Namespace) -> Path:
    if args.bit:
        return Path(args.bit)
    if not args.build_dir:
        raise BoardError("give --bit FILE.bit or --build-dir DIR (a `vta board build` folder)")
    info = Path(args.build_dir) / "build.json"
    if not info.exists():
        raise BoardError(f"{args.build_dir} is not a `vta board build` folder (no build.json)")
    meta = json.loads(info.read_text())
    if meta.get("board") != lookup_board(args.board).name:
        raise BoardError(f"{args.build_dir} was built for {meta.get('board')}, not {args.board}")
    if not meta.get("bit"):
        raise BoardError(f"{args.build_dir} has no bitstream yet: run its build.sh with Vivado")
    return Path(args.build_dir) / meta["bit"]


def _run_deploy(args: argparse.Namespace) -> int:
    b = lookup_board(args.board)
    if not b.pynq_image:
        raise BoardError(f"{b.name} has no PYNQ image to deploy to")
    cmds = deploy_mod.deploy_commands(_remote(args), _find_bit(args))
    return deploy_mod.execute(cmds, dry_run=args.dry_run)


def _setup_run(p: argparse.ArgumentParser) -> None:
    _board_argument(p)
    _remote_arguments(p)
    p.add_argument("model", help="ONNX model to run on the board")
    p.add_argument("--config", default=None, help="config (default: the board's preset)")
    p.add_argument("--bit-name", required=True, help="bitstream file name deployed on the board")


def _run_run(args: argparse.Namespace) -> int:
    b = lookup_board(args.board)
    config = args.config or b.config
    cmds = deploy_mod.run_commands(_remote(args), Path(args.model), config=config,
                                   bit_name=args.bit_name)
    return deploy_mod.execute(cmds, dry_run=args.dry_run)


# ---------------------------------------------------------------------------- resources
def _setup_resources(p: argparse.ArgumentParser) -> None:
    add_config_argument(p)
    target = p.add_mutually_exclusive_group()
    target.add_argument("--part", help="FPGA part (e.g. xc7z020clg400-1)")
    _board_argument(target, required=False)
    p.add_argument("--max-dsp", type=int, default=None,
                   help="map at most N multipliers to DSPs (default: what the board build "
                        "uses: 90%% of the part's DSPs when the design needs more)")
    p.add_argument("--verilog", nargs="+", help="estimate these Verilog files instead of "
                   "generating the accelerator (with --top)")
    p.add_argument("--top", default="vta_top", help="top module (default vta_top)")
    p.add_argument("--keep", metavar="DIR", help="keep the yosys scripts and logs in DIR")
    p.add_argument("--json", action="store_true", help="print the counts as JSON too")


def _run_resources(args: argparse.Namespace) -> int:
    cfg = VTAConfig.load(args.config)
    if args.board:
        b = lookup_board(args.board)
        cap = b.capacity
    else:
        b = None
        part = args.part or {"pynq": "xc7z020clg400-1", "ultra96": "xczu3eg-sbva484-1-i",
                             "zcu104": "xczu7ev-ffvc1156-2-e"}.get(cfg.TARGET,
                                                                     "xc7z020clg400-1")
        cap = capacity_for(part)
    family = "xc7" if cap.dsp_kind == "DSP48E1" else "xcup"
    max_dsp = args.max_dsp
    if max_dsp is None and cfg.gemm_multipliers > cap.dsp * 9 // 10 and not args.verilog:
        max_dsp = cap.dsp * 9 // 10
    with tempfile.TemporaryDirectory(prefix="vta-hw-") as tmp:
        if args.verilog:
            files = [Path(v) for v in args.verilog]
        else:
            print(f"generating Verilog for {cfg.name} ...", flush=True)
            files, _ = build_mod.generate_verilog(cfg, Path(tmp) / "rtl")
        print(f"synthesizing {args.top} for {cap.part} with yosys "
              f"(synth_xilinx -family {family}{f', max {max_dsp} DSPs' if max_dsp else ''}) "
              f"...", flush=True)
        work = Path(args.keep) if args.keep else Path(tmp) / "yosys"
        res = res_mod.estimate(files, args.top, family=family, max_dsp=max_dsp, workdir=work)
    muls = [m for m in res.multipliers if m.dsp_eligible]
    print(f"  LUT {res.lut}  FF {res.ff}  BRAM36 {res.bram36:g}  DSP {res.dsp}")
    if res.bram_by_memory:
        print("  BRAM36 by memory: " + ", ".join(f"{name} {n:g}"
                                                 for name, n in res.bram_by_memory.items()))
    if muls:
        widths: dict[str, int] = {}
        for m in muls:
            key = f"{m.a_width}x{m.b_width}"
            widths[key] = widths.get(key, 0) + 1
        print(f"  multipliers: {len(muls)} ({', '.join(f'{n} of {k}' for k, n in widths.items())})"
              + (f"; {res.soft_multipliers} built from LUTs by the DSP cap"
                 if res.soft_multipliers else ""))
    if args.json:
        print(json.dumps({"part": cap.part, "used": res.as_dict(), "capacity": cap.as_dict(),
                          "soft_multipliers": res.soft_multipliers, "max_dsp": max_dsp,
                          "bram_by_memory": res.bram_by_memory}))
    fits, line = res_mod.verdict(res, cap)
    print(line)
    return 0 if fits else 1
