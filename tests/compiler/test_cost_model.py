"""The cost model beside the search: its byte and uop counts equal the lowered programs
exactly (conv and dense), and its cycles track the cycle-accurate simulator."""

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from vta.compiler import ops
from vta.compiler.cost_model import CostParams, dma_cycles, estimate, program_counts
from vta.compiler.emit import queue_for
from vta.compiler.epilogue import Epilogue
from vta.compiler.lower import lower
from vta.compiler.search import schedule_conv2d, schedule_dense
from vta.compiler.workload import Conv2dWorkload, DenseWorkload
from vta.hw.config import VTAConfig

REQUANT = Epilogue(bias=True, shift=8, clip=(0, 127))


def _examples(default: int) -> int:
    """Hypothesis examples per randomized test; ``VTA_HYPOTHESIS_EXAMPLES`` raises it."""
    return int(os.environ.get("VTA_HYPOTHESIS_EXAMPLES", default))


def _counts_agree(w, sched, config, ep):
    est = estimate(w, sched, config, ep)
    counts = program_counts(lower(w, sched, config, ep), config)
    assert (est.dram_read, est.dram_write, est.gemm_uops, est.alu_uops) == (
        counts["dram_read"], counts["dram_write"], counts["gemm_uops"], counts["alu_uops"])


def test_dma_cycles():
    config = VTAConfig.load("default")       # 8-byte bus, DRAM latency 32
    p = CostParams()
    assert dma_cycles(config, p, 3, 20) == p.dma_setup + 32 + 3 * 3
    assert dma_cycles(config, p, 1, 8, pad_elems=5) == p.dma_setup + 32 + 1 + 5


@settings(max_examples=_examples(40), deadline=None)
@given(h=st.integers(1, 20), ic=st.integers(1, 70), oc=st.integers(1, 70),
       k=st.integers(1, 5), s=st.integers(1, 3), p=st.integers(0, 4), batch=st.integers(1, 2),
       preset=st.sampled_from(["default", "tiny"]), bias=st.booleans(),
       residual=st.booleans(), threads=st.sampled_from([None, 1]),
       order=st.sampled_from([None, "oc_outer", "spatial_outer"]),
       rescale=st.sampled_from([(0, 0, 0, 0), (0, 1, 1, 1), (20, 3, -40000, 17)]))
def test_conv_estimate_counts_equal_the_lowered_program(h, ic, oc, k, s, p, batch, preset,
                                                        bias, residual, threads, order,
                                                        rescale):
    p = min(p, k - 1)
    if h + 2 * p < k:
        return
    config = VTAConfig.preset(preset)
    w = Conv2dWorkload(batch, ic, h, h + 1, oc, (k, k), (s, s), (p, p))
    ep = Epilogue(bias, 3, (0, 127), residual, (0, 127) if residual else None,
                  *(rescale if residual else (0, 0, 0, 0)))
    _counts_agree(w, schedule_conv2d(w, config, ep, threads=threads, order=order), config, ep)


@settings(max_examples=_examples(30), deadline=None)
@given(n=st.integers(1, 40), k=st.integers(1, 300), m=st.integers(1, 300),
       preset=st.sampled_from(["default", "tiny"]), threads=st.sampled_from([None, 1]),
       tiles=st.one_of(st.none(), st.tuples(st.integers(1, 4), st.integers(1, 4),
                                            st.integers(1, 4))),
       epilogue=st.sampled_from([REQUANT, Epilogue(True, 20, (-128, 127), True, (0, 127),
                                                   0, 1, 1, 1)]))
def test_dense_estimate_counts_equal_the_lowered_program(n, k, m, preset, threads, tiles,
                                                         epilogue):
    config = VTAConfig.preset(preset)
    d = DenseWorkload(n, k, m)
    if tiles:
        sched = schedule_dense(d, config, epilogue, n_tile=tiles[0], m_tile=tiles[1],
                               k_tile=tiles[2], threads=threads or 2)
    else:
        sched = schedule_dense(d, config, epilogue, threads=threads)
    _counts_agree(d.as_conv2d(), sched.as_conv2d(), config, epilogue)


@pytest.mark.slow
def test_cost_model_tracks_verilator_cycles(verilator):
    """The estimate is within 15% of the cycle-accurate count on a ResNet-like layer."""
    dev = verilator("default")
    w = Conv2dWorkload(1, 128, 14, 14, 128, (3, 3), (1, 1), (1, 1))
    kernel = ops.compile_conv2d(w, dev.config, REQUANT)
    q = queue_for(dev)
    arrays = {n: q.empty(s, d) for n, (s, d) in kernel.operand_shapes().items()}
    result = kernel.run(dev, **arrays)
    for a in arrays.values():
        a.free()
    assert abs(kernel.estimate.cycles - result.cycles) / result.cycles < 0.15
    assert result.gemm_utilization(dev.config) > 0.8
