"""conv2d on the functional simulator matches the numpy int8 reference bit for bit."""

import json
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from vta.compiler import int8_reference as ref
from vta.compiler import ops
from vta.compiler.emit import queue_for
from vta.compiler.epilogue import Epilogue
from vta.compiler.errors import OperatorError, ScheduleError
from vta.compiler.packing import pack_bias
from vta.compiler.workload import RESNET18_CONVS as RESNET18
from vta.compiler.workload import Conv2dWorkload
from vta.driver import open_device
from vta.hw.config import VTAConfig
from vta.hw.errors import ConfigError
from vta.runtime import pack_nchw, pack_oihw, unpack_nchw

REQUANT = Epilogue(bias=True, shift=8, clip=(0, 127))


def _examples(default: int) -> int:
    """Hypothesis examples per randomized test; ``VTA_HYPOTHESIS_EXAMPLES`` raises it."""
    return int(os.environ.get("VTA_HYPOTHESIS_EXAMPLES", default))


def run_conv(dev, x, w, b, epilogue, stride, padding, residual=None, **overrides):
    c = dev.config
    out = ops.conv2d(dev, pack_nchw(x, c.batch, c.block), pack_oihw(w, c.block, c.block), b,
                     stride=stride, padding=padding, shift=epilogue.shift,
                     clip=epilogue.clip,
                     residual=None if residual is None else pack_nchw(residual, c.batch,
                                                                      c.block),
                     residual_clip=epilogue.residual_clip, lshift=epilogue.lshift,
                     residual_lshift=epilogue.residual_lshift,
                     residual_offset=epilogue.residual_offset,
                     residual_shift=epilogue.residual_shift, **overrides)
    return unpack_nchw(out, x.shape[0], w.shape[0])


def random_conv(rng, n, c, h, w, o, k):
    x = rng.integers(-128, 128, (n, c, h, w), dtype=np.int8)
    wt = rng.integers(-128, 128, (o, c, k, k), dtype=np.int8)
    b = rng.integers(-4000, 4000, o, dtype=np.int32)
    return x, wt, b


@pytest.mark.parametrize("layer", ["C1",
                                   *[f"C{i}" for i in range(2, 12)]])
def test_resnet18_layer_matches_reference(fsim, layer):
    h, ic, oc, k, p, s = RESNET18[layer]   # C1's 3 input channels are padded to 16
    rng = np.random.default_rng(int(layer[1:]))
    x, w, b = random_conv(rng, 1, ic, h, h, oc, k)
    want = ref.conv2d_epilogue(x, w, REQUANT, b, None, s, p)
    assert np.array_equal(run_conv(fsim, x, w, b, REQUANT, s, p), want)


_RANDOM_DEVICES: dict = {}


def random_config_device(draw_data):
    """An fsim device of a random valid configuration (BLOCK 4..16, buffer sizes from
    barely-fits to default)."""
    log_block = draw_data.draw(st.integers(2, 4), label="LOG_BLOCK")
    elem = {"inp": log_block + 0, "wgt": 2 * log_block, "acc": log_block + 2}
    keys = {"LOG_BLOCK": log_block,
            "LOG_INP_BUFF_SIZE": draw_data.draw(st.integers(elem["inp"] + 5, 15)),
            "LOG_WGT_BUFF_SIZE": draw_data.draw(st.integers(elem["wgt"] + 3, 18)),
            "LOG_ACC_BUFF_SIZE": draw_data.draw(st.integers(elem["acc"] + 5, 17)),
            "LOG_UOP_BUFF_SIZE": draw_data.draw(st.integers(11, 15))}
    try:
        config = VTAConfig(**keys)
    except ConfigError:
        assume(False)
    if config not in _RANDOM_DEVICES:
        _RANDOM_DEVICES[config] = open_device("fsim", config, dram_bytes=32 << 20)
    return _RANDOM_DEVICES[config]


@settings(max_examples=_examples(20), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), c=st.integers(1, 40), h=st.integers(3, 10), o=st.integers(1, 40),
       k=st.sampled_from([1, 3]), s=st.integers(1, 2))
