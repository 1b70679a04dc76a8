"""Running a sweep: the tasks not yet in the database, on Dask or in this process.

Executors:

* a Dask ``LocalCluster`` of ``workers`` processes (one thread each) -- the default when
  Dask is installed (``vta-kit[dse]``);
* an existing Dask cluster at ``scheduler`` (``tcp://HOST:8786``), its workers anywhere:
  each builds Verilator models into its own cache by digest, and returns rows;
* this process (``workers=0``, or Dask missing -- said in one note).

Only this process (the client) writes the database, one committed row per finished task,
so Ctrl-C or a killed worker loses no finished point; Dask reschedules the task of a dead
worker elsewhere, and the database's primary key keeps one row per result.  A rerun skips
every task that has a row under the same tool versions.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vta.hw.errors import VTAError

from .evaluate import evaluate, tasks_for
from .spec import SweepSpec
from .store import ResultStore

__all__ = ["DSEError", "SweepSummary", "run_sweep", "probe_scheduler", "CONNECT_TIMEOUT"]

CONNECT_TIMEOUT = 5.0
"""Seconds to reach a Dask scheduler before giving up with one line."""


class DSEError(VTAError):
    """The sweep cannot run: no Dask for --scheduler, an unreachable scheduler ..."""


@dataclass
class SweepSummary:
    """What one run did: tasks in the spec, skipped (already stored), done, failed."""

    tasks: int
    skipped: int
    done: int
    failed: int
    wall_seconds: float
    executor: str
    workers: int
    task_seconds: float = 0.0     # the tasks' own run times added up

    def line(self) -> str:
        return (f"{self.done} task(s) run ({self.failed} failed), {self.skipped} already in "
                f"the database, {self.tasks} in the spec; {self.wall_seconds:.1f} s wall on "
                f"{self.executor}")


def _failed_row(task: dict[str, Any], reason: str) -> dict[str, Any]:
    row = {k: task[k] for k in ("key", "level", "config_digest", "workload", "target",
                                "tools", "label", "board", "config")}
    row.update(status="failed", reason=reason, metrics={}, seconds=0.0, worker="")
    return row


def run_sweep(spec: SweepSpec, store: ResultStore, *, workers: int | None = None,
              scheduler: str | None = None, progress: bool = True,
              retry_failed: bool = False, note: Callable[[str], None] = print,
              connect_timeout: float = CONNECT_TIMEOUT) -> SweepSummary:
    """Evaluate every task of ``spec`` that ``store`` does not hold yet.

    ``workers``: processes of a local Dask cluster (default: the CPU count; 0 runs in this
    process).  ``scheduler``: the address of a running Dask scheduler instead.

    Raises
    ------
    DSEError
        ``scheduler`` given without Dask installed, or unreachable within
        ``connect_timeout`` seconds.
    """
    executor, client, cluster = "this process", None, None
    n_workers = 1
    distributed: Any = None
    if scheduler is not None or workers != 0:
        try:
            import distributed
        except ImportError:
            if scheduler is not None:
                raise DSEError("--scheduler needs Dask: pip install 'vta-kit[dse]'") from None
            note("note: Dask is not installed, so the sweep runs in this process, one point "
                 "at a time (pip install 'vta-kit[dse]' for parallel workers)")
    if scheduler is not None:
        probe_scheduler(scheduler, connect_timeout)
    tasks = tasks_for(spec)
    done = store.done_keys(tasks, retry_failed=retry_failed)
    todo = [t for t in tasks if t["key"] not in done]
    if todo and distributed is not None:
        client, cluster, executor, n_workers = _connect(distributed, workers, scheduler,
                                                        connect_timeout)
    summary = SweepSummary(len(tasks), len(done), 0, 0, 0.0, executor, n_workers)
    t0 = time.perf_counter()
    try:
        with store.sweep_run(spec.name, spec.to_dict(), executor, n_workers, len(tasks),
                             len(done)) as info:
            rows = _run_dask(client, todo, progress) if client is not None else \
                _run_here(todo, progress)
            for row in rows:
                store.put(row)
                summary.done += 1
                summary.failed += row["status"] == "failed"
                summary.task_seconds += row["seconds"]
                info["done"], info["failed"] = summary.done, summary.failed
    finally:
        summary.wall_seconds = time.perf_counter() - t0
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
    return summary


def probe_scheduler(scheduler: str, timeout: float = CONNECT_TIMEOUT) -> None:
    """Fail fast, before importing Dask, when nothing answers at a ``tcp://`` address."""
    protocol, sep, rest = scheduler.partition("://")
    if not sep:
        raise DSEError(f"scheduler address {scheduler!r} needs a protocol, e.g. "
                       f"tcp://{scheduler}")
    if protocol != "tcp":
        return
    host, _, port = rest.rstrip("/").rpartition(":")
    if not host or not port.isdigit():
        raise DSEError(f"scheduler address {scheduler!r} must be tcp://HOST:PORT")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            pass
    except OSError as e:
        raise DSEError(f"cannot reach the Dask scheduler at {scheduler} within {timeout:g} s "
                       f"({e.strerror or type(e).__name__})") from None


def _connect(distributed: Any, workers: int | None, scheduler: str | None,
             timeout: float) -> tuple[Any, Any, str, int]:
    """A Dask client on ``scheduler`` or on a new LocalCluster of ``workers`` processes."""
    os.environ.setdefault("AMARANTH_USE_YOSYS", "builtin")
    if scheduler is not None:
        try:
            client = distributed.Client(scheduler, timeout=timeout)
        except (OSError, TimeoutError, ValueError) as e:
            raise DSEError(f"cannot reach the Dask scheduler at {scheduler} within "
                           f"{timeout:g} s ({type(e).__name__}: {str(e).splitlines()[0]})"
                           ) from None
        n = len(client.scheduler_info().get("workers", {}))
        return client, None, f"Dask scheduler {scheduler} ({n} workers)", max(1, n)
    n = workers or os.cpu_count() or 1
    cluster = distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                       dashboard_address=":0", silence_logs=logging.ERROR)
    client = distributed.Client(cluster)
    return client, cluster, f"Dask LocalCluster ({n} workers)", n


def _bar(total: int, progress: bool) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc="dse", unit="task", disable=not progress, leave=False)


def _run_here(todo: list[dict[str, Any]], progress: bool) -> Any:
    with _bar(len(todo), progress) as bar:
        for task in todo:
            bar.set_postfix_str(f"{task['level']} {task['label']}")
            row = evaluate(task)
            bar.update(1)
            yield row


def _run_dask(client: Any, todo: list[dict[str, Any]], progress: bool) -> Any:
    from distributed import as_completed

    stamp = f"{os.getpid()}-{time.time_ns()}"
    futures = {}
    for task in todo:
        fut = client.submit(evaluate, task, key=f"{task['key']}#{stamp}", pure=False)
        futures[fut.key] = (fut, task)
    with _bar(len(todo), progress) as bar:
        try:
            for fut in as_completed([f for f, _ in futures.values()]):
                task = futures[fut.key][1]
                try:
                    row = fut.result()
                except Exception as e:  # noqa: BLE001 - KilledWorker, lost data, ...
                    reason = str(e).splitlines()[0] if str(e) else type(e).__name__
                    row = _failed_row(task, f"{type(e).__name__}: {reason}")
                bar.update(1)
                yield row
        finally:
            client.cancel([f for f, _ in futures.values()])
