"""Verilog generation of ``vta_top`` plus its JSON manifest.

:func:`write_verilog` writes ``DIR/vta_top.v`` (one file, top module ``vta_top``) and
``DIR/vta_top.json``: the configuration with every derived value, the register map of
:mod:`vta.hw.regmap`, the STATUS bits, every port with direction and width, and the AXI
profile, so the Verilator harness and the board flow are generated from data.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from amaranth.back import verilog
from amaranth.hdl import Shape
from amaranth.lib.wiring import Out

from ..config import VTAConfig
from ..errors import VTAError
from ..ports import (
    CLOCK,
    CONTROL_ADDR_WIDTH,
    CONTROL_DATA_WIDTH,
    CONTROL_PREFIX,
    INTERRUPT,
    MEMORY_ADDR_WIDTH,
    MEMORY_ID_WIDTH,
    MEMORY_PREFIX,
    RESET,
)
from ..regmap import REGISTERS, REGMAP_BYTES, STATUS_BITS
from .top import VTATop

__all__ = ["TOP_NAME", "generate_verilog", "build_manifest", "write_verilog"]

TOP_NAME = "vta_top"


def build_manifest(top: VTATop, *, axi_cache: int, axi_prot: int) -> dict[str, Any]:
    """The manifest of an (unelaborated) :class:`VTATop` as a JSON-ready dict."""
    cfg = top.config
    ports = [{"name": name, "direction": "output" if member.flow == Out else "input",
              "width": Shape.cast(member.shape).width}
             for name, member in top.signature.members.items()]
    return {
        "top": TOP_NAME,
        "config_name": cfg.name,
        "config": cfg.to_dict(),
        "derived": cfg.derived(),
        "clock": {"name": CLOCK, "mhz": cfg.CLOCK_MHZ},
        "reset": {"name": RESET, "active_low": True},
        "interrupt": INTERRUPT,
        "control": {"prefix": CONTROL_PREFIX, "protocol": "axi4lite",
                    "data_width": CONTROL_DATA_WIDTH, "addr_width": CONTROL_ADDR_WIDTH,
                    "window_bytes": REGMAP_BYTES},
        "memory": {"prefix": MEMORY_PREFIX, "protocol": cfg.AXI_PROFILE,
                   "data_width": cfg.BUS_WIDTH, "addr_width": MEMORY_ADDR_WIDTH,
                   "id_width": MEMORY_ID_WIDTH,
                   "max_burst_beats": cfg.max_burst_beats, "cache": axi_cache,
                   "prot": axi_prot},
        "registers": [{"name": r.name, "offset": r.offset, "access": r.access, "doc": r.doc}
                      for r in REGISTERS],
        "status_bits": {str(bit): text for bit, text in STATUS_BITS.items()},
        "ports": ports,
    }


def generate_verilog(config: VTAConfig, *, axi_cache: int = 0b0011,
                     axi_prot: int = 0b000) -> tuple[str, dict[str, Any]]:
    """Elaborate ``vta_top`` for ``config``; return (Verilog text, manifest).

    Raises
    ------
    ConfigError
        A parameter is invalid (raised before elaboration).
    """
    os.environ.setdefault("AMARANTH_USE_YOSYS", "builtin")
    top = VTATop(config, axi_cache=axi_cache, axi_prot=axi_prot)
    manifest = build_manifest(top, axi_cache=axi_cache, axi_prot=axi_prot)
    text = verilog.convert(top, name=TOP_NAME, emit_src=False)
    return text, manifest


def write_verilog(config: VTAConfig, out_dir: str | Path, *, axi_cache: int = 0b0011,
                  axi_prot: int = 0b000) -> tuple[Path, Path]:
    """Write ``vta_top.v`` and ``vta_top.json`` into ``out_dir``; return both paths.

    Raises
    ------
    VTAError
        ``out_dir`` cannot be created or written.
    """
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise VTAError(f"cannot create output directory {out}: {e.strerror}") from None
    t0 = time.perf_counter()
    text, manifest = generate_verilog(config, axi_cache=axi_cache, axi_prot=axi_prot)
    manifest["generated_seconds"] = round(time.perf_counter() - t0, 3)
    v_path, j_path = out / f"{TOP_NAME}.v", out / f"{TOP_NAME}.json"
    try:
        v_path.write_text(text)
        j_path.write_text(json.dumps(manifest, indent=1) + "\n")
    except OSError as e:
        raise VTAError(f"cannot write into {out}: {e.strerror}") from None
    return v_path, j_path
