"""vta.compiler.cpu: CPU fallback kernels JIT-compiled with llvmlite."""
