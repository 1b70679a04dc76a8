"""dense on the functional simulator matches the numpy int8 reference bit for bit."""

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from vta.compiler import int8_reference as ref
from vta.compiler import ops
from vta.compiler.epilogue import Epilogue
from vta.compiler.errors import OperatorError
from vta.compiler.workload import DENSE_SHAPES, DenseWorkload
from vta.runtime import pack_matrix, unpack_matrix

REQUANT = Epilogue(bias=True, shift=8, clip=(0, 127))


def _examples(default: int) -> int:
    """Hypothesis examples per randomized test; ``VTA_HYPOTHESIS_EXAMPLES`` raises it."""
    return int(os.environ.get("VTA_HYPOTHESIS_EXAMPLES", default))


def run_dense(dev, x, w, b, ep, residual=None, **overrides):
    c = dev.config
    out = ops.dense(dev, pack_matrix(x, c.batch, c.block), pack_matrix(w, c.block, c.block),
                    b, shift=ep.shift, clip=ep.clip,
                    residual=None if residual is None else pack_matrix(residual, c.batch,
                                                                       c.block),
                    residual_clip=ep.residual_clip, lshift=ep.lshift,
                    residual_lshift=ep.residual_lshift, residual_offset=ep.residual_offset,
                    residual_shift=ep.residual_shift, **overrides)
    return unpack_matrix(out, x.shape[0], w.shape[0])


@pytest.mark.parametrize("shape", DENSE_SHAPES)
def test_spec_dense_shapes_match_reference(fsim, shape):
    n, k, m = shape
    rng = np.random.default_rng(n)
    x = rng.integers(-128, 128, (n, k), dtype=np.int8)
    w = rng.integers(-128, 128, (m, k), dtype=np.int8)
    b = rng.integers(-4000, 4000, m, dtype=np.int32)
    assert np.array_equal(run_dense(fsim, x, w, b, REQUANT),
                          ref.dense_epilogue(x, w, REQUANT, b))


@settings(max_examples=_examples(25), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), n=st.integers(1, 40), k=st.integers(1, 200), m=st.integers(1, 100),
       tiny=st.booleans(), bias=st.booleans(), residual=st.booleans(),
       threads=st.sampled_from([None, 1]))
def test_random_dense_match_reference(fsim, fsim_tiny, data, n, k, m, tiny, bias, residual,
                                      threads):
    dev = fsim_tiny if tiny else fsim
    rescale = data.draw(st.tuples(st.integers(0, 31), st.integers(0, 31),
                                  st.integers(-131072, 131068), st.integers(0, 31))
                        ) if residual and data.draw(st.booleans()) else (0, 0, 0, 0)
    ep = Epilogue(bias, data.draw(st.integers(0, 31)),
                  data.draw(st.one_of(st.none(), st.just((-100, 100)))), residual,
                  (0, 127) if residual and data.draw(st.booleans()) else None, *rescale)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    x = rng.integers(-128, 128, (n, k), dtype=np.int8)
    w = rng.integers(-128, 128, (m, k), dtype=np.int8)
    b = rng.integers(-4000, 4000, m, dtype=np.int32) if bias else None
    res = rng.integers(-128, 128, (n, m), dtype=np.int8) if residual else None
    want = ref.apply_epilogue(ref.dense(x, w), ep, b, res)
    got = run_dense(dev, x, w, b, ep, res, **({} if threads is None else {"threads": threads}))
    assert np.array_equal(got, want)


def test_compiled_dense_round_trips(fsim):
    k = ops.compile_dense(DenseWorkload(8, 64, 48), fsim.config, REQUANT)
    again = ops.CompiledKernel.from_dict(k.to_dict())
    assert again.schedule == k.schedule and again.op == "dense"
    rescaled = Epilogue(True, 8, (-128, 127), True, (0, 127), 1, 2, -3, 4)
    k2 = ops.compile_dense(DenseWorkload(8, 64, 48), fsim.config, rescaled)
    assert ops.CompiledKernel.from_dict(k2.to_dict()).epilogue == rescaled
    old = k.to_dict()          # saved before the rescaling fields existed
    for key in ("lshift", "residual_lshift", "residual_offset", "residual_shift"):
        del old["epilogue"][key]
    assert ops.CompiledKernel.from_dict(old).epilogue == REQUANT
    with pytest.raises(OperatorError, match="missing bias, out"):
        k.enqueue(fsim, data=None, weight=None)
    with pytest.raises(OperatorError, match="not a saved VTA kernel"):
        ops.CompiledKernel.from_dict({"op": "dense"})


def test_dense_rejects_other_dtypes(fsim):
    x = np.zeros((1, 1, 1, 16), np.int16)
    w = np.zeros((1, 1, 16, 16), np.int8)
    with pytest.raises(OperatorError, match="data must be int8, not int16"):
        ops.dense(fsim, x, w)


def test_rescaled_residual_dense_on_fsim(fsim_tiny):
    """A dense with a rescaled residual add and a >15-bit requantize shift (two SHRs) on
    the functional simulator, bit for bit."""
    dev = fsim_tiny
    rng = np.random.default_rng(4)
    x = rng.integers(-128, 128, (5, 24), dtype=np.int8)
    w = rng.integers(-128, 128, (12, 24), dtype=np.int8)
    b = rng.integers(-2**20, 2**20, 12, dtype=np.int32)
    res = rng.integers(-128, 128, (5, 12), dtype=np.int8)
    ep = Epilogue(True, 17, (-128, 127), True, (-100, 120), lshift=2, residual_lshift=1,
                  residual_offset=-70000, residual_shift=18)
    got = ops.dense(dev, pack_matrix(x, 1, 4), pack_matrix(w, 4, 4), b, shift=17,
                    clip=(-128, 127), residual=pack_matrix(res, 1, 4),
                    residual_clip=(-100, 120), lshift=2, residual_lshift=1,
                    residual_offset=-70000, residual_shift=18)
    assert np.array_equal(unpack_matrix(got, 5, 12), ref.dense_epilogue(x, w, ep, b, res))
