"""Every error the functional simulator reports: one clear line, never a hang."""

import numpy as np
import pytest
from vta.hw import VTAConfig, isa
from vta.hw.errors import VTAError
from vta.hw.insn_stream import InsnStream
from vta.hw.isa import AluOp, MemType
from vta.hw.pipeline import COMPUTE
from vta.sim.fsim import DeadlockError, FsimError

from tests.sim.fsim_programs import Machine


def fails(m: Machine, insns, match: str, error=FsimError):
    with pytest.raises(error, match=match) as e:
        m.run(insns)
    assert isinstance(e.value, VTAError) and "\n" not in str(e.value)
    return str(e.value)


FIN = isa.Finish()


def test_deadlock_names_module_and_channel():
    m = Machine()
    msg = fails(m, [isa.Gemm(pop_prev=1), FIN], "deadlock", DeadlockError)
    assert "compute blocked at instruction 0 (GEMM)" in msg and "load->compute" in msg


def test_deadlock_of_load_and_store():
    m = Machine()
    msg = fails(m, [isa.Load(memory_type=MemType.INP, pop_next=1),
                    isa.Store(memory_type=MemType.OUT, pop_prev=1), FIN],
                "deadlock", DeadlockError)
    assert "load blocked at instruction 0" in msg and "compute->load" in msg
    assert "store blocked at instruction 1" in msg and "compute->store" in msg


def test_deadlock_on_full_command_queue():
    """Fetch stalls in order: a full load queue hides the compute push it waits for."""
    m = Machine(VTAConfig.preset("tiny").replace(CMD_QUEUE_DEPTH=2))
    loads = [isa.Load(memory_type=MemType.INP, pop_next=1)] + \
        [isa.Load(memory_type=MemType.INP)] * 2
    msg = fails(m, loads + [isa.Load(memory_type=MemType.UOP, push_prev=1),
                            isa.Load(memory_type=MemType.INP, pop_next=0)] + [FIN],
                "deadlock", DeadlockError)
    assert "fetch stalled at instruction 2" in msg and "load queue is full" in msg


def test_tokens_left_at_finish():
    m = Machine()
    fails(m, [isa.Load(memory_type=MemType.INP, push_next=1), FIN],
          r"tokens left over: 1 on load->compute")


def test_missing_finish_and_code_after_finish():
    m = Machine()
    fails(m, [isa.Gemm()], "no FINISH")
    fails(m, [FIN, isa.Gemm()], "FINISH must be the last")


def test_finish_with_flags():
    fails(Machine(), [isa.Finish(pop_prev=1)], r"\(FINISH\) sets a dependency flag")


def test_flag_the_module_lacks():
    fails(Machine(), [isa.Load(memory_type=MemType.WGT, push_prev=1), FIN],
          "sets push_prev, but the load module")
    fails(Machine(), [isa.Store(memory_type=MemType.OUT, pop_next=1), FIN],
          "sets pop_next, but the store module")


def test_unknown_opcode():
    m = Machine()
    word = bytearray(isa.encode([FIN], m.cfg))
    word[0] = (word[0] & ~7) | 6
    addr = m.dram.alloc(16, 16)
    m.dram.write(addr, bytes(word))
    with pytest.raises(FsimError, match="unknown opcode 6"):
        m.sim.run(addr, 1)


@pytest.mark.parametrize("mt", [6, 7])
def test_unknown_memory_type(mt):
    fails(Machine(), [isa.Load(memory_type=mt, x_size=1, y_size=1), FIN],
          f"unknown memory type {mt}")


def test_load_to_out_and_store_from_other_types():
    fails(Machine(), [isa.Load(memory_type=MemType.OUT), FIN], "OUT.*cannot be loaded")
    fails(Machine(), [isa.Store(memory_type=MemType.ACC), FIN], "cannot be stored")


@pytest.mark.parametrize("pad", ["y_pad_0", "y_pad_1", "x_pad_0", "x_pad_1"])
def test_nonzero_store_pads(pad):
    fails(Machine(), [isa.Store(memory_type=MemType.OUT, x_size=1, y_size=1, **{pad: 1}), FIN],
          f"pads must be zero, not {pad}=1")


def test_load_footprint_out_of_range():
    m = Machine("tiny")
    base = m.zeros(MemType.INP, 4)
    msg = fails(m, [isa.Load(memory_type=MemType.INP, sram_base=m.cfg.inp_depth - 2,
                             dram_base=base, y_size=1, x_size=2, x_stride=2, x_pad_1=1), FIN],
                "exceeds the INP buffer depth")
    assert msg.startswith("instruction 0 (LOAD INP)")


