"""Does a board's design fit its part: the yosys estimate under the board's own rules.

:func:`board_fit` generates the accelerator's Verilog for a configuration (the board's
preset by default), synthesizes it with :func:`vta.boards.resources.estimate` for the
board's part the way the board build does -- the family of the part, the DSP cap of
:func:`vta.boards.build.dsp_cap`, UltraRAM for the buffers a ``ULTRA_RAM`` config marks --
and returns a
:class:`Fit`: the counts, each resource's share of the part and the verdict.

Estimates take seconds to minutes, so results are kept in the kit's cache
(``resources/<key>.json``), keyed by the Verilog, the synthesis settings and this flow's
own source: the same design is synthesized once per machine.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

from vta.hw.cache import check_writable, kind_dir, touch
from vta.hw.config import VTAConfig

from . import resources as res_mod
from .build import dsp_cap
from .table import PRESET_TARGET, Board, Capacity
from .table import board as lookup_board

__all__ = ["Fit", "board_fit", "family_of"]


def family_of(capacity: Capacity) -> str:
    """yosys's family name for a part: ``xc7`` (7-series) or ``xcup`` (UltraScale+)."""
    return "xc7" if capacity.dsp_kind == "DSP48E1" else "xcup"


@dataclass
class Fit:
    """The estimate of one configuration on one board's part."""

    board: Board
    config: VTAConfig
    resources: res_mod.Resources
    max_dsp: int | None
    cached: bool = False

    @property
    def capacity(self) -> Capacity:
        return self.board.capacity

    @property
    def utilization(self) -> dict[str, float]:
        """Each resource's share of the part (0..1)."""
        return res_mod.utilization(self.resources, self.capacity)

    @property
    def tightest(self) -> tuple[str, float]:
        """The resource with the largest share, and its share."""
        name = max(self.utilization, key=self.utilization.get)
        return name, self.utilization[name]

    @property
    def within_target(self) -> bool:
        """Every resource at or below :data:`vta.boards.table.PRESET_TARGET` of the part."""
        return self.tightest[1] <= PRESET_TARGET

    def verdict(self) -> tuple[bool, str]:
        """The fit verdict line of :func:`vta.boards.resources.verdict`."""
        return res_mod.verdict(self.resources, self.capacity)

    def summary(self) -> str:
        """``LUT 46%, FF 8%, BRAM36 78%, DSP 58%`` and the tightest resource."""
        shares = ", ".join(f"{k} {100 * v:.0f}%" for k, v in self.utilization.items())
        name, share = self.tightest
        mark = "within" if self.within_target else "ABOVE"
        return (f"{shares}; tightest {name} {100 * share:.1f}% ({mark} the "
                f"{100 * PRESET_TARGET:.0f}% preset target)")


def _flow_digest() -> str:
    return hashlib.sha256(Path(res_mod.__file__).read_bytes()).hexdigest()


def _to_json(res: res_mod.Resources) -> dict:
    return {"lut": res.lut, "ff": res.ff, "bram36": res.bram36, "dsp": res.dsp,
            "uram": res.uram, "cells": res.cells, "soft_multipliers": res.soft_multipliers,
            "bram_by_memory": res.bram_by_memory, "uram_by_memory": res.uram_by_memory,
            "family": res.family,
            "multipliers": [[m.name, m.a_width, m.b_width, m.y_width]
                            for m in res.multipliers]}


def _from_json(d: dict) -> res_mod.Resources:
    return res_mod.Resources(
        d["lut"], d["ff"], d["bram36"], d["dsp"], d["cells"],
        [res_mod.Multiplier(*m) for m in d["multipliers"]], d["soft_multipliers"],
        d["bram_by_memory"], d["family"], None, d["uram"], d["uram_by_memory"])


def board_fit(board: str | Board, config: VTAConfig | str | None = None, *,
              max_dsp: int | None = None, use_cache: bool = True,
              keep: Path | None = None, progress=print) -> Fit:
    """Estimate ``config`` (default: the board's preset) on ``board``'s part.

    Parameters
    ----------
    max_dsp:
        Map at most this many multipliers to DSPs (default: the board build's cap).
    use_cache:
        Reuse (and store) the estimate of identical Verilog and settings.
    keep:
        Keep yosys's scripts and logs in this folder (synthesizes again).
    progress:
        Called with one line before the slow steps.

    Raises
    ------
    BoardError
        The configuration's bus does not match the board.
    ResourceError
        yosys missing or failing.
    """
    from vta.sim.verilator.build import verilog_for_config

    b = lookup_board(board)
    cfg = b.default_config() if config is None else VTAConfig.load(config)
    b.check_config(cfg)
    cap = b.capacity
    family = family_of(cap)
    if max_dsp is None:
        max_dsp = dsp_cap(b, cfg)
    # Vivado puts memories in UltraRAM only where told (ram_style "ultra"): so does the
    # estimate, or it would count URAM a Vivado build does not use.
    uram = cap.uram > 0 and cfg.ULTRA_RAM
    progress(f"generating Verilog for {cfg.name} ...")
    text, _ = verilog_for_config(cfg, progress=False)
    key = hashlib.sha256("\n".join([text, family, str(max_dsp), str(uram),
                                    " ".join(res_mod.yosys_command()),
                                    _flow_digest()]).encode()).hexdigest()[:24]
    entry = kind_dir("resources") / f"{key}.json"
    if use_cache and keep is None and entry.is_file():
        touch(entry)
        return Fit(b, cfg, _from_json(json.loads(entry.read_text())), max_dsp, cached=True)
    progress(f"synthesizing vta_top for {cap.part} with yosys (synth_xilinx -family {family}"
             f"{' -uram' if uram else ''}{f', max {max_dsp} DSPs' if max_dsp else ''}) ...")
    with tempfile.TemporaryDirectory(prefix="vta-fit-") as tmp:
        src = Path(tmp) / "vta_top.v"
        src.write_text(text)
        work = Path(keep) if keep is not None else Path(tmp) / "yosys"
        res = res_mod.estimate(src, "vta_top", family=family, max_dsp=max_dsp,
                               workdir=work, uram=uram)
    if use_cache:
        check_writable()
        entry.parent.mkdir(parents=True, exist_ok=True)
        tmp_entry = entry.with_suffix(".tmp")
        tmp_entry.write_text(json.dumps(_to_json(res)))
        tmp_entry.replace(entry)
    return Fit(b, cfg, res, max_dsp)
