"""``vta board list|build|deploy|run`` and ``vta hw resources``.

(``vta board predict`` needs the compiler; it registers from ``vta.compiler.board_predict``.)
"""

from __future__ import annotations

import argparse
import json
import shlex
import tempfile
from pathlib import Path

from vta.hw.cli import Cli
from vta.hw.config import VTAConfig

from . import board_check
from . import build as build_mod
from . import deploy as deploy_mod
from . import resources as res_mod
from .fit import board_fit, family_of
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
    head = (f"{'board':<11} {'part':<21} {'PS':<6} {'PYNQ':<11} {'Python':<7} {'Vivado':<7} "
            f"{'clock':>7}  {'data port':<24} {'preset':<7} capacity")
    print(head)
    print("-" * len(head))
    for b in BOARDS.values():
        c = b.capacity
        lines = "/".join(v + ".x" for v in b.pynq_lines)
        cap = f"{c.lut} LUT, {c.bram36} BRAM36, {c.dsp} DSP" + (f", {c.uram} URAM"
                                                                 if c.uram else "")
        print(f"{b.name:<11} {b.part:<21} {b.ps:<6} {lines:<11} {b.python:<7} {b.vivado:<7} "
              f"{b.clock_mhz:>3} MHz  {b.axi_profile.upper()} {b.axi_width}-bit "
              f"{b.data_port:<14} {b.config:<7} {cap}")
    print("PYNQ: the board's image lines, current first (its Python and the Vivado release "
          "of the block design are the current line's)")
    for b in BOARDS.values():
        if b.note:
            print(f"  {b.name}: {b.note}")
    return 0


# ---------------------------------------------------------------------------- build
def _setup_build(p: argparse.ArgumentParser) -> None:
    _board_argument(p)
    p.add_argument("--config", default=None, metavar="NAME|FILE",
                   help="preset or JSON file (default: the board's own preset)")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="build folder")
    p.add_argument("--pynq", default=None, metavar="LINE",
                   help="the PYNQ line on the board (3.1 or 4.0; default: the board's "
                        "current line): the script is written for its Vivado release")
    p.add_argument("--run", action="store_true",
                   help="run Vivado now (it must be on PATH)")
    p.add_argument("--no-cache", action="store_true", help="ignore the bitstream cache")
    p.add_argument("--jobs", type=int, default=4, help="parallel Vivado jobs (default 4)")


def _run_build(args: argparse.Namespace) -> int:
    plan = build_mod.build(args.board, args.config, args.output, run=args.run,
                           use_cache=not args.no_cache, jobs=args.jobs, pynq_line=args.pynq)
    print(plan.summary())
    return 0


# ---------------------------------------------------------------------------- deploy
def _remote_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", required=True, help="the board's host name or address")
    p.add_argument("--user", default="xilinx", help="SSH user (default xilinx)")
    p.add_argument("--port", type=int, default=22, help="SSH port")
    p.add_argument("--remote-dir", default="/home/xilinx/vta", help="folder on the board")
    p.add_argument("--python", default=deploy_mod.PYNQ_PYTHON, help="PYNQ's Python on the board")
    p.add_argument("--connect-timeout", type=int, default=10, metavar="S",
                   help="seconds an SSH connection may take (default 10)")
    p.add_argument("--no-check", action="store_true",
                   help="skip the board check (PYNQ and Python version, free memory)")
    p.add_argument("--dry-run", action="store_true", help="print the commands only")


def _remote(args: argparse.Namespace) -> deploy_mod.Remote:
    return deploy_mod.Remote(args.host, args.user, args.port, args.remote_dir, args.python,
                             args.connect_timeout)


def _check(args: argparse.Namespace, remote: deploy_mod.Remote, b, *, need_mib: int,
           target: board_check.BitstreamTarget | None = None) -> None:
    """The board check before a deploy or run (printed only with ``--dry-run``)."""
    if args.no_check:
        return
    if args.dry_run:
        cmd = board_check.probe_command(remote)
        print(" ".join(shlex.quote(c) for c in cmd))
        return
    info = board_check.run_probe(remote, timeout=board_check.PROBE_TIMEOUT
                                 + remote.connect_timeout)
    print("board check: " + board_check.check_board(b, info, remote.host, target=target,
                                                     need_mib=need_mib))


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
    bit = _find_bit(args)
    remote = _remote(args)
    cmds = deploy_mod.deploy_commands(remote, bit)
    target = board_check.bitstream_target(bit)
    board_check.check_bitstream(b, target)
    _check(args, remote, b, need_mib=board_check.KIT_MEMORY_MIB, target=target)
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
    remote = _remote(args)
    model = Path(args.model)
    cmds = deploy_mod.run_commands(remote, model, config=config, bit_name=args.bit_name)
    # The model is read, quantized and packed on the board: a few copies of its weights.
    need = board_check.KIT_MEMORY_MIB + 3 * (model.stat().st_size >> 20)
    _check(args, remote, b, need_mib=need)
    return deploy_mod.execute(cmds, dry_run=args.dry_run)


