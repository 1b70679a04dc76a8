"""The fused epilogue: its validation, its ALU instruction plan (computing the int8
reference exactly under the hardware's ALU semantics) and its micro-kernels."""

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from vta.compiler import int8_reference as ref
from vta.compiler.epilogue import Epilogue, add_immediates, epilogue_kernels, shift_immediates
from vta.compiler.errors import OperatorError
from vta.hw.isa import AluOp
from vta.sim.fsim_compute import alu_apply

EXAMPLES = int(os.environ.get("VTA_HYPOTHESIS_EXAMPLES", 200))


def test_epilogue_kernels_follow_that_order():
    ep = Epilogue(bias=True, shift=2, clip=(0, 127), residual=True, residual_clip=(0, 100))
    ks = epilogue_kernels(ep, ((2, 4, 1),), ((0, 8), (1, 8), (2, 8), (3, 8)), 10)
    assert [(k.alu_opcode, k.use_imm, k.imm) for k in ks] == [
        (AluOp.ADD, False, 0), (AluOp.SHR, True, 2), (AluOp.MAX, True, 0),
        (AluOp.MIN, True, 127), (AluOp.ADD, False, 0), (AluOp.MAX, True, 0),
        (AluOp.MIN, True, 100)]
    assert ks[4].uops[0] == (0, 10, 0)       # residual row = output row + 10
    assert ks[0].loops == ((2, 4, 1, 0),)     # bias row advances per channel block


def test_epilogue_validation():
    with pytest.raises(OperatorError, match="shift must be an integer in"):
        Epilogue(shift=-1)
    with pytest.raises(OperatorError, match="clip must be"):
        Epilogue(clip=(5, 1))
    with pytest.raises(OperatorError, match="residual_clip needs residual"):
        Epilogue(residual_clip=(0, 1))


_SHIFT = st.one_of(st.sampled_from([0, 1, 15, 16, 31]), st.integers(0, 31))
RESCALE = st.tuples(_SHIFT, _SHIFT, st.one_of(st.integers(-40, 40),
                                              st.integers(-131072, 131068)), _SHIFT)
"""(lshift, residual_lshift, residual_offset, residual_shift): small and full-range."""
_CLIP = st.one_of(st.none(), st.tuples(st.integers(-32768, 32767),
                                       st.integers(-32768, 32767)).map(sorted).map(tuple))
_SETTINGS = settings(max_examples=EXAMPLES, deadline=None,
                     suppress_health_check=[HealthCheck.too_slow])


@_SETTINGS
@given(fields=RESCALE, bias=st.booleans(), shift=_SHIFT, clip=_CLIP,
       residual=st.booleans(), rclip=_CLIP, seed=st.integers(0, 2**16))
def test_alu_steps_compute_the_reference_exactly(fields, bias, shift, clip, residual, rclip,
                                                 seed):
    """Executing Epilogue.alu_steps() with the hardware's ALU semantics (the golden model's
    alu_apply, SHR immediates read as 5-bit signed) gives apply_epilogue bit for bit, over
    full-range int32 accumulators and every shift and offset the Epilogue accepts."""
    if not residual:
        fields, rclip = (0, 0, 0, 0), None
    ep = Epilogue(bias, shift, clip, residual, rclip, *fields)
    rng = np.random.default_rng(seed)
    acc = rng.integers(-2**31, 2**31, (2, 3, 2, 2), dtype=np.int64).astype(np.int32)
    acc.reshape(-1)[:3] = [-2**31, 2**31 - 1, -1]
    b = rng.integers(-2**31, 2**31, 3, dtype=np.int64).astype(np.int32)
    res = rng.integers(-128, 128, acc.shape, dtype=np.int8)
    rows = {"out": acc.copy(), "residual": res.astype(np.int32)}
    for step in ep.alu_steps():
        src = {"bias": b.reshape(1, 3, 1, 1), "residual": rows["residual"]}.get(
            step.src, step.src)
        if isinstance(src, int):
            assert -32768 <= src <= 32767
            if step.op == AluOp.SHR:
                assert -16 <= src <= 15
        rows[step.rows] = alu_apply(step.op, rows[step.rows], src, 5)
    want = ref.apply_epilogue(acc, ep, b if bias else None, res if residual else None)
    assert np.array_equal(rows["out"].astype(np.int8), want)
    assert ep.alu_passes == len(ep.alu_steps())


