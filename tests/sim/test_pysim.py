"""The pysim harness and device: options, waveforms, programs the hardware cannot run."""

from __future__ import annotations

import numpy as np
import pytest
from vta.driver import DeviceError, DeviceProgramError, DeviceTimeout, open_device
from vta.hw import VTAConfig, isa
from vta.hw.isa import MemType
from vta.hw.program_errors import ErrorKind
from vta.sim.pysim import PySimError

CONFIG = VTAConfig.preset("tiny")


def run_code(dev, code: bytes, **kw):
    buf = dev.alloc(len(code), 64)
    buf.copy_in(code)
    try:
        return dev.run(buf.addr, len(code) // CONFIG.insn_bytes, **kw)
    finally:
        buf.free()


def test_finish_only_program_and_waveform(tmp_path):
    vcd = tmp_path / "run.vcd"
    dev = open_device("pysim", CONFIG, dram_bytes=1 << 16, vcd=vcd)
    result = run_code(dev, isa.encode([isa.Finish()], CONFIG))
    assert 0 < result.cycles < 100
    assert result.counters["INSN_DONE"] == 1
    assert result.counters["DMA_RD_BYTES"] == CONFIG.insn_bytes
    assert result.stats.sim_cycles >= result.cycles
    dev.close()
    text = vcd.read_text()
    assert "$enddefinitions" in text and "running" in text


def test_bad_options_are_one_line_errors():
    with pytest.raises(DeviceError, match="max_cycles must be a positive integer, 'auto'"):
        open_device("pysim", CONFIG, max_cycles=0)
    with pytest.raises(DeviceError, match="bad option"):
        open_device("pysim", CONFIG, no_such_option=1)


def test_closed_simulation_refuses_calls():
    dev = open_device("pysim", CONFIG, dram_bytes=1 << 16)
    sim = dev.sim
    dev.close()
    with pytest.raises(PySimError, match="closed"):
        sim.read_reg(0)


def test_invalid_programs_never_wedge_the_hardware():
    """Programs fsim rejects are flagged by the hardware with fsim's error class; the next
    valid program still runs."""
    dev = open_device("pysim", CONFIG, dram_bytes=1 << 20)
    out = dev.alloc(64)
    fin = isa.encode([isa.Finish()], CONFIG)
    bad = {
        ErrorKind.OPCODE: (7).to_bytes(CONFIG.insn_bytes, "little") + fin,
        ErrorKind.MEMORY_TYPE: (7 << 7).to_bytes(CONFIG.insn_bytes, "little") + fin,
        ErrorKind.PADS: isa.encode([isa.Store(y_size=1, x_size=1, x_stride=1, x_pad_0=1,
                                              dram_base=out.addr // 4)], CONFIG) + fin,
        ErrorKind.TOKENS_LEFT: isa.encode([isa.Load(memory_type=MemType.UOP, push_prev=1),
                                           isa.Finish()], CONFIG),
        ErrorKind.DEADLOCK: isa.encode([isa.Load(memory_type=MemType.INP, pop_next=1),
                                        isa.Finish()], CONFIG),
    }
    for kind, code in bad.items():
        with pytest.raises(DeviceProgramError) as e:
            run_code(dev, code, timeout=30)
        assert e.value.kind == kind
        if kind == ErrorKind.DEADLOCK:
            assert isinstance(e.value, DeviceTimeout)
            assert "load blocked at instruction 0 (LOAD INP) waiting for a compute->load " \
                   "token" in str(e.value)
    # The hardware is usable afterwards: a GEMM-free round trip of tokens and a store.
    insns = [isa.Load(memory_type=MemType.UOP, push_prev=1),
             isa.Load(memory_type=MemType.INP, pop_next=1),
             isa.Alu(use_imm=1, alu_opcode=2, imm=5, uop_bgn=0, uop_end=1, iter_out=1,
                     iter_in=1, push_next=1),
             isa.Store(pop_prev=1, y_size=1, x_size=1, x_stride=1, dram_base=out.addr // 4),
             isa.Finish()]
    out.copy_in(np.zeros(64, np.uint8))
    result = run_code(dev, isa.encode(insns, CONFIG), timeout=30)
    assert result.counters["INSN_DONE"] == len(insns)
    assert result.counters["DMA_WR_BYTES"] == CONFIG.out_elem_bytes
    dev.close()
