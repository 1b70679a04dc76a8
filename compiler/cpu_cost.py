"""What a conv/dense layer costs on the host CPU, beside what it costs on the accelerator.

The partitioner (:mod:`vta.compiler.partition`) puts a conv/dense on the accelerator when
the cost model's cycles at the configuration's clock (:func:`vta_seconds`) beat the host
CPU's time for the same layer (:meth:`HostProfile.seconds`); a GEMM utilization floor
alone cannot say that, because the CPU's speed differs by orders of magnitude between the
hosts that drive a VTA (a PYNQ's Cortex-A9 vs a PC) and between its kernels (the
llvmlite convolution vs the numpy reference that runs a grouped convolution).

A host profile is the throughput of the kit's CPU kernels per kernel class:

* ``conv``: the llvmlite int8 convolution of a groups=1 layer, any kernel size;
* ``dense``: the llvmlite int8 dense kernel;
* ``reference``: a convolution the numpy reference implementation runs (grouped,
  depthwise or dilated).

The reference profile ``x86-64`` holds rates measured on the kit's development host (a
Xeon with AVX-512, one thread, median over the MobileNet-v2 and ResNet-18 shapes of
``vta bench cpu-kernels``).  The ARM profiles of the boards are that profile scaled by the
ratio of clock x SIMD width (an estimate, not a measurement: no board was at hand):
PYNQ-Z1/Z2's Cortex-A9 at 650 MHz with 64-bit NEON datapaths, and the Cortex-A53 at
1.2-1.5 GHz with 128-bit NEON of Ultra96, ZCU104 and Kria.  A configuration's ``TARGET``
picks its board's profile (the ``sim`` and ``tiny`` presets model a PYNQ).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from vta.hw.config import VTAConfig

from .frontend.errors import ModelError

__all__ = ["HostProfile", "HOSTS", "host_for", "vta_seconds", "KERNEL_CLASSES",
           "add_host_argument"]

KERNEL_CLASSES = ("conv", "dense", "reference")
"""Kernel classes a profile rates (see the module docstring)."""


@dataclass(frozen=True)
class HostProfile:
    """Throughput of the kit's CPU kernels on one host, in multiply-accumulates/s.

    Members
    -------
    name, description:
        Profile name (``compile(..., host=name)``) and the hardware it stands for.
    macs_per_second:
        ``(conv, dense, reference)`` rates, one thread.
    measured:
        True when the rates were measured, False for a scaled estimate.
    """

    name: str
    description: str
    macs_per_second: tuple[float, float, float]
    measured: bool = False

    def rate(self, kernel_class: str) -> float:
        """The throughput of ``kernel_class`` (one of :data:`KERNEL_CLASSES`)."""
        return self.macs_per_second[KERNEL_CLASSES.index(kernel_class)]

    def seconds(self, kernel_class: str, macs: int) -> float:
        """Estimated seconds of a layer of ``macs`` multiply-accumulates."""
        return macs / self.rate(kernel_class)

    def scaled(self, name: str, description: str, factor: float) -> HostProfile:
        """This profile with every rate multiplied by ``factor`` (an estimate)."""
        return HostProfile(name, description,
                           tuple(r * factor for r in self.macs_per_second), False)


_X86 = HostProfile("x86-64", "the development host: Xeon with AVX-512, one thread",
                   (12e9, 18e9, 0.02e9), measured=True)
# Clock x SIMD width relative to the reference (about 3 GHz x 512-bit vectors).
_A9 = _X86.scaled("cortex-a9", "PYNQ-Z1/Z2: Cortex-A9 at 650 MHz, 64-bit NEON datapath",
                  (0.65 / 3.0) * (64 / 512))
_A53 = _X86.scaled("cortex-a53", "Ultra96-V2, ZCU104, Kria K26: Cortex-A53 at 1.2-1.5 GHz, "
                   "128-bit NEON", (1.3 / 3.0) * (128 / 512))

HOSTS: dict[str, HostProfile] = {p.name: p for p in (_X86, _A9, _A53)}
"""Host profiles by name."""

_TARGET_HOSTS = {"sim": "cortex-a9", "tiny": "cortex-a9", "pynq": "cortex-a9",
                 "ultra96": "cortex-a53", "zcu104": "cortex-a53", "k26": "cortex-a53"}


def host_for(config: VTAConfig, host: str | HostProfile | None = None) -> HostProfile:
    """The profile named ``host``, or the one of ``config``'s board when None.

    Raises
    ------
    ModelError
        for an unknown profile name.
    """
    if isinstance(host, HostProfile):
        return host
    name = _TARGET_HOSTS.get(config.TARGET, "cortex-a9") if host is None else host
    try:
        return HOSTS[name]
    except KeyError:
        raise ModelError(f"unknown host profile {name!r}; expected one of "
                         f"{', '.join(HOSTS)}") from None


def vta_seconds(cycles: int, config: VTAConfig) -> float:
    """Seconds of ``cycles`` accelerator cycles at the configuration's clock."""
    return cycles / (config.CLOCK_MHZ * 1e6)


def add_host_argument(p: argparse.ArgumentParser) -> None:
    """``--host NAME``: the CPU profile an accelerator layer must beat."""
    p.add_argument("--host", choices=tuple(HOSTS), default=None,
                   help="host CPU profile a conv/dense must beat on the accelerator "
                        "(default: the config's board; see vta.compiler.cpu_cost)")
