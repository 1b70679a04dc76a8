"""The kit's build cache: what it holds, how big each kind is, and pruning it safely.

Everything the kit builds once and reuses lives under one root
(:func:`vta.hw.toolchain.cache_root`: ``$VTA_CACHE_DIR`` > ``$XDG_CACHE_HOME/vta-kit`` >
``~/.cache/vta-kit``), one folder per *kind* (:data:`KINDS`): Verilator models, generated
Verilog, bitstreams, resource estimates, llvmlite CPU kernels and the PYNQ test venvs.  The
layers that write the cache ask :func:`kind_dir` for their folder, so this table is the one
place that knows the layout.

An *entry* is what is built and removed as a unit: a model folder, a kernel object file, a
venv.  Its last use is its modification time (readers call :func:`touch` on a hit), so
``prune --keep N`` keeps the N most recently used entries of each kind.  Builders hold an
exclusive ``fcntl`` lock on ``<entry>.lock`` while they write an entry (see
:mod:`vta.sim.verilator.build`); pruning takes the same lock without waiting and skips an
entry whose lock is held, so a build running in parallel is never disturbed.  Folders that
a killed build left behind (``<digest>.build-*``, ``<key>.gen-*``) are removed once their
lock is free.
"""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .errors import VTAError
from .toolchain import cache_root

__all__ = ["CacheError", "CacheKind", "KINDS", "CacheEntry", "kind_dir", "touch",
           "entries", "usage", "prune", "check_writable", "is_writable", "entry_lock",
           "PruneReport", "remove_abandoned_work"]


class CacheError(VTAError):
    """The cache directory cannot be used (missing, not a folder, read-only)."""


@dataclass(frozen=True)
class CacheKind:
    """One kind of cached build.

    ``folder`` is the kind's folder below the root (``""``: the root itself, for kinds whose
    entries are named by ``prefix``); ``depth`` is how many folder levels below it an entry
    sits; ``files`` is True where entries are single files; ``locked`` is True where the
    builder of an entry holds ``<entry>.lock`` while it writes it.
    """

    name: str
    label: str
    folder: str
    depth: int = 1
    prefix: str = ""
    files: bool = False
    locked: bool = False


KINDS: tuple[CacheKind, ...] = (
    CacheKind("verilator", "Verilator models", "verilator", locked=True),
    CacheKind("verilog", "generated Verilog", "verilog"),
    CacheKind("bitstreams", "bitstreams", "bitstreams", depth=2),
    CacheKind("resources", "resource estimates (yosys)", "resources", files=True),
    CacheKind("cpu-kernels", "CPU kernels (llvmlite objects)", "cpu-kernels", files=True),
    CacheKind("pynq-venvs", "PYNQ test venvs", "", prefix="pynq-venv-", locked=True),
)
_BY_NAME = {k.name: k for k in KINDS}

# Work folders of a build in progress (removed by the build itself unless it was killed).
_WORK_MARKERS = (".build-", ".gen-")
# A work folder without a lock (generated Verilog) is taken for abandoned after this long.
_UNLOCKED_WORK_AGE = 3600.0


def _kind(name: str) -> CacheKind:
    try:
        return _BY_NAME[name]
    except KeyError:
        raise CacheError(f"unknown cache kind {name!r}; kinds: "
                         f"{', '.join(_BY_NAME)}") from None


def kind_dir(name: str, root: Path | None = None) -> Path:
    """The folder of cache kind ``name`` (not created)."""
    kind = _kind(name)
    base = root if root is not None else cache_root()
    return base / kind.folder if kind.folder else base


def _describe_root(root: Path) -> str:
    how = "VTA_CACHE_DIR" if os.environ.get("VTA_CACHE_DIR") else "the default location"
    return f"cache directory {root} ({how}; set VTA_CACHE_DIR to choose another)"


def check_writable(root: Path | None = None) -> Path:
    """Create the cache root if needed and check it is a writable folder; return it.

    Raises
    ------
    CacheError
        One line naming the path and ``VTA_CACHE_DIR`` when the root is a file, cannot be
        created, or is read-only.
    """
    root = root if root is not None else cache_root()
    if root.exists() and not root.is_dir():
        raise CacheError(f"{_describe_root(root)} is not a folder")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CacheError(f"{_describe_root(root)} cannot be created: "
                         f"{e.strerror or e}") from None
    if not is_writable(root):
        raise CacheError(f"{_describe_root(root)} is read-only")
    return root


