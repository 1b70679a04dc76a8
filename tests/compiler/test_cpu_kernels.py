"""llvmlite CPU kernels: each bit-exact against its numpy reference, incl. odd shapes."""

import numpy as np
import pytest
from vta.compiler import int8_reference as int8
from vta.compiler.cpu import conv, elementwise, layout_kernels, norm, pool, softmax
from vta.compiler.cpu.executor import CpuExecutable
from vta.compiler.cpu.llvm_jit import Jit, KernelError
from vta.compiler.frontend import interpreter as ref
from vta.compiler.frontend.graph import GraphBuilder
from vta.compiler.frontend.quantize import quantize
from vta.runtime import layout as rt_layout

RNG = np.random.default_rng(0)


def i8(*shape):
    return RNG.integers(-128, 128, shape).astype(np.int8)


@pytest.mark.parametrize("xs, ws, strides, pads", [
    ((1, 3, 30, 30), (64, 3, 7, 7), 2, 3),           # C1-like, small image
    ((2, 5, 9, 7), (10, 5, 3, 2), (2, 1), (1, 0, 2, 1)),
    ((1, 16, 8, 8), (70, 16, 1, 1), 2, 0),           # one full and one partial vector
])
def test_qconv2d(xs, ws, strides, pads):
    x, w = i8(*xs), i8(*ws)
    b = RNG.integers(-2 ** 30, 2 ** 30, ws[0]).astype(np.int32)   # exercises wrap-around
    shift = tuple(RNG.integers(0, 14, ws[0]).tolist())
    k = conv.qconv2d_kernel(xs, w, b, strides, pads, shift, -5, 100)
    expected = int8.requantize(int8.conv2d(x, w, strides, pads), b, shift, -5, 100)
    np.testing.assert_array_equal(k(x), expected)


def test_qconv2d_c1_full_size():
    x, w = i8(1, 3, 224, 224), i8(64, 3, 7, 7)
    k = conv.qconv2d_kernel(x.shape, w, None, 2, 3, 9, 0, 127)
    np.testing.assert_array_equal(k(x), int8.requantize(int8.conv2d(x, w, 2, 3), 0, 9, 0, 127))


@pytest.mark.parametrize("n, kdim, m", [(1, 512, 1000), (3, 17, 5)])
def test_qdense(n, kdim, m):
    x, w = i8(n, kdim), i8(m, kdim)
    b = RNG.integers(-1000, 1000, m).astype(np.int32)
    k = conv.qdense_kernel(x.shape, w, b, 7)
    np.testing.assert_array_equal(k(x), int8.requantize(int8.dense(x, w), b, 7, -128, 127))


@pytest.mark.parametrize("shape, kernel, strides, pads", [
    ((1, 8, 20, 20), (3, 3), (2, 2), (1, 1, 1, 1)),
    ((2, 3, 7, 9), (2, 3), (1, 2), (1, 0, 0, 2)),
])
def test_pooling(shape, kernel, strides, pads):
    x = i8(*shape)
    np.testing.assert_array_equal(pool.max_pool_kernel(shape, kernel, strides, pads)(x),
                                  ref.max_pool(x, kernel, strides, pads))
    xf = RNG.normal(size=shape).astype(np.float32)
    np.testing.assert_array_equal(
        pool.max_pool_kernel(shape, kernel, strides, pads, "float32")(xf),
        ref.max_pool(xf, kernel, strides, pads))
    for cip in (False, True):
        np.testing.assert_array_equal(pool.avg_pool_kernel(shape, kernel, strides, pads, cip)(x),
                                      ref.avg_pool(x, kernel, strides, pads, cip))
    np.testing.assert_array_equal(pool.global_avg_pool_kernel(shape)(x), ref.global_avg_pool(x))


@pytest.mark.parametrize("shape", [(1, 1000), (7, 13), (2, 3, 5)])
def test_softmax(shape):
    x = (RNG.normal(size=shape) * 10).astype(np.float32)
    x.flat[0] = -1e30  # far below the exp cut-off
    np.testing.assert_array_equal(softmax.softmax_kernel(shape)(x), ref.softmax(x))


@pytest.mark.parametrize("shape,axis", [((1, 128, 128), -1), ((2, 5, 13), -1),
                                        ((3, 4, 6, 5), 2), ((1, 7), 1)])
def test_layer_norm_vector_lanes_match_the_reference(shape, axis):
    """8-lane float64 sums (a short last group padded with 0.0) in the reference's order:
    bit-exact, with and without a bias."""
    x = (RNG.normal(size=shape) * 3).astype(np.float32)
    x.flat[1] = -0.0
    norm_shape = shape[axis % len(shape):]
    g = RNG.normal(size=norm_shape).astype(np.float32)
    for bias in (RNG.normal(size=norm_shape).astype(np.float32), None):
        k = norm.layer_norm_kernel(shape, axis, g, bias, 1e-5)
        np.testing.assert_array_equal(k(x), ref.layer_norm(x, g, bias, axis, 1e-5))
    with pytest.raises(KernelError, match="needs a scale and bias of"):
        norm.layer_norm_kernel(shape, axis, g[:1], None, 1e-5)


