"""A cache of built bitstreams, keyed by board, config name and a digest of the sources.

A Vivado build takes tens of minutes; a user builds once per configuration.  Each entry is
a folder ``<root>/<board>/<config name>-<digest[:16]>/`` holding ``<name>.bit``,
``<name>.hwh`` and ``manifest.json`` (board, part, config, full digest, file sizes and
SHA-256 sums, creation time).  The digest covers every generated source file (Verilog,
wrapper, TCL) by name and content, so any change to the gateware or the flow misses.

The root is the kit cache's ``bitstreams`` folder (:func:`vta.hw.cache.kind_dir`).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from vta.hw import cache as kit_cache
from vta.hw.errors import VTAError

__all__ = ["CacheEntry", "cache_root", "source_digest", "lookup", "store", "entries"]


def cache_root() -> Path:
    """Where built bitstreams are kept: ``<the kit's cache>/bitstreams``."""
    return kit_cache.kind_dir("bitstreams")


def source_digest(files: list[Path]) -> str:
    """SHA-256 over the files' names and contents, in name order."""
    h = hashlib.sha256()
    for path in sorted(files, key=lambda p: p.name):
        h.update(path.name.encode() + b"\0")
        h.update(path.read_bytes())
        h.update(b"\0")
    return h.hexdigest()


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass(frozen=True)
class CacheEntry:
    """One cached build: its folder, the bitstream and handoff paths, and its manifest."""

    path: Path
    bit: Path
    hwh: Path
    manifest: dict


def _entry_dir(board: str, config_name: str, digest: str, root: Path | None) -> Path:
    return (root or cache_root()) / board / f"{config_name}-{digest[:16]}"


def lookup(board: str, config_name: str, digest: str, *,
           root: Path | None = None) -> CacheEntry | None:
    """The cached build for these sources, or None (also when a file was damaged)."""
    folder = _entry_dir(board, config_name, digest, root)
    manifest_path = folder / "manifest.json"
    if not manifest_path.exists():
        return None
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    if manifest.get("digest") != digest:
        return None
    bit, hwh = folder / manifest["bit"], folder / manifest["hwh"]
    for path in (bit, hwh):
        if not path.exists() or _sha256(path) != manifest["sha256"][path.name]:
            return None
    kit_cache.touch(folder)
    return CacheEntry(folder, bit, hwh, manifest)


def store(board: str, part: str, config_name: str, digest: str, bit: Path, hwh: Path, *,
          name: str, root: Path | None = None) -> CacheEntry:
    """Copy a finished build's ``bit`` and ``hwh`` into the cache as ``<name>.bit/.hwh``.

    Raises
    ------
    VTAError
        A file to store does not exist.
    """
    for path in (bit, hwh):
        if not Path(path).is_file():
            raise VTAError(f"cannot cache the build: {path} does not exist")
    folder = _entry_dir(board, config_name, digest, root)
    folder.mkdir(parents=True, exist_ok=True)
    dst_bit, dst_hwh = folder / f"{name}.bit", folder / f"{name}.hwh"
    shutil.copyfile(bit, dst_bit)
    shutil.copyfile(hwh, dst_hwh)
    manifest = {
        "board": board, "part": part, "config": config_name, "digest": digest,
        "name": name, "bit": dst_bit.name, "hwh": dst_hwh.name,
        "bytes": {p.name: p.stat().st_size for p in (dst_bit, dst_hwh)},
        "sha256": {p.name: _sha256(p) for p in (dst_bit, dst_hwh)},
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return CacheEntry(folder, dst_bit, dst_hwh, manifest)


def entries(root: Path | None = None) -> list[CacheEntry]:
    """Every valid entry in the cache."""
    found = []
    base = root or cache_root()
    for manifest_path in sorted(base.glob("*/*/manifest.json")):
        try:
            m = json.loads(manifest_path.read_text())
            entry = lookup(m["board"], m["config"], m["digest"], root=base)
        except (OSError, json.JSONDecodeError, KeyError):
            continue
        if entry is not None:
            found.append(entry)
    return found
