"""The graph interpreter: the exact meaning of every op of the graph IR, run in numpy.

Integer ops are the int8 reference's arithmetic (:mod:`vta.compiler.int8_reference`), which
every backend (the VTA kernel compiler, the llvmlite CPU kernels) reproduces bit for bit:

``qconv2d`` / ``qdense``
    :func:`~vta.compiler.int8_reference.conv2d` / :func:`~vta.compiler.int8_reference.dense`
    (``(x - x_zero_point) * w`` summed into int32 with wrap-around, a conv's padding being
    the zero point), then :func:`~vta.compiler.int8_reference.requantize_channels` with the
    node's :class:`~vta.compiler.requant.Requant`: ``wrap32(acc + bias)`` (the int32 bias,
    with the rounding and output zero point folded in), arithmetic ``>> shift`` (one value
    or one per output channel) and a clip -- or the fixed-point steps with a multiplier.
``qadd``
    ``wrap32((a << lshift_a) + (b << lshift_b))``, then the same requantization.
``qrescale``
    the same with one input.

The other ops are defined here:

``quantize``
    ``clip(rint(x / float32(scale)) + zero_point, lo, hi)`` in float32 (round half to even;
    ONNX QuantizeLinear).
``dequantize``
    ``float32(q - zero_point) * float32(scale)`` (ONNX DequantizeLinear).
``qcast``
    uint8 ``q`` <-> int8 ``q - 128`` (the same real values: the zero point moves too).
int8 pooling
    max pool pads with -128; average pool sums in int32 and divides rounding half up:
    ``floor((sum + count // 2) / count)``.
softmax (float32)
    ``e = exp_f32(x - max(x))`` (the polynomial :func:`exp_f32`), ``s`` = the sum of
    ``trunc(e * 2**32)`` in int64 (exact, order-free) times ``2**-32`` in float32,
    ``y = e / s``. Within 2 ulp of the true softmax, and reproducible bit for bit.

Float ops follow ONNX semantics in float32 (conv and dense through BLAS).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ..errors import OperatorError
from ..int8_reference import conv2d, dense, im2col, qadd, qrescale, requantize_channels
from ..requant import Requant
from ..windows import pads as canonical_pads
from ..windows import pair
from .errors import ModelError
from .graph import Graph, Node

__all__ = ["run", "run_all", "bind_inputs", "conv2d_float", "max_pool", "avg_pool",
           "global_avg_pool", "softmax", "exp_f32", "quantize", "dequantize", "qcast",
           "node_requant", "OP_IMPLS"]


def _window(op: str, kernel: Any, strides: Any, pads: Any
            ) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int, int, int]]:
    """Canonical (kernel, strides, pads) of a pooling or conv; strides default to the
    kernel."""
    try:
        k = pair(kernel, f"{op} kernel", 1)
        return k, pair(k if strides is None else strides, f"{op} strides", 1), \
            canonical_pads(pads, f"{op} pads")
    except ValueError as e:
        raise ModelError(str(e)) from None


def conv2d_float(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None,
                 strides: Any = 1, pads: Any = 0) -> np.ndarray:
    """float32 convolution, NCHW x OIHW (+ bias)."""
    o, c, kh, kw = w.shape
    _, st, pd = _window("conv2d", (kh, kw), strides, pads)
    win = im2col(x.astype(np.float32), (kh, kw), st, pd)
    nb, oh, ow = win.shape[:3]
    out = win.reshape(nb * oh * ow, -1) @ w.reshape(o, -1).T.astype(np.float32)
    if b is not None:
        out += b.astype(np.float32)
    return np.ascontiguousarray(out.reshape(nb, oh, ow, o).transpose(0, 3, 1, 2))


# ---------------------------------------------------------------------- pooling
def max_pool(x: np.ndarray, kernel: Any, strides: Any = None, pads: Any = 0) -> np.ndarray:
    """Max pooling over NCHW; padding never wins (pads with the dtype's minimum)."""
    k, st, pd = _window("max_pool", kernel, strides, pads)
    low = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min
    win = im2col(x, k, st, pd, low)
    return np.ascontiguousarray(win.max(axis=(4, 5)).transpose(0, 3, 1, 2))


def _rounded_div(total: np.ndarray, count: np.ndarray | int) -> np.ndarray:
    return np.floor_divide(total + np.asarray(count) // 2, count)


def avg_pool(x: np.ndarray, kernel: Any, strides: Any = None, pads: Any = 0,
             count_include_pad: bool = False) -> np.ndarray:
    """Average pooling over NCHW; int8 divides rounding half up (see module docstring)."""
    k, st, pd = _window("avg_pool", kernel, strides, pads)
    kh, kw = k
    acc_dtype = np.float32 if x.dtype.kind == "f" else np.int32
    win = im2col(x.astype(acc_dtype), k, st, pd)
    total = win.sum(axis=(4, 5), dtype=acc_dtype).transpose(0, 3, 1, 2)
    if count_include_pad:
        count: np.ndarray | int = kh * kw
    else:
        ones = np.ones((1, 1) + x.shape[2:], dtype=np.int32)
        count = im2col(ones, k, st, pd).sum(axis=(4, 5)).transpose(0, 3, 1, 2)
    if x.dtype.kind == "f":
        return np.ascontiguousarray(total / np.asarray(count, dtype=np.float32))
    return np.ascontiguousarray(_rounded_div(total, count).astype(x.dtype))


def global_avg_pool(x: np.ndarray) -> np.ndarray:
    """Mean over H and W, keeping (N, C, 1, 1); int8 rounds as :func:`avg_pool`."""
    hw = x.shape[2] * x.shape[3]
    if x.dtype.kind == "f":
        return x.mean(axis=(2, 3), keepdims=True, dtype=np.float32)
    total = x.sum(axis=(2, 3), keepdims=True, dtype=np.int32)
    return _rounded_div(total, hw).astype(x.dtype)


# ---------------------------------------------------------------------- softmax
_LOG2E = np.float32(1.44269504088896341)
_LN2_HI = np.float32(0.693359375)
_LN2_LO = np.float32(-2.12194440e-4)
EXP_POLY = tuple(np.float32(c) for c in (1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3,
                                         4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1))
"""Coefficients of the exp polynomial (Cephes ``expf``), highest power first."""
EXP_MIN = np.float32(-87.0)
"""Inputs below this give exactly 0 from :func:`exp_f32`."""
SUM_SCALE = np.float32(2.0 ** 32)


def exp_f32(x: np.ndarray) -> np.ndarray:
    """``exp(x)`` in float32 for ``x <= 0``, exactly the sequence the CPU kernel runs.

    ``k = rint(x * log2(e))``, ``r = (x - k*ln2_hi) - k*ln2_lo``, ``p = 1 + r + r*r*P(r)``
    (Horner, no fused multiply-add), ``exp = p * 2**k``; 0 below :data:`EXP_MIN`.
    """
    x = np.asarray(x, dtype=np.float32)
    xc = np.maximum(x, EXP_MIN)
    k = np.rint(xc * _LOG2E)
    r = (xc - k * _LN2_HI) - k * _LN2_LO
    p = EXP_POLY[0]
    for c in EXP_POLY[1:]:
        p = p * r + c
    p = (p * (r * r) + r) + np.float32(1.0)
    two_k = ((k.astype(np.int32) + 127) << 23).view(np.float32)
    return np.where(x < EXP_MIN, np.float32(0.0), p * two_k)


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """float32 softmax with the exact algorithm of the module docstring."""
    x = np.asarray(x, dtype=np.float32)
    e = exp_f32(x - x.max(axis=axis, keepdims=True))
    total = (e * SUM_SCALE).astype(np.int64).sum(axis=axis, keepdims=True)
    s = total.astype(np.float32) * np.float32(2.0 ** -32)
    return e / s


# ---------------------------------------------------------------------- (de)quantization
def quantize(x: np.ndarray, scale: float, lo: int = -128, hi: int = 127,
             zero_point: int = 0) -> np.ndarray:
    """float32 -> int8: ``clip(rint(x / float32(scale)) + zero_point, lo, hi)``."""
    q = np.rint(np.asarray(x, dtype=np.float32) / np.float32(scale))
    return np.clip(q + np.float32(zero_point), lo, hi).astype(np.int8)


def dequantize(q: np.ndarray, scale: float, zero_point: int = 0) -> np.ndarray:
    """int -> float32: ``float32(q - zero_point) * float32(scale)``."""
    return (q.astype(np.int64) - zero_point).astype(np.float32) * np.float32(scale)


def qcast(q: np.ndarray, dtype: str) -> np.ndarray:
    """uint8 -> int8 (``q - 128``) or int8 -> uint8 (``q + 128``): the top bit flipped."""
    q = np.ascontiguousarray(q)
    return (q.view(np.uint8) ^ np.uint8(0x80)).view(np.dtype(dtype))




# ---------------------------------------------------------------------- op table
def _bias(arrays: tuple[np.ndarray, ...], m: int) -> np.ndarray:
    return arrays[2] if len(arrays) > 2 else np.zeros(m, np.int32)


def node_requant(node: Node) -> Requant:
    """The :class:`~vta.compiler.requant.Requant` of a qconv2d/qdense node."""
    try:
        return Requant.from_attrs(node.attrs)
    except OperatorError as e:
        raise ModelError(f"{node.describe()}: {e}") from None


def _qconv2d(node: Node, x: np.ndarray, w: np.ndarray, *b: np.ndarray) -> np.ndarray:
    acc = conv2d(x, w, node.attr("strides", 1), node.attr("pads", 0),
                 node.attr("x_zero_point", 0))
    return requantize_channels(acc, _bias((x, w, *b), w.shape[0]), node_requant(node))


def _qdense(node: Node, x: np.ndarray, w: np.ndarray, *b: np.ndarray) -> np.ndarray:
    acc = dense(x, w, node.attr("x_zero_point", 0))
    return requantize_channels(acc, _bias((x, w, *b), w.shape[0]), node_requant(node))


def _batch_norm(node: Node, x: np.ndarray, g: np.ndarray, b: np.ndarray, m: np.ndarray,
                v: np.ndarray) -> np.ndarray:
    scale = (g / np.sqrt(v + np.float32(node.attr("epsilon", 1e-5)))).astype(np.float32)
    shape = (1, -1, 1, 1)
    return (x - m.reshape(shape)) * scale.reshape(shape) + b.reshape(shape)


def _quantize_linear(node: Node, x: np.ndarray) -> np.ndarray:
    info = np.iinfo(node.attr("dtype", "int8"))
    y = np.rint(x / np.float32(node.attr("scale"))) + node.attr("zero_point", 0)
    return np.clip(y, info.min, info.max).astype(node.attr("dtype", "int8"))


def _dequantize_linear(node: Node, x: np.ndarray) -> np.ndarray:
    return ((x.astype(np.int32) - node.attr("zero_point", 0)).astype(np.float32)
            * np.float32(node.attr("scale")))


def _dense_float(node: Node, x: np.ndarray, w: np.ndarray, *b: np.ndarray) -> np.ndarray:
    out = x @ w.T
    return out + b[0] if b else out


OP_IMPLS: dict[str, Callable[..., np.ndarray]] = {
    "conv2d": lambda n, x, w, *b: conv2d_float(x, w, b[0] if b else None,
                                               n.attr("strides", 1), n.attr("pads", 0)),
    "dense": _dense_float,
    "batch_norm": _batch_norm,
    "relu": lambda n, x: np.maximum(x, np.float32(0)),
    "clip": lambda n, x: np.clip(x, np.float32(n.attr("lo")), np.float32(n.attr("hi"))),
    "add": lambda n, a, b: a + b,
    "mul": lambda n, a, b: a * b,
    "softmax": lambda n, x: softmax(x, n.attr("axis", -1)),
    "max_pool": lambda n, x: max_pool(x, n.attr("kernel"), n.attr("strides"),
                                      n.attr("pads", 0)),
    "avg_pool": lambda n, x: avg_pool(x, n.attr("kernel"), n.attr("strides"),
                                      n.attr("pads", 0), n.attr("count_include_pad", False)),
    "global_avg_pool": lambda n, x: global_avg_pool(x),
    "flatten": lambda n, x: x.reshape(
        int(np.prod(x.shape[:n.attr("axis", 1) % (x.ndim + 1)])), -1),
    "reshape": lambda n, x: x.reshape(n.attr("shape")),
    "concat": lambda n, *xs: np.concatenate(xs, axis=n.attr("axis", 1)),
    "quantize_linear": _quantize_linear,
    "dequantize_linear": _dequantize_linear,
    "quantize": lambda n, x: quantize(x, n.attr("scale"), n.attr("lo", -128),
                                      n.attr("hi", 127), n.attr("zero_point", 0)),
    "dequantize": lambda n, x: dequantize(x, n.attr("scale"), n.attr("zero_point", 0)),
    "qcast": lambda n, x: qcast(x, n.attr("dtype")),
    "qconv2d": _qconv2d,
    "qdense": _qdense,
    "qadd": lambda n, a, b: qadd(a, b, n.attr("lshift_a", 0), n.attr("lshift_b", 0),
                                 n.attr("offset", 0), n.attr("shift", 0),
                                 n.attr("lo", -128), n.attr("hi", 127)),
    "qrescale": lambda n, x: qrescale(x, n.attr("lshift", 0), n.attr("offset", 0),
                                      n.attr("shift", 0), n.attr("lo", -128),
                                      n.attr("hi", 127)),
}
"""``op -> fn(node, *input_arrays) -> output array``: the reference meaning of each op."""


# ---------------------------------------------------------------------- executor
def bind_inputs(graph: Graph, inputs: Mapping[str, np.ndarray] | np.ndarray
                ) -> dict[str, np.ndarray]:
    """Check and convert runtime inputs (a mapping, or one array for a one-input graph).

    Raises
    ------
    ModelError
        for a missing or unknown input, or a wrong shape.
    """
    if not isinstance(inputs, Mapping):
        if len(graph.inputs) != 1:
            raise ModelError(f"graph {graph.name!r} has inputs {list(graph.inputs)}; pass a "
                             "dict of arrays by name")
        inputs = {graph.inputs[0]: inputs}
    unknown = set(inputs) - set(graph.inputs)
    if unknown:
        raise ModelError(f"graph {graph.name!r} has no input {sorted(unknown)[0]!r} "
                         f"(inputs: {list(graph.inputs)})")
    env = {}
    for name in graph.inputs:
        if name not in inputs:
            raise ModelError(f"graph {graph.name!r}: input {name!r} is missing")
        t = graph.types[name]
        arr = np.asarray(inputs[name])
        if arr.shape != t.shape:
            raise ModelError(f"input {name!r} must have shape {list(t.shape)}, "
                             f"not {list(arr.shape)}")
        env[name] = arr.astype(t.dtype, copy=False)
    return env


def run_all(graph: Graph, inputs: Mapping[str, np.ndarray] | np.ndarray,
            impls: Mapping[str, Callable[..., np.ndarray]] | None = None
            ) -> dict[str, np.ndarray]:
    """Run ``graph`` and return every tensor (inputs, params, node outputs) by name.

    ``impls`` overrides op implementations (same signature as :data:`OP_IMPLS`).
    """
    env: dict[str, np.ndarray] = dict(graph.params)
    env.update(bind_inputs(graph, inputs))
    table = dict(OP_IMPLS, **(impls or {}))
    for node in graph.nodes:
        try:
            out = table[node.op](node, *(env[i] for i in node.inputs))
        except ModelError:
            raise
        except (ValueError, TypeError, IndexError) as e:
            raise ModelError(f"{node.describe()} failed: {e}") from None
        t = graph.types[node.output]
        env[node.output] = np.asarray(out).astype(t.dtype, copy=False).reshape(t.shape)
    return env


def run(graph: Graph, inputs: Mapping[str, np.ndarray] | np.ndarray
        ) -> dict[str, np.ndarray]:
    """Run ``graph`` on numpy inputs; returns its outputs by name.

    For a quantized graph this is the exact expected output every backend must match.

    Raises
    ------
    ModelError
        for inputs of the wrong name or shape.
    """
    env = run_all(graph, inputs)
    return {name: env[name] for name in graph.outputs}
