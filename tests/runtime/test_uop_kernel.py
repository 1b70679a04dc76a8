"""Recording micro-kernels: TVM's rules, loop mapping, range checks, encoding."""

import pytest
from vta.hw import VTAConfig, isa
from vta.runtime import ALU_MODE, GEMM_MODE, CommandError, KernelBuilder
from vta.runtime.uop_cache import UopCache

TINY = VTAConfig.preset("tiny")      # acc 512 rows, inp 512, wgt 256, uop 512


def build(record, config=TINY):
    k = KernelBuilder(config, "k")
    record(k)
    return k.finish()


def test_gemm_and_alu_loop_mapping():
    def two(k):
        k.loop_begin(3, 10, 20, 30)
        k.loop_begin(4, 1, 2, 3)
        k.gemm(0, 0, 0)
        k.gemm(1, 0, 0)
        k.loop_end()
        k.loop_end()
    g = build(two)
    assert g.mode == GEMM_MODE and g.size == 2
    assert g.loop_fields() == (3, 4, 10, 1, 20, 2, 30, 3)

    def one_gemm(k):
        with k.loop(5, 1, 1, 1):
            k.gemm(0, 0, 0)
    assert build(one_gemm).loop_fields() == (5, 1, 1, 0, 1, 0, 1, 0)   # GEMM: outer

    def one_alu(k):
        with k.loop(5, 1, 1):
            k.alu("add", 0, 0, imm=3)
    a = build(one_alu)
    assert a.mode == ALU_MODE and (a.alu_opcode, a.use_imm, a.imm) == (isa.AluOp.ADD, 1, 3)
    assert a.loop_fields()[:6] == (1, 5, 0, 1, 0, 1)                    # ALU: inner

    def none(k):
        k.alu(isa.AluOp.MAX, 7, 8)
    assert build(none).loop_fields() == (1, 1, 0, 0, 0, 0, 0, 0)


def test_uops_are_encoded_like_the_isa():
    def rec(k):
        for i in range(5):
            k.gemm(i, 3 * i, 2 * i)
    kern = build(rec)
    assert kern.encoded.tobytes() == isa.encode_uops(kern.uops, TINY)


@pytest.mark.parametrize("record, message", [
    (lambda k: (k.gemm(0, 0, 0), k.loop_begin(2, 1, 1, 1)), "before the first uop"),
    (lambda k: [k.loop_begin(2, 1, 1, 1) for _ in range(3)], "at most two nested loops"),
    (lambda k: (k.gemm(0, 0, 0), k.alu("add", 1, 1)), "mixes GEMM and ALU"),
    (lambda k: (k.gemm(0, 0, 0), k.gemm(1, 0, 0, reset=True)), "mixes reset"),
    (lambda k: (k.alu("add", 0, 0, imm=1), k.alu("add", 1, 1, imm=2)), "mixes ALU operations"),
    (lambda k: (k.gemm(4, 0, 0), k.gemm(5, 1, 1), k.gemm(4, 2, 2)), "pipeline hazard"),
    (lambda k: None, "records no uops"),
    (lambda k: (k.loop_begin(2, 1, 1, 1), k.gemm(0, 0, 0)), "not closed"),
    (lambda k: k.loop_end(), "without a matching loop_begin"),
    (lambda k: k.loop_begin(0, 1, 1, 1), "extent must be in"),
    (lambda k: k.alu("mul", 0, 0, imm=2), "needs a config with ALU_MUL"),
    (lambda k: k.alu("add", 0, 0, imm=1 << 15), "signed 16-bit"),
    (lambda k: k.alu("pow", 0, 0), "unknown ALU operation"),
    (lambda k: k.gemm(-1, 0, 0), "non-negative"),
])
def test_recording_mistakes(record, message):
    with pytest.raises(CommandError, match=message):
        build(record)


def test_index_reach_is_checked_against_each_sram():
    def acc_overflow(k):
        with k.loop(8, 64, 0, 0):
            k.gemm(TINY.acc_depth - 7 * 64, 0, 0)
    with pytest.raises(CommandError, match="dst index reaches 512, outside the ACC buffer"):
        build(acc_overflow)

    def wgt_overflow(k):
        with k.loop(2, 0, 0, 200):
            k.gemm(0, 0, 100)
    with pytest.raises(CommandError, match="wgt index reaches 300, outside the WGT buffer"):
        build(wgt_overflow)

    def alu_src_uses_acc_depth(k):
        k.alu("add", 0, TINY.acc_depth)
    with pytest.raises(CommandError, match="src index reaches 512, outside the ACC buffer"):
        build(alu_src_uses_acc_depth)


def test_oversized_kernel_is_an_error():
    def rec(k):
        for i in range(TINY.uop_depth + 1):
            k.gemm(i % TINY.acc_depth, 0, 0)
    with pytest.raises(CommandError, match="513 uops, more than the uop buffer holds \\(512\\)"):
        build(rec)


def _kernel(n, key):
    k = KernelBuilder(TINY, key)
    for i in range(n):
        k.gemm(i, 0, 0)
    return k.finish()


def test_uop_cache_reuses_gaps_and_evicts_least_recently_used():
    cache = UopCache(100)
    a, b, c, d = (_kernel(30, x) for x in "abcd")
    assert cache.place(a) == (0, 30)
    assert cache.place(b) == (30, 60)
    assert cache.place(c) == (60, 90)
    assert cache.lookup(a) == (0, 30)          # a is now the most recently used
    assert cache.place(d) == (30, 60)          # b (LRU) is evicted, its gap reused
    assert cache.evictions == 1
    assert cache.lookup(b) is None and set(cache.resident()) == {c, a, d}
    big = _kernel(70, "big")
    cache.place(big)                           # needs two LRU evictions plus a gap
    assert cache.lookup(big) is not None and cache.lookup(d) is None
