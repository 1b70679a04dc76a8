"""Pass 1, workloads and schedules: validation, the dense view of the conv workload,
footprints and the legality check."""

import pytest
from vta.compiler.epilogue import Epilogue
from vta.compiler.errors import ScheduleError
from vta.compiler.workload import (
    RESNET18_CONVS,
    Conv2dWorkload,
    ConvSchedule,
    DenseSchedule,
    DenseWorkload,
    check_schedule,
    footprint,
    resnet18_workload,
    tile_sizes,
)
from vta.hw.config import VTAConfig

REQUANT = Epilogue(bias=True, shift=8, clip=(0, 127))


def test_unsupported_workloads_fail_with_one_line():
    with pytest.raises(ScheduleError, match="padding 3 must be smaller than the kernel"):
        Conv2dWorkload(1, 16, 8, 8, 16, (3, 3), (1, 1), (3, 3))
    with pytest.raises(ScheduleError, match="larger than the padded input"):
        Conv2dWorkload(1, 16, 2, 2, 16, (5, 5), (1, 1), (1, 1))
    with pytest.raises(ScheduleError, match="conv2d stride must be an integer >= 1"):
        Conv2dWorkload(1, 16, 8, 8, 16, (3, 3), (0, 1))
    with pytest.raises(ScheduleError, match="batch must be a positive integer"):
        DenseWorkload(0, 16, 16)
    with pytest.raises(ScheduleError, match="unknown ResNet-18 layer 'C12'"):
        resnet18_workload("C12")


def test_workload_shapes():
    w = resnet18_workload("C3")
    assert (w.out_height, w.out_width, w.kernel_area) == (28, 28, 9)
    assert w.macs == RESNET18_CONVS["C3"][2] * 28 * 28 * 64 * 9
    assert Conv2dWorkload(1, 16, 5, 5, 16, 3, 2, 1).kernel == (3, 3)   # ints are pairs
    assert tile_sizes(10, 4) == [(4, 2), (2, 1)] and tile_sizes(8, 4) == [(4, 2)]


def test_dense_is_the_matrix_case_of_conv2d():
    config = VTAConfig.load("default")
    d = DenseWorkload(16, 512, 1008)
    w = d.as_conv2d()
    assert w.is_matrix and w.kind == "dense" and not resnet18_workload("C4").is_matrix
    assert (w.batch, w.in_channels, w.height, w.width, w.out_channels) == (16, 512, 1, 1,
                                                                          1008)
    assert d.macs == w.macs and d.blocks(config) == w.blocks(config)
    s = DenseSchedule(4, 3, 2, threads=1, order="spatial_outer")
    assert s.as_conv2d() == ConvSchedule(3, 2, 1, 1, 1, "spatial_outer", n_tile=4)
    assert DenseSchedule.from_conv2d(s.as_conv2d()) == s


def test_schedules_validate_and_save_as_before():
    with pytest.raises(ScheduleError, match="threads must be 1 or 2"):
        ConvSchedule(1, 1, 1, 1, threads=3)
    with pytest.raises(ScheduleError, match="order must be one of oc_outer, spatial_outer"):
        DenseSchedule(1, 1, 1, order="inner")
    # An image schedule saves its six fields (artifacts written before n_tile existed).
    assert ConvSchedule(1, 2, 3, 4).to_dict() == {
        "oc_tile": 1, "ic_tile": 2, "h_tile": 3, "w_tile": 4, "threads": 2,
        "order": "oc_outer"}
    assert ConvSchedule(1, 1, 1, 1, n_tile=4).to_dict()["n_tile"] == 4


def test_check_schedule_clamps_and_names_the_buffer():
    config = VTAConfig.load("default")
    w = resnet18_workload("C11")
    s = check_schedule(w, ConvSchedule(1, 1, 100, 100, 1), config, Epilogue())
    assert (s.h_tile, s.w_tile) == (7, 7)
    with pytest.raises(ScheduleError, match="conv2d schedule .* INP buffer needs"):
        check_schedule(w, ConvSchedule(1, 16, 7, 7), config, REQUANT)
    with pytest.raises(ScheduleError, match="only a dense .* workload tiles the batch"):
        check_schedule(w, ConvSchedule(1, 1, 1, 1, n_tile=2), config, REQUANT)
    d = DenseWorkload(128, 128, 128).as_conv2d()
    with pytest.raises(ScheduleError, match=r"dense schedule \{'n_tile': 128"):
        check_schedule(d, DenseSchedule(128, 8, 8).as_conv2d(), config, REQUANT)


def test_footprints():
    config = VTAConfig.load("default")
    w = resnet18_workload("C2")
    f = footprint(w, ConvSchedule(2, 1, 14, 14), config, REQUANT)
    # input 16x16 window of one block, 2x1x9 weights, 2x14x14 outputs + 2 bias rows
    assert (f["inp"], f["wgt"], f["acc"]) == (256, 18, 2 * 14 * 14 + 2)
    assert f["uop_max"] == 9 * 14      # (ic, kh, kw) x the 14 output columns
    m = footprint(DenseWorkload(16, 512, 1008).as_conv2d(),
                  DenseSchedule(16, 3, 16).as_conv2d(), config, REQUANT)
    assert (m["inp"], m["wgt"], m["acc"], m["uop_max"]) == (256, 48, 48 + 3, 3)
