"""vta.compiler: tiled int8 operators, the passes that compile them, and ``@jit`` kernels.

The kernel compiler's passes, in order (docs/architecture.md draws the whole map):

1. :mod:`~vta.compiler.workload` -- workloads, schedules, SRAM footprints, legality;
2. :mod:`~vta.compiler.search` -- the tiling search, with :mod:`~vta.compiler.cost_model`
   beside it;
3. :mod:`~vta.compiler.lower` -- a scheduled workload as a tile program
   (:mod:`~vta.compiler.tile_program`; the fused epilogue's ALU kernels:
   :mod:`~vta.compiler.epilogue`);
4. :mod:`~vta.compiler.emit` -- a program queued as runtime commands.

Kernel-level API (importing ``vta.compiler`` stays light and never imports onnx):

* :mod:`vta.compiler.ops` -- ``conv2d``, ``dense`` (one call on packed arrays),
  ``compile_conv2d``/``compile_dense`` -> :class:`~vta.compiler.ops.CompiledKernel`;
* :mod:`vta.compiler.int8_reference` -- the int8 numpy reference;
* :func:`vta.compiler.jit` -- trace a Python kernel written against
  :class:`~vta.compiler.jit_kernel.KernelContext` into the same instruction nodes (see
  docs/kernels.md).

Model-level API: :func:`vta.compiler.compile` (:mod:`~vta.compiler.model_compiler`) ->
:class:`~vta.compiler.executable.Executable`; :func:`vta.compiler.load`;
:func:`vta.compiler.inspect` (where each node of a model runs, before compiling);
:mod:`vta.compiler.zoo` (real network graphs, offline).

Names are resolved lazily on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["jit", "ops", "workload", "search", "cost_model", "lower", "emit", "int8_reference",
           "epilogue", "tile_program", "Epilogue", "Conv2dWorkload", "DenseWorkload",
           "ConvSchedule", "DenseSchedule", "ScheduleError", "OperatorError",
           "CompiledKernel", "compile_conv2d", "compile_dense", "compile", "load",
           "Executable", "inspect", "zoo"]

_LAZY = {
    "jit": ("vta.compiler.jit_kernel", "jit"),
    "Epilogue": ("vta.compiler.epilogue", "Epilogue"),
    "OperatorError": ("vta.compiler.errors", "OperatorError"),
    "ScheduleError": ("vta.compiler.errors", "ScheduleError"),
    "Conv2dWorkload": ("vta.compiler.workload", "Conv2dWorkload"),
    "DenseWorkload": ("vta.compiler.workload", "DenseWorkload"),
    "ConvSchedule": ("vta.compiler.workload", "ConvSchedule"),
    "DenseSchedule": ("vta.compiler.workload", "DenseSchedule"),
    "CompiledKernel": ("vta.compiler.ops", "CompiledKernel"),
    "compile_conv2d": ("vta.compiler.ops", "compile_conv2d"),
    "compile_dense": ("vta.compiler.ops", "compile_dense"),
    # model compiler (model_compiler.py, executable.py); onnx is imported only for ONNX models
    "compile": ("vta.compiler.model_compiler", "compile"),
    "load": ("vta.compiler.executable", "load"),
    "Executable": ("vta.compiler.executable", "Executable"),
    "inspect": ("vta.compiler.model_inspect", "inspect"),
}
_MODULES = {"ops", "workload", "search", "cost_model", "lower", "emit", "int8_reference",
            "epilogue", "tile_program", "errors", "windows", "packing", "jit_kernel",
            "partition", "executable", "artifact", "layer_profile", "host_kernels",
            "model_compiler", "model_inspect", "zoo", "bench"}


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
