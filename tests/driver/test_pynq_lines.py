"""The PYNQ lines the pynq backend supports, the run-time check, and the pynq extras.

The backend itself runs through each line's real PYNQ in tests/boards/test_pynq_path.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import tomllib
from vta.driver import DeviceError
from vta.driver.pynq_lines import (
    PYNQ_LINES,
    PynqVersionError,
    check_pynq_version,
    line_of,
    supported_text,
)

ROOT = Path(__file__).resolve().parents[2]


def test_the_two_lines_of_2026():
    got = {k: (p.tested, p.python, p.ubuntu, p.vivado, p.families)
           for k, p in PYNQ_LINES.items()}
    assert got == {"3.1": ("3.1.2", "3.10", "22.04", "2024.1", ("zynq", "zynquplus")),
                   "4.0": ("4.0.0", "3.12", "24.04", "2025.2", ("zynquplus",))}
    assert PYNQ_LINES["3.1"].metadata_parser.startswith("pynq.metadata.")
    assert PYNQ_LINES["4.0"].metadata_parser.startswith("pynqmetadata.views.runtime:")


@pytest.mark.parametrize("version, line", [
    ("3.1.2", "3.1"), ("3.1.1", "3.1"), ("4.0.0", "4.0"), ("4.0.1rc1", "4.0"),
    (" 4.0", "4.0"), ("3.0.1", None), ("2.7.0", None), ("4.1.0", None), ("dev", None)])
def test_line_of(version, line):
    got = line_of(version)
    assert (got.line if got else None) == line


def test_the_run_time_check_names_the_board_and_what_is_supported(monkeypatch):
    assert check_pynq_version("3.1.2", arch="armv7l").line == "3.1"
    assert check_pynq_version("4.0.0", arch="aarch64").line == "4.0"
    assert check_pynq_version("4.0.0", arch="x86_64").line == "4.0"    # off-board host
    monkeypatch.setenv("BOARD", "Pynq-Z1")
    with pytest.raises(PynqVersionError, match=r"PYNQ 2.7.0 on Pynq-Z1 is not supported: "
                                               r"the kit supports PYNQ 3.1.x \(Zynq-7000 and "
                                               r"ZynqMP images with Python 3.10\) and 4.0.x"):
        check_pynq_version("2.7.0", arch="armv7l")
    with pytest.raises(PynqVersionError, match=r"PYNQ 4.0.0 on Pynq-Z1 \(Zynq-7000\) cannot "
                                               r"run: PYNQ 4.0 has no Zynq-7000 support .* "
                                               r"use a PYNQ 3.1.x image"):
        check_pynq_version("4.0.0", arch="armv7l")
    with pytest.raises(DeviceError, match="PYNQ 3.0.1 on kria is not supported"):
        check_pynq_version("3.0.1", arch="aarch64", board="kria")
    assert "\n" not in supported_text()


def test_the_pynq_extras_match_the_lines():
    from packaging.requirements import Requirement

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]

    def spec(extra):
        (r,) = [Requirement(req) for req in extras[extra] if req.startswith("pynq")]
        return r.specifier

    # `pynq` pins no line: a board keeps the PYNQ its image has, any supported line
    for p in PYNQ_LINES.values():
        assert p.tested in spec("pynq")
        own = spec("pynq" + p.line.replace(".", ""))          # pynq31, pynq40
        assert [o.tested in own for o in PYNQ_LINES.values()] == \
            [o is p for o in PYNQ_LINES.values()]
    for unsupported in ("2.7.0", "3.0.1", "4.1.0"):
        assert unsupported not in spec("pynq") and line_of(unsupported) is None
    # pynq 3.1.x imports pycparser.plyparser (gone in pycparser 3) without pinning it
    for extra in ("pynq", "pynq31"):
        assert "pycparser<3" in extras[extra]
