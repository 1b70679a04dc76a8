"""``vta board predict``: the accelerator part of a model's latency on each board.

For a board (or every board of the table) the model is compiled for the board's preset
and its accelerator layers are timed at the board's clock (the preset's ``CLOCK_MHZ``):

* ``--cycles verilator`` (default): the Verilator model of the preset runs the model;
  cycles are the simulated accelerator's, so the time is what the fabric needs once the
  design meets its clock (host-side work, CPU layers and PYNQ's overheads excluded);
* ``--cycles estimate``: the compiler's cost model, no simulation -- for models too big to
  simulate in reasonable time (ResNet-18 takes about a minute per preset in Verilator).

Beside the time it prints the preset's resource fit on the board's part
(:func:`vta.boards.fit.board_fit`, cached per design; ``--no-fit`` skips it).  Boards that
share a preset and clock (PYNQ-Z1/Z2, KV260/KR260) are computed once.

It lives in the compiler layer because it compiles models; the board layer below it keeps
the table and the fit.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from vta.boards.fit import board_fit
from vta.boards.table import BOARDS, Board
from vta.boards.table import board as lookup_board
from vta.hw.cli import Cli
from vta.hw.errors import VTAError

__all__ = ["Prediction", "predict", "register", "CYCLE_SOURCES"]

CYCLE_SOURCES = ("verilator", "estimate")


@dataclass(frozen=True)
class Prediction:
    """One board's accelerator time for one model."""

    board: str
    preset: str
    config: str
    clock_mhz: int
    cycles: int
    source: str                       # "verilator" or "estimate"
    vta_layers: int
    cpu_layers: int
    fit: str | None = None            # the fit summary, None when skipped
    within_target: bool | None = None

    @property
    def milliseconds(self) -> float:
        return self.cycles / (self.clock_mhz * 1e3)


def _model(name: str, seed: int, image_size: int) -> Any:
    from .commands import demo_graph

    if name == "demo":
        return demo_graph(seed)
    if name == "resnet18":
        from .frontend.models import resnet18_onnx
        return resnet18_onnx(seed, image_size=image_size)
    from pathlib import Path

    if not Path(name).is_file():
        raise VTAError(f"no model {name!r}: expected an .onnx file, resnet18 or demo")
    return Path(name)


def predict(board: str | Board, model: Any, *, cycles: str = "verilator", seed: int = 0,
            fit: bool = True, progress=None) -> Prediction:
    """Compile ``model`` for ``board``'s preset and time its accelerator layers.

    Raises
    ------
    BoardError
        Unknown board.
    VTAError
        An unknown cycle source, or a model that cannot be compiled.
    """
    from .model_compiler import compile as compile_model
    from .model_compiler import to_graph

    if cycles not in CYCLE_SOURCES:
        raise VTAError(f"--cycles must be one of {', '.join(CYCLE_SOURCES)}, not {cycles!r}")
    b = lookup_board(board)
    cfg = b.default_config()
    graph = to_graph(model)
    rng = np.random.default_rng(seed + 1)
    inputs = {n: rng.standard_normal(graph.type_of(n).shape).astype(np.float32)
              for n in graph.inputs}
    device = "verilator" if cycles == "verilator" else "fsim"
    exe = compile_model(graph, cfg, device, calibration=[inputs], seed=seed)
    try:
        if cycles == "verilator":
            exe(inputs)
            total = exe.total_cycles()
            if total is None:
                raise VTAError(f"the {device} device reported no cycles")
        else:
            total = sum(exe.kernels[lay.name].estimate.cycles
                        for lay in exe.partition.vta_layers)
        n_vta, n_cpu = len(exe.partition.vta_layers), len(exe.partition.cpu_layers)
    finally:
        exe.close()
    summary = within = None
    if fit:
        f = board_fit(b, progress=progress or (lambda line: None))
        summary, within = f.summary(), f.within_target
    return Prediction(b.name, b.config, cfg.name, cfg.CLOCK_MHZ, int(total), cycles,
                      n_vta, n_cpu, summary, within)


def register(cli: Cli) -> None:
    cli.command("board predict", "a model's accelerator time on each board (Verilator cycles "
                "or the cost model at the board's clock) beside the preset's resource fit",
                setup=_setup, run=_run)


def _setup(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="an .onnx file, resnet18 or demo")
    p.add_argument("--board", default="all", metavar="BOARD",
                   help=f"one of {', '.join(BOARDS)}, or all (default)")
    p.add_argument("--cycles", default="verilator", choices=CYCLE_SOURCES,
                   help="Verilator cycles (default) or the compiler's cost model")
    p.add_argument("--image-size", type=int, default=224, help="resnet18 input size")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-fit", action="store_true", help="skip the resource fit")
    p.add_argument("--json", action="store_true", help="print the predictions as JSON too")


def _run(args: argparse.Namespace) -> int:
    from .commands import use_default_kernel_cache

    use_default_kernel_cache()
    names = list(BOARDS) if args.board == "all" else [lookup_board(args.board).name]
    model = _model(args.model, args.seed, args.image_size)
    done: dict[tuple[str, int], Prediction] = {}
    rows = []
    for name in names:
        b = BOARDS[name]
        key = (b.config, b.clock_mhz)
        if key not in done:
            print(f"{name}: compiling {args.model} for {b.config} and timing it "
                  f"({args.cycles}) ...", flush=True)
            done[key] = predict(b, model, cycles=args.cycles, seed=args.seed,
                                fit=not args.no_fit,
                                progress=lambda line: print("  " + line, flush=True))
        rows.append(Prediction(**{**asdict(done[key]), "board": name}))
    what = "Verilator cycles" if args.cycles == "verilator" else "cost-model cycles"
    print(f"{args.model}: accelerator layers only ({what} at each board's clock)")
    print(f"{'board':<11} {'preset':<8} {'clock':>7} {'cycles':>12} {'accel ms':>9} "
          f"{'layers':>7}  fit")
    for r in rows:
        print(f"{r.board:<11} {r.preset:<8} {r.clock_mhz:>3} MHz {r.cycles:>12,} "
              f"{r.milliseconds:>9.2f} {r.vta_layers:>3}+{r.cpu_layers:<3}  "
              f"{r.fit or '-'}")
    if args.json:
        print(json.dumps([{**asdict(r), "milliseconds": r.milliseconds} for r in rows]))
    return 0
