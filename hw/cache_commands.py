"""``vta cache info`` and ``vta cache prune``: the kit's build cache from the command line."""

from __future__ import annotations

import argparse
import json
import os
import time

from . import cache
from .cli import Cli
from .toolchain import cache_root


def register(cli: Cli) -> None:
    cli.command("cache info", "where the build cache is and how much each kind holds",
                setup=_setup_info, run=_run_info)
    cli.command("cache prune", "remove cached builds: all, all but the N most recently "
                "used per kind, or those unused for DAYS", setup=_setup_prune, run=_run_prune)


def _human(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def _where(root) -> str:
    how = "from VTA_CACHE_DIR" if os.environ.get("VTA_CACHE_DIR") else \
        "default; VTA_CACHE_DIR overrides"
    return f"{root} ({how})"


def _setup_info(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print the table as JSON")


def _run_info(args: argparse.Namespace) -> int:
    root = cache_root()
    if root.exists() and not root.is_dir():
        raise cache.CacheError(f"cache directory {_where(root)} is not a folder")
    table = cache.usage(root) if root.exists() else {}
    if args.json:
        print(json.dumps({"root": str(root), "exists": root.exists(),
                          "kinds": {k: {"entries": n, "bytes": b}
                                    for k, (n, b) in table.items()}}, indent=1))
        return 0
    print(f"cache: {_where(root)}")
    if not root.exists():
        print("  (does not exist yet: nothing is cached)")
        return 0
    if not cache.is_writable(root):
        print("  (read-only: builds cannot be cached here)")
    labels = {k.name: k.label for k in cache.KINDS}
    labels["in progress"] = "builds in progress or abandoned"
    print(f"  {'kind':<34}{'entries':>8}{'size':>12}")
    for name, (n, b) in table.items():
        print(f"  {labels[name]:<34}{n:>8}{_human(b):>12}")
    total_n = sum(n for n, _ in table.values())
    total_b = sum(b for _, b in table.values())
    print(f"  {'total':<34}{total_n:>8}{_human(total_b):>12}")
    return 0


def _setup_prune(p: argparse.ArgumentParser) -> None:
    rule = p.add_mutually_exclusive_group(required=True)
    rule.add_argument("--keep", type=int, metavar="N",
                      help="keep the N most recently used entries of each kind")
    rule.add_argument("--older-than", type=float, metavar="DAYS",
                      help="remove entries not used for more than DAYS days")
    rule.add_argument("--all", action="store_true", help="remove every entry")
    p.add_argument("--kind", action="append", choices=[k.name for k in cache.KINDS],
                   help="only this kind (repeatable; default: every kind)")
    p.add_argument("--dry-run", action="store_true", help="list what would go; remove nothing")


def _run_prune(args: argparse.Namespace) -> int:
    root = cache_root()
    if not root.exists():
        print(f"vta cache: nothing to prune: {_where(root)} does not exist")
        return 0
    report = cache.prune(keep=args.keep, older_than_days=args.older_than,
                         everything=args.all, kinds=args.kind, dry_run=args.dry_run,
                         root=root)
    verb = "would remove" if args.dry_run else "removed"
    for entry in report.removed:
        age = (time.time() - entry.last_used) / 86400
        print(f"  {verb} {entry.kind:<12} {_human(entry.bytes):>10}  unused {age:5.1f} d  "
              f"{entry.path}")
    for path in report.work_removed:
        print(f"  {verb} abandoned build folder {path}")
    for path in report.busy:
        print(f"  kept (in use by a running build) {path}")
    print(f"vta cache: {verb} {len(report.removed)} entries ({_human(report.freed)}) and "
          f"{len(report.work_removed)} abandoned build folders; {len(report.busy)} in use "
          f"kept; cache at {root}")
    return 0
