"""``vta sim run``: run a binary program on a simulated device and print its counters."""

from __future__ import annotations

import argparse
from pathlib import Path

from vta.hw.cli import Cli, add_config_argument
from vta.hw.config import VTAConfig

from .backends import open_device
from .device import Device
from .dram_image import DramImage
from .errors import DeviceError


def register(cli: Cli) -> None:
    cli.command("sim run", "run a binary program (vta asm output) on a simulated device",
                setup=_setup_run, run=_run)


def _setup_run(p: argparse.ArgumentParser) -> None:
    p.add_argument("program", help="binary instructions ending with FINISH")
    p.add_argument("--device", choices=("fsim", "pysim", "verilator"), default="fsim")
    p.add_argument("--dram", metavar="IMAGE",
                   help="DRAM image (segments of data and uops at physical addresses; "
                        "see vta.driver.dram_image)")
    p.add_argument("--output", metavar="IMAGE",
                   help="write the image's segments, as they are after the run, here")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds (default 60)")
    add_max_cycles_argument(p)
    p.add_argument("--timeline", metavar="FILE.json",
                   help="verilator: also write when each module was busy, waiting on a "
                        "token or idle, as Chrome/Perfetto trace JSON")
    p.add_argument("--timeline-window", type=int, default=256, metavar="CYCLES",
                   help="cycles between counter samples of the timeline (default 256)")
    add_config_argument(p)


def add_max_cycles_argument(p: argparse.ArgumentParser) -> None:
    """The ``--max-cycles N|auto|none`` option of commands that run simulated devices."""
    p.add_argument("--max-cycles", type=_max_cycles, default="auto", metavar="N|auto|none",
                   help="simulated cycles before a run counts as hung (pysim, verilator; "
                        "default auto: derived from each program)")


def _max_cycles(text: str) -> int | str | None:
    """``--max-cycles``: a positive integer, ``auto`` or ``none``."""
    if text in ("auto", "none"):
        return None if text == "none" else text
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, auto or none, not "
                                         f"{text!r}")
    return value


def read_program(path: str, config: VTAConfig) -> bytes:
    """The bytes of a binary program file; a whole, non-zero number of instructions."""
    try:
        program = Path(path).read_bytes()
    except OSError as e:
        raise DeviceError(f"cannot read {path}: {e.strerror}") from None
    n = config.insn_bytes
    if not program or len(program) % n:
        raise DeviceError(f"{path}: {len(program)} bytes is not a positive multiple of the "
                          f"{n}-byte instruction")
    return program


def place_program(device: Device, program: bytes) -> tuple[int, int]:
    """Copy ``program`` into a new device buffer; return (address, instruction count)."""
    prog = device.alloc(len(program), 4096)
    device.copy_to_device(prog, program)
    return prog.addr, len(program) // device.config.insn_bytes


def _run(args: argparse.Namespace) -> int:
    cfg = VTAConfig.load(args.config)
    program = read_program(args.program, cfg)
    image = DramImage.load(args.dram) if args.dram else DramImage()
    if args.timeline and args.device != "verilator":
        raise DeviceError(f"--timeline needs --device verilator (the cycle-accurate model), "
                          f"not {args.device}")
    if args.output:
        DramImage.check_writable(args.output)
    options = {} if args.device == "fsim" else {"max_cycles": args.max_cycles}
    with open_device(args.device, cfg, **options) as device:
        buffers = image.place(device)
        addr, count = place_program(device, program)
        if args.timeline:
            with device.recording(window=args.timeline_window,  # type: ignore[attr-defined]
                                  label=Path(args.program).name) as timeline:
                result = device.run(addr, count, timeout=args.timeout)
            timeline.save(args.timeline)
        else:
            result = device.run(addr, count, timeout=args.timeout)
        print(result.table())
        if args.timeline:
            print(f"wrote {args.timeline}: {len(timeline.runs[-1].windows)} windows of "
                  f"~{args.timeline_window} cycles (open in ui.perfetto.dev)")
        if args.output:
            DramImage.read_back(device, buffers).save(args.output)
            print(f"wrote {args.output}: {len(buffers)} segment(s)")
    return 0
