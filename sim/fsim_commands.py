"""``vta bench fsim``: throughput of the functional simulator on a large blocked GEMM."""

from __future__ import annotations

import argparse

from vta.hw.cli import Cli, add_config_argument
from vta.hw.config import VTAConfig


def register(cli: Cli) -> None:
    cli.command("bench fsim", "functional-simulator throughput on a large blocked GEMM",
                setup=_setup, run=_run)


def _setup(p: argparse.ArgumentParser) -> None:
    add_config_argument(p)
    p.add_argument("--rows", type=int, default=1024, help="rows of A and C (default 1024)")
    p.add_argument("--k", type=int, default=1024, help="reduction length (default 1024)")
    p.add_argument("--n", type=int, default=1024, help="columns of C (default 1024)")
    p.add_argument("--repeat", type=int, default=5, help="timed runs (median reported)")


def _run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .bench_fsim import run_benchmark

    cfg = VTAConfig.load(args.config)
    if args.repeat < 1:
        from vta.hw.errors import VTAError
        raise VTAError(f"--repeat must be at least 1, not {args.repeat}")
    with tqdm(total=args.repeat, desc="fsim GEMM", unit="run") as bar:
        res = run_benchmark(cfg, args.rows, args.k, args.n, args.repeat,
                            progress=lambda: bar.update(1))
    print(f"config {cfg.name}: GEMM {args.rows}x{args.k}x{args.n}, {res.insns} instructions, "
          f"{res.macs / 1e9:.3f} GMAC, result checked against numpy")
    print(f"runs: {', '.join(f'{t * 1e3:.1f}' for t in res.seconds)} ms; "
          f"median {res.median * 1e3:.1f} ms (CPU {res.cpu_median * 1e3:.1f} ms: "
          f"{res.macs / res.cpu_median / 1e9:.2f} GMAC/s per busy core)")
    print(f"fsim: {res.gmacs:.2f} GMAC/s")
    return 0