def test_random_configs_match_reference(data, c, h, o, k, s):
    dev = random_config_device(data)
    p = k // 2
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    x, wt, b = random_conv(rng, 1, c, h, h, o, k)
    want = ref.conv2d_epilogue(x, wt, REQUANT, b, None, s, p)
    try:
        got = run_conv(dev, x, wt, b, REQUANT, s, p)
    except ScheduleError as e:
        assert "fits config" in str(e)   # a legitimately too small config: clear message
        return
    assert np.array_equal(got, want)


@pytest.mark.parametrize("threads", [1, 2])
def test_latency_hiding_and_serial_agree(fsim, threads):
    rng = np.random.default_rng(3)
    x, w, b = random_conv(rng, 1, 32, 14, 14, 48, 3)
    want = ref.conv2d_epilogue(x, w, REQUANT, b, None, 1, 1)
    got = run_conv(fsim, x, w, b, REQUANT, 1, 1, threads=threads, oc_tile=1, h_tile=5)
    assert np.array_equal(got, want)


@settings(max_examples=_examples(25), deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(data=st.data(), n=st.integers(1, 2), c=st.integers(1, 40), h=st.integers(1, 12),
       o=st.integers(1, 40), k=st.integers(1, 4), s=st.integers(1, 3),
       tiny=st.booleans(), bias=st.booleans(), residual=st.booleans())
def test_random_convs_match_reference(fsim, fsim_tiny, data, n, c, h, o, k, s, tiny, bias,
                                      residual):
    p = data.draw(st.integers(0, k - 1))
    w_ = data.draw(st.integers(max(1, k - 2 * p), 12))
    if h + 2 * p < k:
        h = k
    dev = fsim_tiny if tiny else fsim
    shift = data.draw(st.integers(0, 12))
    clip = data.draw(st.one_of(st.none(), st.just((-128, 127)), st.just((0, 127))))
    rclip = data.draw(st.one_of(st.none(), st.just((0, 127)))) if residual else None
    overrides = data.draw(st.one_of(
        st.just({}), st.just({"threads": 1}), st.just({"order": "spatial_outer"}),
        st.fixed_dictionaries({"oc_tile": st.integers(1, 3), "ic_tile": st.integers(1, 3),
                               "h_tile": st.integers(1, 4), "w_tile": st.integers(1, 4)})))
    # ResNet's rescaled skip add: qadd shifts, rounding offset and shift (small or wide).
    rescale = data.draw(st.one_of(st.just((0, 0, 0, 0)), st.tuples(
        st.integers(0, 2), st.integers(0, 2), st.integers(-3, 3), st.integers(0, 2)),
        st.tuples(st.integers(0, 31), st.integers(0, 31), st.integers(-131072, 131068),
                  st.integers(0, 31)))) if residual else (0, 0, 0, 0)
    ep = Epilogue(bias, shift, clip, residual, rclip, *rescale)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    x = rng.integers(-128, 128, (n, c, h, w_), dtype=np.int8)
    wt = rng.integers(-128, 128, (o, c, k, k), dtype=np.int8)
    b = rng.integers(-4000, 4000, o, dtype=np.int32) if bias else None
    acc = ref.conv2d(x, wt, s, p)
    res = rng.integers(-128, 128, acc.shape, dtype=np.int8) if residual else None
    want = ref.apply_epilogue(acc, ep, b, res)
    try:
        got = run_conv(dev, x, wt, b, ep, s, p, res, **overrides)
    except ScheduleError:
        assert overrides, "only forced tile sizes may fail to fit"
        return
    assert np.array_equal(got, want)


def test_compile_once_run_many_and_save(fsim, tmp_path):
    c = fsim.config
    w = Conv2dWorkload(1, 32, 10, 10, 32, (3, 3), (1, 1), (1, 1))
    kernel = ops.compile_conv2d(w, c, REQUANT)
    path = tmp_path / "conv.json"
    path.write_text(json.dumps(kernel.to_dict()))
    again = ops.CompiledKernel.from_dict(json.loads(path.read_text()))
    assert again.schedule == kernel.schedule
    shapes = kernel.operand_shapes()
    q = queue_for(fsim)
    rng = np.random.default_rng(5)
    out = q.empty(*shapes["out"])
    for trial in range(2):
        x, wt, b = random_conv(rng, 1, 32, 10, 10, 32, 3)
        arrays = {"data": q.array(pack_nchw(x, 1, 16)), "weight": q.array(pack_oihw(wt, 16, 16)),
                  "bias": q.array(pack_bias(b, c, 2))}
        (kernel if trial == 0 else again).run(fsim, out=out, **arrays)
        want = ref.conv2d_epilogue(x, wt, REQUANT, b, None, 1, 1)
        assert np.array_equal(unpack_nchw(out.numpy(), 1, 32), want)
        for a in arrays.values():
            a.free()
    out.free()


def test_device_arrays_stay_on_device(fsim):
    q = queue_for(fsim)
    rng = np.random.default_rng(9)
    x, w, b = random_conv(rng, 1, 16, 6, 6, 16, 3)
    d = q.array(pack_nchw(x, 1, 16))
    wd = q.array(pack_oihw(w, 16, 16))
    out = ops.conv2d(fsim, d, wd, b, padding=1, shift=8, clip=(0, 127))
    assert isinstance(out, type(d))
    want = ref.conv2d_epilogue(x, w, REQUANT, b, None, 1, 1)
    assert np.array_equal(unpack_nchw(out.numpy(), 1, 16), want)
    for a in (d, wd, out):
        a.free()


def test_plain_conv_without_epilogue_truncates(fsim_tiny):
    dev = fsim_tiny
    rng = np.random.default_rng(2)
    x = rng.integers(-128, 128, (1, 4, 5, 5), dtype=np.int8)
    w = rng.integers(-128, 128, (4, 4, 3, 3), dtype=np.int8)
    got = ops.conv2d(dev, pack_nchw(x, 1, 4), pack_oihw(w, 4, 4), padding=1)
    assert np.array_equal(unpack_nchw(got, 1, 4), ref.conv2d(x, w, 1, 1).astype(np.int8))


def test_bad_inputs_fail_with_one_line(fsim):
    x = np.zeros((1, 1, 4, 4, 1, 16), np.int8)
    w = np.zeros((1, 1, 3, 3, 16, 16), np.int8)
    with pytest.raises(OperatorError, match="data must be int8, not float32"):
        ops.conv2d(fsim, x.astype(np.float32), w)
    with pytest.raises(OperatorError, match="data must be packed"):
        ops.conv2d(fsim, np.zeros((1, 16, 4, 4), np.int8), w)
    with pytest.raises(OperatorError, match="bias must be a 1-D int32 array"):
        ops.conv2d(fsim, x, w, np.zeros(16, np.int64))
    with pytest.raises(OperatorError, match="shift must be an integer in"):
        ops.conv2d(fsim, x, w, shift=40)
    with pytest.raises(ScheduleError, match="padding 3 must be smaller than the kernel"):
        ops.conv2d(fsim, x, w, padding=3)
    for err in (OperatorError, ScheduleError):
        assert "\n" not in str(err("x"))


@pytest.mark.slow
@pytest.mark.parametrize("config,shape,overrides,rescale", [
    ("tiny", (1, 8, 9, 9, 12, 3, 1, 1), {}, (0, 0, 0, 0)),
    ("tiny", (2, 6, 8, 7, 8, 3, 2, 1), {"threads": 1}, (12, 13, 100000, 16)),
    ("tiny", (1, 12, 6, 6, 8, 1, 1, 0), {"order": "spatial_outer"}, (0, 0, 0, 0)),
    ("default", (1, 64, 14, 14, 64, 3, 1, 1), {}, (0, 1, 1, 1)),   # ResNet-18's skip add
])
def test_conv_on_verilator_matches_reference(verilator, config, shape, overrides, rescale):
    dev = verilator(config)
    n, c, h, w, o, k, s, p = shape
    rng = np.random.default_rng(sum(shape))
    x, wt, b = random_conv(rng, n, c, h, w, o, k)
    acc = ref.conv2d(x, wt, s, p)
    res = rng.integers(-128, 128, acc.shape, dtype=np.int8)
    ep = Epilogue(True, 7, (-100, 100), True, (0, 127), *rescale)
    got = run_conv(dev, x, wt, b, ep, s, p, res, **overrides)
    assert np.array_equal(got, ref.apply_epilogue(acc, ep, b, res))
