"""vta.compiler: tiled int8 operators, their scheduler and cost model, and ``@jit`` kernels.

Kernel-level API (this package's own modules; importing ``vta.compiler`` stays light and
never imports onnx):

* :mod:`vta.compiler.ops` -- ``conv2d``, ``dense`` (one call on packed arrays),
  ``compile_conv2d``/``compile_dense`` -> :class:`~vta.compiler.ops.CompiledKernel`;
* :mod:`vta.compiler.schedule` / :mod:`vta.compiler.cost_model` -- tilings and estimates;
* :mod:`vta.compiler.reference_ops` -- the numpy int8 references;
* :func:`vta.compiler.jit` -- trace a Python kernel written against
  :class:`~vta.compiler.jit.KernelContext` into instructions (see docs/kernels.md).

Names are resolved lazily on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["jit", "ops", "schedule", "cost_model", "reference_ops", "Epilogue",
           "Conv2dWorkload", "DenseWorkload", "ConvSchedule", "DenseSchedule",
           "ScheduleError", "OperatorError", "CompiledKernel", "compile_conv2d",
           "compile_dense", "compile", "load", "Executable"]

_LAZY = {
    "jit": ("vta.compiler.jit", "jit"),
    "Epilogue": ("vta.compiler.reference_ops", "Epilogue"),
    "OperatorError": ("vta.compiler.reference_ops", "OperatorError"),
    "Conv2dWorkload": ("vta.compiler.schedule", "Conv2dWorkload"),
    "DenseWorkload": ("vta.compiler.schedule", "DenseWorkload"),
    "ConvSchedule": ("vta.compiler.schedule", "ConvSchedule"),
    "DenseSchedule": ("vta.compiler.schedule", "DenseSchedule"),
    "ScheduleError": ("vta.compiler.schedule", "ScheduleError"),
    "CompiledKernel": ("vta.compiler.ops", "CompiledKernel"),
    "compile_conv2d": ("vta.compiler.ops", "compile_conv2d"),
    "compile_dense": ("vta.compiler.ops", "compile_dense"),
    # model compiler (model_compiler.py, executable.py); onnx is imported only for ONNX models
    "compile": ("vta.compiler.model_compiler", "compile"),
    "load": ("vta.compiler.executable", "load"),
    "Executable": ("vta.compiler.executable", "Executable"),
}
_MODULES = {"ops", "schedule", "cost_model", "reference_ops", "conv2d", "dense",
            "elementwise", "tile_program", "kernel_commands", "partition", "executable"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
    elif name in _MODULES:
        value = importlib.import_module(f"vta.compiler.{name}")
    else:
        raise AttributeError(f"module 'vta.compiler' has no attribute {name!r}")
    globals()[name] = value
    return value
