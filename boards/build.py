"""``vta board build``: everything a board needs, generated into one folder.

:func:`build` writes, for one board and configuration:

* ``vta_top.v`` (+ ``vta_top.json``): the accelerator's Verilog and port manifest, from the
  gateware (``vta hw verilog``),
* ``vta_bd_top.v``: the block-design wrapper with Vivado interface attributes,
* ``build.tcl``: the Vivado project, block design, synthesis, implementation and bitstream
  script; ``build.sh``: the one command that runs it,
* ``config.json``: the configuration, and ``build.json``: what was generated and how to run
  it (board, part, PYNQ line and Vivado release, digest, command).

The script is written for the Vivado release of the PYNQ line the bitstream is for: the
board's current line unless ``pynq_line`` names another of its lines.

If a bitstream for the same sources is in the cache (:mod:`vta.boards.cache`) it is copied
in as ``<name>.bit`` / ``<name>.hwh``.  With ``run=True`` and Vivado on ``PATH`` the script
runs and its outputs go into the cache; without Vivado the plan says how to run it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from vta.hw.config import VTAConfig
from vta.hw.ports import Port, ports_from_manifest, top_ports

from . import cache
from .table import Board, BoardError
from .table import board as lookup_board
from .tcl import TCL_NAME, vivado_command, vivado_tcl
from .wrapper import WRAPPER_MODULE, wrapper_verilog

__all__ = ["BuildPlan", "build", "generate_verilog", "design_name", "dsp_cap", "check_ports"]


@dataclass
class BuildPlan:
    """The result of :func:`build`: the folder, the files, the digest and the command."""

    board: Board
    config: VTAConfig
    pynq_line: str
    out_dir: Path
    name: str
    sources: list[Path]
    tcl: Path
    digest: str
    command: list[str]
    bit: Path | None = None
    hwh: Path | None = None
    cached: bool = False
    ran_vivado: bool = False
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        line = self.board.line(self.pynq_line)
        lines = [f"{self.out_dir}: {self.board.title} ({self.board.part}), config "
                 f"{self.config.name}, PYNQ {line.line} (Vivado {line.vivado}), sources "
                 f"digest {self.digest[:16]}"]
        lines += [f"  {p.name}" for p in [*self.sources, self.tcl]]
        if self.bit is not None:
            how = "from the cache" if self.cached else "built by Vivado"
            lines.append(f"  {self.bit.name}, {self.hwh.name} ({how})")
        else:
            lines.append(f"bitstream: run `cd {self.out_dir} && {' '.join(self.command)}` "
                         f"where Vivado {line.vivado} is installed (or ./build.sh); outputs "
                         f"{self.name}.bit and {self.name}.hwh")
        lines += self.notes
        return "\n".join(lines)


def design_name(board: Board, config: VTAConfig) -> str:
    """Base name of the bitstream: ``vta_<board>_<config name>`` (filesystem-safe)."""
    return f"vta_{board.name.replace('-', '_')}_{config.name}"


def dsp_cap(board: Board, config: VTAConfig) -> int | None:
    """The synthesis DSP cap for a part short of DSPs, else None.

    The GEMM core needs ``config.gemm_multipliers`` DSPs (one per MAC lane, or one per
    two with ``GEMM_DSP_PACK``); where the part has fewer, keep a tenth of its DSPs free
    for the rest of the design (address arithmetic, the ALU) and let synthesis build the
    remaining multipliers from LUTs.
    """
    cap = board.capacity.dsp
    if config.gemm_multipliers <= cap * 9 // 10:
        return None
    return cap * 9 // 10


def generate_verilog(config: VTAConfig, out_dir: Path) -> tuple[list[Path], dict]:
    """Run the gateware's ``vta hw verilog`` into ``out_dir``; return (Verilog files, manifest).

    Raises
    ------
    BoardError
        The generator wrote no Verilog.
    """
    from vta.hw.gateware.verilog import write_verilog  # elaborating imports Amaranth

    out_dir.mkdir(parents=True, exist_ok=True)
    config.to_json(out_dir / "config.json")
    _, manifest_path = write_verilog(config, out_dir)
    manifest = json.loads(manifest_path.read_text())
    verilog = sorted(p for p in out_dir.iterdir()
                     if p.suffix in (".v", ".sv") and p.stem != WRAPPER_MODULE)
    if not verilog:
        raise BoardError(f"`vta hw verilog` wrote no Verilog into {out_dir}")
    return verilog, manifest


def check_ports(actual: Iterable[Port], config: VTAConfig) -> None:
    """Raise :class:`BoardError` naming the first port of the generated ``vta_top`` that
    differs from :func:`vta.hw.ports.top_ports` (the ports the board flow connects)."""
    got = {p.name: p for p in actual}
    want = {p.name: p for p in top_ports(config)}
    for name, port in want.items():
        if name not in got:
            raise BoardError(f"vta_top has no port {name} ({port.direction}, {port.width} "
                             f"bits) that the board flow connects")
        if got[name] != port:
            g = got[name]
            raise BoardError(f"vta_top port {name} is {g.direction} {g.width} bits; the board "
                             f"flow expects {port.direction} {port.width} bits")
    extra = sorted(set(got) - set(want))
    if extra:
        raise BoardError(f"vta_top has ports the board flow does not connect: "
                         f"{', '.join(extra)}")


def build(board: str | Board, config: VTAConfig | str | None, out_dir: str | Path, *,
          run: bool = False, use_cache: bool = True, jobs: int = 4,
          cache_root: Path | None = None, pynq_line: str | None = None) -> BuildPlan:
    """Generate the board's build folder; optionally run Vivado.

    Parameters
    ----------
    board:
        Board name (see :data:`vta.boards.table.BOARDS`).
    config:
        Preset name, JSON path or config; None for the board's default.
    out_dir:
        Folder to write (created).
    run:
        Run Vivado if it is on ``PATH`` (a :class:`BoardError` if it is not).
    use_cache:
        Copy a cached bitstream for identical sources; store a fresh one.
    pynq_line:
        The PYNQ line (``"3.1"``, ``"4.0"``) the bitstream is for; its Vivado release
        writes it.  Default: the board's current line.

    Raises
    ------
    BoardError
        Unknown board, a PYNQ line the board has no image of, a config whose bus does not
        match the board, gateware whose ports differ from the contract, Vivado missing
        (``run=True``) or failing.
    """
    b = lookup_board(board)
    line = b.line(pynq_line)
    cfg = b.default_config() if config is None else VTAConfig.load(config)
    b.check_config(cfg)
    out = Path(out_dir)
    verilog, manifest = generate_verilog(cfg, out)
    ports = ports_from_manifest(manifest)
    check_ports(ports, cfg)
    # The wrapper connects every port in the gateware's order.
    order = {p.name: i for i, p in enumerate(top_ports(cfg))}
    ports.sort(key=lambda p: order[p.name])
    wrapper = out / f"{WRAPPER_MODULE}.v"
    wrapper.write_text(wrapper_verilog(ports, cfg, b))
    sources = [*verilog, wrapper]
    name = design_name(b, cfg)
    tcl_path = out / TCL_NAME
    tcl_path.write_text(vivado_tcl(b, cfg, name=name, sources=[p.name for p in sources],
                                   max_dsp=dsp_cap(b, cfg), jobs=jobs, pynq_line=line.line))
    command = vivado_command(TCL_NAME)
    script = out / "build.sh"
    script.write_text("#!/bin/sh\n# Generated by vta-kit: builds the bitstream with Vivado.\n"
                      f"cd \"$(dirname \"$0\")\" && exec {' '.join(command)}\n")
    script.chmod(0o755)
    digest = cache.source_digest([*sources, tcl_path])
    plan = BuildPlan(b, cfg, line.line, out, name, sources, tcl_path, digest, command)

    hit = cache.lookup(b.name, cfg.name, digest, root=cache_root) if use_cache else None
    if hit is not None:
        plan.bit, plan.hwh = out / f"{name}.bit", out / f"{name}.hwh"
        shutil.copyfile(hit.bit, plan.bit)
        shutil.copyfile(hit.hwh, plan.hwh)
        plan.cached = True
    elif run:
        if shutil.which("vivado") is None:
            raise BoardError(f"Vivado is not on PATH; the build files are in {out}: run "
                             f"`{' '.join(command)}` there on a machine with Vivado "
                             f"{line.vivado}")
        result = subprocess.run(command, cwd=out)
        bit, hwh = out / f"{name}.bit", out / f"{name}.hwh"
        if result.returncode != 0 or not bit.exists() or not hwh.exists():
            raise BoardError(f"Vivado failed (exit {result.returncode}); see {out}/vivado")
        plan.bit, plan.hwh, plan.ran_vivado = bit, hwh, True
        if use_cache:
            entry = cache.store(b.name, b.part, cfg.name, digest, bit, hwh, name=name,
                                root=cache_root)
            plan.notes.append(f"cached in {entry.path}")
    cap = dsp_cap(b, cfg)
    if cap is not None:
        plan.notes.append(f"note: {cfg.gemm_multipliers} GEMM multipliers exceed {b.part}'s "
                          f"DSP budget; synthesis caps DSPs at {cap} (-max_dsp), the rest "
                          f"use LUTs")
    (out / "build.json").write_text(json.dumps({
        "board": b.name, "part": b.part, "config": cfg.name, "name": name,
        "pynq": line.line, "vivado": line.vivado,
        "digest": digest, "sources": [p.name for p in sources], "tcl": tcl_path.name,
        "command": command, "bit": plan.bit.name if plan.bit else None,
        "hwh": plan.hwh.name if plan.hwh else None, "cached": plan.cached,
        "max_dsp": cap, "control_base": b.control_base, "clock_mhz": cfg.CLOCK_MHZ,
    }, indent=2) + "\n")
    return plan
