"""Pass 2, the tiling search: every ResNet-18 / dense shape fits every preset, overrides
are respected and checked, and the search is fast enough for a model."""

import time

import pytest
from vta.compiler.cost_model import estimate
from vta.compiler.epilogue import Epilogue
from vta.compiler.errors import ScheduleError
from vta.compiler.search import schedule_conv2d, schedule_dense
from vta.compiler.workload import (
    DENSE_SHAPES,
    RESNET18_CONVS,
    Conv2dWorkload,
    ConvSchedule,
    DenseSchedule,
    DenseWorkload,
    capacities,
    footprint,
    resnet18_workload,
)
from vta.hw.config import VTAConfig

REQUANT = Epilogue(bias=True, shift=8, clip=(0, 127))


def _fits(foot, config, threads):
    return all(foot[b] <= cap for b, cap in capacities(config, threads).items())


@pytest.mark.parametrize("preset", ["default", "tiny", "ultra96"])
@pytest.mark.parametrize("layer", sorted(RESNET18_CONVS))
def test_resnet_layers_get_a_fitting_schedule(preset, layer):
    config = VTAConfig.preset(preset)
    w = resnet18_workload(layer)
    s = schedule_conv2d(w, config, REQUANT)
    assert _fits(footprint(w, s, config, REQUANT), config, s.threads)
    assert s.threads == 2   # latency hiding whenever the halves fit


@pytest.mark.parametrize("shape", DENSE_SHAPES)
def test_dense_shapes_get_a_fitting_schedule(shape):
    config = VTAConfig.preset("default")
    w = DenseWorkload(*shape)
    s = schedule_dense(w, config, REQUANT)
    assert isinstance(s, DenseSchedule)
    assert _fits(footprint(w.as_conv2d(), s.as_conv2d(), config, REQUANT), config, s.threads)
    # A dense layer is searched as the matrix case of conv2d.
    assert s == DenseSchedule.from_conv2d(schedule_conv2d(w.as_conv2d(), config, REQUANT))


def test_overrides_are_respected_and_checked():
    config = VTAConfig.preset("default")
    w = resnet18_workload("C5")
    assert schedule_conv2d(w, config, REQUANT, threads=1).threads == 1
    assert schedule_conv2d(w, config, REQUANT, oc_tile=2).oc_tile == 2
    forced = schedule_conv2d(w, config, REQUANT, oc_tile=1, ic_tile=1, h_tile=4, w_tile=28)
    assert forced == ConvSchedule(1, 1, 4, 28, 2)
    with pytest.raises(ScheduleError, match="INP buffer needs"):
        schedule_conv2d(w, config, REQUANT, oc_tile=8, ic_tile=8, h_tile=28, w_tile=28)
    with pytest.raises(ScheduleError, match="unknown schedule override 'tile'"):
        schedule_conv2d(w, config, REQUANT, tile=3)
    with pytest.raises(ScheduleError, match="h_tile must be a positive integer"):
        schedule_conv2d(w, config, REQUANT, h_tile=0)
    with pytest.raises(ScheduleError, match="only a dense .* workload tiles the batch"):
        schedule_conv2d(w, config, REQUANT, n_tile=2)
    d = DenseWorkload(128, 128, 128)
    assert schedule_dense(d, config, REQUANT, m_tile=1).m_tile == 1
    assert schedule_dense(d, config, REQUANT, n_tile=8, m_tile=2, k_tile=4) == \
        DenseSchedule(8, 2, 4)
    with pytest.raises(ScheduleError, match="unknown schedule override 'oc_tile'"):
        schedule_dense(d, config, REQUANT, oc_tile=1)


def test_no_tiling_fails_with_one_line():
    # A 3x3 conv of 4 channels on a config whose INP buffer cannot hold one window.
    tiny = VTAConfig.preset("tiny").replace(LOG_INP_BUFF_SIZE=5)
    w = Conv2dWorkload(1, 4, 64, 64, 4, (3, 3), (1, 1), (1, 1))
    with pytest.raises(ScheduleError, match="no conv2d tiling .* fits config"):
        schedule_conv2d(w, tiny)


def test_latency_hiding_is_cheaper_in_the_model():
    config = VTAConfig.preset("default")
    for layer in ("C2", "C8", "C11"):
        w = resnet18_workload(layer)
        s2 = schedule_conv2d(w, config, REQUANT)
        s1 = schedule_conv2d(w, config, REQUANT, threads=1)
        e2, e1 = (estimate(w, s, config, REQUANT) for s in (s2, s1))
        assert e2.cycles < e1.cycles
        assert e2.gemm_uops == e1.gemm_uops == w.padded_macs(config) // config.macs_per_cycle


def test_search_is_fast_enough_for_a_model():
    config = VTAConfig.preset("default")
    t0 = time.perf_counter()
    for layer in RESNET18_CONVS:
        ep = Epilogue(shift=7 if layer != "C1" else 6)
        schedule_conv2d(resnet18_workload(layer, batch=3), config, ep)
    assert time.perf_counter() - t0 < 10   # generous: a shared 2-core machine
