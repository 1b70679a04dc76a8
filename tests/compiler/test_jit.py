"""``@vta.compiler.jit``: the documented examples run as written, tracing is cached per
signature, and misuse fails with one clear line."""

import re
from pathlib import Path

import numpy as np
import pytest
import vta.compiler
from vta.compiler import int8_reference as ref
from vta.compiler import ops
from vta.compiler.epilogue import Epilogue
from vta.compiler.jit_kernel import JitError, JitKernel, KernelContext
from vta.compiler.tile_program import DmaLoad, DmaStore, Kernel, SerialProgram
from vta.driver import open_device
from vta.hw.isa import MemType
from vta.hw.pipeline import Stage
from vta.runtime import pack_matrix, unpack_matrix

DOC = Path(__file__).resolve().parents[2] / "docs" / "kernels.md"


def _doc_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)


def test_documented_examples_run_and_match_the_reference():
    blocks = _doc_blocks()
    example = next(i for i, b in enumerate(blocks) if "def gemv" in b)
    scope: dict = {}
    for block in blocks[example:example + 2]:   # GEMV, then conv + relu + max-pool
        exec(compile(block, str(DOC), "exec"), scope)   # asserts inside the examples
    assert isinstance(scope["gemv"], JitKernel)
    assert isinstance(scope["conv_relu_pool"], JitKernel)


def test_operator_examples_in_the_doc_run():
    blocks = _doc_blocks()
    scope: dict = {}
    for block in blocks[:2]:
        exec(compile(block, str(DOC), "exec"), scope)


@vta.compiler.jit
def scaled_add(k, a, b, out, shift):
    ta = k.load(a, into="acc")
    tb = k.load(b, into="acc")
    k.add(ta, tb)
    k.shr(ta, shift)
    k.store(ta, out)


def test_trace_is_cached_per_shape_and_scalar():
    dev = open_device("fsim", "tiny")
    c = dev.config
    rng = np.random.default_rng(0)
    for shape, shift, traces in (((3, 2), 1, 1), ((3, 2), 1, 1), ((5, 2), 1, 2),
                                 ((3, 2), 2, 3)):
        a = rng.integers(-128, 128, shape, dtype=np.int8)
        b = rng.integers(-128, 128, shape, dtype=np.int8)
        out = np.zeros((shape[0], 1, c.batch, c.block), np.int8)
        pa, pb = pack_matrix(a, 1, c.block), pack_matrix(b, 1, c.block)
        scaled_add(dev, pa, pb, out, shift)
        want = ((pa.astype(np.int32) + pb) >> shift).astype(np.int8)
        assert np.array_equal(out, want)
        assert scaled_add.traces == traces


def test_misuse_fails_with_one_line():
    dev = open_device("fsim", "tiny")

    @vta.compiler.jit
    def too_big(k, a):
        k.acc((4096,))

    with pytest.raises(JitError, match="needs 4096 ACC elements .* holds 512; tile"):
        too_big(dev, np.zeros((1, 1, 1, 4), np.int8))
    with pytest.raises(JitError, match="dtype float32 is not supported"):
        too_big(dev, np.zeros((1, 1, 1, 4), np.float32))

    @vta.compiler.jit
    def bad_gemm(k, a, w):
        k.gemm(k.acc((2, 3)), k.load(a), k.load(w))

    with pytest.raises(JitError, match="gemm shapes must be"):
        bad_gemm(dev, np.zeros((2, 2, 1, 4), np.int8), np.zeros((2, 2, 4, 4), np.int8))


def test_jit_is_the_decorator_and_not_a_module():
    assert vta.compiler.jit is vta.compiler.jit_kernel.jit
    assert callable(vta.compiler.jit) and not isinstance(vta.compiler.jit, type(vta.compiler))


