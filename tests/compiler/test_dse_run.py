"""Running DSE sweeps for real: in process, on a LocalCluster, on a Dask scheduler with
worker processes (one killed mid-sweep), interrupted and resumed.  Only loopback
addresses; every process started here is killed at the end."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from vta.compiler.dse import ResultStore, SweepSpec, design_points, run_sweep
from vta.compiler.dse.store import StoreError
from vta.hw.cli import main

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent


def _layer(name, size, channels):
    return {"name": name, "height": size, "width": size, "in_channels": channels,
            "out_channels": channels, "kernel": 3, "stride": 1, "padding": 1}


def _spec(tmp_path, axes, levels, layers, name="spec.json"):
    path = tmp_path / name
    path.write_text(json.dumps({"name": "t", "base": "tiny", "boards": ["pynq-z1"],
                                "levels": levels, "axes": axes,
                                "workload": {"conv2d": layers}}))
    return path


def _rows(db):
    with ResultStore.open(db, create=False) as store:
        return store.rows(), store.sweeps()


def test_in_process_sweep_stores_failures_resumes_and_shows(tmp_path, capsys):
    spec = SweepSpec.from_dict({"base": "tiny", "levels": ["estimate", "cycles"],
                                "axes": {"LOG_WGT_BUFF_SIZE": [5, 12]},
                                "workload": {"conv2d": [_layer("L1", 8, 16)]}})
    db = tmp_path / "r.sqlite"
    notes = []
    with ResultStore.open(db) as store:
        s = run_sweep(spec, store, workers=0, progress=False, note=notes.append)
        assert (s.tasks, s.done, s.failed, s.executor) == (4, 4, 2, "this process")
        rows = store.rows()
        again = run_sweep(spec, store, workers=0, progress=False)
        assert (again.done, again.skipped) == (0, 4)
        assert store.count() == 4
    failed = [r for r in rows if r["status"] == "failed"]
    assert {r["level"] for r in failed} == {"estimate", "cycles"}
    assert all(r["config"]["LOG_WGT_BUFF_SIZE"] == 5 for r in failed)
    assert any("no tiling of L1 fits" in r["reason"] for r in failed)
    ok = next(r for r in rows if r["level"] == "cycles" and r["status"] == "ok")
    layer = ok["metrics"]["layers"]["L1"]
    assert layer["exact"] and layer["cycles"] > 0 and layer["est_cycles"] > 0
    assert ok["metrics"]["err_max"] == pytest.approx(
        abs(layer["est_cycles"] - layer["cycles"]) / layer["cycles"])
    (point,) = [p for p in design_points(rows) if p.status == "ok"]
    assert point.cycles == layer["cycles"] and point.utilization > 0.5
    csv_path, png = tmp_path / "p.csv", tmp_path / "p.png"
    assert main(["dse", "show", "--db", str(db), "--csv", str(csv_path), "--plot",
                 str(png), "--pareto", "latency,sram_kib", "--errors"]) == 0
    out = capsys.readouterr().out
    assert "LOG_WGT_BUFF_SIZE=12" in out and "no tiling of L1 fits" in out
    assert "cost model vs Verilator: 1 layers on 1 points" in out
    assert "model is optimistic" in out and "\nL1 " in out
    assert csv_path.read_text().count("\n") == 3 and png.read_bytes()[:4] == b"\x89PNG"


def _finished_points(db: Path) -> int:
    """Rows in ``db`` so far; 0 while the sweep has not created its tables yet."""
    try:
        with ResultStore.open(db, create=False) as store:
            return store.count()
    except StoreError:
        return 0


def test_an_interrupted_sweep_keeps_its_points_and_resumes(tmp_path):
    n = 8       # enough points that the sweep cannot finish before the interrupt lands
    spec = _spec(tmp_path, {"DRAM_LATENCY": [8 * (i + 1) for i in range(n)]}, ["cycles"],
                 [_layer("L1", 14, 64)])
    db = tmp_path / "r.sqlite"
    cmd = [str(BIN / "vta"), "dse", "run", str(spec), "--db", str(db), "--workers", "0",
           "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if db.exists() and _finished_points(db) >= 1:
                break
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    rows, sweeps = _rows(db)
    kept = len(rows)
    assert 1 <= kept < n and all(r["status"] == "ok" for r in rows)
    assert sweeps[-1]["interrupted"] == 1
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"{n - kept} task(s) run (0 failed), {kept} already in the database" in done.stdout
    rows, sweeps = _rows(db)
    assert len(rows) == n and len({r["config_digest"] for r in rows}) == n
    assert sweeps[-1]["interrupted"] == 0


def test_a_local_cluster_of_two_workers_shares_one_synthesis(tmp_path):
    spec = SweepSpec.from_dict({"base": "tiny", "levels": ["estimate", "cycles", "resources"],
                                "axes": {"DRAM_LATENCY": [8, 16]},
                                "workload": {"conv2d": [_layer("L1", 8, 16)]}})
    with ResultStore.open(tmp_path / "r.sqlite") as store:
        s = run_sweep(spec, store, workers=2, progress=False)
        rows = store.rows()
    assert s.executor == "Dask LocalCluster (2 workers)" and s.workers == 2
    assert (s.done, s.failed) == (6, 0), [r["reason"] for r in rows]
    res = [r["metrics"] for r in rows if r["level"] == "resources"]
    assert len(res) == 2 and res[0]["rtl"] == res[1]["rtl"]     # DRAM_LATENCY: same RTL
    assert {k: res[0][k] for k in ("lut", "ff", "bram36", "dsp")} == \
        {k: res[1][k] for k in ("lut", "ff", "bram36", "dsp")}
    assert sum(not m["cached"] for m in res) <= 1              # synthesized at most once
    assert all(m["fits"] and m["part"] == "xc7z020clg400-1" and m["dsp"] > 0 for m in res)
    points = design_points(rows)
    assert len(points) == 2 and all(p.gops_per_dsp and p.fits for p in points)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port, proc, seconds=60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"dask scheduler exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise AssertionError(f"nothing listens on 127.0.0.1:{port} after {seconds} s")


def test_a_dask_cluster_survives_a_killed_worker(tmp_path):
    from distributed import Client

    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    logs = tmp_path / "logs"
    logs.mkdir()
    procs: dict[str, subprocess.Popen] = {}

    def start(name, args):
        out = open(logs / f"{name}.log", "w")
        procs[name] = subprocess.Popen([str(BIN / "dask"), *args], stdout=out, stderr=out,
                                       start_new_session=True, cwd=tmp_path)

    try:
        start("scheduler", ["scheduler", "--host", "127.0.0.1", "--port", str(port),
                            "--no-dashboard"])
        _wait_port(port, procs["scheduler"])
        for name in ("w1", "w2"):
            start(name, ["worker", address, "--name", name, "--nthreads", "1", "--no-nanny",
                         "--no-dashboard", "--host", "127.0.0.1",
                         "--local-directory", str(tmp_path / name)])
        with Client(address, timeout=30) as watcher:
            watcher.wait_for_workers(2, timeout=60)
            names = {addr: w["name"] for addr, w in watcher.scheduler_info(
                n_workers=-1)["workers"].items()}
            spec = _spec(tmp_path, {"DRAM_LATENCY": [8, 16, 24, 32]}, ["cycles"],
                         [_layer("L1", 14, 128)])
            db = tmp_path / "r.sqlite"
            sweep = subprocess.Popen([str(BIN / "vta"), "dse", "run", str(spec), "--db",
                                      str(db), "--scheduler", address, "--no-progress"],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
            procs["sweep"] = sweep
            killed_key = None
            deadline = time.monotonic() + 120
            while killed_key is None and time.monotonic() < deadline and sweep.poll() is None:
                for addr, keys in watcher.processing().items():
                    if names.get(addr) == "w1" and keys:
                        os.kill(procs["w1"].pid, signal.SIGKILL)
                        killed_key = str(keys[0]).split("#")[0]
                        break
                time.sleep(0.05)
            assert killed_key is not None, "w1 never ran a task"
            out, err = sweep.communicate(timeout=300)
        assert sweep.returncode == 0, err
        assert "4 task(s) run (0 failed)" in out
        rows, _ = _rows(db)
        assert len(rows) == 4 and len({r["config_digest"] for r in rows}) == 4
        assert all(r["status"] == "ok" for r in rows)
        redone = next(r for r in rows if killed_key == f"dse-cycles-{r['config_digest']}-any-"
                      f"{r['workload']}")
        assert redone["worker"].endswith(f":{procs['w2'].pid}")
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    proc.kill()
            proc.wait(timeout=30)


def test_an_unreachable_scheduler_fails_in_one_line_within_10_s(tmp_path):
    spec = _spec(tmp_path, {}, ["estimate"], [_layer("L1", 8, 16)])
    port = _free_port()          # nothing listens there
    t0 = time.monotonic()
    proc = subprocess.run([str(BIN / "vta"), "dse", "run", str(spec), "--db",
                           str(tmp_path / "r.sqlite"), "--scheduler",
                           f"tcp://127.0.0.1:{port}"], capture_output=True, text=True,
                          timeout=60)
    assert time.monotonic() - t0 < 10
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot reach the Dask scheduler at tcp://127.0.0.1" in lines[0]
    assert not (tmp_path / "r.sqlite").exists()


def test_without_dask_the_sweep_runs_here_with_a_note(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)     # as if not installed
    spec = SweepSpec.from_dict({"base": "tiny", "levels": ["estimate"],
                                "axes": {"DRAM_LATENCY": [8, 16]},
                                "workload": {"conv2d": [_layer("L1", 8, 16)]}})
    notes = []
    with ResultStore.open(tmp_path / "r.sqlite") as store:
        s = run_sweep(spec, store, progress=False, note=notes.append)
        assert (s.executor, s.done, s.failed) == ("this process", 2, 0)
        assert len(notes) == 1 and "Dask is not installed" in notes[0]
        with pytest.raises(Exception, match="--scheduler needs Dask"):
            run_sweep(spec, store, scheduler="tcp://127.0.0.1:1", progress=False)
