"""RegisterDevice's run protocol (SPEC section 7) driven against fsim's emulated registers.

``FsimRegisters`` is a real register-programmed device: its register file is the fsim
backend's emulated regmap, so ``RegisterDevice.run`` programs INSN_ADDR/COUNT, starts,
polls CTRL and reads CYCLES and every counter exactly as it does on pysim/verilator/pynq.
"""

import time

import numpy as np
import pytest
from vta.driver import DeviceTimeout, RegisterDevice
from vta.driver.fsim_device import FsimDevice
from vta.hw import VTAConfig, isa
from vta.hw.regmap import BY_NAME, COUNTERS
from vta.sim.dram import Dram


class FsimRegisters(RegisterDevice):
    kind = "fsim-registers"

    def __init__(self, config):
        super().__init__(config)
        self.memory = Dram(1 << 20)
        self.inner = FsimDevice(config, dram=self.memory)
        self.writes = []

    def read_reg(self, offset):
        return self.inner.read_reg(offset)

    def write_reg(self, offset, value):
        self.writes.append((offset, value))
        self.inner.write_reg(offset, value)

    def _wait_done(self, deadline, max_cycles=None):
        while not self.done():
            if deadline is not None and time.perf_counter() > deadline:
                return False
        return True

    def reset(self):
        self.resets = getattr(self, "resets", 0) + 1


class NeverStarts(FsimRegisters):
    """An accelerator that ignores start (a hung board): every poll reads not-done."""

    def write_reg(self, offset, value):
        if offset != BY_NAME["CTRL"].offset:
            super().write_reg(offset, value)


def _alu_program(dev):
    cfg = dev.config
    uop = dev.alloc(cfg.uop_elem_bytes)
    uop.copy_in(isa.encode_uops([isa.Uop(0, 0, 0)], cfg))
    insns = [isa.Load(memory_type=isa.MemType.UOP, dram_base=uop.addr // cfg.uop_elem_bytes,
                      y_size=1, x_size=1, x_stride=1),
             isa.Alu(uop_end=1, iter_out=3, iter_in=1, dst_factor_out=1,
                     alu_opcode=isa.AluOp.ADD, use_imm=1, imm=1),
             isa.Finish()]
    data = isa.encode(insns, cfg)
    prog = dev.alloc(len(data), 4096)
    prog.copy_in(data)
    return prog, len(insns)


def test_register_protocol_runs_and_reads_every_counter():
    dev = FsimRegisters(VTAConfig.preset("tiny"))
    prog, n = _alu_program(dev)
    result = dev.run(prog.addr, n, timeout=5)
    reg = {name: r.offset for name, r in BY_NAME.items()}
    assert dev.writes[:4] == [(reg["INSN_ADDR_LO"], prog.addr & 0xFFFFFFFF),
                              (reg["INSN_ADDR_HI"], prog.addr >> 32),
                              (reg["INSN_COUNT"], n), (reg["CTRL"], 1)]
    assert result.cycles == 0                     # fsim's emulated CYCLES reads 0
    assert set(result.counters) == set(COUNTERS)
    assert result.counters["ALU_UOPS"] == 3 and result.counters["INSN_DONE"] == n
    assert np.array_equal(dev.inner.sim.acc[:3, 0, 0], [1, 1, 1])


def test_register_timeout_names_status_and_progress():
    dev = NeverStarts(VTAConfig.preset("tiny"))
    prog, n = _alu_program(dev)
    with pytest.raises(DeviceTimeout, match=r"did not finish within 0.05 s: all modules idle; "
                                            r"fetch routed 0 of 3 instructions; load took 0; "
                                            r"compute took 0; store took 0; the device was "
                                            r"reset"):
        dev.run(prog.addr, n, timeout=0.05)
    assert dev.resets == 1      # the abort could not stop it
