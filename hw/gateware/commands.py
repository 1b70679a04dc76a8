"""``vta hw verilog``: generate ``vta_top.v`` and its manifest for a configuration."""

from __future__ import annotations

import argparse
import time

from ..cli import Cli, add_config_argument
from ..config import VTAConfig
from ..errors import ConfigError


def register(cli: Cli) -> None:
    cli.command("hw verilog", "generate vta_top.v and vta_top.json for a configuration",
                setup=_setup_verilog, run=_run_verilog)


def _int(text: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, not {text!r}") from None


def _setup_verilog(p: argparse.ArgumentParser) -> None:
    add_config_argument(p)
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="output directory")
    p.add_argument("--axi-cache", type=_int, default=0b0011,
                   help="AxCACHE bits of the memory port (default 0b0011)")
    p.add_argument("--axi-prot", type=_int, default=0b000,
                   help="AxPROT bits of the memory port (default 0)")


def _run_verilog(args: argparse.Namespace) -> int:
    from .verilog import write_verilog  # amaranth import only when the command runs

    cfg = VTAConfig.load(args.config)
    if not 0 <= args.axi_cache <= 15:
        raise ConfigError(f"--axi-cache must be a 4-bit value, not {args.axi_cache}")
    if not 0 <= args.axi_prot <= 7:
        raise ConfigError(f"--axi-prot must be a 3-bit value, not {args.axi_prot}")
    print(f"elaborating vta_top for {cfg.model_name} ({cfg.AXI_PROFILE}, "
          f"{cfg.BUS_WIDTH}-bit bus) ...", flush=True)
    t0 = time.perf_counter()
    v_path, j_path = write_verilog(cfg, args.output, axi_cache=args.axi_cache,
                                   axi_prot=args.axi_prot)
    size = v_path.stat().st_size
    print(f"wrote {v_path} ({size / 1024:.0f} KiB) and {j_path} in "
          f"{time.perf_counter() - t0:.1f} s")
    return 0
