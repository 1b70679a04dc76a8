"""The PYNQ release lines the ``pynq`` backend runs on, and everything that differs between them.

Two lines are current in 2026 (see ``docs/boards.md``):

* **3.1.x** -- Ubuntu 22.04 images with Python 3.10, overlays built with Vivado 2024.1; the
  last line with Zynq-7000 (PYNQ-Z1/Z2) images, and ZynqMP boards too;
* **4.0.x** -- Ubuntu 24.04 images with Python 3.12, Vivado 2025.2; ZynqMP (ZCU104 is its
  reference board, Kria through Kria-PYNQ) and Versal.  It removed the Zynq-7000 boards
  (Xilinx/PYNQ pull request 1577).

What the kit uses of PYNQ -- ``Overlay``, ``MMIO``, ``allocate`` and ``PynqBuffer``
(``device_address``, ``flush``, ``invalidate``, ``freebuffer``) and the ``pynq.Device``
interface -- is the same in both lines, so :mod:`vta.driver.pynq_device` has no per-line
code.  The differences, all recorded here and nowhere else:

* where the runtime metadata parser lives (``pynq.metadata`` in 3.1, ``pynqmetadata.views``
  in 4.0) -- a simulated device must hand ``Overlay`` the parser its own line uses;
* how ``Overlay`` sets the fabric clocks: 3.1 programs the divisors the ``.hwh`` records,
  4.0 the achieved frequency it records (``*_ACT_FREQMHZ``) -- the kit's ``.hwh`` carries
  both (:func:`vta.boards.hwh.ps_clock_parameters`);
* which processor families the line supports: 4.0 has no Zynq-7000 support.

:func:`check_pynq` is the run-time check the backend makes before it touches an overlay:
an unsupported version, or a line on a processor family it does not support, is one
:class:`PynqVersionError` naming the PYNQ version, the board and what the kit supports.
"""

from __future__ import annotations

import importlib
import os
import platform
import re
from dataclasses import dataclass
from typing import Any

from .errors import DeviceError

__all__ = ["PynqLine", "PYNQ_LINES", "PynqVersionError", "line_of", "check_pynq",
           "check_pynq_version", "ARCH_FAMILY", "supported_text"]


class PynqVersionError(DeviceError):
    """A PYNQ version (or a version on a processor family) the kit does not run on."""


# The CPU architecture PYNQ reports (``platform.machine()``, ``pynq.Device.arch``) and the
# processor family it means, named as a ``.hwh`` names it (SYSTEMINFO ARCH).
ARCH_FAMILY = {"armv7l": "zynq", "aarch64": "zynquplus"}
_FAMILY_TITLE = {"zynq": "Zynq-7000", "zynquplus": "ZynqMP"}


@dataclass(frozen=True)
class PynqLine:
    """One PYNQ release line.

    Members
    -------
    line:
        ``"3.1"`` or ``"4.0"``: the versions ``line.*`` belong to it.
    tested:
        The release the kit's CI runs the backend through (from PyPI).
    python, ubuntu:
        Python and Ubuntu versions of the line's board images.
    vivado:
        The Vivado release the line's overlays are built with.
    families:
        Processor families the line has images for (``zynq``: Zynq-7000,
        ``zynquplus``: ZynqMP / Kria).
    metadata_parser:
        ``module:Class`` of the runtime metadata parser the line's ``EmbeddedDevice``
        builds from a ``.hwh``.
    """

    line: str
    tested: str
    python: str
    ubuntu: str
    vivado: str
    families: tuple[str, ...]
    metadata_parser: str

    @property
    def major_minor(self) -> tuple[int, int]:
        major, minor = self.line.split(".")
        return int(major), int(minor)

    def title(self) -> str:
        return f"PYNQ {self.line}.x"

    def supports_family(self, family: str) -> bool:
        return family in self.families

    def parser_class(self) -> type:
        """The runtime metadata parser class of this line (imports PYNQ)."""
        module, name = self.metadata_parser.split(":")
        return getattr(importlib.import_module(module), name)


PYNQ_LINES: dict[str, PynqLine] = {p.line: p for p in (
    PynqLine("3.1", tested="3.1.2", python="3.10", ubuntu="22.04", vivado="2024.1",
             families=("zynq", "zynquplus"),
             metadata_parser="pynq.metadata.runtime_metadata_parser:RuntimeMetadataParser"),
    PynqLine("4.0", tested="4.0.0", python="3.12", ubuntu="24.04", vivado="2025.2",
             families=("zynquplus",),
             metadata_parser="pynqmetadata.views.runtime:RuntimeMetadataParser"),
)}


def supported_text() -> str:
    """What the kit supports, as one phrase for error messages."""
    parts = []
    for p in PYNQ_LINES.values():
        fams = " and ".join(_FAMILY_TITLE[f] for f in p.families)
        parts.append(f"{p.line}.x ({fams} images with Python {p.python})")
    return "the kit supports PYNQ " + " and ".join(parts)


def line_of(version: str) -> PynqLine | None:
    """The line a PYNQ version string (``3.1.2``, ``4.0.0rc1``) belongs to, else None."""
    m = re.match(r"\s*(\d+)\.(\d+)", str(version))
    if m is None:
        return None
    return PYNQ_LINES.get(f"{int(m.group(1))}.{int(m.group(2))}")


def check_pynq(pynq: Any, *, arch: str | None = None, board: str | None = None) -> PynqLine:
    """The line of the imported ``pynq`` module; :class:`PynqVersionError` if unsupported.

    Parameters
    ----------
    pynq:
        The imported ``pynq`` package (its ``__version__`` is checked).
    arch, board:
        See :func:`check_pynq_version`.
    """
    return check_pynq_version(str(getattr(pynq, "__version__", "unknown")), arch=arch,
                              board=board)


def check_pynq_version(version: str, *, arch: str | None = None,
                       board: str | None = None) -> PynqLine:
    """The line of PYNQ ``version``; :class:`PynqVersionError` if the kit does not run on it.

    Parameters
    ----------
    version:
        PYNQ's version string (``pynq.__version__``).
    arch:
        CPU architecture of the board (``armv7l``, ``aarch64``; default: this machine's).
        Other architectures (an x86 host driving a simulated or remote device) skip the
        family check.
    board:
        The board's name for messages (default: ``$BOARD``, which PYNQ images set).
    """
    board = board or os.environ.get("BOARD") or "this board"
    line = line_of(version)
    if line is None:
        raise PynqVersionError(f"PYNQ {version} on {board} is not supported: "
                               f"{supported_text()}; flash a current PYNQ image")
    family = ARCH_FAMILY.get(arch or platform.machine())
    if family is not None and not line.supports_family(family):
        others = [p.line for p in PYNQ_LINES.values() if p.supports_family(family)]
        raise PynqVersionError(
            f"PYNQ {version} on {board} ({_FAMILY_TITLE[family]}) cannot run: PYNQ "
            f"{line.line} has no {_FAMILY_TITLE[family]} support (Xilinx/PYNQ pull request "
            f"1577); use a PYNQ {' or '.join(o + '.x' for o in others)} image")
    return line
