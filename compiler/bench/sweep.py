"""``vta bench sweep``: ResNet-18 C2-C11 estimated on variations of a configuration.

The sweep itself (variants of a config, the cost model per layer, the table and the plot)
is :mod:`vta.compiler.sweep`; this module is its command line.  The last line names the
best variant: ``best: <label> utilization <value>``.
"""

from __future__ import annotations

import argparse

from vta.hw.cli import Cli, add_config_argument
from vta.hw.errors import VTAError


def register(cli: Cli) -> None:
    cli.command("bench sweep",
                "estimate ResNet-18 C2-C11 on variations of a config (design-space sweep), "
                "optionally plotted", setup=_setup, run=_run)


def _setup(p: argparse.ArgumentParser) -> None:
    add_config_argument(p)
    p.add_argument("--set", action="append", default=[], metavar="KEY=V1,V2",
                   help="a config key and its values to sweep (repeatable), e.g. "
                        "--set LOG_BLOCK=3,4,5 --set LOG_ACC_BUFF_SIZE=16,17,18")
    p.add_argument("--layers", default="C2-C11", help="C2-C11 (default) or e.g. C5,C8")
    p.add_argument("--plot", metavar="FILE", help="also write a plot (.png, .svg, .pdf)")


def _parse_value(text: str) -> object:
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    try:
        return int(text, 0)
    except ValueError:
        return text


def _run(args: argparse.Namespace) -> int:
    from tqdm import tqdm
    from vta.hw.config import VTAConfig

    from ..sweep import C2_C11, format_table, plot, sweep, variants

    axes: dict[str, list[object]] = {}
    for item in args.set:
        key, sep, values = item.partition("=")
        if not sep or not values:
            raise VTAError(f"--set needs KEY=V1,V2,..., not {item!r}")
        axes[key.strip()] = [_parse_value(v.strip()) for v in values.split(",")]
    if not axes:
        axes = {"LOG_BLOCK": [3, 4, 5]}
    if args.layers.upper() == "C2-C11":
        layers = list(C2_C11)
    else:
        layers = [name.strip().upper() for name in args.layers.split(",") if name.strip()]
    base = VTAConfig.load(args.config)
    rejected: list[tuple[str, str]] = []
    configs = variants(base, rejected=rejected, **axes)
    for changes, reason in rejected:
        print(f"skipped {changes}: {reason}")
    if not configs:
        raise VTAError("no combination of the swept values is a valid configuration")
    with tqdm(total=len(configs), desc="sweep", unit="config", leave=False) as bar:
        points = sweep(configs, layers, base=base, progress=lambda _: bar.update(1))
    print(format_table(points))
    if args.plot:
        plot(points, args.plot)
        print(f"wrote {args.plot}")
    best = max(points, key=lambda p: p.utilization)
    print(f"best: {best.label} utilization {best.utilization:.3f}")
    return 0
