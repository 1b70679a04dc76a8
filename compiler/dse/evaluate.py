"""One unit of DSE work: a point at one level, as a plain dict in and a result row out.

:func:`tasks_for` turns a spec's points into tasks (plain, picklable dicts, so a Dask
worker on another machine needs nothing but the kit); :func:`evaluate` runs one task
anywhere and returns the row the client stores.  A task never raises: a config the
hardware rejects, a layer no tiling fits, a build error or a wrong result is a row with
``status = "failed"`` and the reason.
"""

from __future__ import annotations

import os
import socket
import statistics
import time
from dataclasses import asdict
from typing import Any

from vta.hw.config import VTAConfig
from vta.hw.errors import VTAError

from .adapter import (
    board_part,
    estimate_layer,
    make_workload,
    measure_layers,
    resources,
    tool_versions,
)
from .spec import SweepSpec

__all__ = ["tasks_for", "evaluate", "task_key"]


def task_key(config_digest: str, workload: str, level: str, target: str) -> str:
    """The Dask key and the database identity of one task (tools aside)."""
    return f"dse-{level}-{config_digest}-{target or 'any'}-{workload}"


def tasks_for(spec: SweepSpec) -> list[dict[str, Any]]:
    """One task per (distinct config, level): estimate and cycles do not depend on the
    board, resources do not depend on the workload."""
    tasks: dict[str, dict[str, Any]] = {}
    layers = [(la.name, la.kind, dict(la.shape)) for la in spec.workload.layers]
    for point in spec.points():
        for level in spec.levels:
            target = board_part(point.board) if level == "resources" else ""
            workload = "" if level == "resources" else spec.workload.key
            key = task_key(point.digest, workload, level, target)
            if key in tasks:
                continue
            tasks[key] = {"key": key, "level": level, "config": point.config.to_dict(),
                          "config_digest": point.digest, "label": point.label,
                          "board": point.board, "target": target, "workload": workload,
                          "layers": layers, "seed": spec.seed, "error": point.error,
                          "tools": tool_versions(level)}
    return list(tasks.values())


def evaluate(task: dict[str, Any]) -> dict[str, Any]:
    """Run one task; return its row (``status`` ``ok`` or ``failed`` with ``reason``)."""
    t0 = time.perf_counter()
    row = {k: task[k] for k in ("key", "level", "config_digest", "workload", "target",
                                "tools", "label", "board")}
    row["config"] = task["config"]
    row["worker"] = f"{socket.gethostname()}:{os.getpid()}"
    try:
        if task["error"]:
            raise VTAError(f"the config rejects this combination: {task['error']}")
        config = VTAConfig.from_dict(task["config"])
        metrics = _LEVELS[task["level"]](config, task)
        row.update(status="ok", reason="", metrics=metrics)
    except VTAError as e:
        row.update(status="failed", reason=str(e), metrics={})
    except Exception as e:  # noqa: BLE001 - a point's bug must not abort the sweep
        row.update(status="failed", reason=f"internal error {type(e).__name__}: {e}",
                   metrics={})
    row["seconds"] = time.perf_counter() - t0
    return row


def _workloads(task: dict[str, Any]) -> list[tuple[str, Any]]:
    return [(name, make_workload(kind, shape)) for name, kind, shape in task["layers"]]


def _estimate(config: VTAConfig, task: dict[str, Any]) -> dict[str, Any]:
    layers: dict[str, Any] = {}
    for name, w in _workloads(task):
        try:
            layers[name] = estimate_layer(w, config)
        except VTAError as e:
            raise VTAError(f"no tiling of {name} fits: {e}") from None
    return {"layers": layers, **_totals(layers, ("cycles", "dram_bytes", "macs",
                                                  "instructions"))}


def _cycles(config: VTAConfig, task: dict[str, Any]) -> dict[str, Any]:
    from vta.sim.fsim_compute import single_thread_blas

    with single_thread_blas():
        measured = measure_layers(config, _workloads(task), task["seed"])
    wrong = [name for name, m in measured.items() if not m.exact]
    if wrong:
        raise VTAError(f"layer {wrong[0]}: the Verilator result differs from numpy")
    layers = {name: asdict(m) for name, m in measured.items()}
    errors = [abs(m.est_cycles - m.cycles) / m.cycles for m in measured.values() if m.cycles]
    out = {"layers": layers, **_totals(layers, ("cycles", "est_cycles", "macs", "dram_bytes",
                                                "gemm_uops"))}
    if errors:
        out["err_median"] = statistics.median(errors)
        out["err_max"] = max(errors)
    return out


def _resources(config: VTAConfig, task: dict[str, Any]) -> dict[str, Any]:
    return resources(config, task["board"])


def _totals(layers: dict[str, dict[str, Any]], names: tuple[str, ...]) -> dict[str, int]:
    return {n: sum(int(v.get(n, 0)) for v in layers.values()) for n in names}


_LEVELS = {"estimate": _estimate, "cycles": _cycles, "resources": _resources}
