"""vta.driver: one Device protocol over every backend (fsim, pysim, verilator, pynq).

Example::

    from vta.driver import open_device
    with open_device("fsim", "tiny") as dev:
        prog = dev.alloc(len(program), 4096)
        prog.copy_in(program)                      # encoded instructions, FINISH last
        result = dev.run(prog.addr, len(program) // dev.config.insn_bytes, timeout=10)
        print(result.table())
"""

from .backends import BACKENDS, open_device
from .device import DEFAULT_TIMEOUT, Buffer, Device
from .dram_device import DramDevice
from .errors import DeviceDeadlock, DeviceError, DeviceProgramError, DeviceTimeout
from .register_device import RegisterDevice
from .result import RunResult

__all__ = ["open_device", "BACKENDS", "Device", "Buffer", "DramDevice", "RegisterDevice",
           "RunResult", "DeviceError", "DeviceTimeout", "DeviceProgramError", "DeviceDeadlock",
           "DEFAULT_TIMEOUT"]