def is_writable(folder: Path) -> bool:
    """Whether a file can be created in ``folder`` (tried for real: permission bits do not
    tell for root, read-only mounts or immutable folders)."""
    try:
        fd, name = tempfile.mkstemp(prefix=".write-probe-", dir=folder)
    except OSError:
        return False
    os.close(fd)
    os.unlink(name)
    return True


def touch(path: Path) -> None:
    """Record a use of the entry at ``path`` (its modification time); best effort."""
    try:
        os.utime(path)
    except OSError:
        pass  # a read-only cache still serves hits


@dataclass(frozen=True)
class CacheEntry:
    """One removable unit of the cache: its kind, path, size in bytes and last use."""

    kind: str
    path: Path
    bytes: int
    last_used: float

    @property
    def lock_path(self) -> Path | None:
        """The lock a builder holds while it writes this entry (None: its kind takes none)."""
        if not _BY_NAME[self.kind].locked:
            return None
        return self.path.parent / f"{self.path.name}.lock"


def _size(path: Path) -> int:
    if path.is_symlink() or path.is_file():
        try:
            return path.lstat().st_size
        except OSError:
            return 0
    total = 0
    for dirpath, _, filenames in os.walk(path):
        for name in filenames:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:
                pass
    return total


def _is_work(path: Path) -> bool:
    return any(marker in path.name for marker in _WORK_MARKERS)


def _candidates(kind: CacheKind, root: Path) -> Iterator[Path]:
    base = kind_dir(kind.name, root)
    if not base.is_dir():
        return
    level = [base]
    for _ in range(kind.depth):
        level = [child for folder in level for child in sorted(folder.iterdir())
                 if child.is_dir() and not child.name.endswith(".lock")]
    for path in (sorted(base.iterdir()) if kind.files else level):
        name = path.name
        if name.endswith(".lock") or _is_work(path) or ".tmp" in path.suffixes:
            continue
        if kind.prefix and not name.startswith(kind.prefix):
            continue
        if kind.files != path.is_file():
            continue
        yield path


def entries(kinds: list[str] | None = None, root: Path | None = None) -> list[CacheEntry]:
    """Every entry of the given kinds (all kinds if None), oldest use first."""
    root = root if root is not None else cache_root()
    found = []
    for name in kinds or list(_BY_NAME):
        for path in _candidates(_kind(name), root):
            try:
                mtime = path.stat().st_mtime
            except OSError:
                continue  # removed meanwhile
            found.append(CacheEntry(name, path, _size(path), mtime))
    return sorted(found, key=lambda e: e.last_used)


def _work_folders(root: Path) -> list[Path]:
    found = []
    for kind in KINDS:
        base = kind_dir(kind.name, root)
        if kind.folder and base.is_dir():
            found += [p for p in base.iterdir() if p.is_dir() and _is_work(p)]
    return found


def usage(root: Path | None = None) -> dict[str, tuple[int, int]]:
    """Per kind: ``(entries, bytes)``; work folders of builds count under ``"in progress"``."""
    root = root if root is not None else cache_root()
    table = {kind.name: (0, 0) for kind in KINDS}
    for e in entries(root=root):
        n, b = table[e.kind]
        table[e.kind] = (n + 1, b + e.bytes)
    work = _work_folders(root)
    table["in progress"] = (len(work), sum(_size(p) for p in work))
    return table


@contextmanager
def entry_lock(lock_path: Path | None, *, wait: bool = True) -> Iterator[bool]:
    """Hold the exclusive lock at ``lock_path``; yields False (without the lock) when
    ``wait`` is False and another process holds it.  ``None`` (no lock) yields True."""
    if lock_path is None:
        yield True
        return
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(lock_path, "a")
    except OSError:
        try:
            handle = open(lock_path)          # a read-only cache: flock works on it too
        except OSError:
            yield True                        # no lock file and none can be made
            return
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _remove(path: Path) -> None:
    # Rename first so a reader never sees a half-removed entry under its real name.
    doomed = path.with_name(f".{path.name}.pruned-{os.getpid()}")
    try:
        os.rename(path, doomed)
    except FileNotFoundError:
        return
    if doomed.is_dir() and not doomed.is_symlink():
        shutil.rmtree(doomed)
    else:
        doomed.unlink()


