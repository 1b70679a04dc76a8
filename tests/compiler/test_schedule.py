"""Tiling search and cost model: every ResNet-18 / dense shape fits every preset; the model's
byte and uop counts are exact against the lowered programs; bad input fails clearly."""

import os
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from vta.compiler.conv2d import lower_conv2d
from vta.compiler.cost_model import estimate_conv2d, estimate_dense, program_counts
from vta.compiler.dense import lower_dense
from vta.compiler.reference_ops import Epilogue
from vta.compiler.schedule import (
    DENSE_SHAPES,
    RESNET18_CONVS,
    Conv2dWorkload,
    ConvSchedule,
    DenseSchedule,
    DenseWorkload,
    ScheduleError,
    conv2d_footprint,
    dense_footprint,
    schedule_conv2d,
    schedule_dense,
)
from vta.hw.config import VTAConfig

RESNET18 = RESNET18_CONVS
DENSE = list(DENSE_SHAPES)
REQUANT = Epilogue(bias=True, shift=8, clip=(0, 127))


def _examples(default: int) -> int:
    """Hypothesis examples per randomized test; ``VTA_HYPOTHESIS_EXAMPLES`` raises it."""
    return int(os.environ.get("VTA_HYPOTHESIS_EXAMPLES", default))


def conv_workload(h, ic, oc, k, p, s, batch=1):
    return Conv2dWorkload(batch, ic, h, h, oc, (k, k), (s, s), (p, p))


def _fits(foot, config, threads):
    return (foot["inp"] <= config.inp_depth // threads
            and foot["wgt"] <= config.wgt_depth // threads
            and foot["acc"] <= config.acc_depth // threads
            and foot["uop_max"] <= config.uop_depth)


@pytest.mark.parametrize("preset", ["default", "tiny", "ultra96"])
@pytest.mark.parametrize("layer", sorted(RESNET18))
def test_resnet_layers_get_a_fitting_schedule(preset, layer):
    config = VTAConfig.preset(preset)
    w = conv_workload(*RESNET18[layer])
    s = schedule_conv2d(w, config, REQUANT)
    assert _fits(conv2d_footprint(w, s, config, REQUANT), config, s.threads)
    assert s.threads == 2   # latency hiding whenever the halves fit


@pytest.mark.parametrize("shape", DENSE)
def test_dense_shapes_get_a_fitting_schedule(shape):
    config = VTAConfig.preset("default")
    w = DenseWorkload(*shape)
    s = schedule_dense(w, config, REQUANT)
    assert _fits(dense_footprint(w, s, config, REQUANT), config, s.threads)


def test_overrides_are_respected_and_checked():
    config = VTAConfig.preset("default")
    w = conv_workload(*RESNET18["C5"])
    assert schedule_conv2d(w, config, REQUANT, threads=1).threads == 1
    assert schedule_conv2d(w, config, REQUANT, oc_tile=2).oc_tile == 2
    forced = schedule_conv2d(w, config, REQUANT, oc_tile=1, ic_tile=1, h_tile=4, w_tile=28)
    assert forced == ConvSchedule(1, 1, 4, 28, 2)
    with pytest.raises(ScheduleError, match="INP buffer needs"):
        schedule_conv2d(w, config, REQUANT, oc_tile=8, ic_tile=8, h_tile=28, w_tile=28)
    with pytest.raises(ScheduleError, match="unknown schedule override 'tile'"):
        schedule_conv2d(w, config, REQUANT, tile=3)
    with pytest.raises(ScheduleError, match="threads must be 1 or 2"):
        ConvSchedule(1, 1, 1, 1, threads=3)


def test_unsupported_workloads_fail_with_one_line():
    with pytest.raises(ScheduleError, match="padding 3 must be smaller than the kernel"):
        Conv2dWorkload(1, 16, 8, 8, 16, (3, 3), (1, 1), (3, 3))
    with pytest.raises(ScheduleError, match="larger than the padded input"):
        Conv2dWorkload(1, 16, 2, 2, 16, (5, 5), (1, 1), (1, 1))
    # A 1x1 conv over 4096 input channels on a config too small for one weight chunk row.
    tiny = VTAConfig.preset("tiny").replace(LOG_INP_BUFF_SIZE=5)
    w = Conv2dWorkload(1, 4, 64, 64, 4, (3, 3), (1, 1), (1, 1))
    with pytest.raises(ScheduleError, match="no conv2d tiling .* fits config"):
        schedule_conv2d(w, tiny)


def test_latency_hiding_is_cheaper_in_the_model():
    config = VTAConfig.preset("default")
    for layer in ("C2", "C8", "C11"):
        w = conv_workload(*RESNET18[layer])
        s2 = schedule_conv2d(w, config, REQUANT)
        s1 = schedule_conv2d(w, config, REQUANT, threads=1)
        e2, e1 = (estimate_conv2d(w, s, config, REQUANT) for s in (s2, s1))
        assert e2.cycles < e1.cycles
        assert e2.gemm_uops == e1.gemm_uops == w.padded_macs(config) // config.macs_per_cycle


def test_search_is_fast_enough_for_a_model():
    config = VTAConfig.preset("default")
    t0 = time.perf_counter()
    for layer, shape in RESNET18.items():
        ep = Epilogue(shift=7 if layer != "C1" else 6)
        schedule_conv2d(conv_workload(*shape, batch=3), config, ep)
    assert time.perf_counter() - t0 < 10   # generous: a shared 2-core machine


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
    sched = schedule_conv2d(w, config, ep, threads=threads, order=order)
    est = estimate_conv2d(w, sched, config, ep)
    counts = program_counts(lower_conv2d(w, sched, config, ep), config)
    assert (est.dram_read, est.dram_write, est.gemm_uops, est.alu_uops) == (
        counts["dram_read"], counts["dram_write"], counts["gemm_uops"], counts["alu_uops"])


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
    w = DenseWorkload(n, k, m)
    if tiles:
        sched = schedule_dense(w, config, epilogue, n_tile=tiles[0], m_tile=tiles[1],
                               k_tile=tiles[2], threads=threads or 2)
    else:
        sched = schedule_dense(w, config, epilogue, threads=threads)
    assert isinstance(sched, DenseSchedule)
    est = estimate_dense(w, sched, config, epilogue)
    counts = program_counts(lower_dense(w, sched, config, epilogue), config)
    assert (est.dram_read, est.dram_write, est.gemm_uops, est.alu_uops) == (
        counts["dram_read"], counts["dram_write"], counts["gemm_uops"], counts["alu_uops"])