def test_trace_is_a_serial_program_of_typed_nodes():
    """The trace is the compiler's own instruction nodes, queued by the same emit."""
    config = open_device("fsim", "tiny").config
    c = config
    a = np.zeros((3, 1, c.batch, c.block), np.int8)
    trace = scaled_add.trace(config, a, a, a, 1)
    program = trace.program
    assert isinstance(program, SerialProgram)
    assert [type(n).__name__ for n in program.items] == [
        "DmaLoad", "DmaLoad", "Kernel", "Kernel", "DmaStore"]
    loads = [n for n in program.items if isinstance(n, DmaLoad)]
    assert [(ld.operand, ld.memory_type, ld.stage) for ld in loads] == [
        ("arg0", MemType.ACC_8BIT, Stage.COMPUTE), ("arg1", MemType.ACC_8BIT, Stage.COMPUTE)]
    store = program.items[-1]
    assert isinstance(store, DmaStore) and store.operand == "arg2" and store.y_size == 3
    assert set(trace.kernels) == {n for n in program.items if isinstance(n, Kernel)}
    assert program.operands["arg2"].elements == 3


def test_a_stored_array_read_back_in_the_same_kernel_sees_the_store():
    """The serial protocol orders every stage change, DRAM included: a store followed by a
    load of the same array (through the load module) reads the stored values."""
    dev = open_device("fsim", "tiny")
    c = dev.config

    @vta.compiler.jit
    def twice(k, x, w, y, z):
        acc = k.acc((1, w.shape[0]))
        k.gemm(acc, k.load(x), k.load(w))
        k.clip(acc, -128, 127)
        k.store(acc, y)                 # y = clip(x . w)
        again = k.acc((1, w.shape[0]))
        k.gemm(again, k.load(y), k.load(w))
        k.shr(again, 4)
        k.clip(again, -128, 127)
        k.store(again, z)               # z = clip((y . w) >> 4)

    rng = np.random.default_rng(2)
    n = 2 * c.block
    x = rng.integers(-3, 4, (1, n), dtype=np.int8)
    w = rng.integers(-3, 4, (n, n), dtype=np.int8)
    y = np.zeros((1, 2, c.batch, c.block), np.int8)
    z = np.zeros_like(y)
    twice(dev, pack_matrix(x, c.batch, c.block), pack_matrix(w, c.block, c.block), y, z)
    y_want = ref.apply_epilogue(ref.dense(x, w), Epilogue(clip=(-128, 127)))
    z_want = ref.apply_epilogue(ref.dense(y_want, w), Epilogue(shift=4, clip=(-128, 127)))
    assert np.array_equal(unpack_matrix(z, 1, n), z_want)


def test_kernel_context_records_nodes_without_a_device():
    k = KernelContext(open_device("fsim", "tiny").config)
    acc = k.acc((2, 3))
    k.relu(acc)
    assert [n.kind for n in k.items] == ["gemm", "alu"] and k.items[0].reset


@pytest.mark.slow
def test_dense_and_jit_on_verilator(verilator):
    """The tiled dense operator and a jit GEMV, both lowered by emit, on the cycle-accurate
    model."""
    dev = verilator("tiny")
    rng = np.random.default_rng(11)
    x = rng.integers(-128, 128, (6, 40), dtype=np.int8)
    w = rng.integers(-128, 128, (20, 40), dtype=np.int8)
    b = rng.integers(-4000, 4000, 20, dtype=np.int32)
    out = ops.dense(dev, pack_matrix(x, 1, 4), pack_matrix(w, 4, 4), b, shift=6,
                    clip=(-128, 127))
    assert np.array_equal(unpack_matrix(out, 6, 20),
                          ref.dense_epilogue(x, w, Epilogue(True, 6, (-128, 127)), b))

    @vta.compiler.jit
    def relu_gemv(k, xv, wv, yv):
        acc = k.acc((1, wv.shape[0]))
        k.gemm(acc, k.load(xv), k.load(wv))
        k.shr(acc, 7)
        k.clip(acc, 0, 127)
        k.store(acc, yv)

    y = np.zeros((1, 5, 1, 4), np.int8)
    relu_gemv(dev, pack_matrix(x[:1], 1, 4), pack_matrix(w, 4, 4), y)
    assert np.array_equal(unpack_matrix(y, 1, 20),
                          ref.apply_epilogue(ref.dense(x[:1], w), Epilogue(shift=7,
                                                                           clip=(0, 127))))
