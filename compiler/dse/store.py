"""The DSE's results database: one SQLite file (Python's own ``sqlite3``).

Tables:

``meta``
    ``schema = vta-kit-dse/1``: what makes a file ours.
``results``
    one row per (config digest, workload, level, target part, tool versions): status
    (``ok`` or ``failed`` with the reason), the config, the point's label and board, the
    level's metrics as JSON, seconds spent and the worker that ran it.  The primary key
    makes a result unique: a point redone after a worker died replaces nothing twice.
``sweeps``
    one row per ``vta dse run``: the spec, the executor, workers, wall time and counts.

Only the client writes (a worker returns rows); every row is committed as it arrives, so an
interrupted sweep keeps every finished point.  :meth:`ResultStore.open` refuses, in one
line and without writing, a file that is not SQLite or is someone else's database.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from vta.hw.errors import VTAError

__all__ = ["ResultStore", "StoreError", "SCHEMA"]

SCHEMA = "vta-kit-dse/1"
_HEADER = b"SQLite format 3\x00"
_KEY = ("config_digest", "workload", "level", "target", "tools")
_COLUMNS = (*_KEY, "status", "reason", "label", "board", "config", "metrics", "seconds",
            "worker", "created")

_CREATE = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS results (
    config_digest TEXT NOT NULL, workload TEXT NOT NULL, level TEXT NOT NULL,
    target TEXT NOT NULL, tools TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('ok', 'failed')), reason TEXT NOT NULL,
    label TEXT NOT NULL, board TEXT NOT NULL, config TEXT NOT NULL, metrics TEXT NOT NULL,
    seconds REAL NOT NULL, worker TEXT NOT NULL, created REAL NOT NULL,
    PRIMARY KEY (config_digest, workload, level, target, tools));
CREATE TABLE IF NOT EXISTS sweeps (
    id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, spec TEXT NOT NULL,
    executor TEXT NOT NULL, workers INTEGER NOT NULL, started REAL NOT NULL,
    finished REAL, wall_seconds REAL, tasks INTEGER NOT NULL, skipped INTEGER NOT NULL,
    done INTEGER, failed INTEGER, interrupted INTEGER NOT NULL DEFAULT 0);
"""


class StoreError(VTAError):
    """The database file is not one this kit wrote, or cannot be opened."""


