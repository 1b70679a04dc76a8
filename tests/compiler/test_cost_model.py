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
from vta.compiler.search import schedule_conv2d, schedule_dense, shortlist_conv2d
from vta.compiler.workload import (
    Conv2dWorkload,
    DenseWorkload,
    footprint,
    resnet18_workload,
    uop_kernels,
)
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


def test_dma_streams_stall_when_the_latency_outlasts_the_bursts_in_flight():
    """8 bursts in flight (the DRAM model's and the AXI master's limit): each further group
    of 8 bursts waits ``latency - 7 x burst`` cycles once that is positive."""
    config = VTAConfig.load("pynq").replace(DRAM_LATENCY=128)   # axi3: 16-beat bursts
    p = CostParams()
    # 4 rows of 256 beats: 64 bursts of 16, 7 further groups, each 128 - 112 = 16 idle.
    assert dma_cycles(config, p, 4, 256 * 8) == p.dma_setup + 128 + 4 * 256 + 7 * 16
    # 7 rows of 26 beats (16 + 10): 14 bursts, one further group, 128 - 7 x 13 idle.
    assert dma_cycles(config, p, 7, 26 * 8) == p.dma_setup + 128 + 7 * 26 + (2 * 128 - 7 * 26) // 2
    # At 64 cycles the 8 bursts in flight cover the latency: one beat per cycle.
    low = config.replace(DRAM_LATENCY=64)
    assert dma_cycles(low, p, 4, 256 * 8) == p.dma_setup + 64 + 4 * 256
    # 8 bursts or fewer never wait twice.
    assert dma_cycles(config, p, 8, 16 * 8) == p.dma_setup + 128 + 8 * 16


@pytest.mark.parametrize("preset", ["pynq", "default", "fast", "tiny"])
@pytest.mark.parametrize("layer", ["C2", "C4", "C7", "C10"])
def test_uop_working_set_counts_every_distinct_micro_kernel(preset, layer):
    """The footprint's uops (which decide whether kernels stay resident, and what their cold
    loads cost) are the distinct micro-kernels of the lowered program: one per tile shape,
    input half and ACC region, in the lowering's tile and step order."""
    config = VTAConfig.load(preset)
    w = resnet18_workload(layer)
    for s in shortlist_conv2d(w, config, REQUANT, 6) + shortlist_conv2d(w, config, REQUANT, 2,
                                                                         threads=1):
        kernels = set(lower(w, s, config, REQUANT).kernels())
        assert footprint(w, s, config, REQUANT)["uop"] == sum(len(k.uops) for k in kernels)
        assert sum(n for _, n in uop_kernels(w, s, config, REQUANT)) == len(kernels)


@pytest.mark.slow
def test_cost_model_tracks_verilator_on_a_1x1_stride_2_layer_at_high_dram_latency():
    """ResNet-18's C10 (1x1, stride 2) on the pynq core (two ACC read ports) with 128
    cycles of DRAM latency: the estimate is within 5% of Verilator (the model before the
    bursts in flight, cold micro-kernel loads and step-by-step reduction was 15% short);
    without the bursts-in-flight stall alone it is more than 5% short."""
    from vta.driver import open_device

    config = VTAConfig.load("pynq").replace(ALU_TENSOR_II=1, DRAM_LATENCY=128)
    w = resnet18_workload("C10")
    kernel = ops.compile_conv2d(w, config, REQUANT)
    with open_device("verilator", config, dram_bytes=16 << 20, progress=False) as dev:
        q = queue_for(dev)
        arrays = {n: q.empty(s, d) for n, (s, d) in kernel.operand_shapes().items()}
        cycles = kernel.run(dev, **arrays).cycles
        for a in arrays.values():
            a.free()
    assert abs(kernel.estimate.cycles - cycles) / cycles < 0.05
    no_stall = estimate(w, kernel.schedule, config, REQUANT, CostParams(outstanding=1 << 20))
    assert (cycles - no_stall.cycles) / cycles > 0.05
