"""The ``vta`` command line: a dispatcher whose commands live with their layers.

Each layer contributes commands through the ``vta.cli`` entry-point group: an entry point
names a function ``register(cli: Cli)`` that calls :meth:`Cli.command` with a space-separated
path (``"hw verilog"``, ``"bench fsim"``), so this bottom layer never imports the layers
above it.  A :class:`~vta.hw.errors.VTAError` raised by a command is printed as one line
(``vta: error: ...``) with exit status 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points

from .errors import VTAError

__all__ = ["Cli", "main", "add_config_argument"]


@dataclass
class _Command:
    path: str
    help: str
    setup: Callable[[argparse.ArgumentParser], None] | None
    run: Callable[[argparse.Namespace], int | None]


@dataclass
class Cli:
    """Collects commands from every layer before the parser is built."""

    commands: dict[str, _Command] = field(default_factory=dict)

    def command(self, path: str, help: str,
                setup: Callable[[argparse.ArgumentParser], None] | None = None,
                run: Callable[[argparse.Namespace], int | None] | None = None) -> None:
        """Register ``vta <path>``; ``setup`` adds arguments, ``run`` returns an exit code."""
        if run is None:
            raise TypeError(f"command {path!r} needs a run function")
        if path in self.commands:
            raise ValueError(f"command {path!r} registered twice")
        self.commands[path] = _Command(path, help, setup, run)

    def build_parser(self) -> argparse.ArgumentParser:
        parser = argparse.ArgumentParser(
            prog="vta", description="VTA kit: accelerator, simulators, runtime, compiler.")
        groups: dict[str, argparse._SubParsersAction] = {}
        parsers: dict[str, argparse.ArgumentParser] = {"": parser}

        def parent(path: str) -> argparse._SubParsersAction:
            head, _, _ = path.rpartition(" ")
            if head not in parsers:
                grand = parent(head)
                parsers[head] = grand.add_parser(head.rpartition(" ")[2],
                                                 help=f"{head} commands")
            if head not in groups:
                groups[head] = parsers[head].add_subparsers(
                    dest=f"cmd_{len(head.split())}", metavar="COMMAND")
                groups[head].required = True
            return groups[head]

        for path in sorted(self.commands):
            cmd = self.commands[path]
            p = parent(path).add_parser(path.rpartition(" ")[2], help=cmd.help,
                                        description=cmd.help)
            if cmd.setup:
                cmd.setup(p)
            p.set_defaults(_run=cmd.run)
            parsers[path] = p
        return parser


def add_config_argument(p: argparse.ArgumentParser) -> None:
    """The common ``--config NAME|FILE`` option (a preset name or a TVM-style JSON file)."""
    from .config import PRESETS

    p.add_argument("--config", default="default", metavar="NAME|FILE",
                   help=f"preset ({', '.join(PRESETS)}) or JSON file")


def _load_commands() -> Cli:
    cli = Cli()
    for ep in sorted(entry_points(group="vta.cli"), key=lambda e: e.name):
        try:
            ep.load()(cli)
        except Exception as e:  # noqa: BLE001 - one broken layer must not hide the others
            print(f"vta: warning: commands of {ep.name} ({ep.value}) unavailable: {e}",
                  file=sys.stderr)
    return cli


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``vta`` console script."""
    os.environ.setdefault("AMARANTH_USE_YOSYS", "builtin")
    parser = _load_commands().build_parser()
    args = parser.parse_args(argv)
    try:
        status = args._run(args)
    except VTAError as e:
        print(f"vta: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("vta: interrupted", file=sys.stderr)
        return 130
    return int(status or 0)


if __name__ == "__main__":
    sys.exit(main())