def test_store_out_of_range():
    m = Machine("tiny")
    fails(m, [isa.Store(memory_type=MemType.OUT, sram_base=m.cfg.out_depth - 1,
                        dram_base=m.zeros(MemType.OUT, 2), y_size=1, x_size=2, x_stride=2),
              FIN], "exceeds the OUT buffer depth")


def test_dram_out_of_range():
    m = Machine("tiny")
    fails(m, [isa.Load(memory_type=MemType.ACC, dram_base=1, y_size=1, x_size=1), FIN],
          r"instruction 0 \(LOAD ACC\): DRAM range .* outside DRAM")
    top = (m.dram.base + m.dram.size) // m.cfg.out_elem_bytes - 1
    fails(m, [isa.Store(memory_type=MemType.OUT, dram_base=top, y_size=2, x_size=1,
                        x_stride=1), FIN], "outside DRAM")


def test_gemm_and_alu_index_out_of_range():
    m = Machine("tiny")
    c = m.cfg
    load = m.uop_load([isa.Uop(dst_idx=c.acc_depth - 2, src_idx=0, wgt_idx=0)])
    msg = fails(m, [load, isa.Gemm(uop_bgn=0, uop_end=1, iter_out=3, iter_in=1,
                                   dst_factor_out=1), FIN],
                r"ACC index \d+ out of range \[0, 512\) at uop 0, i=2, j=0")
    assert msg.startswith("instruction 1 (GEMM)")
    load = m.uop_load([isa.Uop(dst_idx=0, src_idx=0, wgt_idx=c.wgt_depth - 1)])
    fails(m, [load, isa.Gemm(uop_bgn=0, uop_end=1, iter_out=1, iter_in=2,
                             wgt_factor_in=1), FIN], "WGT index 256 out of range")
    load = m.uop_load([isa.Uop(dst_idx=0, src_idx=c.inp_depth - 1)])
    fails(m, [load, isa.Gemm(uop_bgn=0, uop_end=1, iter_out=1, iter_in=2,
                             src_factor_in=1), FIN], "INP index 512 out of range")
    load = m.uop_load([isa.Uop(dst_idx=0, src_idx=c.acc_depth - 1)])
    fails(m, [load, isa.Alu(uop_bgn=0, uop_end=1, iter_out=2, iter_in=1, src_factor_out=1,
                            alu_opcode=AluOp.ADD), FIN], "ACC source index 512 out of range")
    fails(m, [isa.Gemm(uop_bgn=0, uop_end=c.uop_depth + 1, iter_out=1, iter_in=1), FIN],
          "uop_end=513 exceeds the UOP buffer depth 512")


def test_alu_mul_needs_the_extension():
    fails(Machine(), [isa.Alu(alu_opcode=AluOp.MUL, iter_out=1, iter_in=1, uop_end=1), FIN],
          "MUL opcode is an extension")
    fails(Machine(), [isa.Alu(alu_opcode=6, iter_out=1, iter_in=1, uop_end=1), FIN],
          "unknown ALU opcode 6")


def test_bad_run_arguments():
    m = Machine()
    with pytest.raises(FsimError, match="insn_count must be a positive integer"):
        m.sim.run(m.dram.base, 0)
    with pytest.raises(FsimError, match="not a multiple of 16 bytes"):
        m.sim.run(m.dram.base + 8, 1)
    with pytest.raises(FsimError, match="outside DRAM"):
        m.sim.run(m.dram.base + m.dram.size - 16, 2)


def test_errors_are_raised_before_data_is_touched_by_later_instructions():
    """An error stops the run at the offending instruction (nothing after it executes)."""
    m = Machine()
    a = np.ones((2, 1, 16), np.int32)
    s = InsnStream()
    s.emit(isa.Load(memory_type=MemType.ACC, dram_base=m.put(MemType.ACC, a),
                    y_size=1, x_size=2, x_stride=2))
    s.emit(isa.Store(memory_type=MemType.ACC), COMPUTE)    # misrouted on purpose
    s.emit(isa.Store(memory_type=MemType.OUT))
    s.emit(isa.Load(memory_type=MemType.INP))
    s.emit(FIN)
    with pytest.raises(FsimError, match="instruction 1 .*cannot be stored"):
        m.run(s)
