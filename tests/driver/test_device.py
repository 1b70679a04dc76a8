"""The Device protocol on the fsim backend: memory, copies, runs, registers, errors."""

import numpy as np
import pytest
from vta.driver import Buffer, DeviceError, DeviceTimeout, RunResult, open_device
from vta.hw import VTAConfig, VTAError, isa
from vta.hw.regmap import BY_NAME, CTRL_DONE, CTRL_IDLE, CTRL_START
from vta.sim.dram import DramError


@pytest.fixture
def dev():
    with open_device("fsim", "tiny", dram_bytes=1 << 20) as d:
        yield d


def _program(cfg, dev, insns):
    data = isa.encode(insns, cfg)
    buf = dev.alloc(len(data), 4096)
    buf.copy_in(data)
    return buf


def _copy_program(cfg, dev):
    """LOAD ACC -> ALU ADD imm 0 (narrows to OUT) -> STORE, with the tokens it needs."""
    n = cfg.acc_elem_bytes
    src = dev.alloc(2 * n, 64)
    dst = dev.alloc(2 * cfg.out_elem_bytes, 64)
    uop = dev.alloc(cfg.uop_elem_bytes, 64)
    uop.copy_in(isa.encode_uops([isa.Uop(0, 0, 0)], cfg))
    values = np.arange(2 * cfg.batch * cfg.block_out, dtype=np.int32) - 5
    src.copy_in(values)
    insns = [
        isa.Load(memory_type=isa.MemType.UOP, dram_base=uop.addr // cfg.uop_elem_bytes,
                 y_size=1, x_size=1, x_stride=1),
        isa.Load(memory_type=isa.MemType.ACC, dram_base=src.addr // n, y_size=1, x_size=2,
                 x_stride=2),
        isa.Alu(uop_bgn=0, uop_end=1, iter_out=1, iter_in=2, dst_factor_in=1,
                src_factor_in=1, alu_opcode=isa.AluOp.ADD, use_imm=1, imm=0, push_next=1),
        isa.Store(pop_prev=1, dram_base=dst.addr // cfg.out_elem_bytes, y_size=1, x_size=2,
                  x_stride=2, push_prev=1),
        isa.Load(memory_type=isa.MemType.UOP, pop_next=1),
        isa.Finish(),
    ]
    return insns, dst, values


def test_open_device_resolves_kinds_and_configs():
    with open_device("fsim") as d:
        assert d.kind == "fsim" and d.config == VTAConfig.preset("default")
        assert not d.timed
    with open_device("fsim", VTAConfig.preset("tiny"), dram_bytes=1 << 20) as d:
        assert d.config.name == VTAConfig.preset("tiny").name


def test_open_device_errors_are_one_line():
    with pytest.raises(DeviceError, match="unknown device kind 'gpu'; expected one of fsim"):
        open_device("gpu")
    with pytest.raises(DeviceError, match="bad option"):
        open_device("fsim", "tiny", no_such_option=1)
    with pytest.raises(VTAError, match="preset"):
        open_device("fsim", "no-such-config")


def test_missing_backend_is_a_device_error(monkeypatch):
    from vta.driver import backends
    monkeypatch.setitem(backends.BACKENDS, "pynq", "vta.driver.no_such_backend_module")
    with pytest.raises(DeviceError, match="pynq backend unavailable: .* is not installed"):
        open_device("pynq")


def test_alloc_alignment_copy_round_trip(dev):
    for align in (64, 256, 4096):
        buf = dev.alloc(100, align)
        assert buf.addr % align == 0 and buf.nbytes == 100
    data = np.arange(-8, 8, dtype=np.int32)
    with dev.alloc(data.nbytes) as buf:
        buf.copy_in(data)
        assert np.array_equal(buf.view(np.int32), data)
        assert np.array_equal(buf.copy_out().view(np.int32), data)
        dev.copy_to_device(buf, b"\x01\x02", offset=4)
        assert dev.copy_from_device(buf, 2, offset=4).tolist() == [1, 2]
        dev.flush(buf)
        dev.invalidate(buf)
    assert buf.freed


def test_buffer_misuse_errors(dev):
    buf = dev.alloc(16)
    with pytest.raises(DeviceError, match="outside the 16-byte buffer"):
        buf.copy_in(np.zeros(5, np.int32))
    with pytest.raises(DeviceError, match="outside the 16-byte buffer"):
        buf.copy_out(8, offset=12)
    with pytest.raises(DeviceError, match="cannot be viewed as int64"):
        dev.alloc(12).view(np.int64)
    buf.free()
    with pytest.raises(DeviceError, match="already freed"):
        buf.free()
    with pytest.raises(DeviceError, match="already freed"):
        buf.view()
    with pytest.raises(DeviceError, match="power of two"):
        dev.alloc(64, align=3)
    with pytest.raises(DeviceError, match="positive integer"):
        dev.alloc(0)


