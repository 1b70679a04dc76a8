"""``vta bench fuzz``: random valid and invalid programs, RTL against fsim, per config.

For each config (default ``default``, ``pynq``, ``tiny``) the Verilator model runs
``--programs`` random valid programs and ``--invalid`` mutated ones against fsim
(:func:`vta.driver.fuzz.fuzz_device`: whole DRAM and counters for valid programs, the
same error class and message -- or success -- for mutants); on ``tiny`` pysim runs
``--pysim`` of each too.  It prints, per config and device, the programs run, the
outcomes of the mutants, the time taken and every mismatch with the command that
reproduces it; the last line is ``fuzz: N programs, M mismatches``.
"""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from vta.hw.cli import Cli
from vta.hw.config import PRESETS, VTAConfig
from vta.hw.errors import VTAError

__all__ = ["register", "run_fuzz"]


def register(cli: Cli) -> None:
    cli.command("bench fuzz", "random valid and invalid programs on Verilator (and pysim on "
                "tiny) against fsim: whole DRAM, counters, error classes",
                setup=_setup, run=_run)


def _setup(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default="default,pynq,tiny", metavar="NAMES",
                   help="comma-separated presets or JSON files (default default,pynq,tiny)")
    p.add_argument("--programs", type=int, default=1000, metavar="N",
                   help="valid programs per config on Verilator (default 1000)")
    p.add_argument("--invalid", type=int, default=None, metavar="N",
                   help="mutated programs per config on Verilator (default: --programs)")
    p.add_argument("--pysim", type=int, default=20, metavar="N",
                   help="valid and mutated programs each on pysim, tiny config only "
                        "(default 20; pysim runs a few thousand cycles per second)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--first", type=int, default=0, metavar="I",
                   help="index of the first program (to reproduce one: --first I --programs 1)")
    p.add_argument("--timeout", type=float, default=None,
                   help="seconds per run (default none: each run is bounded by its cycle "
                        "budget, so outcomes do not depend on the machine's load)")


def run_fuzz(configs: list[str], *, programs: int, invalid: int, pysim: int, seed: int,
             first: int = 0, timeout: float | None = None, out: TextIO | None = None
             ) -> tuple[int, int]:
    """Run the fuzz and print its report to ``out`` (default: the current ``sys.stdout``);
    returns ``(programs run, mismatches)``."""
    out = sys.stdout if out is None else out
    from tqdm import tqdm
    from vta.driver import open_device
    from vta.driver.fuzz import MAX_MUTANT_CYCLES, fuzz_device

    total = mismatches = 0
    for spec in configs:
        cfg = VTAConfig.load(spec)
        runs = [("verilator", programs, invalid)]
        if cfg.TARGET == "tiny" and pysim:
            runs.append(("pysim", pysim, pysim))
        for kind, n_valid, n_invalid in runs:
            options = {"progress": False} if kind == "verilator" else {}
            with tqdm(total=n_valid + n_invalid, desc=f"fuzz {spec} {kind}", unit="prog",
                      leave=False, file=sys.stderr) as bar:
                stats = fuzz_device(
                    lambda kind=kind, cfg=cfg, options=options: open_device(
                        kind, cfg, dram_bytes=1 << 20, **options),
                    valid=n_valid, invalid=n_invalid, seed=seed, first=first,
                    timeout=timeout, progress=lambda: bar.update(1))
            total += stats.programs
            mismatches += len(stats.mismatches)
            outcomes = ", ".join(f"{k} {v}" for k, v in stats.outcomes.most_common())
            skipped = f" ({stats.skipped} mutants over {MAX_MUTANT_CYCLES:,} cycles " \
                "skipped)" if stats.skipped else ""
            print(f"{spec} ({cfg.name}) on {kind}: {stats.valid} valid, {stats.invalid} "
                  f"mutated programs{skipped} in {stats.seconds:.1f} s, "
                  f"{len(stats.mismatches)} mismatches; mutants ended: "
                  f"{outcomes or 'none run'}", file=out)
            for m in stats.mismatches:
                kind_opt = "--programs 1 --invalid 0" if m.what == "valid" else \
                    "--programs 0 --invalid 1"
                print(f"  MISMATCH program {m.index} ({m.what}): fsim {m.fsim} | {kind} "
                      f"{m.device}", file=out)
                print(f"    reproduce: vta bench fuzz --config {spec} --seed {seed} --first "
                      f"{m.index} {kind_opt}" + (" --pysim 1" if kind == "pysim" else
                                                " --pysim 0"), file=out)
    print(f"fuzz: {total} programs, {mismatches} mismatches", file=out)
    return total, mismatches


def _run(args: argparse.Namespace) -> int:
    configs = [c.strip() for c in args.config.split(",") if c.strip()]
    if not configs:
        raise VTAError(f"--config names no config (presets: {', '.join(PRESETS)})")
    for name in ("programs", "pysim", "first"):
        if getattr(args, name) < 0:
            raise VTAError(f"--{name} must be >= 0, not {getattr(args, name)}")
    invalid = args.programs if args.invalid is None else args.invalid
    if invalid < 0:
        raise VTAError(f"--invalid must be >= 0, not {invalid}")
    _, bad = run_fuzz(configs, programs=args.programs, invalid=invalid, pysim=args.pysim,
                      seed=args.seed, first=args.first, timeout=args.timeout)
    return 1 if bad else 0
