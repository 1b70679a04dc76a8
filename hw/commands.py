"""``vta config show``, ``vta asm`` and ``vta disasm``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import asm, isa
from .cli import Cli, add_config_argument
from .config import VTAConfig
from .errors import IsaError, VTAError


def register(cli: Cli) -> None:
    cli.command("config show", "print a configuration and every derived value",
                setup=_setup_show, run=_run_show)
    cli.command("asm", "assemble a text program into binary instructions (or uops)",
                setup=_setup_asm, run=_run_asm)
    cli.command("disasm", "disassemble binary instructions (or uops)",
                setup=_setup_disasm, run=_run_disasm)


def _read(path: str) -> bytes:
    """The bytes of an input file; a :class:`VTAError` naming it when it cannot be read."""
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise VTAError(f"cannot read {path}: {e.strerror or e}") from None


def _read_text(path: str) -> str:
    """An input file as UTF-8 text; a :class:`VTAError` when it is not text."""
    data = _read(path)
    try:
        return data.decode()
    except UnicodeDecodeError as e:
        raise VTAError(f"{path} is not a text program: byte {e.start} ({data[e.start]:#04x}) "
                       f"is not UTF-8 text (to read a binary program use vta disasm)") from None


def write_output(path: str, data: bytes) -> None:
    """Write an output file; a :class:`VTAError` naming it when it cannot be written."""
    try:
        Path(path).write_bytes(data)
    except OSError as e:
        raise VTAError(f"cannot write {path}: {e.strerror or e}") from None


def _setup_show(p: argparse.ArgumentParser) -> None:
    add_config_argument(p)
    p.add_argument("--json", action="store_true", help="print the JSON keys only")


def _run_show(args: argparse.Namespace) -> int:
    cfg = VTAConfig.load(args.config)
    if args.json:
        sys.stdout.write(cfg.to_json())
        return 0
    print(f"config {cfg.name}  (model {cfg.model_name})")
    for key, value in cfg.to_dict().items():
        print(f"  {key:<20} {value}")
    print("derived:")
    for key, value in cfg.derived().items():
        print(f"  {key:<20} {value}")
    layout = isa.layout_for(cfg)
    print(f"ISA: {layout.insn_width}-bit instructions, {layout.uop_width}-bit uops")
    return 0


def _setup_asm(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", help="text program (.s)")
    p.add_argument("-o", "--output", required=True, help="binary output file")
    add_config_argument(p)


def _run_asm(args: argparse.Namespace) -> int:
    cfg = VTAConfig.load(args.config)
    items = asm.parse_program(_read_text(args.source), args.source)
    if not items:
        raise VTAError(f"{args.source} holds no instructions or uops (only blank lines or "
                       f"comments); nothing to assemble")
    is_uops = isinstance(items[0], isa.Uop)
    data = isa.encode_uops(items, cfg) if is_uops else isa.encode(items, cfg)
    write_output(args.output, data)
    kind = "uops" if is_uops else "instructions"
    print(f"{args.output}: {len(items)} {kind}, {len(data)} bytes")
    return 0


def _setup_disasm(p: argparse.ArgumentParser) -> None:
    p.add_argument("binary", help="binary program")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--uops", action="store_true", help="the file holds uops")
    add_config_argument(p)


def _run_disasm(args: argparse.Namespace) -> int:
    cfg = VTAConfig.load(args.config)
    data = _read(args.binary)
    if args.uops:
        uops = isa.decode_uops(data, cfg)
        if args.format == "json":
            print(json.dumps([{"dst_idx": u.dst_idx, "src_idx": u.src_idx,
                               "wgt_idx": u.wgt_idx} for u in uops], indent=1))
        else:
            sys.stdout.write(asm.format_program(uops))
        return 0
    try:
        insns = isa.decode(data, cfg)
    except IsaError as e:
        raise IsaError(f"{args.binary}: {e}") from None
    if args.format == "json":
        out = []
        for insn in insns:
            d = isa.to_dict(insn)
            if isinstance(insn, (isa.Load, isa.Store)):
                d["memory_type_name"] = asm.enum_name(isa.MemType, insn.memory_type)
            if isinstance(insn, isa.Alu):
                d["alu_opcode_name"] = asm.enum_name(isa.AluOp, insn.alu_opcode)
            out.append(d)
        print(json.dumps(out, indent=1))
    else:
        sys.stdout.write(asm.format_program(insns))
    return 0
