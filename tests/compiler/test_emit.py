"""Pass 4, emit: programs become runtime commands with balanced tokens -- the tiled
operators' double-buffer protocol and the serial protocol of jit traces -- and run
bit-exactly on the functional simulator."""

import numpy as np
import pytest
from vta.compiler import int8_reference as ref
from vta.compiler.emit import build_uop_kernels, emit, queue_for
from vta.compiler.epilogue import Epilogue
from vta.compiler.errors import OperatorError
from vta.compiler.lower import lower
from vta.compiler.search import schedule_conv2d
from vta.compiler.tile_program import DmaLoad, DmaStore, Kernel, Operand, SerialProgram
from vta.compiler.workload import Conv2dWorkload
from vta.hw import isa
from vta.hw.isa import MemType
from vta.hw.pipeline import Stage, stage_of
from vta.runtime import CommandQueue, pack_matrix, pack_nchw, pack_oihw, unpack_nchw

REQUANT = Epilogue(bias=False, shift=6, clip=(-128, 127))


def _conv_arrays(q, w, rng):
    x = rng.integers(-128, 128, (w.batch, w.in_channels, w.height, w.width), dtype=np.int8)
    wt = rng.integers(-128, 128, (w.out_channels, w.in_channels, *w.kernel), dtype=np.int8)
    c = q.config
    return x, wt, {"data": q.array(pack_nchw(x, c.batch, c.block)),
                   "weight": q.array(pack_oihw(wt, c.block, c.block))}


@pytest.mark.parametrize("threads", [1, 2])
def test_tile_programs_follow_each_other_on_one_queue(fsim_tiny, threads):
    """Two operators queued back to back before one synchronize: every token is consumed
    (nothing carried over) and both outputs are exact."""
    q = CommandQueue(fsim_tiny)
    c = q.config
    rng = np.random.default_rng(threads)
    outs = []
    for w in (Conv2dWorkload(1, 8, 6, 6, 8, (3, 3), (1, 1), (1, 1)),
              Conv2dWorkload(1, 4, 5, 7, 12, (1, 1), (2, 2), (0, 0))):
        s = schedule_conv2d(w, c, REQUANT, threads=threads, oc_tile=1, h_tile=2)
        program = lower(w, s, c, REQUANT)
        x, wt, arrays = _conv_arrays(q, w, rng)
        arrays["out"] = q.empty((1, -(-w.out_channels // c.block), w.out_height, w.out_width,
                                 c.batch, c.block), np.int8)
        emit(program, q, arrays, build_uop_kernels(program, c))
        outs.append((arrays["out"], ref.apply_epilogue(ref.conv2d(x, wt, w.stride,
                                                                  w.padding), REQUANT), w))
    q.synchronize()
    assert set(q.pending_tokens.values()) == {0}
    for out, want, w in outs:
        assert np.array_equal(unpack_nchw(out.numpy(), 1, w.out_channels), want)
    q.close()


def _serial_gemv() -> SerialProgram:
    """A hand-built serial program: y = min(x . w, 127) for one batch row of 2 input
    blocks and 3 output blocks (INP 0..1, WGT [m][k], ACC rows 0..2)."""
    reset = Kernel("gemm", (), tuple((m, 0, 0) for m in range(3)), reset=True)
    gemm = Kernel("gemm", ((2, 0, 1, 1),), tuple((m, 0, 2 * m) for m in range(3)))
    clip = Kernel("alu", (), tuple((m, m, 0) for m in range(3)), alu_opcode=isa.AluOp.MIN,
                  use_imm=True, imm=127)
    items = [DmaLoad(MemType.INP, 0, "x", 0, 1, 2, 2), DmaLoad(MemType.WGT, 0, "w", 0, 3, 2, 2),
             reset, gemm, clip, DmaStore(0, "y", 0, 1, 3, 3)]
    operands = {"x": Operand(MemType.INP, 2), "w": Operand(MemType.WGT, 6),
                "y": Operand(MemType.OUT, 3)}
    return SerialProgram(items, operands)


def _stage(insn) -> Stage:
    return stage_of(insn.OPCODE, getattr(insn, "memory_type", None))


def test_serial_program_hands_over_at_each_stage_change(fsim_tiny):
    program = _serial_gemv()
    q = CommandQueue(fsim_tiny)
    block = q.config.block
    rng = np.random.default_rng(0)
    x = rng.integers(-128, 128, (1, 2 * block), dtype=np.int8)
    w = rng.integers(-128, 128, (3 * block, 2 * block), dtype=np.int8)
    arrays = {"x": q.array(pack_matrix(x, 1, block)), "w": q.array(pack_matrix(w, block, block)),
              "y": q.empty((1, 3, 1, block), np.int8)}
    emit(program, q, arrays, build_uop_kernels(program, q.config))
    insns = q.instructions()
    loads = [i for i in insns if _stage(i) == Stage.LOAD]
    compute = [i for i in insns if _stage(i) == Stage.COMPUTE]
    stores = [i for i in insns if _stage(i) == Stage.STORE]
    # The load stage hands over after its last load; compute waits before its first
    # instruction and hands over to store after its last; the store waits, then hands back.
    assert [i.push_next for i in loads] == [0, 1]
    assert compute[0].pop_prev and compute[-1].push_next
    assert stores[0].pop_prev and stores[-1].push_prev
    q.synchronize()
    assert set(q.pending_tokens.values()) == {0}
    want = np.minimum(ref.dense(x, w), 127).astype(np.int8)
    assert np.array_equal(arrays["y"].numpy().reshape(1, -1), want)
    q.close()


def test_micro_kernels_are_built_once_per_distinct_kernel(fsim_tiny):
    program = _serial_gemv()
    program.items.insert(3, program.items[2])        # the same reset twice
    assert len(build_uop_kernels(program, fsim_tiny.config)) == 3


def test_queue_for(fsim):
    assert queue_for(fsim) is queue_for(fsim)
    q = CommandQueue(fsim)
    assert queue_for(q) is q
    with pytest.raises(OperatorError, match="target must be a vta Device or CommandQueue"):
        queue_for("fsim")
    q.close()
