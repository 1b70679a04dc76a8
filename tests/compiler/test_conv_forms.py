"""Grouped, depthwise, dilated, asymmetrically padded and transposed convolutions on the
accelerator: bit-exact against the int8 reference on fsim (many schedules), pysim and
Verilator, the cost model's byte and uop counts equal to the lowered program's, and the
partitioner placing them by time against the host CPU."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from vta.compiler import int8_reference as ref
from vta.compiler import ops
from vta.compiler.cost_model import program_counts
from vta.compiler.epilogue import Epilogue
from vta.compiler.errors import ScheduleError
from vta.compiler.frontend import GraphBuilder
from vta.compiler.packing import grouped_weight, pack_bias, super_groups
from vta.compiler.partition import VtaLayer, partition
from vta.compiler.transposed import phase_weight, phases
from vta.compiler.workload import Conv2dWorkload
from vta.driver import open_device
from vta.runtime import CommandQueue, pack_nchw, pack_oihw, unpack_nchw

EP = Epilogue(bias=True, shift=5, clip=(-128, 127))

# (batch, C, H, W, O, kernel, stride, (top, left), groups, dilation, (bottom, right))
CASES = {
    "depthwise": (1, 8, 6, 7, 8, (3, 3), (1, 1), (1, 1), 8, (1, 1), None),
    "depthwise x2, stride 2": (1, 8, 6, 7, 16, (3, 3), (2, 2), (1, 1), 8, (1, 1), None),
    "groups of whole blocks": (2, 16, 5, 6, 16, (3, 3), (1, 1), (0, 1), 2, (1, 1), (2, 0)),
    "groups of 4 in, 2 out": (1, 12, 5, 5, 6, (3, 3), (1, 1), (1, 1), 3, (1, 1), None),
    "groups filling no block": (1, 6, 5, 5, 6, (3, 3), (1, 1), (1, 1), 3, (1, 1), None),
    "dilated": (1, 8, 9, 9, 8, (3, 3), (1, 1), (2, 2), 1, (2, 2), None),
    "all at once": (1, 8, 9, 10, 12, (3, 2), (2, 1), (1, 0), 4, (2, 3), (0, 2)),
}


def _run(q: CommandQueue, w: Conv2dWorkload, rng: np.random.Generator, **overrides
         ) -> tuple[np.ndarray, np.ndarray, ops.CompiledKernel]:
    """Compile ``w``, run it on random operands; (got, want, kernel)."""
    c = q.config
    kernel = ops.compile_conv2d(w, c, EP, **overrides)
    x = rng.integers(-128, 128, (w.batch, w.in_channels, w.height, w.width), dtype=np.int8)
    wt = rng.integers(-128, 128, (w.out_channels, w.in_channels // w.groups, *w.kernel),
                      dtype=np.int8)
    bias = rng.integers(-1000, 1000, w.out_channels).astype(np.int32)
    packed_w = pack_oihw(grouped_weight(wt, w.groups, w.in_channels, c), c.block, c.block)
    ocb = packed_w.shape[0]
    arrays = {"data": q.array(pack_nchw(x, c.batch, c.block)), "weight": q.array(packed_w),
              "bias": q.array(pack_bias(bias, c, ocb)),
              "out": q.empty((-(-w.batch // c.batch), ocb, w.out_height, w.out_width, c.batch,
                              c.block), np.int8)}
    kernel.run(q, **arrays)
    got = unpack_nchw(arrays["out"].numpy(), w.batch, w.out_channels)
    for a in arrays.values():
        a.free()
    want = ref.apply_epilogue(ref.conv2d(x, wt, w.stride, (*w.padding, *w.padding_end),
                                         w.dilation, w.groups), EP, bias)
    return got, want, kernel


def _counts_agree(kernel: ops.CompiledKernel, config) -> bool:
    pc, est = program_counts(kernel.program, config), kernel.estimate
    return (pc["dram_read"], pc["dram_write"], pc["gemm_uops"], pc["alu_uops"]) == \
        (est.dram_read, est.dram_write, est.gemm_uops, est.alu_uops)


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("threads", [1, 2])
def test_conv_forms_match_reference_on_fsim(fsim_tiny, case, threads):
    q = CommandQueue(fsim_tiny)
    w = Conv2dWorkload(*CASES[case])
    got, want, kernel = _run(q, w, np.random.default_rng(threads), threads=threads)
    assert np.array_equal(got, want)
    assert _counts_agree(kernel, q.config)


def test_grouped_conv_under_every_schedule_shape(fsim_tiny):
    """Tiles of one or several output blocks per super-group, one or two reduction
    chunks, both loop orders and thread counts: operand reuse across the tiles of one
    super-group, never across two."""
    q = CommandQueue(fsim_tiny)
    rng = np.random.default_rng(3)
    runs = 0
    for w in (Conv2dWorkload(2, 16, 6, 5, 24, (3, 3), (1, 1), (1, 1), 2),
              Conv2dWorkload(1, 16, 6, 5, 16, (3, 3), (2, 1), (1, 1), 16),
              Conv2dWorkload(1, 32, 4, 4, 32, (1, 1), (1, 1), (0, 0), 4)):
        for threads, order, oc, ic, ht in itertools.product(
                (1, 2), ("oc_outer", "spatial_outer"), (1, 2, 3), (1, 2), (1, 6)):
            try:
                got, want, kernel = _run(q, w, rng, threads=threads, order=order,
                                         oc_tile=oc, ic_tile=ic, h_tile=ht,
                                         w_tile=w.out_width)
            except ScheduleError:
                continue
            assert np.array_equal(got, want), (w.describe(), kernel.schedule)
            assert _counts_agree(kernel, q.config), (w.describe(), kernel.schedule)
            runs += 1
    assert runs > 60


def test_super_groups_and_the_waste_they_report(default_config):
    # Depthwise: 16 channels (one block) per super-group, a diagonal weight block.
    assert super_groups(32, 32, 32, 16) == (2, 1, 1)
    assert super_groups(2, 64, 64, 16) == (2, 2, 2)       # whole blocks: one group each
    assert super_groups(3, 6, 6, 16) == (1, 1, 1)         # no block filled: one group
    w = Conv2dWorkload(1, 32, 56, 56, 32, 3, 1, 1, 32)
    assert w.macs * 16 == w.padded_macs(default_config)   # 15 of 16 MACs multiply zeros
    est = ops.compile_conv2d(w, default_config, EP).estimate
    assert est.macs == w.padded_macs(default_config)
    assert "32 groups" in w.describe()
    wt = np.arange(6 * 2 * 1 * 1, dtype=np.int8).reshape(6, 2, 1, 1)
    dense = grouped_weight(wt, 3, 6, default_config)[:, :, 0, 0]
    assert dense.shape == (6, 16) and np.count_nonzero(dense[:, 6:]) == 0
    assert np.array_equal(dense[2:4, 2:4], wt[2:4, :, 0, 0]) and not dense[2:4, :2].any()


def test_workload_rejects_what_the_dma_cannot_pad():
    with pytest.raises(ScheduleError, match="groups 3 must divide"):
        Conv2dWorkload(1, 8, 5, 5, 8, 3, 1, 1, 3)
    with pytest.raises(ScheduleError, match="smaller than the kernel span 3"):
        Conv2dWorkload(1, 8, 5, 5, 8, 3, 1, (0, 0), 1, 1, (3, 0))
    assert Conv2dWorkload(1, 8, 5, 5, 8, 3, 1, 4, 1, 3).kernel_span == (7, 7)   # dilated


def test_one_call_conv_takes_asymmetric_pads_and_dilation(fsim):
    c = fsim.config
    rng = np.random.default_rng(5)
    x = rng.integers(-128, 128, (1, 16, 9, 8), dtype=np.int8)
    wt = rng.integers(-128, 128, (16, 16, 3, 3), dtype=np.int8)
    out = ops.conv2d(fsim, pack_nchw(x, c.batch, c.block), pack_oihw(wt, c.block, c.block),
                     stride=(1, 2), padding=(0, 2, 1, 0), dilation=(2, 1), shift=6,
                     clip=(-128, 127))
    want = ref.apply_epilogue(ref.conv2d(x, wt, (1, 2), (0, 2, 1, 0), (2, 1)),
                              Epilogue(False, 6, (-128, 127)))
    assert np.array_equal(unpack_nchw(out, 1, 16), want)


@pytest.mark.slow
def test_depthwise_and_grouped_on_pysim():
    dev = open_device("pysim", "tiny", dram_bytes=1 << 18)
    try:
        q = CommandQueue(dev)
        rng = np.random.default_rng(11)
        for w in (Conv2dWorkload(1, 8, 4, 4, 8, (3, 3), (1, 1), (1, 1), 8),
                  Conv2dWorkload(1, 8, 4, 5, 8, (3, 3), (1, 2), (0, 1), 2, (1, 1), (2, 0))):
            got, want, _ = _run(q, w, rng)
            assert np.array_equal(got, want), w.describe()
    finally:
        dev.close()


@pytest.mark.slow
def test_depthwise_grouped_dilated_on_verilator(verilator):
    q = CommandQueue(verilator("tiny"))
    rng = np.random.default_rng(12)
    for case in ("depthwise x2, stride 2", "groups of 4 in, 2 out", "all at once"):
        got, want, _ = _run(q, Conv2dWorkload(*CASES[case]), rng)
        assert np.array_equal(got, want), case


# ------------------------------------------------------------------------------ placement
def _depthwise_block(b: GraphBuilder, x: str, name: str, channels: int, qconv) -> str:
    """A MobileNet block: 1x1 expand, 3x3 depthwise, 1x1 project."""
    y = qconv(b, x, f"{name}.expand", channels, k=1, lo=0)
    y = qconv(b, y, f"{name}.dw", channels, groups=channels, lo=0)
    return qconv(b, y, f"{name}.project", 16, k=1)


def test_depthwise_runs_on_vta_where_it_beats_the_cpu(default_config, qconv):
    b = GraphBuilder("mbv2_block")
    x = b.input("x", (1, 16, 14, 14), "int8")
    b.output(_depthwise_block(b, x, "b1", 96, qconv))
    g = b.build()
    p = partition(g, default_config)
    dw = next(lay for lay in p.layers if lay.name == "b1.dw")
    assert isinstance(dw, VtaLayer) and dw.workload.groups == 96
    # The numpy reference runs grouped convolutions on the CPU: even a PC's CPU loses.
    assert partition(g, default_config, host="x86-64").placement()["b1.dw"] == "vta"


def test_grouped_model_matches_reference_through_compile(qconv):
    import vta.compiler

    b = GraphBuilder("grouped")
    x = b.input("x", (1, 16, 10, 10), "int8")
    y = _depthwise_block(b, x, "b1", 48, qconv)
    y = qconv(b, y, "g4", 32, groups=4, lo=0, dilations=2, pads=(2, 1, 2, 3))
    b.output(y)
    with vta.compiler.compile(b.build(), "default", "fsim") as exe:
        assert {lay.name for lay in exe.partition.vta_layers} == \
            {"b1.expand", "b1.dw", "b1.project", "g4"}
        x_in = np.random.default_rng(2).integers(-128, 128, (1, 16, 10, 10)).astype(np.int8)
        out = exe({"x": x_in})
        want = exe.reference({"x": x_in})
        assert all(np.array_equal(out[k], want[k]) for k in want)


# ------------------------------------------------------------------------------ transposed
# (batch, C, H, W, O, kernel, strides, pads, output_padding, groups)
TRANSPOSED = {
    "DCGAN 4x4 stride 2": (1, 8, 4, 4, 8, (4, 4), (2, 2), (1, 1, 1, 1), (0, 0), 1),
    "DCGAN 1x1 latent": (1, 8, 1, 1, 12, (4, 4), (1, 1), (0, 0, 0, 0), (0, 0), 1),
    "3x3 stride 2 output_padding": (1, 4, 5, 4, 8, (3, 3), (2, 2), (1, 1, 1, 1), (1, 1), 1),
    "grouped, strides (2, 1)": (2, 8, 3, 5, 8, (3, 2), (2, 1), (0, 1, 1, 0), (1, 0), 2),
    "stride 3x2, uneven pads": (1, 8, 4, 4, 8, (5, 5), (3, 2), (2, 1, 1, 2), (0, 1), 4),
}


def _run_transposed(q: CommandQueue, case: tuple, rng: np.random.Generator
                    ) -> tuple[np.ndarray, np.ndarray, int]:
    """Every phase of a transposed convolution run into one output; (got, want, phases)."""
    n, ch, h, wd, o, k, s, pd, op, g = case
    c = q.config
    plan = phases((h, wd), k, s, pd, 1, op)
    assert not isinstance(plan, str), plan
    x = rng.integers(-128, 128, (n, ch, h, wd), dtype=np.int8)
    wt = rng.integers(-128, 128, (ch, o // g, *k), dtype=np.int8)
    ep = Epilogue(False, 5, (-128, 127))
    want = ref.apply_epilogue(ref.conv_transpose2d(x, wt, s, pd, op, 1, g), ep)
    oh, ow = want.shape[2:]
    out = q.empty((-(-n // c.batch), -(-o // c.block), oh, ow, c.batch, c.block), np.int8)
    data = q.array(pack_nchw(x, c.batch, c.block))
    for p in plan:
        w = Conv2dWorkload(n, ch, h, wd, o, (p.taps[0][1], p.taps[1][1]), 1, p.pad_begin, g,
                           1, p.pad_end, (oh, ow, *p.offset, *s))
        assert (w.out_height, w.out_width) == p.size
        kernel = ops.compile_conv2d(w, c, ep)
        assert _counts_agree(kernel, c)
        weight = q.array(pack_oihw(grouped_weight(phase_weight(wt, g, s, p), g, ch, c),
                                   c.block, c.block))
        kernel.run(q, data=data, weight=weight, out=out)
        weight.free()
    got = unpack_nchw(out.numpy(), n, o)
    out.free()
    data.free()
    return got, want, len(plan)


@pytest.mark.parametrize("case", TRANSPOSED)
def test_transposed_conv_phases_match_reference_on_fsim(fsim_tiny, case):
    got, want, n_phases = _run_transposed(CommandQueue(fsim_tiny), TRANSPOSED[case],
                                          np.random.default_rng(4))
    assert np.array_equal(got, want)
    strides = TRANSPOSED[case][6]
    assert n_phases == strides[0] * strides[1]


def test_transposed_phases_multiply_no_stuffed_zeros():
    # DCGAN's 4x4 stride-2 layer: four 2x2 sub-convolutions, each output a quarter.
    plan = phases((8, 8), (4, 4), 2, 1)
    assert [p.taps for p in plan] == [((0, 2), (0, 2)), ((0, 2), (1, 2)), ((1, 2), (0, 2)),
                                      ((1, 2), (1, 2))]
    assert all(p.size == (8, 8) for p in plan)
    assert sum(p.taps[0][1] * p.taps[1][1] for p in plan) == 16      # each tap once
    assert "dilations" in phases((4, 4), (3, 3), 2, 1, dilations=2)
    assert "larger than the kernel" in phases((4, 4), (2, 2), 3, 0)
    w = np.arange(2 * 3 * 4 * 4, dtype=np.int8).reshape(2, 3, 4, 4)   # (C, O, KH, KW)
    sub = phase_weight(w, 1, 2, plan[3])        # taps 1 and 3, flipped
    assert sub.shape == (3, 2, 2, 2) and sub[1, 0, 0, 0] == w[0, 1, 3, 3]


def test_transposed_conv_runs_as_phase_layers_through_compile(tmp_path):
    import vta.compiler

    rng = np.random.default_rng(9)
    b = GraphBuilder("upsample")
    x = b.input("x", (1, 24, 5, 5), "int8")
    w = b.param("up.w", rng.integers(-20, 21, (24, 16, 4, 4)).astype(np.int8))
    bias = b.param("up.b", rng.integers(-500, 500, 16).astype(np.int32))
    y = b.node("qconv_transpose2d", [x, w, bias], "up", strides=2, pads=1, shift=6, lo=0,
               hi=127, out_scale=2.0 ** -4)
    b.output(y)
    g = b.build()
    x_in = rng.integers(-128, 128, (1, 24, 5, 5)).astype(np.int8)
    with vta.compiler.compile(g, "default", "fsim") as exe:
        layers = exe.partition.vta_layers
        assert [lay.name for lay in layers] == ["up#00", "up#01", "up#10", "up#11"]
        assert exe.partition.placement() == {"up": "vta"}
        want = exe.reference({"x": x_in})
        assert np.array_equal(exe({"x": x_in})["up"], want["up"])
        assert "up phase (1, 1)" in exe.profile_table()
        path = exe.save(tmp_path / "up.vtax")
    with vta.compiler.load(path) as loaded:
        assert np.array_equal(loaded({"x": x_in})["up"], want["up"])
    cpu = partition(g, exe.config, host="x86-64")   # numpy on the CPU: still VTA
    assert cpu.placement() == {"up": "vta"}


@pytest.mark.slow
def test_transposed_conv_on_verilator(verilator):
    q = CommandQueue(verilator("tiny"))
    for case in ("DCGAN 4x4 stride 2", "grouped, strides (2, 1)"):
        got, want, _ = _run_transposed(q, TRANSPOSED[case], np.random.default_rng(6))
        assert np.array_equal(got, want), case


# ------------------------------------------------------------------------------ matmul
def _attention_graph(k: int, n: int, heads: int = 2, broadcast: bool = False):
    """``scores = q @ kt`` over ``heads`` (int8 activations), then a dense layer on the
    accelerator reading the scores as ``(heads * 24, n)`` rows."""
    rng = np.random.default_rng(k + n)
    b = GraphBuilder("attention")
    q = b.input("q", (1, heads, 24, k), "int8")
    kt = b.input("kt", (1, 1 if broadcast else heads, k, n), "int8")
    s = b.node("qmatmul", [q, kt], "scores", offset=8, shift=4, lo=-128, hi=127,
               out_scale=2.0 ** -4)
    w = b.param("proj.w", rng.integers(-20, 21, (16, n)).astype(np.int8))
    rows = b.reshape(s, (1, heads * 24, n), name="rows")
    y = b.node("qdense", [rows, w, b.param("proj.b", rng.integers(-99, 99, 16).astype(
        np.int32))], "proj", shift=6, lo=-128, hi=127, out_scale=2.0 ** -4)
    b.output(y, s)
    return b.build()


@pytest.mark.parametrize("k,n", [(64, 128), (24, 40)])
def test_matmul_of_two_activations_runs_on_vta(k, n, tmp_path):
    """Batched ``a @ b`` of two runtime tensors as a grouped 1x1 convolution (one group
    per head; 24 and 40 channels share super-groups), its result read by a dense layer on
    the accelerator; bit-exact, also after a save/load round trip."""
    import vta.compiler

    g = _attention_graph(k, n)
    rng = np.random.default_rng(1)
    inputs = {"q": rng.integers(-128, 128, (1, 2, 24, k)).astype(np.int8),
              "kt": rng.integers(-128, 128, (1, 2, k, n)).astype(np.int8)}
    with vta.compiler.compile(g, "default", "fsim") as exe:
        layers = {lay.name: lay for lay in exe.partition.vta_layers}
        assert set(layers) == {"scores", "proj"}
        assert layers["scores"].op == "matmul" and layers["scores"].workload.groups == 2
        want = exe.reference(inputs)
        got = exe(inputs)
        assert all(np.array_equal(got[t], want[t]) for t in want)
        assert any(r.op == "qmatmul" and r.device == "vta:fsim" for r in exe.profile())
        path = exe.save(tmp_path / "att.vtax")
    with vta.compiler.load(path) as loaded:
        got = loaded(inputs)
        assert all(np.array_equal(got[t], want[t]) for t in want)


def test_broadcast_matmul_stays_on_the_cpu(default_config):
    p = partition(_attention_graph(64, 128, broadcast=True), default_config)
    scores = next(lay for lay in p.layers if lay.name == "scores")
    assert scores.device == "cpu" and "no broadcasting" in scores.reason


def test_dense_over_a_4d_input_stays_on_the_cpu(default_config):
    b = GraphBuilder("dense4d")
    x = b.input("x", (1, 2, 24, 32), "int8")
    w = b.param("w", np.ones((16, 32), np.int8))
    b.output(b.node("qdense", [x, w], "fc", shift=4, lo=-128, hi=127, out_scale=1.0))
    fc = partition(b.build(), default_config).layers[0]
    assert fc.device == "cpu" and "4-D input" in fc.reason