@pytest.mark.parametrize("shape", [(1, 3, 224, 224), (3, 5, 7)])
def test_elementwise(shape):
    x = (RNG.normal(size=shape) * 3).astype(np.float32)
    for scale, lo, hi in ((2.0 ** -5, -128, 127), (0.037, -100, 90)):
        np.testing.assert_array_equal(elementwise.quantize_kernel(shape, scale, lo, hi)(x),
                                      ref.quantize(x, scale, lo, hi))
    q = i8(*shape)
    np.testing.assert_array_equal(elementwise.dequantize_kernel(shape, 0.0625)(q),
                                  ref.dequantize(q, 0.0625))
    q32 = RNG.integers(-2 ** 31, 2 ** 31 - 1, shape).astype(np.int32)
    np.testing.assert_array_equal(elementwise.dequantize_kernel(shape, 0.3, "int32")(q32),
                                  ref.dequantize(q32, 0.3))
    a, b = i8(*shape), i8(*shape)
    np.testing.assert_array_equal(elementwise.qadd_kernel(shape, 2, 0, 4, 3, 0, 127)(a, b),
                                  int8.qadd(a, b, 2, 0, 4, 3, 0, 127))
    np.testing.assert_array_equal(elementwise.qrescale_kernel(shape, 1, 2, 2, -5, 100)(a),
                                  int8.qrescale(a, 1, 2, 2, -5, 100))


@pytest.mark.parametrize("shape, batch, block", [((1, 64, 14, 14), 1, 16), ((3, 5, 7, 9), 2, 4),
                                                 ((70, 20, 3, 3), 16, 16)])
def test_pack_unpack_match_runtime_layout(shape, batch, block):
    x = i8(*shape)
    packed = layout_kernels.pack_kernel(shape, batch, block)(x)
    expected = rt_layout.pack_nchw(x, batch, block)
    assert packed.shape == expected.shape
    assert packed.tobytes() == expected.tobytes()
    if shape[0] % batch == 0 == shape[1] % block:
        assert packed.tobytes() == rt_layout.pack_oihw(x, batch, block).tobytes()
    out = layout_kernels.unpack_kernel(packed.shape, shape[0], shape[1])(packed)
    np.testing.assert_array_equal(out, x)
    np.testing.assert_array_equal(out, rt_layout.unpack_nchw(expected, shape[0], shape[1]))


def test_bad_calls_are_clear_errors():
    k = elementwise.qrescale_kernel((4,), 0, 0, 1)
    with pytest.raises(KernelError, match=r"input 0 must be int8\[4\], not int16\[4\]"):
        k(np.zeros(4, np.int16))
    with pytest.raises(KernelError, match="takes 1 arrays"):
        k(np.zeros(4, np.int8), np.zeros(4, np.int8))
    with pytest.raises(KernelError, match="does not match weights"):
        conv.qconv2d_kernel((1, 4, 8, 8), i8(8, 3, 3, 3), None)
    with pytest.raises(KernelError, match="shift must be in"):
        conv.qconv2d_kernel((1, 3, 8, 8), i8(8, 3, 3, 3), None, shift=40)
    with pytest.raises(KernelError, match="does not fit"):
        pool.max_pool_kernel((1, 1, 2, 2), (3, 3), (1, 1), (0, 0, 0, 0))


def test_caches(tmp_path):
    ir = """define void @vta_cache_probe(i8* noalias %a) {\n  store i8 7, i8* %a\n  ret void\n}\n"""
    first = Jit(cache_dir=tmp_path)
    first.function(("probe",), ir, "vta_cache_probe")
    first.function(("probe",), ir, "vta_cache_probe")
    assert first.stats == {"compiled": 1, "memory_hits": 1, "disk_hits": 0}
    assert len(list(tmp_path.glob("*.o"))) == 1
    second = Jit(cache_dir=tmp_path)
    addr = second.function(("probe",), ir, "vta_cache_probe")
    assert second.stats["disk_hits"] == 1 and second.stats["compiled"] == 0
    import ctypes
    buf = (ctypes.c_int8 * 1)()
    ctypes.CFUNCTYPE(None, ctypes.c_void_p)(addr)(ctypes.addressof(buf))
    assert buf[0] == 7


def test_cpu_executable_equals_reference():
    b = GraphBuilder("net")
    x = b.input("x", (1, 3, 12, 12))
    y = b.relu(b.conv2d(x, b.param("w", RNG.normal(0, .3, (16, 3, 3, 3))), pads=1))
    z = b.conv2d(y, b.param("w2", RNG.normal(0, .2, (16, 16, 3, 3))), pads=1)
    y = b.relu(b.add(z, y))
    y = b.avg_pool(b.max_pool(y, 2), 2, 1, (0, 0, 1, 1))
    y = b.clip(y, 0, 1.5)
    y = b.dense(b.flatten(b.global_avg_pool(y)), b.param("wd", RNG.normal(size=(10, 16))))
    b.output(b.softmax(y))
    g = b.build()
    samples = [RNG.normal(size=(1, 3, 12, 12)).astype(np.float32) for _ in range(3)]
    q = quantize(g, samples)
    exe = CpuExecutable(q)
    for s in samples:
        got, want = exe(s), ref.run(q, s)
        for name in q.outputs:
            np.testing.assert_array_equal(got[name], want[name])
    assert [p[0] for p in exe.profile] == [n.name for n in q.nodes]


@pytest.mark.slow
def test_resnet18_on_cpu_kernels_equals_reference():
    from vta.compiler.frontend.models import resnet18_onnx
    from vta.compiler.frontend.onnx_import import import_onnx
    x = RNG.normal(size=(1, 3, 64, 64)).astype(np.float32)
    q = quantize(import_onnx(resnet18_onnx(0, image_size=64)), [x])
    np.testing.assert_array_equal(CpuExecutable(q)(x)["logits"], ref.run(q, x)["logits"])