def test_out_of_memory_is_a_clear_error(dev):
    with pytest.raises(DramError, match="out of device memory: cannot allocate 2097152 bytes"):
        dev.alloc(2 << 20)
    big = dev.alloc(600 << 10)
    with pytest.raises(DramError, match="largest free block"):
        dev.alloc(600 << 10)
    big.free()
    dev.alloc(600 << 10)


def test_buffer_at_reserves_exact_ranges(dev):
    base = dev.memory.base
    buf = dev.buffer_at(base + 8192, 100)
    assert buf.addr == base + 8192
    with pytest.raises(DramError, match="already allocated"):
        dev.buffer_at(base + 8192 + 50, 10)
    other = dev.alloc(8192, 4096)
    assert not (other.addr < buf.addr + 100 and buf.addr < other.addr + 8192)


def test_close_frees_and_refuses_further_use():
    d = open_device("fsim", "tiny", dram_bytes=1 << 20)
    buf = d.alloc(64)
    d.close()
    assert buf.freed and d.closed
    with pytest.raises(DeviceError, match="closed"):
        d.alloc(64)


def test_run_a_program_reports_counters(dev):
    cfg = dev.config
    insns, dst, values = _copy_program(cfg, dev)
    prog = _program(cfg, dev, insns)
    result = dev.run(prog.addr, len(insns), timeout=5)
    assert isinstance(result, RunResult) and result.kind == "fsim"
    assert result.cycles is None and result.gemm_utilization(cfg) is None
    assert result.counters["ALU_UOPS"] == 2 and result.counters["INSN_DONE"] == len(insns)
    assert result.counters["DMA_WR_BYTES"] == 2 * cfg.out_elem_bytes
    assert dev.run_count == 1 and result.wall_time > 0
    assert np.array_equal(dst.view(np.int8), values.astype(np.int8))
    table = result.table()
    assert "ALU_UOPS" in table and "untimed" in table


def test_run_argument_errors(dev):
    with pytest.raises(DeviceError, match="positive integer"):
        dev.run(dev.memory.base, 0)
    with pytest.raises(DeviceError, match="multiple of 16"):
        dev.run(dev.memory.base + 4, 1)
    with pytest.raises(DeviceError, match="timeout must be"):
        dev.run(dev.memory.base, 1, timeout=0)


def test_deadlock_is_reported_as_timeout(dev):
    cfg = dev.config
    prog = _program(cfg, dev, [isa.Gemm(pop_prev=1, iter_out=1, iter_in=1), isa.Finish()])
    with pytest.raises(DeviceTimeout, match="deadlock.*compute"):
        dev.run(prog.addr, 2)


def test_emulated_registers_run_a_program(dev):
    cfg = dev.config
    insns, dst, values = _copy_program(cfg, dev)
    prog = _program(cfg, dev, insns)
    reg = {name: r.offset for name, r in BY_NAME.items()}
    assert dev.read_reg(reg["CTRL"]) == CTRL_IDLE
    dev.write_reg(reg["IER"], 1)
    dev.write_reg(reg["INSN_ADDR_LO"], prog.addr & 0xFFFFFFFF)
    dev.write_reg(reg["INSN_ADDR_HI"], prog.addr >> 32)
    dev.write_reg(reg["INSN_COUNT"], len(insns))
    dev.write_reg(reg["CTRL"], CTRL_START)
    assert dev.read_reg(reg["CTRL"]) & CTRL_DONE
    assert dev.read_reg(reg["ALU_UOPS"]) == 2
    assert dev.read_reg(reg["ISR"]) == 1
    dev.write_reg(reg["ISR"], 1)
    assert dev.read_reg(reg["ISR"]) == 0
    assert np.array_equal(dst.view(np.int8), values.astype(np.int8))
    with pytest.raises(DeviceError, match="read-only"):
        dev.write_reg(reg["GEMM_UOPS"], 0)
    with pytest.raises(DeviceError, match="no control register at offset 3"):
        dev.read_reg(0x3)
    with pytest.raises(DeviceError, match="32-bit unsigned"):
        dev.write_reg(reg["GIE"], -1)


def test_buffer_type_is_exported():
    assert Buffer.__name__ == "Buffer"
