"""Deploying a bitstream to a PYNQ board and running models there over SSH.

Everything is plain ``ssh``/``scp`` built as argument lists (no shell on the host side),
so :func:`deploy_commands` and :func:`run_commands` can be printed (``--dry-run``) and
tested.  Every connection gives up after ``ConnectTimeout`` seconds; before copying
anything the commands check the board (:mod:`vta.boards.board_check`).  On the board the
commands run PYNQ's own Python (the PYNQ image's virtual environment, as root because
loading an overlay needs it).

Board side, after ``vta board deploy``: ``<remote_dir>/<name>.bit`` and ``.hwh``; loading
checks that ``pynq.Overlay`` finds the accelerator IP ``vta_0``.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .table import BoardError

__all__ = ["Remote", "deploy_commands", "run_commands", "execute", "PYNQ_PYTHON"]

# The PYNQ image (v2.7+) keeps its Python in this virtual environment.
PYNQ_PYTHON = "/usr/local/share/pynq-venv/bin/python3"


@dataclass(frozen=True)
class Remote:
    """Where to reach the board: ``user@host``, SSH port, folder and board Python."""

    host: str
    user: str = "xilinx"
    port: int = 22
    remote_dir: str = "/home/xilinx/vta"
    python: str = PYNQ_PYTHON
    connect_timeout: int = 10

    def __post_init__(self) -> None:
        if not self.host or any(c.isspace() for c in self.host) or self.host.startswith("-"):
            raise BoardError(f"--host must be a host name or address, not {self.host!r}")
        if not 0 < self.port < 65536:
            raise BoardError(f"--port must be in 1..65535, not {self.port}")
        if not 0 < self.connect_timeout <= 600:
            raise BoardError(f"--connect-timeout must be 1..600 seconds, not "
                             f"{self.connect_timeout}")

    @property
    def options(self) -> list[str]:
        """SSH options: never prompt, give up connecting after ``connect_timeout`` s."""
        return ["-o", "BatchMode=yes", "-o", f"ConnectTimeout={self.connect_timeout}"]

    @property
    def target(self) -> str:
        return f"{self.user}@{self.host}" if self.user else self.host

    def ssh(self, command: str) -> list[str]:
        return ["ssh", "-p", str(self.port), *self.options, self.target, command]

    def scp(self, files: list[Path], dest: str) -> list[str]:
        return ["scp", "-P", str(self.port), *self.options,
                *[str(f) for f in files], f"{self.target}:{dest}"]

    def as_root(self, argv: list[str]) -> str:
        """A remote command line running ``argv`` with root rights (PYNQ needs them)."""
        return "sudo -n " + " ".join(shlex.quote(a) for a in argv)


_LOAD_SNIPPET = (
    "import sys, pynq; ov = pynq.Overlay(sys.argv[1]); "
    "ip = ov.ip_dict.get('vta_0'); "
    "assert ip is not None, 'vta_0 missing from the overlay: ' + ', '.join(ov.ip_dict); "
    "print('loaded', sys.argv[1], 'vta_0 at', hex(ip['phys_addr']))"
)


def deploy_commands(remote: Remote, bit: Path, hwh: Path | None = None) -> list[list[str]]:
    """The commands that copy ``bit`` (and its ``.hwh``) to the board and load it.

    Raises
    ------
    BoardError
        The bitstream or its ``.hwh`` is missing.
    """
    bit = Path(bit)
    hwh = Path(hwh) if hwh is not None else bit.with_suffix(".hwh")
    for f in (bit, hwh):
        if not f.is_file():
            raise BoardError(f"{f} does not exist; build it first with `vta board build`")
    if bit.stem != hwh.stem:
        raise BoardError(f"{bit.name} and {hwh.name} must share a name: PYNQ finds the "
                         f".hwh next to the .bit by name")
    rdir = remote.remote_dir.rstrip("/")
    remote_bit = f"{rdir}/{bit.name}"
    return [
        remote.ssh(f"mkdir -p {shlex.quote(rdir)}"),
        remote.scp([bit, hwh], rdir + "/"),
        remote.ssh(remote.as_root([remote.python, "-c", _LOAD_SNIPPET, remote_bit])),
    ]


def run_commands(remote: Remote, model: Path, *, config: str, bit_name: str,
                 extra: list[str] | None = None) -> list[list[str]]:
    """The commands that run ``model`` on the board with ``vta run --device pynq``.

    The board needs the kit installed in PYNQ's environment (``docs/boards.md``) and the
    bitstream deployed; the model is copied next to the bitstream first.
    """
    model = Path(model)
    if not model.is_file():
        raise BoardError(f"model {model} does not exist")
    rdir = remote.remote_dir.rstrip("/")
    vta = str(Path(remote.python).parent / "vta")
    argv = [vta, "run", f"{rdir}/{model.name}", "--device", "pynq", "--config", config,
            *(extra or [])]
    env = f"VTA_PYNQ_BITSTREAM={shlex.quote(rdir + '/' + bit_name)} "
    return [
        remote.ssh(f"mkdir -p {shlex.quote(rdir)}"),
        remote.scp([model], rdir + "/"),
        remote.ssh("sudo -n env " + env + " ".join(shlex.quote(a) for a in argv)),
    ]


def execute(commands: list[list[str]], *, dry_run: bool = False, echo=print) -> int:
    """Run ``commands`` in order (stop at the first failure); print them if ``dry_run``.

    Raises
    ------
    BoardError
        ``ssh``/``scp`` are not installed, or a command failed (naming it).
    """
    for cmd in commands:
        echo(" ".join(shlex.quote(c) for c in cmd))
        if dry_run:
            continue
        if shutil.which(cmd[0]) is None:
            raise BoardError(f"{cmd[0]} is not installed; install OpenSSH's client")
        result = subprocess.run(cmd)
        if result.returncode != 0:
            raise BoardError(f"`{cmd[0]} ... {cmd[-1][:60]}` failed with exit status "
                             f"{result.returncode}")
    return 0