def _work_lock(path: Path) -> Path | None:
    """The lock of the build that owns work folder ``path`` (None if builds of its kind
    take no lock)."""
    digest = path.name.split(".build-")[0] if ".build-" in path.name else None
    return path.parent / f"{digest}.lock" if digest else None


@dataclass
class PruneReport:
    """What :func:`prune` removed, and what it left because a build held its lock."""

    removed: list[CacheEntry]
    busy: list[Path]
    work_removed: list[Path]

    @property
    def freed(self) -> int:
        return sum(e.bytes for e in self.removed)


def prune(*, keep: int | None = None, older_than_days: float | None = None,
          everything: bool = False, kinds: list[str] | None = None,
          dry_run: bool = False, root: Path | None = None,
          now: float | None = None) -> PruneReport:
    """Remove cache entries: all of them, all but the ``keep`` most recently used per kind,
    or those unused for more than ``older_than_days``.  Exactly one rule must be given.

    Entries whose build lock another process holds are skipped and reported as busy;
    abandoned build folders are removed whatever the rule.

    Raises
    ------
    CacheError
        No rule or several, a bad value, or a cache directory that cannot be written.
    """
    rules = [keep is not None, older_than_days is not None, everything]
    if sum(rules) != 1:
        raise CacheError("prune needs exactly one of --keep N, --older-than DAYS, --all")
    if keep is not None and (not isinstance(keep, int) or keep < 0):
        raise CacheError(f"--keep must be a whole number >= 0, not {keep!r}")
    if older_than_days is not None and not older_than_days >= 0:
        raise CacheError(f"--older-than must be a number of days >= 0, not "
                         f"{older_than_days!r}")
    root = root if root is not None else cache_root()
    report = PruneReport([], [], [])
    if not root.exists():
        return report
    if not dry_run:
        check_writable(root)
    now = time.time() if now is None else now
    doomed: list[CacheEntry] = []
    for name in kinds or list(_BY_NAME):
        mine = entries([name], root)                   # oldest first
        if everything:
            doomed += mine
        elif keep is not None:
            doomed += mine[:max(0, len(mine) - keep)]
        else:
            assert older_than_days is not None
            doomed += [e for e in mine if now - e.last_used > older_than_days * 86400]
    for entry in doomed:
        with entry_lock(entry.lock_path, wait=False) as free:
            if not free:
                report.busy.append(entry.path)
                continue
            if not dry_run:
                _remove_checked(entry.path)
            report.removed.append(entry)
    removed, busy = remove_abandoned_work(root, dry_run=dry_run, now=now)
    report.work_removed += removed
    report.busy += busy
    return report


def remove_abandoned_work(root: Path | None = None, *, dry_run: bool = False,
                          now: float | None = None) -> tuple[list[Path], list[Path]]:
    """Remove the work folders builds that were killed left behind: those whose build lock
    is free (or, for builds that take no lock, untouched for an hour).  Returns the folders
    removed and those a running build still holds.  Builders call it before building, so
    leftovers never pile up; ``vta cache prune`` calls it too.
    """
    root = root if root is not None else cache_root()
    now = time.time() if now is None else now
    removed: list[Path] = []
    busy: list[Path] = []
    if not root.is_dir():
        return removed, busy
    for work in _work_folders(root):
        lock = _work_lock(work)
        if lock is None:
            try:
                stale = now - work.stat().st_mtime > _UNLOCKED_WORK_AGE
            except OSError:
                continue
            if stale:
                if not dry_run:
                    _remove_checked(work)
                removed.append(work)
            continue
        with entry_lock(lock, wait=False) as free:
            if free:
                if not dry_run:
                    _remove_checked(work)
                removed.append(work)
            else:
                busy.append(work)
    return removed, busy


def _remove_checked(path: Path) -> None:
    try:
        _remove(path)
    except OSError as e:
        if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise CacheError(f"cannot remove {path}: {e.strerror} (the cache directory "
                             f"is read-only; set VTA_CACHE_DIR to a writable folder)") from None
        raise CacheError(f"cannot remove {path}: {e.strerror or e}") from None