class ResultStore:
    """An open results database; use :meth:`open`.  A context manager that closes it."""

    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        self.path = path
        self._conn = conn

    # ------------------------------------------------------------------ opening
    @classmethod
    def open(cls, path: str | Path, *, create: bool = True) -> ResultStore:
        """Open (or, with ``create``, make) the database at ``path``.

        Raises
        ------
        StoreError
            The file is not SQLite, is corrupt, or holds no ``vta-kit-dse`` schema; the
            file is left untouched.  Also when it does not exist and ``create`` is False.
        """
        path = Path(path)
        exists = path.exists() and path.stat().st_size > 0
        if path.is_dir():
            raise StoreError(f"{path} is a folder, not a DSE database file")
        if not exists and not create:
            raise StoreError(f"no DSE database at {path} (run `vta dse run ... --db {path}` "
                             f"first)")
        if exists:
            cls._check_foreign(path)
        try:
            conn = sqlite3.connect(str(path), timeout=30)
            conn.executescript(_CREATE)
            conn.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (SCHEMA,))
            conn.commit()
        except sqlite3.Error as e:
            raise StoreError(f"cannot open DSE database {path}: {e}") from None
        return cls(path, conn)

    @staticmethod
    def _check_foreign(path: Path) -> None:
        """Read-only checks: the SQLite header, then our schema tag."""
        try:
            with open(path, "rb") as f:
                header = f.read(len(_HEADER))
        except OSError as e:
            raise StoreError(f"cannot read {path}: {e.strerror}") from None
        if header != _HEADER:
            raise StoreError(f"{path} is not a SQLite database (left untouched); give "
                             f"--db a new file or one `vta dse run` wrote")
        try:
            ro = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            try:
                tables = {r[0] for r in ro.execute(
                    "SELECT name FROM sqlite_master WHERE type='table'")}
                schema = None
                if "meta" in tables:
                    row = ro.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
                    schema = row[0] if row else None
            finally:
                ro.close()
        except sqlite3.Error as e:
            raise StoreError(f"{path} is a corrupt SQLite file ({e}); left untouched") from None
        if schema != SCHEMA:
            what = f"schema {schema!r}" if schema else \
                f"tables {', '.join(sorted(tables)) or 'none'}"
            raise StoreError(f"{path} is not a vta-kit DSE database ({what}); left "
                             f"untouched")

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ results
    def done_keys(self, tasks: list[dict[str, Any]], *, retry_failed: bool = False
                  ) -> set[str]:
        """The keys of ``tasks`` that already have a row (ok, or failed unless
        ``retry_failed``) under the same tool versions."""
        done = set()
        for t in tasks:
            row = self._conn.execute(
                "SELECT status FROM results WHERE config_digest=? AND workload=? AND level=? "
                "AND target=? AND tools=?", tuple(t[k] for k in _KEY)).fetchone()
            if row and (row[0] == "ok" or not retry_failed):
                done.add(t["key"])
        return done

    def put(self, row: dict[str, Any]) -> None:
        """Store one result row (replacing a failed one of the same key) and commit."""
        values = {**row, "config": json.dumps(row["config"], sort_keys=True),
                  "metrics": json.dumps(row.get("metrics", {}), sort_keys=True),
                  "created": time.time()}
        self._conn.execute(f"INSERT OR REPLACE INTO results ({', '.join(_COLUMNS)}) VALUES "
                           f"({', '.join('?' * len(_COLUMNS))})",
                           tuple(values[c] for c in _COLUMNS))
        self._conn.commit()

    def rows(self, level: str | None = None) -> list[dict[str, Any]]:
        """Every result row (newest tool versions last), metrics and config decoded."""
        query = f"SELECT {', '.join(_COLUMNS)} FROM results"
        args: tuple = ()
        if level is not None:
            query += " WHERE level=?"
            args = (level,)
        out = []
        for values in self._conn.execute(query + " ORDER BY created", args):
            row = dict(zip(_COLUMNS, values, strict=True))
            row["config"] = json.loads(row["config"])
            row["metrics"] = json.loads(row["metrics"])
            out.append(row)
        return out

    def count(self) -> int:
        return self._conn.execute("SELECT COUNT(*) FROM results").fetchone()[0]

    # ------------------------------------------------------------------ sweep runs
    @contextmanager
    def sweep_run(self, name: str, spec: dict[str, Any], executor: str, workers: int,
                  tasks: int, skipped: int) -> Iterator[dict[str, Any]]:
        """Record one run of a sweep; the caller fills ``done``/``failed`` in the dict."""
        started = time.time()
        cur = self._conn.execute(
            "INSERT INTO sweeps (name, spec, executor, workers, started, tasks, skipped) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (name, json.dumps(spec, sort_keys=True), executor, workers, started, tasks,
             skipped))
        self._conn.commit()
        info: dict[str, Any] = {"id": cur.lastrowid, "done": 0, "failed": 0}
        interrupted = 1
        try:
            yield info
            interrupted = 0
        finally:
            finished = time.time()
            info["wall_seconds"] = finished - started
            self._conn.execute(
                "UPDATE sweeps SET finished=?, wall_seconds=?, done=?, failed=?, "
                "interrupted=? WHERE id=?",
                (finished, finished - started, info["done"], info["failed"], interrupted,
                 info["id"]))
            self._conn.commit()

    def sweeps(self) -> list[dict[str, Any]]:
        cur = self._conn.execute("SELECT * FROM sweeps ORDER BY id")
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur]
