"""Checks before a deploy: what the board runs, and whether the bitstream and the kit fit it.

``vta board deploy`` and ``vta board run`` first run :data:`PROBE` on the board over SSH
with the PYNQ image's Python; it prints one JSON line (:class:`BoardInfo`): the PYNQ
version installed there, the Python version, the memory available, the CPU architecture
and the board name the image records (``$BOARD``, which PYNQ images write to
``/etc/environment`` and Kria-PYNQ to ``/etc/profile.d/pynq_venv.sh`` -- files a
non-login SSH command does not read, so the probe reads them).

:func:`check_board` compares that with the board table, the bitstream's own record of what
it was built for (:func:`bitstream_target`: its ``build.json`` or ``.hwh``) and what the kit
needs (Python, memory); every mismatch is one :class:`~vta.boards.table.BoardError` line
saying what to do.  An SSH host that does not answer fails within the probe's timeout.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from xml.etree import ElementTree as ET

from vta.driver.pynq_lines import ARCH_FAMILY, PYNQ_LINES, line_of

from .table import BOARDS, Board, BoardError

__all__ = ["PROBE", "BoardInfo", "BitstreamTarget", "probe_command", "run_probe",
           "parse_probe", "check_board", "check_bitstream", "bitstream_target",
           "kit_python_floor",
           "KIT_MEMORY_MIB", "PROBE_TIMEOUT"]

# What the kit's own process needs on the board besides the model: Python, numpy, onnx,
# llvmlite and the runtime with its buffers.
KIT_MEMORY_MIB = 128
# Seconds the whole probe may take (SSH connection included).
PROBE_TIMEOUT = 20.0

# One line of simple statements, so that ``--dry-run`` prints the probe as one command.
_PROBE_STATEMENTS = (
    "import json, os, platform, re, importlib.metadata as md",
    "pynq = next((d.version for d in md.distributions() "
    "if (d.metadata['Name'] or '').lower() == 'pynq'), None)",
    "found = (re.search(r'^\\s*(?:export\\s+)?BOARD=[\"\\']?([\\w.-]+)', open(p).read(), re.M) "
    "for p in ('/etc/environment', '/etc/profile.d/pynq_venv.sh') if os.access(p, os.R_OK))",
    "board = os.environ.get('BOARD') or next((m.group(1) for m in found if m), None)",
    "mem = next((int(x.split()[1]) // 1024 for x in open('/proc/meminfo') "
    "if x.startswith('MemAvailable:')), None) if os.access('/proc/meminfo', os.R_OK) "
    "else None",
    "print(json.dumps({'pynq': pynq, 'python': platform.python_version(), 'board': board, "
    "'arch': platform.machine(), 'mem_available_mib': mem}))",
)
PROBE = "; ".join(_PROBE_STATEMENTS)


@dataclass(frozen=True)
class BoardInfo:
    """What the probe found on the board (None where it could not tell)."""

    pynq: str | None
    python: str
    board: str | None
    arch: str
    mem_available_mib: int | None


@dataclass(frozen=True)
class BitstreamTarget:
    """What a bitstream was built for: board name (if recorded), part fields, PYNQ line."""

    board: str | None
    device: str | None
    pynq_line: str | None
    source: str                 # where this came from, for messages


def probe_command(remote) -> list[str]:
    """The ``ssh`` command that prints the board's :class:`BoardInfo` as JSON."""
    return remote.ssh(" ".join(shlex.quote(a) for a in (remote.python, "-c", PROBE)))


def parse_probe(text: str, host: str) -> BoardInfo:
    """The :class:`BoardInfo` in the probe's output (its last JSON line)."""
    for line in reversed(text.strip().splitlines()):
        try:
            d = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(d, dict) and "python" in d:
            return BoardInfo(d.get("pynq"), str(d["python"]), d.get("board"),
                             str(d.get("arch", "")), d.get("mem_available_mib"))
    raise BoardError(f"the board check on {host} printed no result; is its Python a PYNQ "
                     f"image's (--python)?")


def run_probe(remote, *, timeout: float = PROBE_TIMEOUT) -> BoardInfo:
    """Run the probe on the board; :class:`BoardError` on no answer within ``timeout``
    seconds, an SSH failure or a missing Python."""
    cmd = probe_command(remote)
    if shutil.which(cmd[0]) is None:
        raise BoardError(f"{cmd[0]} is not installed; install OpenSSH's client")
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise BoardError(f"{remote.target} did not answer within {timeout:g} s: is the board "
                         f"on, on the network and running sshd (port {remote.port})?") from None
    if proc.returncode == 255:
        why = (proc.stderr.strip().splitlines() or ["no message"])[-1]
        if "timed out" in why:                         # ssh's own ConnectTimeout
            raise BoardError(f"{remote.target} did not answer within "
                             f"{remote.connect_timeout:g} s: is the board on, on the network "
                             f"and running sshd (port {remote.port})?")
        raise BoardError(f"ssh to {remote.target} failed: {why}")
    if proc.returncode == 127:
        raise BoardError(f"{remote.python} does not exist on {remote.host}: is it a PYNQ "
                         f"image? (--python PATH names PYNQ's Python)")
    if proc.returncode != 0:
        why = (proc.stderr.strip().splitlines() or ["no message"])[-1]
        raise BoardError(f"the board check failed on {remote.host} (exit status "
                         f"{proc.returncode}): {why}")
    return parse_probe(proc.stdout, remote.host)


