"""vta.compiler.cpu: CPU fallback kernels JIT-compiled with llvmlite.

One generator module per op family (:mod:`.conv`, :mod:`.depthwise`, :mod:`.pool`, :mod:`.softmax`,
:mod:`.elementwise`, :mod:`.layout_kernels`); :mod:`.llvm_jit` compiles for the host CPU and caches;
:class:`.executor.CpuExecutable` runs a whole quantized graph on these kernels. Every
kernel equals its numpy reference (:mod:`vta.compiler.frontend.interpreter`) bit for bit.
"""

from .executor import CPU_OPS, CpuExecutable, kernel_for_node
from .llvm_jit import KernelError

__all__ = ["CpuExecutable", "kernel_for_node", "CPU_OPS", "KernelError"]
