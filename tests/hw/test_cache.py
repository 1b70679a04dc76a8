"""The build cache: ``vta cache info`` / ``vta cache prune``, locks, read-only folders."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from vta.hw import cache
from vta.hw.cli import main

DAY = 86400.0


def _make(path: Path, size: int, age_days: float, *, folder: bool = True) -> Path:
    """A cache entry of ``size`` bytes last used ``age_days`` ago."""
    if folder:
        path.mkdir(parents=True)
        (path / "payload").write_bytes(b"x" * size)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * size)
    stamp = time.time() - age_days * DAY
    os.utime(path, (stamp, stamp))
    return path


@pytest.fixture
def populated(tmp_path, monkeypatch) -> Path:
    """A cache with entries of every kind, of known sizes and ages, as the kit lays it out."""
    root = tmp_path / "cache"
    monkeypatch.setenv("VTA_CACHE_DIR", str(root))
    for i, age in enumerate((30, 5, 0.1)):
        _make(root / "verilator" / f"digest{i}", 1000, age)
        (root / "verilator" / f"digest{i}.lock").touch()
        _make(root / "verilog" / f"key{i}", 100, age)
        _make(root / "cpu-kernels" / f"kernel{i}.o", 10, age, folder=False)
    _make(root / "bitstreams" / "pynq-z1" / "cfg-0123", 5000, 40)
    _make(root / "bitstreams" / "zcu104" / "cfg-4567", 5000, 1)
    _make(root / "pynq-venv-abc", 20000, 2)
    return root


def _info(capsys) -> dict:
    assert main(["cache", "info", "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_info_counts_each_kind(populated, capsys):
    kinds = _info(capsys)["kinds"]
    assert kinds["verilator"] == {"entries": 3, "bytes": 3000}
    assert kinds["verilog"] == {"entries": 3, "bytes": 300}
    assert kinds["cpu-kernels"] == {"entries": 3, "bytes": 30}
    assert kinds["bitstreams"] == {"entries": 2, "bytes": 10000}
    assert kinds["pynq-venvs"] == {"entries": 1, "bytes": 20000}
    assert main(["cache", "info"]) == 0
    text = capsys.readouterr().out
    assert str(populated) in text and "Verilator models" in text and "PYNQ test venvs" in text


def test_prune_keep_keeps_the_most_recently_used(populated, capsys):
    assert main(["cache", "prune", "--keep", "1"]) == 0
    assert sorted(p.name for p in (populated / "verilator").iterdir() if p.is_dir()) == \
        ["digest2"]
    assert [p.name for p in (populated / "cpu-kernels").iterdir()] == ["kernel2.o"]
    assert (populated / "bitstreams" / "zcu104" / "cfg-4567").exists()
    assert not (populated / "bitstreams" / "pynq-z1" / "cfg-0123").exists()
    assert (populated / "pynq-venv-abc").exists()
    assert "removed 7 entries" in capsys.readouterr().out


def test_a_hit_counts_as_a_use(populated):
    old = populated / "verilator" / "digest0"
    cache.touch(old)
    cache.prune(keep=1, kinds=["verilator"])
    assert old.exists() and not (populated / "verilator" / "digest2").exists()


def test_prune_older_than(populated):
    report = cache.prune(older_than_days=3)
    gone = {e.path.name for e in report.removed}
    assert gone == {"digest0", "digest1", "key0", "key1", "kernel0.o", "kernel1.o",
                    "cfg-0123"}
    assert (populated / "pynq-venv-abc").exists()


def test_prune_all_and_dry_run(populated, capsys):
    assert main(["cache", "prune", "--all", "--dry-run"]) == 0
    assert "would remove 12 entries" in capsys.readouterr().out
    assert (populated / "verilator" / "digest0").exists()
    assert main(["cache", "prune", "--all", "--kind", "cpu-kernels"]) == 0
    assert not any((populated / "cpu-kernels").iterdir())
    assert (populated / "verilator" / "digest0").exists()
    assert main(["cache", "prune", "--all"]) == 0
    capsys.readouterr()
    assert _info(capsys)["kinds"]["verilator"]["entries"] == 0


def test_prune_needs_one_rule(populated, capsys):
    with pytest.raises(SystemExit):
        main(["cache", "prune"])
    with pytest.raises(cache.CacheError, match="exactly one"):
        cache.prune(keep=1, everything=True)
    with pytest.raises(cache.CacheError, match="--keep"):
        cache.prune(keep=-1)


_HOLD = """
import sys, time
from pathlib import Path
from vta.hw.cache import entry_lock
with entry_lock(Path(sys.argv[1])):
    print("locked", flush=True)
    time.sleep(60)