def kit_python_floor() -> tuple[int, int]:
    """The oldest Python the installed kit supports (its ``Requires-Python``)."""
    try:
        spec = metadata.metadata("vta-kit").get("Requires-Python") or ""
    except metadata.PackageNotFoundError:
        spec = ""
    m = re.search(r">=\s*(\d+)\.(\d+)", spec)
    return (int(m.group(1)), int(m.group(2))) if m else (3, 10)


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", text)[:2])


def bitstream_target(bit: Path) -> BitstreamTarget:
    """What ``bit`` was built for: its ``build.json`` (a ``vta board build`` folder) or,
    failing that, the ``.hwh`` beside it (SYSTEMINFO DEVICE, VIVADOVERSION)."""
    bit = Path(bit)
    info = bit.parent / "build.json"
    if info.is_file():
        try:
            meta = json.loads(info.read_text())
        except json.JSONDecodeError:
            meta = {}
        if meta.get("bit") == bit.name or meta.get("name") == bit.stem:
            board = BOARDS.get(meta.get("board", ""))
            device = board.capacity.fields[0] if board else None
            return BitstreamTarget(meta.get("board"), device, meta.get("pynq"), str(info))
    hwh = bit.with_suffix(".hwh")
    try:
        root = ET.parse(hwh).getroot()
    except (OSError, ET.ParseError):
        return BitstreamTarget(None, None, None, str(hwh))
    sysinfo = root.find("SYSTEMINFO")
    device = sysinfo.get("DEVICE") if sysinfo is not None else None
    vivado = root.get("VIVADOVERSION", "")
    line = next((p.line for p in PYNQ_LINES.values() if p.vivado == vivado), None)
    return BitstreamTarget(None, device, line, str(hwh))


def check_bitstream(board: Board, target: BitstreamTarget) -> None:
    """:class:`BoardError` if the bitstream was built for another board or part."""
    if target.board and target.board != board.name:
        raise BoardError(f"the bitstream was built for {target.board} ({target.source}), "
                         f"not {board.name}: build one with `vta board build --board "
                         f"{board.name}`")
    mine = board.capacity.fields[0]
    if target.device and target.device.lower() != mine.lower():
        raise BoardError(f"the bitstream is for a {target.device} ({target.source}), not "
                         f"{board.name}'s {mine}: build one with `vta board build --board "
                         f"{board.name}`")


def check_board(board: Board, info: BoardInfo, host: str, *,
                target: BitstreamTarget | None = None, need_mib: int = KIT_MEMORY_MIB) -> str:
    """Check the probed board against the table, the bitstream and the kit's needs.

    Returns
    -------
    str
        One line describing the board, for the log.

    Raises
    ------
    BoardError
        The first mismatch, as one line saying what to do.
    """
    if target is not None:
        check_bitstream(board, target)
    if info.board:
        named = [b for b in BOARDS.values() if b.pynq_board.lower() == info.board.lower()]
        if named and board not in named:
            raise BoardError(f"{host} says it is a {info.board}, not a {board.name}: "
                             f"deploy with --board {named[0].name}")
    family = ARCH_FAMILY.get(info.arch)
    if family is not None and family != board.family:
        raise BoardError(f"{host} has a {info.arch} CPU, but {board.name} is a "
                         f"{'Zynq-7000' if board.family == 'zynq' else 'ZynqMP'} board: is "
                         f"--board right?")
    lines = ", ".join(f"{v}.x" for v in board.pynq_lines)
    if info.pynq is None:
        raise BoardError(f"no PYNQ in {host}'s Python: {board.name} needs a PYNQ {lines} "
                         f"image (or --python naming the image's Python)")
    line = line_of(info.pynq)
    if line is None or line.line not in board.pynq_lines:
        have = _version_tuple(info.pynq)
        known = sorted(p.major_minor for p in PYNQ_LINES.values())
        age = ("older than" if have < known[0] else "newer than" if have > known[-1]
               else "not one of")
        raise BoardError(f"{host} runs PYNQ {info.pynq}, {age} the PYNQ lines the kit runs "
                         f"on {board.name} ({lines}): flash a PYNQ {board.pynq.line} image")
    if target is not None and target.pynq_line and target.pynq_line != line.line:
        built = PYNQ_LINES.get(target.pynq_line)
        vivado = f", Vivado {built.vivado}" if built else ""
        raise BoardError(f"the bitstream was built for PYNQ {target.pynq_line}{vivado} but "
                         f"{host} runs PYNQ {info.pynq}: rebuild with `vta board build "
                         f"--board {board.name} --pynq {line.line}`")
    floor = kit_python_floor()
    if _version_tuple(info.python) < floor:
        raise BoardError(f"{host} has Python {info.python}; the kit needs "
                         f"{floor[0]}.{floor[1]} or newer: flash a PYNQ {board.pynq.line} "
                         f"image")
    if info.mem_available_mib is not None and info.mem_available_mib < need_mib:
        raise BoardError(f"{host} has {info.mem_available_mib} MiB of memory available; "
                         f"this needs {need_mib} MiB: stop Jupyter kernels or other programs "
                         f"on the board")
    mem = (f"{info.mem_available_mib} MiB available" if info.mem_available_mib is not None
           else "memory unknown")
    return (f"{host}: {info.board or board.name}, PYNQ {info.pynq} (line {line.line}), "
            f"Python {info.python}, {mem}")
