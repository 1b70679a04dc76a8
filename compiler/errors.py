"""The kernel compiler's errors (each one line naming what was wrong and what was expected).

The front half has its own (:class:`~vta.compiler.frontend.errors.ModelError`), as do the jit
tracer (:class:`~vta.compiler.jit_kernel.JitError`), the artifact reader
(:class:`~vta.compiler.artifact.ArtifactError`) and the CPU kernels
(:class:`~vta.compiler.cpu.llvm_jit.KernelError`).
"""

from __future__ import annotations

from vta.hw.errors import VTAError

__all__ = ["OperatorError", "ScheduleError"]


class OperatorError(VTAError):
    """An operator was given arguments it cannot compute (shape, dtype, parameter)."""


class ScheduleError(VTAError):
    """A workload the accelerator cannot run, no tiling that fits the configuration's SRAM
    buffers, or a forced schedule that does not fit."""
