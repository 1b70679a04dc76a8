"""``vta dse run|show``: design-space exploration from the command line (``vta bench dse``
is in :mod:`vta.compiler.bench.dse`)."""

from __future__ import annotations

import argparse
from typing import Any

from vta.hw.cli import Cli
from vta.hw.errors import VTAError

from .spec import LEVELS, SpecError, SweepSpec, parse_value, read_spec_data


def register(cli: Cli) -> None:
    cli.command("dse run", "design-space exploration: evaluate a sweep spec (cost model, "
                "Verilator cycles, yosys resources) into a SQLite database, on Dask",
                setup=_setup_run, run=_run)
    cli.command("dse show", "the points of a DSE database: table, Pareto front, CSV, plot",
                setup=_setup_show, run=_show)


# ------------------------------------------------------------------------------ spec
def spec_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec", nargs="?", help="sweep spec (.toml or .json); flags below add to "
                   "or replace its entries")
    p.add_argument("--set", action="append", default=[], metavar="KNOB=V1,V2",
                   help="a config axis (repeatable), e.g. --set DRAM_LATENCY=16,32,64")
    p.add_argument("--base", metavar="NAME|FILE", help="base config (default: the board's)")
    p.add_argument("--board", action="append", metavar="NAME",
                   help="target board (repeatable; default pynq-z1)")
    p.add_argument("--layers", metavar="C2-C11", help="ResNet-18 layers, e.g. C2-C11 or C5,C8")
    p.add_argument("--levels", metavar="L1,L2",
                   help=f"evaluation levels among {', '.join(LEVELS)} (default estimate)")
    p.add_argument("--seed", type=int, default=None)


def spec_from_args(args: argparse.Namespace) -> SweepSpec:
    """The spec file (if any) with the command-line flags applied."""
    data: dict[str, Any] = {}
    origin = "command line"
    if args.spec:
        data = read_spec_data(args.spec)
        origin = args.spec
    axes = dict(data.get("axes", {}))
    for item in args.set:
        key, sep, values = item.partition("=")
        if not sep or not values.strip():
            raise SpecError(f"--set needs KNOB=V1,V2,..., not {item!r}")
        axes[key.strip()] = [parse_value(v) for v in values.split(",")]
    data["axes"] = axes
    if args.base:
        data["base"] = args.base
    if args.board:
        data["boards"] = args.board
    if args.layers:
        data["workload"] = {"model": "resnet18", "layers": args.layers}
    if args.levels:
        data["levels"] = [lv.strip() for lv in args.levels.split(",") if lv.strip()]
    if args.seed is not None:
        data["seed"] = args.seed
    return SweepSpec.from_dict(data, origin=origin)


# ------------------------------------------------------------------------------ run
def _setup_run(p: argparse.ArgumentParser) -> None:
    spec_arguments(p)
    p.add_argument("--db", required=True, metavar="FILE", help="SQLite results database")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, default=None, metavar="N",
                       help="local Dask workers (default: one per core; 0: in this process)")
    where.add_argument("--scheduler", metavar="tcp://HOST:8786",
                       help="run on an existing Dask cluster")
    p.add_argument("--retry-failed", action="store_true",
                   help="run failed points again (default: a stored failure is done)")
    p.add_argument("--no-progress", action="store_true")


def _run(args: argparse.Namespace) -> int:
    from .report import design_points, format_table, model_error, pareto_front
    from .runner import probe_scheduler, run_sweep
    from .store import ResultStore

    spec = spec_from_args(args)
    if args.workers is not None and args.workers < 0:
        raise VTAError(f"--workers must be 0 or more, not {args.workers}")
    if args.scheduler:
        probe_scheduler(args.scheduler)     # before the database file is made
    points = spec.points()
    print(f"sweep {spec.name}: {len(points)} point(s) x levels {', '.join(spec.levels)} on "
          f"{', '.join(spec.boards)}; workload {spec.workload.name} "
          f"({len(spec.workload.layers)} layers)", flush=True)
    with ResultStore.open(args.db) as store:
        summary = run_sweep(spec, store, workers=args.workers, scheduler=args.scheduler,
                            progress=not args.no_progress, retry_failed=args.retry_failed)
        print(summary.line())
        pts = design_points(store.rows())
    mine = {p.digest for p in points}
    pts = [p for p in pts if p.config_digest in mine]
    pareto_front(pts)
    print(format_table(pts))
    err = model_error(pts)
    if err:
        print(error_line(err))
    return 0


def error_line(err: dict[str, Any]) -> str:
    return (f"cost model vs Verilator: {err['layers']} layers on {err['points']} points, "
            f"median {100 * err['median']:.1f}%, max {100 * err['max']:.1f}% "
            f"({err['worst']})")


# ------------------------------------------------------------------------------ show
def _setup_show(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", required=True, metavar="FILE")
    p.add_argument("--pareto", metavar="OBJ1,OBJ2", default="latency,lut,bram36,dsp",
                   help="objectives to minimise (default latency,lut,bram36,dsp)")
    p.add_argument("--csv", metavar="FILE", help="write every point's figures as CSV")
    p.add_argument("--plot", metavar="FILE", help="plot latency vs a resource (.png/.svg)")
    p.add_argument("--x", default=None, help="the plot's x axis (default dsp)")
    p.add_argument("--front-only", action="store_true", help="list the Pareto front only")
    p.add_argument("--errors", action="store_true",
                   help="also print the cost model's error against Verilator per layer")


def _show(args: argparse.Namespace) -> int:
    from .report import (
        design_points,
        format_errors,
        format_table,
        model_error,
        pareto_front,
        plot_front,
        write_csv,
    )
    from .store import ResultStore

    with ResultStore.open(args.db, create=False) as store:
        rows = store.rows()
        sweeps = store.sweeps()
    pts = design_points(rows)
    if not pts:
        print(f"{args.db}: no results yet")
        return 0
    front = pareto_front(pts, args.pareto.split(","))
    print(format_table(front if args.front_only else pts))
    err = model_error(pts)
    if err:
        print(error_line(err))
    if args.errors:
        print(format_errors(pts))
    if sweeps:
        last = sweeps[-1]
        print(f"{len(pts)} points, {len(front)} on the front; last sweep: {last['executor']}, "
              f"{last['done'] or 0} tasks run in {last['wall_seconds'] or 0:.1f} s"
              + (" (interrupted)" if last["interrupted"] else ""))
    if args.csv:
        print(f"wrote {write_csv(pts, args.csv)}")
    if args.plot:
        plot_front(pts, args.plot, x=args.x)
        print(f"wrote {args.plot}")
    return 0
