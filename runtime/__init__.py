"""vta.runtime: the command queue (TVM's VTA runtime protocol), device arrays, layouts.

Example::

    from vta.driver import open_device
    from vta.runtime import CommandQueue, LOAD, COMPUTE, STORE

    q = CommandQueue(open_device("fsim", "default"))
    a = q.array(packed_input)            # DeviceArray
    q.load_buffer_2d(a, 0, 16, 1, 16, 0, 0, 0, 0, 0, MemType.INP)
    q.push_gemm_op("reset", lambda k: k.gemm(0, 0, 0, reset=True))
    ...
    result = q.synchronize()             # RunResult: counters, cycles, stats

See docs/runtime.md for the guide.
"""

from .command_queue import COMPUTE, LOAD, STORE, CommandQueue
from .device_array import DeviceArray, array, empty
from .errors import CommandError
from .layout import (
    pack_matrix,
    pack_nchw,
    pack_oihw,
    pad_axis,
    round_up,
    unpack_matrix,
    unpack_nchw,
    unpack_oihw,
)
from .uop_kernel import ALU_MODE, GEMM_MODE, KernelBuilder, Loop, UopKernel

__all__ = ["CommandQueue", "LOAD", "COMPUTE", "STORE", "DeviceArray", "array", "empty",
           "CommandError", "KernelBuilder", "UopKernel", "Loop", "GEMM_MODE", "ALU_MODE",
           "pack_nchw", "unpack_nchw", "pack_oihw", "unpack_oihw", "pack_matrix",
           "unpack_matrix", "pad_axis", "round_up"]