"""


def test_prune_skips_what_a_running_build_holds(populated, capsys):
    verilator = populated / "verilator"
    building = verilator / "digest1.build-abc"          # a build of digest1 in progress
    building.mkdir()
    abandoned = verilator / "digest9.build-xyz"         # left by a build that was killed
    abandoned.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, str(verilator / "digest1.lock")],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert main(["cache", "prune", "--all"]) == 0
        out = capsys.readouterr().out
    finally:
        holder.kill()
        holder.wait()
    assert (verilator / "digest1").exists() and building.exists()
    assert not (verilator / "digest0").exists() and not abandoned.exists()
    assert "kept (in use by a running build)" in out and "1 abandoned build folders" in out
    cache.prune(everything=True)                        # the build is over: now it goes
    assert not (verilator / "digest1").exists() and not building.exists()


@pytest.fixture
def read_only(populated):
    """Make the populated cache read-only for real (root ignores permission bits: use a
    read-only bind mount, or the immutable attribute)."""
    if os.geteuid() != 0:
        for path in [populated, *populated.rglob("*")]:
            if path.is_dir():
                path.chmod(0o555)
        yield populated
        for path in [populated, *populated.rglob("*")]:
            if path.is_dir():
                path.chmod(0o755)
        return
    mounted = subprocess.run(["mount", "--bind", str(populated), str(populated)],
                             capture_output=True).returncode == 0
    if mounted:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(populated)], check=True)
        yield populated
        subprocess.run(["umount", str(populated)], check=True)
        return
    subprocess.run(["chattr", "+i", str(populated)], check=True)
    yield populated
    subprocess.run(["chattr", "-i", str(populated)], check=True)


def test_read_only_cache(read_only, capsys):
    assert not cache.is_writable(read_only)
    assert main(["cache", "info"]) == 0
    assert "read-only" in capsys.readouterr().out
    assert main(["cache", "prune", "--all"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "read-only" in err and "VTA_CACHE_DIR" in err
    with pytest.raises(cache.CacheError, match="read-only"):
        cache.check_writable()


def test_missing_or_bad_cache_directory(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("VTA_CACHE_DIR", str(tmp_path / "nothing-here"))
    assert main(["cache", "info"]) == 0
    assert "does not exist yet" in capsys.readouterr().out
    assert main(["cache", "prune", "--all"]) == 0
    assert "nothing to prune" in capsys.readouterr().out
    (tmp_path / "a-file").write_text("x")
    monkeypatch.setenv("VTA_CACHE_DIR", str(tmp_path / "a-file"))
    assert main(["cache", "info"]) == 2
    err = capsys.readouterr().err
    assert "not a folder" in err and "VTA_CACHE_DIR" in err
    with pytest.raises(cache.CacheError, match="not a folder"):
        cache.check_writable()


def test_cache_directory_that_cannot_be_created(tmp_path, monkeypatch, capsys):
    """Under a file, or under /proc: one line naming the path and VTA_CACHE_DIR (these
    used to be NotADirectoryError / FileNotFoundError tracebacks)."""
    from vta.hw import isa
    from vta.hw.config import VTAConfig

    (tmp_path / "a-file").write_text("x")
    prog = tmp_path / "p.bin"
    prog.write_bytes(isa.encode([isa.Finish()], VTAConfig.preset("default")))
    for root in (tmp_path / "a-file" / "cache", Path("/proc/vta-kit-cache")):
        monkeypatch.setenv("VTA_CACHE_DIR", str(root))
        with pytest.raises(cache.CacheError, match=rf"^cache directory {re.escape(str(root))}"
                                                   r" \(VTA_CACHE_DIR; .*\) cannot be "
                                                   r"created: "):
            cache.check_writable()
        assert main(["sim", "run", str(prog), "--device", "verilator"]) == 2   # no build
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and "cannot be created" in err and "VTA_CACHE_DIR" in err


def test_a_build_removes_what_killed_builds_left(tmp_path, monkeypatch):
    """Abandoned ``<digest>.build-*`` folders of any digest go at the next build (not only
    those of the digest being built); one whose build still runs stays."""
    from vta.sim.verilator import build as vbuild

    from tests.sim.verilator_copier import copier_verilog

    monkeypatch.setenv("VTA_CACHE_DIR", str(tmp_path))
    verilator = tmp_path / "verilator"
    verilator.mkdir()
    abandoned = verilator / "0123456789abcdef01234567.build-dead"
    abandoned.mkdir()
    (abandoned / "obj").mkdir()
    (abandoned / "obj" / "big.o").write_bytes(b"\0" * 4096)
    running = verilator / "fedcba9876543210fedcba98.build-live"
    running.mkdir()

    class StopError(Exception):
        pass

    def interrupted(*args, **kwargs):
        raise StopError
    monkeypatch.setattr(vbuild, "_build", interrupted)
    holder = subprocess.Popen([sys.executable, "-c", _HOLD,
                               str(verilator / "fedcba9876543210fedcba98.lock")],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(StopError):
            vbuild.build_library(copier_verilog(64), progress=False)
    finally:
        holder.kill()
        holder.wait()
    assert not abandoned.exists() and running.exists()
    assert list(verilator.glob("*.build-*")) == [running]   # this build's own folder too
