"""Adds every ``vta bench`` command to the ``vta`` command line (the ``vta.cli`` entry
point ``bench``): one call per benchmark module."""

from __future__ import annotations

from vta.hw.cli import Cli

from . import (
    cpu_kernels,
    digits,
    dse,
    frontend,
    fsim_throughput,
    fuzz,
    quant,
    resnet18,
    resnet18_layers,
    simulator_speed,
    sweep,
    zoo,
)

BENCHMARKS = (fsim_throughput, simulator_speed, resnet18, resnet18_layers, sweep, digits,
              cpu_kernels, frontend, zoo, dse, fuzz,
              quant)


def register(cli: Cli) -> None:
    """Register ``vta bench <name>`` for each module of :data:`BENCHMARKS`."""
    for module in BENCHMARKS:
        module.register(cli)
