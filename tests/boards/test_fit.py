"""Every board's preset fits its part with every resource at or below 80%.

Measured the way a user asks "does the design for my board fit": ``vta hw resources --board
NAME`` with no ``--config`` estimates the board's own preset under the board build's rules
(DSP cap, UltraRAM for the buffers a ``ULTRA_RAM`` preset marks).  One board per distinct
(preset, part); the estimates are cached per design (``resources`` in the kit's cache), so
only the first run on a machine synthesizes (about 1-4 minutes per design).
"""

from __future__ import annotations

import json

import pytest
from vta.boards.table import BOARDS, PRESET_TARGET
from vta.hw.cli import main as vta_main

DESIGNS = ["pynq-z1", "ultra96-v2", "zcu104", "kv260"]


def test_the_designs_cover_every_board():
    covered = {(BOARDS[n].config, BOARDS[n].part) for n in DESIGNS}
    assert covered == {(b.config, b.part) for b in BOARDS.values()}


@pytest.mark.slow
@pytest.mark.parametrize("name", DESIGNS)
def test_the_boards_preset_fits_within_the_target(name, capsys):
    b = BOARDS[name]
    status = vta_main(["hw", "resources", "--board", name, "--json"])
    out = capsys.readouterr().out
    assert status == 0, out
    assert f"{name}: config {b.config} ({b.default_config().name})" in out
    data = json.loads(next(line for line in out.splitlines() if line.startswith("{")))
    assert data["part"] == b.part
    share = data["utilization"]
    assert set(share) == set(b.capacity.as_dict())
    worst = max(share, key=share.get)
    assert share[worst] <= PRESET_TARGET, f"{name}: {worst} at {100 * share[worst]:.1f}%"
    assert out.strip().splitlines()[-1].startswith(f"FITS {b.part}")
    if b.default_config().ULTRA_RAM:         # the big buffers are in UltraRAM, not BRAM
        assert set(data["uram_by_memory"]) == {"core.load.inp_mem", "core.load.wgt_mem",
                                               "core.compute.acc_mem"}
