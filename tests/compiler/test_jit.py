"""``@vta.compiler.jit``: the documented examples run as written, tracing is cached per
signature, and misuse fails with one clear line."""

import re
from pathlib import Path

import numpy as np
import pytest
import vta.compiler
from vta.compiler.jit import JitError, JitKernel
from vta.driver import open_device
from vta.runtime import pack_matrix

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
