"""``vta bench dse``: a design-space exploration measured: wall time with 1 and N Dask
workers (each run with an empty cache unless ``--warm``), the resumed rerun (it must skip
every finished task), seconds per point and level, and the cost model's error against
Verilator wherever both ran."""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from vta.hw.cli import Cli
from vta.hw.errors import VTAError

from ..dse.commands import error_line, spec_arguments, spec_from_args


def register(cli: Cli) -> None:
    cli.command("bench dse", "a DSE measured: wall time with 1 and 2 workers (fresh caches), "
                "resume, per-point cost, cost-model error", setup=_setup, run=_run)


def _setup(p: argparse.ArgumentParser) -> None:
    spec_arguments(p)
    p.add_argument("--workers", type=int, default=2, help="workers of the parallel run")
    p.add_argument("--out", metavar="DIR", help="keep the databases here (default: temp)")
    p.add_argument("--warm", action="store_true",
                   help="reuse the kit's cache (default: each run starts with an empty "
                        "cache, so it pays every Verilog elaboration, build and synthesis)")
    p.add_argument("--no-serial", action="store_true", help="skip the 1-worker run")


def _run(args: argparse.Namespace) -> int:
    from ..dse.report import design_points, format_table, model_error, pareto_front
    from ..dse.runner import run_sweep
    from ..dse.store import ResultStore

    spec = spec_from_args(args)
    n_points = len(spec.points())
    with tempfile.TemporaryDirectory(prefix="vta-bench-dse-") as tmp:
        out = Path(args.out) if args.out else Path(tmp)
        out.mkdir(parents=True, exist_ok=True)
        walls: dict[int, float] = {}
        runs = [args.workers] if args.no_serial else [1, args.workers]
        for n in runs:
            db = out / f"dse-{n}w.sqlite"
            if db.exists():
                db.unlink()
            saved = os.environ.get("VTA_CACHE_DIR")
            if not args.warm:
                os.environ["VTA_CACHE_DIR"] = str(out / f"cache-{n}w")
            try:
                with ResultStore.open(db) as store:
                    print(f"== {n} worker(s), {'warm' if args.warm else 'empty'} cache",
                          flush=True)
                    s = run_sweep(spec, store, workers=n)
                    print(s.line(), flush=True)
                    walls[n] = s.wall_seconds
                    t0 = time.perf_counter()
                    again = run_sweep(spec, store, workers=n, progress=False)
                    print(f"resume: {again.done} task(s) redone, {again.skipped} skipped, "
                          f"{time.perf_counter() - t0:.1f} s", flush=True)
                    if again.done:
                        raise VTAError("the rerun redid tasks instead of resuming")
                    rows = store.rows()
            finally:
                if saved is None:
                    os.environ.pop("VTA_CACHE_DIR", None)
                else:
                    os.environ["VTA_CACHE_DIR"] = saved
    pts = design_points(rows)
    pareto_front(pts)
    print(format_table(pts))
    by_level: dict[str, list[float]] = {}
    for r in rows:
        by_level.setdefault(r["level"], []).append(r["seconds"])
    wall = walls[args.workers]
    print(f"points: {n_points}; tasks: {len(rows)} ("
          + ", ".join(f"{lv} {len(v)} x {sum(v) / len(v):.1f} s" for lv, v in by_level.items())
          + ")")
    print(f"wall time with {args.workers} workers: {wall:.1f} s = {wall / n_points:.1f} s per "
          f"point")
    if 1 in walls and args.workers != 1:
        print(f"wall time with 1 worker: {walls[1]:.1f} s; speed-up of {args.workers} "
              f"workers: {walls[1] / wall:.2f}x")
    err = model_error(pts)
    if err:
        print(error_line(err))
    return 0