# ---------------------------------------------------------------------------- resources
def _setup_resources(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default=None, metavar="NAME|FILE",
                   help="preset or JSON file (default: the board's own preset with --board, "
                        "else default)")
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
    p.add_argument("--no-cache", action="store_true",
                   help="synthesize again even if this design's estimate is cached")
    p.add_argument("--json", action="store_true", help="print the counts as JSON too")


def _part_for(cfg: VTAConfig, part: str | None):
    """The capacity to check against without --board: --part, or the part of the first
    board whose preset targets the config's TARGET (xc7z020 otherwise)."""
    if part:
        return capacity_for(part)
    for b in BOARDS.values():
        if b.default_config().TARGET == cfg.TARGET:
            return b.capacity
    return capacity_for("xc7z020clg400-1")


def _print_resources(res: res_mod.Resources, cap, max_dsp: int | None, as_json: bool) -> None:
    muls = [m for m in res.multipliers if m.dsp_eligible]
    print(f"  LUT {res.lut}  FF {res.ff}  BRAM36 {res.bram36:g}  DSP {res.dsp}"
          + (f"  URAM {res.uram}" if res.uram or cap.uram else ""))
    if res.bram_by_memory:
        print("  BRAM36 by memory: " + ", ".join(f"{name} {n:g}"
                                                 for name, n in res.bram_by_memory.items()))
    if res.uram_by_memory:
        print("  URAM by memory: " + ", ".join(f"{name} {n:g}"
                                               for name, n in res.uram_by_memory.items()))
    if muls:
        widths: dict[str, int] = {}
        for m in muls:
            key = f"{m.a_width}x{m.b_width}"
            widths[key] = widths.get(key, 0) + 1
        print(f"  multipliers: {len(muls)} ({', '.join(f'{n} of {k}' for k, n in widths.items())})"
              + (f"; {res.soft_multipliers} built from LUTs by the DSP cap"
                 if res.soft_multipliers else ""))
    if as_json:
        print(json.dumps({"part": cap.part, "used": res.as_dict(), "capacity": cap.as_dict(),
                          "utilization": res_mod.utilization(res, cap),
                          "soft_multipliers": res.soft_multipliers, "max_dsp": max_dsp,
                          "bram_by_memory": res.bram_by_memory,
                          "uram_by_memory": res.uram_by_memory}))


def _run_resources(args: argparse.Namespace) -> int:
    if args.board and not args.verilog:
        # The board's own design: its preset (or --config) under the board build's rules.
        fit = board_fit(args.board, args.config, max_dsp=args.max_dsp,
                        use_cache=not args.no_cache,
                        keep=Path(args.keep) if args.keep else None,
                        progress=lambda line: print(line, flush=True))
        if fit.cached:
            print("(estimate of identical Verilog from the cache; --no-cache synthesizes "
                  "again)")
        print(f"{fit.board.name}: config {args.config or fit.board.config} "
              f"({fit.config.name})")
        _print_resources(fit.resources, fit.capacity, fit.max_dsp, args.json)
        print(f"  share of the part: {fit.summary()}")
        fits, line = fit.verdict()
        print(line)
        return 0 if fits else 1
    cfg = VTAConfig.load(args.config or "default")
    cap = lookup_board(args.board).capacity if args.board else _part_for(cfg, args.part)
    family = family_of(cap)
    max_dsp = args.max_dsp
    if max_dsp is None and cfg.gemm_multipliers > cap.dsp * 9 // 10 and not args.verilog:
        max_dsp = cap.dsp * 9 // 10
    uram = cap.uram > 0 and (cfg.ULTRA_RAM or bool(args.verilog))
    with tempfile.TemporaryDirectory(prefix="vta-hw-") as tmp:
        if args.verilog:
            files = [Path(v) for v in args.verilog]
        else:
            print(f"generating Verilog for {cfg.name} ...", flush=True)
            files, _ = build_mod.generate_verilog(cfg, Path(tmp) / "rtl")
        print(f"synthesizing {args.top} for {cap.part} with yosys "
              f"(synth_xilinx -family {family}{' -uram' if uram else ''}"
              f"{f', max {max_dsp} DSPs' if max_dsp else ''}) ...", flush=True)
        work = Path(args.keep) if args.keep else Path(tmp) / "yosys"
        res = res_mod.estimate(files, args.top, family=family, max_dsp=max_dsp, workdir=work,
                               uram=uram)
    _print_resources(res, cap, max_dsp, args.json)
    fits, line = res_mod.verdict(res, cap)
    print(line)
    return 0 if fits else 1