def test_rescaled_epilogue_kernels():
    ep = Epilogue(clip=(-128, 127), residual=True, residual_clip=(0, 127), lshift=1,
                  residual_lshift=3, residual_offset=40000, residual_shift=20)
    ks = epilogue_kernels(ep, ((2, 4, 1),), ((0, 8), (1, 8), (2, 8), (3, 8)), 10)
    assert [(k.alu_opcode, k.use_imm, k.imm) for k in ks] == [
        (AluOp.MAX, True, -128), (AluOp.MIN, True, 127),
        (AluOp.SHR, True, -2),                      # residual << (3 - 1)
        (AluOp.ADD, False, 0),                      # + residual
        (AluOp.SHR, True, -1),                      # the common << 1
        (AluOp.ADD, True, 32767), (AluOp.ADD, True, 40000 - 32767),
        (AluOp.SHR, True, 15), (AluOp.SHR, True, 5),
        (AluOp.MAX, True, 0), (AluOp.MIN, True, 127)]
    assert ks[2].uops[0] == (10, 10, 0) and ks[2].loops == ((2, 4, 4, 0),)  # residual rows
    assert ks[3].uops[0] == (0, 10, 0)
    assert ks[4].uops[0] == (0, 0, 0)
    assert len(ks) == ep.alu_passes
    # A plain residual add lowers exactly as before; a wide right shift is split.
    plain = Epilogue(shift=20, residual=True)
    assert [(k.alu_opcode, k.imm) for k in epilogue_kernels(plain, ((1, 1, 0),), ((0, 0),), 5)
            ] == [(AluOp.SHR, 15), (AluOp.SHR, 5), (AluOp.ADD, 0)]
    assert not plain.rescaled and ep.rescaled
    # ResNet-18's skip add (residual << 2, + 2, >> 2, ReLU): r << 2 is a multiple of 4 and
    # nothing can wrap, so the residual rows need no shift: (x + 2) >> 2, then + r.
    resnet = Epilogue(True, 9, (-128, 127), True, (0, 127), 0, 2, 2, 2)
    assert [(s.op, s.rows, s.src) for s in resnet.alu_steps()][4:] == [
        (AluOp.ADD, "out", 2), (AluOp.SHR, "out", 2), (AluOp.ADD, "out", "residual"),
        (AluOp.MAX, "out", 0), (AluOp.MIN, "out", 127)]
    assert resnet.alu_passes == 9
    # Without a clip the value may wrap: the general order.
    wide = Epilogue(residual=True, residual_lshift=2, residual_offset=2, residual_shift=2)
    assert [(s.op, s.rows, s.src) for s in wide.alu_steps()] == [
        (AluOp.SHR, "residual", -2), (AluOp.ADD, "out", "residual"), (AluOp.ADD, "out", 2),
        (AluOp.SHR, "out", 2)]


def test_rescale_validation():
    with pytest.raises(OperatorError, match=r"lshift must be an integer in \[0, 31\]"):
        Epilogue(residual=True, lshift=32)
    with pytest.raises(OperatorError, match=r"residual_offset must be an integer in "
                                            r"\[-131072, 131068\] \(4 ALU immediates\)"):
        Epilogue(residual=True, residual_offset=1 << 20)
    with pytest.raises(OperatorError, match="residual_shift need residual=True"):
        Epilogue(residual_shift=1)
    with pytest.raises(OperatorError, match="residual_lshift must be an integer"):
        Epilogue(residual=True, residual_lshift=True)
    assert add_immediates(-32769) == (-32768, -1)
    assert shift_immediates(33, left=True) == (-16, -16, -1)
