"""The compiler's graph IR: small immutable dataclasses and a builder.

A :class:`Graph` is a list of :class:`Node` in topological order over named tensors. Every
node has one output tensor; its :class:`TensorType` (shape, dtype and, in quantized graphs,
the power-of-two or finer ``scale``) is inferred when the node is added. Constant tensors
(weights, biases) live in ``Graph.params`` as read-only numpy arrays.

Op set (attributes in brackets; images are NCHW, conv weights OIHW, dense weights [M, K]):

Float ops (from ONNX or the builder)
    ``conv2d(x, w[, b])`` [strides, pads=(top, left, bottom, right), dilations, groups],
    ``conv_transpose2d(x, w[, b])`` [strides, pads, output_padding, dilations, groups; weight
    ``(C, O / groups, KH, KW)``], ``dense(x, w[, b])`` (``x [..., K]``),
    ``batch_norm(x, gamma, beta, mean, var)`` [epsilon] (channels on axis 1), ``relu``,
    ``clip`` [lo, hi], ``add`` / ``sub`` / ``mul`` / ``div`` / ``pow`` / ``prelu`` (numpy
    broadcasting), the unary ops of :data:`UNARY_OPS` (``sigmoid``, ``tanh``, ``erf``,
    ``gelu``, ``leaky_relu`` [alpha], ...), ``softmax`` [axis], ``layer_norm(x, scale[,
    bias])`` [axis, epsilon], ``matmul(a, b)`` (two runtime tensors, batched), ``cast``
    [to float32], ``quantize_linear`` / ``dequantize_linear`` [scale, zero_point, dtype] (ONNX
    fake-quantization).
Integer ops (made by :mod:`.quantize` or imported, semantics in :mod:`.interpreter`)
    ``quantize`` [scale, zero_point, lo, hi], ``dequantize`` [scale, zero_point],
    ``qconv2d(x, w, b)`` / ``qdense(x, w, b)`` [the float op's attributes, x_zero_point, the
    requantization of :class:`~vta.compiler.requant.Requant`: shift, lo, hi and optionally
    pre_shift, acc_lo, acc_hi, multiplier, post_offset; out_scale, out_zero_point],
    ``out_dtype="int32"``: the int32 sums, no requantization (ConvInteger, MatMulInteger)],
    ``qconv_transpose2d(x, w, b)`` [the float op's attributes, shift, lo, hi],
    ``qadd(a, b)`` [lshift_a, lshift_b, offset, shift, lo, hi], ``qrescale(x)`` [lshift,
    offset, shift, lo, hi], ``qlut(x, table)`` (an int8 -> int8 table of 256 entries),
    ``qmatmul(a, b)`` [shift, lo, hi], ``qcast(x)`` [dtype]: int8 <-> uint8 keeping real
    values (the zero point moves by 128).
Ops for either dtype
    ``max_pool`` / ``avg_pool`` [kernel, strides, pads, dilations, ceil_mode,
    count_include_pad], ``global_avg_pool``, ``global_max_pool``, ``flatten`` [axis],
    ``reshape`` [shape], ``concat`` [axis], ``transpose`` [perm], ``pad`` [pads (begins then
    ends), mode, value], ``slice`` [starts, ends, steps: one per axis], ``resize`` [sizes,
    mode, coordinate_transformation_mode, nearest_mode], ``gather(data, indices)`` [axis],
    ``reduce_mean`` / ``reduce_max`` [axes, keepdims].

The builder (:class:`GraphBuilder`) is the kit's own way to write a model without ONNX::

    b = GraphBuilder("tiny")
    x = b.input("x", (1, 3, 8, 8))
    y = b.relu(b.conv2d(x, b.param("w", w), b.param("b", bias), pads=1))
    b.output(b.global_avg_pool(y))
    graph = b.build()
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from .. import windows
from ..errors import OperatorError
from ..requant import Requant
from .errors import ModelError
from .tensor_checks import check_tensor

__all__ = ["TensorType", "Node", "Graph", "GraphBuilder", "infer_type", "DTYPES", "OPS",
           "UNARY_OPS", "BINARY_OPS", "LAYOUT_OPS", "INT_OPS", "is_quantized",
           "DYNAMIC_QUANTIZE_PARTS"]

DTYPES = ("float32", "int8", "uint8", "int16", "int32", "int64")

UNARY_OPS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "sigmoid": (), "tanh": (), "exp": (), "log": (), "erf": (), "sqrt": (),
    "reciprocal": (), "neg": (), "abs": (), "softplus": (), "hard_swish": (),
    "hard_sigmoid": ("alpha", "beta"), "leaky_relu": ("alpha",), "elu": ("alpha",),
    "selu": ("alpha", "gamma"), "gelu": ("approximate",), "mish": ()})
"""Float element-wise ops of one input, and their attributes (meanings in
:mod:`.interpreter`)."""
BINARY_OPS = frozenset({"add", "sub", "mul", "div", "pow", "prelu"})
"""Float element-wise ops of two inputs with numpy broadcasting."""
LAYOUT_OPS = frozenset({"flatten", "reshape", "concat", "transpose", "pad", "slice",
                        "resize", "gather"})
"""Ops that move or select elements (either dtype; an int8 tensor keeps its scale)."""

_FLOAT_ONLY = ({"conv2d", "conv_transpose2d", "dense", "batch_norm", "relu", "clip",
                "softmax", "layer_norm", "matmul", "quantize_linear"}
               | set(UNARY_OPS) | BINARY_OPS)
_ANY_DTYPE = {"max_pool", "avg_pool", "global_avg_pool", "global_max_pool", "reduce_mean",
              "reduce_max"} | LAYOUT_OPS
_INT_OPS = {"quantize", "dequantize", "qconv2d", "qconv_transpose2d", "qdense", "qadd",
            "qrescale", "qlut", "qmatmul", "qcast", "dynamic_quantize", "sub_zero_point"}
DYNAMIC_QUANTIZE_PARTS = ("y", "scale", "zero_point")
"""The three outputs of ONNX's DynamicQuantizeLinear, one ``dynamic_quantize`` node each
(attribute ``part``)."""
OPS = frozenset(_FLOAT_ONLY | _ANY_DTYPE | _INT_OPS | {"dequantize_linear", "cast"})
"""Every op name the IR knows."""
INT_OPS = frozenset(_INT_OPS)
"""Ops only the quantizer makes (a graph holding one is quantized)."""


@dataclass(frozen=True)
class TensorType:
    """Shape and element type of one tensor.

    Parameters
    ----------
    shape:
        Dimensions (batch first); all positive.
    dtype:
        One of :data:`DTYPES`.
    scale:
        In quantized graphs, the real value of one integer step (``real = (q -
        zero_point) * scale``); None for float tensors.
    zero_point:
        The integer that stands for a real 0 (0 for symmetric tensors).
    """

    shape: tuple[int, ...]
    dtype: str = "float32"
    scale: float | None = None
    zero_point: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", tuple(int(d) for d in self.shape))
        object.__setattr__(self, "zero_point", int(self.zero_point))
        if self.dtype not in DTYPES:
            raise ModelError(f"tensor dtype must be one of {DTYPES}, not {self.dtype!r}")
        if any(d <= 0 for d in self.shape):
            raise ModelError(f"tensor dimensions must be positive, not {self.shape}")

    @property
    def size(self) -> int:
        return math.prod(self.shape)


def _freeze(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, np.ndarray):
        return tuple(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    return value


@dataclass(frozen=True)
class Node:
    """One operation: ``output = op(*inputs, **attrs)``.

    Parameters
    ----------
    op:
        Op name (see the module docstring).
    name:
        Unique node name (from ONNX, or made by the builder); errors quote it.
    inputs:
        Names of input tensors (graph inputs, params or other nodes' outputs).
    output:
        Name of the tensor this node defines.
    attrs:
        Attributes, frozen (lists become tuples).
    """

    op: str
    name: str
    inputs: tuple[str, ...]
    output: str
    attrs: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "inputs", tuple(self.inputs))
        object.__setattr__(self, "attrs", MappingProxyType(
            {k: _freeze(v) for k, v in dict(self.attrs).items()}))

    def __hash__(self) -> int:
        return hash((self.op, self.name, self.inputs, self.output))

    def attr(self, key: str, default: Any = None) -> Any:
        """The attribute ``key``, or ``default`` when absent."""
        return self.attrs.get(key, default)

    def describe(self) -> str:
        """``op 'name'`` for error messages."""
        return f"{self.op} node {self.name!r}"


@dataclass(frozen=True)
class Graph:
    """An immutable, topologically ordered graph.

    Parameters
    ----------
    name:
        Model name.
    inputs:
        Names of the runtime inputs (their types are in ``types``).
    outputs:
        Names of the results, in order.
    nodes:
        Nodes in topological order.
    params:
        Constant tensors by name (read-only numpy arrays).
    types:
        Type of every tensor: inputs, params and node outputs.
    """

    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    nodes: tuple[Node, ...]
    params: Mapping[str, np.ndarray]
    types: Mapping[str, TensorType]

    def __post_init__(self) -> None:
        for attr in ("inputs", "outputs", "nodes"):
            object.__setattr__(self, attr, tuple(getattr(self, attr)))
        params = {}
        for key, value in dict(self.params).items():
            arr = np.asarray(value)
            if arr.flags.writeable:  # read-only arrays are shared between graphs
                arr = arr.copy()
                arr.setflags(write=False)
            params[key] = arr
        object.__setattr__(self, "params", MappingProxyType(params))
        object.__setattr__(self, "types", MappingProxyType(dict(self.types)))
        self.validate()

    def __hash__(self) -> int:
        return id(self)

    def validate(self) -> None:
        """Check names are defined before use and exactly once.

        Raises
        ------
        ModelError
            naming the node and the tensor at fault.
        """
        defined = set(self.inputs) | set(self.params)
        if len(defined) != len(self.inputs) + len(self.params):
            raise ModelError(f"graph {self.name!r}: a name is both an input and a param")
        for node in self.nodes:
            for name in node.inputs:
                if name not in defined:
                    raise ModelError(f"{node.describe()}: input {name!r} is not defined "
                                     "before it (expected a graph input, param or an "
                                     "earlier node's output)")
            if node.output in defined:
                raise ModelError(f"{node.describe()}: output {node.output!r} is defined "
                                 "twice")
            defined.add(node.output)
        for name in self.outputs:
            if name not in defined:
                raise ModelError(f"graph {self.name!r}: output {name!r} is not defined")
        missing = defined - set(self.types)
        if missing:
            raise ModelError(f"graph {self.name!r}: no type for {sorted(missing)[:3]}")

    # ------------------------------------------------------------------ queries
    def producer(self, tensor: str) -> Node | None:
        """The node defining ``tensor`` (None for inputs and params)."""
        return self._producers().get(tensor)

    def consumers(self, tensor: str) -> list[Node]:
        """Nodes reading ``tensor``, in graph order."""
        return [n for n in self.nodes if tensor in n.inputs]

    def node(self, name: str) -> Node:
        """The node called ``name``; ModelError if there is none."""
        for n in self.nodes:
            if n.name == name:
                return n
        raise ModelError(f"graph {self.name!r} has no node {name!r}")

    def type_of(self, tensor: str) -> TensorType:
        """The type of ``tensor``; ModelError if unknown."""
        try:
            return self.types[tensor]
        except KeyError:
            raise ModelError(f"graph {self.name!r} has no tensor {tensor!r}") from None

    def op_counts(self) -> dict[str, int]:
        """How many nodes of each op."""
        counts: dict[str, int] = {}
        for n in self.nodes:
            counts[n.op] = counts.get(n.op, 0) + 1
        return counts

    def _producers(self) -> dict[str, Node]:
        cache = self.__dict__.get("_producer_cache")
        if cache is None:
            cache = {n.output: n for n in self.nodes}
            object.__setattr__(self, "_producer_cache", cache)
        return cache

    def renamed(self, mapping: Mapping[str, str]) -> Graph:
        """A copy with tensors renamed (``old -> new``); ModelError on a clash."""
        def r(name: str) -> str:
            return mapping.get(name, name)
        clash = set(mapping.values()) & (set(self.types) - set(mapping))
        if clash:
            raise ModelError(f"graph {self.name!r}: cannot rename to existing tensor "
                             f"{sorted(clash)[0]!r}")
        nodes = [Node(n.op, n.name, tuple(r(i) for i in n.inputs), r(n.output), n.attrs)
                 for n in self.nodes]
        return Graph(self.name, tuple(r(i) for i in self.inputs),
                     tuple(r(o) for o in self.outputs), nodes,
                     {r(k): v for k, v in self.params.items()},
                     {r(k): v for k, v in self.types.items()})

    def summary(self) -> str:
        """A readable listing: one line per node with its output type."""
        lines = [f"graph {self.name}: inputs {list(self.inputs)} outputs {list(self.outputs)}"]
        for n in self.nodes:
            t = self.types[n.output]
            scale = f" scale={t.scale:g}" if t.scale is not None else ""
            if t.zero_point:
                scale += f" zero_point={t.zero_point}"
            lines.append(f"  {n.output} = {n.op}({', '.join(n.inputs)}) -> "
                         f"{t.dtype}{list(t.shape)}{scale}")
        return "\n".join(lines)


def is_quantized(graph: Graph) -> bool:
    """True if ``graph`` is already quantized: it holds integer ops (:data:`INT_OPS`), or
    no float tensor at all.  A float model made only of pooling, softmax or layout ops is
    not (it is quantized like any float model)."""
    if any(n.op in _INT_OPS for n in graph.nodes):
        return True
    return not any(t.dtype == "float32" for t in graph.types.values())


# ---------------------------------------------------------------------- shape inference
def _window_attrs(node: Node, kernel: Any | None = None
                  ) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int, int, int],
                             tuple[int, int]]:
    """The node's (kernel, strides, pads, dilations) in canonical form (``kernel`` given
    for convs, read from the node's attribute for pooling)."""
    try:
        k = windows.pair(node.attr("kernel", None) or 0 if kernel is None else kernel,
                         "kernel", 1)
        return (k, windows.pair(node.attr("strides", 1), "strides", 1),
                windows.pads(node.attr("pads", 0)),
                windows.pair(node.attr("dilations", 1), "dilations", 1))
    except ValueError as e:
        raise ModelError(f"{node.describe()}: {e}") from None


def _window_out(size: int, k: int, stride: int, pad0: int, pad1: int, node: Node,
                dilation: int = 1, ceil: bool = False) -> int:
    out = windows.window_out(size, k, stride, pad0, pad1, dilation, ceil)
    if out <= 0 or min(pad0, pad1) < 0:
        raise ModelError(f"{node.describe()}: window {k} stride {stride} pads "
                         f"({pad0}, {pad1}) does not fit an input of size {size}")
    return out


def _expect_rank(t: TensorType, rank: int, what: str, node: Node) -> None:
    if len(t.shape) != rank:
        raise ModelError(f"{node.describe()}: {what} must have rank {rank}, "
                         f"not shape {list(t.shape)}")


def _expect_dtype(t: TensorType, dtypes: Iterable[str], what: str, node: Node) -> None:
    dtypes = tuple(dtypes)
    if t.dtype not in dtypes:
        raise ModelError(f"{node.describe()}: {what} must be {' or '.join(dtypes)}, "
                         f"not {t.dtype}")


def _broadcast(a: tuple[int, ...], b: tuple[int, ...], node: Node) -> tuple[int, ...]:
    try:
        return tuple(np.broadcast_shapes(a, b))
    except ValueError:
        raise ModelError(f"{node.describe()}: shapes {list(a)} and {list(b)} do not "
                         "broadcast") from None


def _weighted_inputs(node: Node, ts: list[TensorType], rank: int | None,
                     wdtype: tuple[str, ...], xdtype: tuple[str, ...],
                     bias_len: int | None = None) -> tuple[TensorType, TensorType]:
    """The (x, w[, b]) inputs of a conv/dense node, checked: their number, ranks and
    dtypes, and a bias of one value per output channel (``bias_len``, default the
    weight's first axis).  ``rank`` None: any input rank of at least 2 (dense)."""
    if len(ts) not in (2, 3):
        raise ModelError(f"{node.describe()}: expected inputs (x, w[, b]), got {len(ts)}")
    x, w = ts[0], ts[1]
    if rank is None:
        if len(x.shape) < 2:
            raise ModelError(f"{node.describe()}: input must have rank >= 2, not shape "
                             f"{list(x.shape)}")
        _expect_rank(w, 2, "weight", node)
    else:
        _expect_rank(x, rank, "input", node)
        _expect_rank(w, rank, "weight", node)
    _expect_dtype(x, xdtype, "input", node)
    _expect_dtype(w, wdtype, "weight", node)
    nb = w.shape[0] if bias_len is None else bias_len
    if len(ts) == 3 and ts[2].shape != (nb,):
        raise ModelError(f"{node.describe()}: bias must have shape [{nb}], "
                         f"not {list(ts[2].shape)}")
    return x, w


def _groups(node: Node, c: int, o: int) -> int:
    g = node.attr("groups", 1)
    if not isinstance(g, int) or g < 1 or c % g or o % g:
        raise ModelError(f"{node.describe()}: groups={g} must divide the {c} input and "
                         f"{o} output channels")
    return g


def _conv_like(node: Node, ts: list[TensorType], wdtype: tuple[str, ...],
               xdtype: tuple[str, ...]) -> tuple[int, ...]:
    x, w = _weighted_inputs(node, ts, 4, wdtype, xdtype)
    n, c, h, wd = x.shape
    o, i, kh, kw = w.shape
    g = _groups(node, c, o)
    if i * g != c:
        raise ModelError(f"{node.describe()}: weight has {i} input channels per group, the "
                         f"input has {c} channels in {g} groups")
    _, (sh, sw), (pt, pl, pb, pr), (dh, dw) = _window_attrs(node, (kh, kw))
    return (n, o, _window_out(h, kh, sh, pt, pb, node, dh),
            _window_out(wd, kw, sw, pl, pr, node, dw))


def _conv_transpose_like(node: Node, ts: list[TensorType], wdtype: tuple[str, ...],
                         xdtype: tuple[str, ...]) -> tuple[int, ...]:
    w0 = ts[1] if len(ts) > 1 else ts[0]
    g = node.attr("groups", 1)
    o = w0.shape[1] * g if len(w0.shape) == 4 and isinstance(g, int) else 0
    x, w = _weighted_inputs(node, ts, 4, wdtype, xdtype, bias_len=o)
    n, c, h, wd = x.shape
    if w.shape[0] != c or _groups(node, c, o) != g:
        raise ModelError(f"{node.describe()}: weight has {w.shape[0]} input channels, the "
                         f"input has {c}")
    _, (sh, sw), (pt, pl, pb, pr), (dh, dw) = _window_attrs(node, w.shape[2:])
    try:
        oph, opw = windows.pair(node.attr("output_padding", 0), "output_padding", 0)
    except ValueError as e:
        raise ModelError(f"{node.describe()}: {e}") from None
    oh = windows.transposed_out(h, w.shape[2], sh, pt, pb, dh, oph)
    ow = windows.transposed_out(wd, w.shape[3], sw, pl, pr, dw, opw)
    if oh <= 0 or ow <= 0 or min(pt, pl, pb, pr) < 0 or oph >= max(sh, dh) \
            or opw >= max(sw, dw):
        raise ModelError(f"{node.describe()}: pads {(pt, pl, pb, pr)} and output_padding "
                         f"{(oph, opw)} do not fit (an output of {oh}x{ow})")
    return (n, o, oh, ow)


def _dense_like(node: Node, ts: list[TensorType], wdtype: tuple[str, ...],
                xdtype: tuple[str, ...]) -> tuple[int, ...]:
    x, w = _weighted_inputs(node, ts, None, wdtype, xdtype)
    if w.shape[1] != x.shape[-1]:
        raise ModelError(f"{node.describe()}: weight [M, K] = {list(w.shape)} does not match "
                         f"input [..., K] = {list(x.shape)}")
    return x.shape[:-1] + (w.shape[0],)


def _pool_shape(node: Node, x: TensorType) -> tuple[int, ...]:
    _expect_rank(x, 4, "input", node)
    (kh, kw), (sh, sw), (pt, pl, pb, pr), (dh, dw) = _window_attrs(node)
    if max(pt, pb) >= windows.span(kh, dh) or max(pl, pr) >= windows.span(kw, dw):
        raise ModelError(f"{node.describe()}: pads {(pt, pl, pb, pr)} must be smaller than "
                         f"the kernel {(kh, kw)}")
    ceil = bool(node.attr("ceil_mode", False))
    n, c, h, w = x.shape
    return (n, c, _window_out(h, kh, sh, pt, pb, node, dh, ceil),
            _window_out(w, kw, sw, pl, pr, node, dw, ceil))


def _axis(axis: int, rank: int, node: Node) -> int:
    if not isinstance(axis, int) or not -rank <= axis < rank:
        raise ModelError(f"{node.describe()}: axis {axis} out of range for rank {rank}")
    return axis % rank


def _axes(node: Node, rank: int) -> tuple[int, ...]:
    axes = node.attr("axes", None)
    if axes is None:
        return tuple(range(rank))
    out = tuple(sorted({_axis(a, rank, node) for a in axes}))
    if len(out) != len(axes):
        raise ModelError(f"{node.describe()}: repeated axes {list(axes)}")
    return out


def _requant_attrs(node: Node) -> None:
    lo, hi = node.attr("lo", -128), node.attr("hi", 127)
    if not -128 <= lo <= hi <= 127:
        raise ModelError(f"{node.describe()}: clip bounds must satisfy -128 <= lo <= hi <= "
                         f"127, not ({lo}, {hi})")
    shifts = node.attr("shift", 0)
    for s in shifts if isinstance(shifts, tuple) else (shifts,):
        if not 0 <= s <= 31:
            raise ModelError(f"{node.describe()}: shift must be in [0, 31], not {s}")


def _no_zero_point_or_multiplier(node: Node) -> None:
    """A qconv_transpose2d / qmatmul requantizes with shifts only and takes no input zero
    point (its reference and kernels would ignore one)."""
    defaults = {"x_zero_point": 0, "pre_shift": 0, "acc_lo": None, "acc_hi": None,
                "multiplier": 1, "post_offset": 0}
    extra = [k for k, d in defaults.items() if node.attr(k, d) != d]
    if extra:
        raise ModelError(f"{node.describe()}: {node.op} takes power-of-two shifts and no "
                         f"zero point, not {extra[0]}={node.attr(extra[0])!r}")


def _channel_requant(node: Node, channels: int) -> None:
    """A qconv2d/qdense's requantization attributes: valid, one value or one per output
    channel, and an int8 input zero point."""
    try:
        r = Requant.from_attrs(node.attrs)
    except OperatorError as e:
        raise ModelError(f"{node.describe()}: {e}") from None
    if r.channels not in (1, channels):
        raise ModelError(f"{node.describe()}: requantization has {r.channels} values per "
                         f"field, expected 1 or one per output channel ({channels})")
    zx = node.attr("x_zero_point", 0)
    if isinstance(zx, bool) or not isinstance(zx, int) or not -128 <= zx <= 127:
        raise ModelError(f"{node.describe()}: x_zero_point must be an int8 value, not {zx!r}")


def _int8_zero_point(node: Node) -> None:
    zp = node.attr("zero_point", 0)
    if isinstance(zp, bool) or not isinstance(zp, int) or not -(1 << 31) <= zp < 1 << 31:
        raise ModelError(f"{node.describe()}: zero_point must be an integer, not {zp!r}")
    if node.op == "quantize" and not -128 <= zp <= 127:
        raise ModelError(f"{node.describe()}: zero_point must be an int8 value, not {zp}")


def flatten_axis(node: Node, rank: int) -> int:
    """The ``flatten`` node's axis in ``[0, rank]`` (a negative axis counts from ``rank``,
    as in ONNX: axis -1 of a rank-4 tensor is 3)."""
    axis = node.attr("axis", 1)
    if not isinstance(axis, int) or not -rank <= axis <= rank:
        raise ModelError(f"{node.describe()}: axis {axis} out of range [{-rank}, {rank}]")
    return axis + rank if axis < 0 else axis


def slice_ranges(node: Node, shape: tuple[int, ...]) -> list[range]:
    """The elements a ``slice`` node keeps along each axis (``starts``, ``ends``,
    ``steps``: one per axis, ONNX clamping already applied)."""
    starts, ends, steps = (node.attr(k) for k in ("starts", "ends", "steps"))
    if not all(isinstance(v, tuple) and len(v) == len(shape) for v in (starts, ends, steps)):
        raise ModelError(f"{node.describe()}: starts, ends and steps need one value per axis "
                         f"of {list(shape)}")
    out = []
    for d, a, b, st in zip(shape, starts, ends, steps, strict=True):
        if st == 0:
            raise ModelError(f"{node.describe()}: a slice step must not be 0")
        r = range(d)[slice(a, b, st)]
        if len(r) == 0:
            raise ModelError(f"{node.describe()}: slice {a}:{b}:{st} of {d} elements is empty")
        out.append(r)
    return out


def _shape_infer(node: Node, ts: list[TensorType]) -> TensorType | None:
    """Ops of either dtype (layout, pooling, reductions); None when ``node`` is not one."""
    op, x = node.op, ts[0]
    if op in ("max_pool", "avg_pool"):
        _expect_dtype(x, ("float32", "int8"), "input", node)
        return TensorType(_pool_shape(node, x), x.dtype, x.scale, x.zero_point)
    if op in ("global_avg_pool", "global_max_pool"):
        if len(x.shape) < 3:
            raise ModelError(f"{node.describe()}: input must have rank >= 3, not shape "
                             f"{list(x.shape)}")
        _expect_dtype(x, ("float32", "int8"), "input", node)
        return TensorType(x.shape[:2] + (1,) * (len(x.shape) - 2), x.dtype, x.scale, x.zero_point)
    if op in ("reduce_mean", "reduce_max"):
        _expect_dtype(x, ("float32", "int8"), "input", node)
        axes = _axes(node, len(x.shape))
        keep = node.attr("keepdims", True)
        shape = tuple(1 if i in axes else d for i, d in enumerate(x.shape) if keep or
                      i not in axes) or (1,)
        return TensorType(shape, x.dtype, x.scale, x.zero_point)
    if op == "flatten":
        axis = flatten_axis(node, len(x.shape))
        return TensorType((math.prod(x.shape[:axis]), math.prod(x.shape[axis:])),
                          x.dtype, x.scale, x.zero_point)
    if op == "reshape":
        shape = tuple(node.attr("shape", ()))
        if math.prod(shape) != x.size:
            raise ModelError(f"{node.describe()}: cannot reshape {list(x.shape)} to "
                             f"{list(shape)}")
        return TensorType(shape, x.dtype, x.scale, x.zero_point)
    if op == "transpose":
        perm = tuple(node.attr("perm", tuple(reversed(range(len(x.shape))))))
        if sorted(perm) != list(range(len(x.shape))):
            raise ModelError(f"{node.describe()}: perm {list(perm)} is not a permutation of "
                             f"the {len(x.shape)} axes")
        return TensorType(tuple(x.shape[p] for p in perm), x.dtype, x.scale, x.zero_point)
    if op == "pad":
        pads = tuple(node.attr("pads", ()))
        rank = len(x.shape)
        mode = node.attr("mode", "constant")
        if len(pads) != 2 * rank or min(pads) < 0:
            raise ModelError(f"{node.describe()}: pads {list(pads)} must be {2 * rank} "
                             "non-negative values (begins, then ends)")
        if mode not in ("constant", "reflect", "edge"):
            raise ModelError(f"{node.describe()}: mode {mode!r} is not constant, reflect or "
                             "edge")
        if mode == "reflect" and any(max(pads[i], pads[i + rank]) >= d
                                     for i, d in enumerate(x.shape)):
            raise ModelError(f"{node.describe()}: reflect pads {list(pads)} must be smaller "
                             f"than the dimensions {list(x.shape)}")
        return TensorType(tuple(d + pads[i] + pads[i + rank] for i, d in enumerate(x.shape)),
                          x.dtype, x.scale, x.zero_point)
    if op == "slice":
        return TensorType(tuple(len(r) for r in slice_ranges(node, x.shape)), x.dtype,
                          x.scale, x.zero_point)
    if op == "resize":
        sizes = tuple(node.attr("sizes", ()))
        if len(sizes) != len(x.shape) or min(sizes, default=0) <= 0:
            raise ModelError(f"{node.describe()}: sizes {list(sizes)} must give every "
                             f"dimension of {list(x.shape)}")
        if sizes[:2] != x.shape[:2] and len(x.shape) == 4:
            raise ModelError(f"{node.describe()}: only the spatial dimensions of "
                             f"{list(x.shape)} may be resized, not to {list(sizes)}")
        if node.attr("mode", "nearest") not in ("nearest", "linear"):
            raise ModelError(f"{node.describe()}: mode {node.attr('mode')!r} is not nearest "
                             "or linear")
        return TensorType(sizes, x.dtype, x.scale, x.zero_point)
    if op == "gather":
        if len(ts) != 2:
            raise ModelError(f"{node.describe()}: expected inputs (data, indices)")
        _expect_dtype(ts[1], ("int64", "int32"), "indices", node)
        axis = _axis(node.attr("axis", 0), len(x.shape), node)
        idx = ts[1].shape if ts[1].shape != (1,) or not node.attr("scalar_index") else ()
        return TensorType(x.shape[:axis] + idx + x.shape[axis + 1:], x.dtype, x.scale, x.zero_point)
    if op == "concat":
        axis = _axis(node.attr("axis", 1), len(x.shape), node)
        for t in ts[1:]:
            if (len(t.shape) != len(x.shape) or t.dtype != x.dtype or t.scale != x.scale
                    or t.zero_point != x.zero_point
                    or any(a != b for i, (a, b) in enumerate(zip(t.shape, x.shape, strict=True))
                           if i != axis)):
                raise ModelError(f"{node.describe()}: inputs {list(x.shape)} {x.dtype} and "
                                 f"{list(t.shape)} {t.dtype} do not concatenate on axis "
                                 f"{axis} (same dtype, scale, zero point and other "
                                 "dimensions expected)")
        shape = list(x.shape)
        shape[axis] = sum(t.shape[axis] for t in ts)
        return TensorType(tuple(shape), x.dtype, x.scale, x.zero_point)
    return None


def infer_type(node: Node, ts: Sequence[TensorType]) -> TensorType:
    """The type of ``node``'s output given its input types.

    Raises
    ------
    ModelError
        when the op is unknown, an input has the wrong rank or dtype, or attributes do not
        fit the shapes; the message names the node.
    """
    ts = list(ts)
    op = node.op
    if op not in OPS:
        raise ModelError(f"{node.describe()}: unknown op (expected one of {sorted(OPS)})")
    if not ts:
        raise ModelError(f"{node.describe()}: needs at least one input")
    x = ts[0]
    if op in _FLOAT_ONLY:
        for i, t in enumerate(ts):
            _expect_dtype(t, ("float32",), f"input {i}", node)
    if op in ("conv2d", "dense", "conv_transpose2d"):
        like = {"conv2d": _conv_like, "dense": _dense_like,
                "conv_transpose2d": _conv_transpose_like}[op]
        return TensorType(like(node, ts, ("float32",), ("float32",)))
    if op in ("qconv2d", "qdense", "qconv_transpose2d"):
        like = {"qconv2d": _conv_like, "qdense": _dense_like,
                "qconv_transpose2d": _conv_transpose_like}[op]
        shape = like(node, ts, ("int8", "int16") if op != "qconv_transpose2d" else ("int8",),
                     ("int8",))
        if op == "qconv_transpose2d":
            _requant_attrs(node)
            _no_zero_point_or_multiplier(node)
        else:
            _channel_requant(node, ts[1].shape[0])
        if len(ts) == 3:
            _expect_dtype(ts[2], ("int32",), "bias", node)
        if node.attr("out_dtype", "int8") == "int32":    # ConvInteger / MatMulInteger
            return TensorType(shape, "int32")
        return TensorType(shape, "int8", node.attr("out_scale"),
                          node.attr("out_zero_point", 0))
    if op == "batch_norm":
        if len(x.shape) < 2:
            raise ModelError(f"{node.describe()}: input must have rank >= 2")
        for t in ts[1:]:
            if t.shape != (x.shape[1],):
                raise ModelError(f"{node.describe()}: parameters must have shape "
                                 f"[{x.shape[1]}], not {list(t.shape)}")
        return x
    if op in ("relu", "clip", "softmax") or op in UNARY_OPS:
        if op == "softmax":
            _axis(node.attr("axis", -1), len(x.shape), node)
        return TensorType(x.shape)
    if op in BINARY_OPS:
        if len(ts) != 2:
            raise ModelError(f"{node.describe()}: expected two inputs, got {len(ts)}")
        return TensorType(_broadcast(x.shape, ts[1].shape, node))
    if op == "layer_norm":
        axis = _axis(node.attr("axis", -1), len(x.shape), node)
        for t in ts[1:]:
            if t.shape != x.shape[axis:]:
                raise ModelError(f"{node.describe()}: scale and bias must have shape "
                                 f"{list(x.shape[axis:])}, not {list(t.shape)}")
        return TensorType(x.shape)
    if op in ("matmul", "qmatmul"):
        if len(ts) != 2:
            raise ModelError(f"{node.describe()}: expected two inputs, got {len(ts)}")
        a, b = ts
        if op == "qmatmul":
            _requant_attrs(node)
            _no_zero_point_or_multiplier(node)
            for t in ts:
                _expect_dtype(t, ("int8",), "input", node)
        if len(a.shape) < 2 or len(b.shape) < 2 or a.shape[-1] != b.shape[-2]:
            raise ModelError(f"{node.describe()}: shapes {list(a.shape)} and "
                             f"{list(b.shape)} do not multiply")
        batch = _broadcast(a.shape[:-2], b.shape[:-2], node)
        shape = batch + (a.shape[-2], b.shape[-1])
        return TensorType(shape) if op == "matmul" else \
            TensorType(shape, "int8", node.attr("out_scale"))
    if op == "qadd":
        _requant_attrs(node)
        if len(ts) != 2 or ts[1].shape != x.shape:
            raise ModelError(f"{node.describe()}: expected two int8 inputs of one shape")
        for t in ts:
            _expect_dtype(t, ("int8",), "input", node)
        return TensorType(x.shape, "int8", node.attr("out_scale"),
                          node.attr("out_zero_point", 0))
    if op == "qrescale":
        _requant_attrs(node)
        _expect_dtype(x, ("int8",), "input", node)
        return TensorType(x.shape, "int8", node.attr("out_scale"),
                          node.attr("out_zero_point", 0))
    if op == "qlut":
        _expect_dtype(x, ("int8",), "input", node)
        if len(ts) != 2 or ts[1].shape != (256,) or ts[1].dtype != "int8":
            raise ModelError(f"{node.describe()}: expected inputs (x, table int8[256])")
        return TensorType(x.shape, "int8", node.attr("out_scale"),
                          node.attr("out_zero_point", 0))
    shaped = _shape_infer(node, ts)
    if shaped is not None:
        return shaped
    if op == "cast":
        if node.attr("to", "float32") != "float32":
            raise ModelError(f"{node.describe()}: only a cast to float32 is supported, not "
                             f"to {node.attr('to')}")
        return TensorType(x.shape)
    if op == "qcast":
        dtype = node.attr("dtype")
        if dtype not in ("int8", "uint8"):
            raise ModelError(f"{node.describe()}: dtype must be int8 or uint8, not {dtype!r}")
        _expect_dtype(x, ("uint8",) if dtype == "int8" else ("int8",), "input", node)
        shift = 128 if dtype == "uint8" else -128
        return TensorType(x.shape, dtype, x.scale, x.zero_point + shift)
    if op == "quantize_linear":
        return TensorType(x.shape, node.attr("dtype", "int8"))
    if op == "dynamic_quantize":
        _expect_dtype(x, ("float32",), "input", node)
        part = node.attr("part")
        if part not in DYNAMIC_QUANTIZE_PARTS:
            raise ModelError(f"{node.describe()}: part must be one of "
                             f"{', '.join(DYNAMIC_QUANTIZE_PARTS)}, not {part!r}")
        return TensorType(x.shape if part == "y" else (),
                          "float32" if part == "scale" else "uint8")
    if op == "sub_zero_point":
        if len(ts) != 3:
            raise ModelError(f"{node.describe()}: expected inputs (sums int32, zero point, "
                             "weight sums int32)")
        _expect_dtype(x, ("int32",), "input 0", node)
        _expect_dtype(ts[1], ("int8",), "the zero point", node)
        _expect_dtype(ts[2], ("int32",), "the weight sums", node)
        if ts[1].size != 1 or _broadcast(x.shape, ts[2].shape, node) != x.shape:
            raise ModelError(f"{node.describe()}: expected one zero point and weight sums "
                             f"that broadcast to {list(x.shape)}, not {list(ts[2].shape)}")
        return TensorType(x.shape, "int32")
    if op == "dequantize_linear":
        _expect_dtype(x, ("int8", "uint8", "int32"), "input", node)
        return TensorType(x.shape)
    if op == "quantize":
        _expect_dtype(x, ("float32",), "input", node)
        _int8_zero_point(node)
        return TensorType(x.shape, "int8", node.attr("scale"), node.attr("zero_point", 0))
    if op == "dequantize":
        _expect_dtype(x, ("int8", "int32"), "input", node)
        _int8_zero_point(node)
        return TensorType(x.shape)
    raise AssertionError(op)  # pragma: no cover - OPS and this function agree


# ---------------------------------------------------------------------- builder
class GraphBuilder:
    """Builds a :class:`Graph` node by node, inferring types as it goes.

    Every op method returns the name of its output tensor. Names are made unique from the
    op name unless ``name=`` is given.

    Parameters
    ----------
    name:
        The model's name.
    """

    def __init__(self, name: str = "model") -> None:
        self.name = name
        self._inputs: list[str] = []
        self._outputs: list[str] = []
        self._nodes: list[Node] = []
        self._params: dict[str, np.ndarray] = {}
        self._types: dict[str, TensorType] = {}
        self._counter = 0

    def _fresh(self, base: str) -> str:
        while True:
            self._counter += 1
            name = f"{base}_{self._counter}"
            if name not in self._types:
                return name

    def _claim(self, name: str) -> str:
        if name in self._types:
            raise ModelError(f"graph {self.name!r}: tensor name {name!r} used twice")
        return name

    def has(self, name: str) -> bool:
        """Whether tensor ``name`` is defined."""
        return name in self._types

    def type_of(self, name: str) -> TensorType:
        """The type of a tensor defined so far."""
        try:
            return self._types[name]
        except KeyError:
            raise ModelError(f"graph {self.name!r}: tensor {name!r} is not defined") from None

    def input(self, name: str, shape: Sequence[int], dtype: str = "float32") -> str:
        """Declare a runtime input."""
        self._types[self._claim(name)] = TensorType(tuple(shape), dtype)
        self._inputs.append(name)
        return name

    def param(self, name: str | None, value: np.ndarray, scale: float | None = None, *,
              origin: str | None = None) -> str:
        """Add a constant tensor; float64 arrays are stored as float32.  Weights must be
        finite real numbers (:func:`.tensor_checks.check_tensor`); ``origin`` names an
        unnamed constant in that check's message (e.g. ``"weight 'w2' of ONNX Conv node
        'conv2'"``)."""
        value = check_tensor(f"weight {name!r}" if name else origin or "a constant", value)
        if value.dtype == np.float64:
            value = value.astype(np.float32)
        dtype = str(value.dtype)
        name = self._claim(name) if name else self._fresh("const")
        self._types[name] = TensorType(value.shape or (1,), dtype, scale)
        self._params[name] = value.reshape(value.shape or (1,))
        return name

    def param_value(self, name: str) -> np.ndarray | None:
        """The value of a param, or None if ``name`` is not a param."""
        return self._params.get(name)

    def node(self, op: str, inputs: Sequence[str], name: str | None = None,
             output: str | None = None, **attrs: Any) -> str:
        """Add ``op(*inputs, **attrs)``; returns the output tensor's name."""
        node_name = name or self._fresh(op)
        out = self._claim(output) if output else (
            node_name if node_name not in self._types else self._fresh(node_name))
        node = Node(op, node_name, tuple(inputs), out, attrs)
        types = [self.type_of(i) for i in node.inputs]
        self._types[out] = infer_type(node, types)
        self._nodes.append(node)
        return out

    def output(self, *names: str) -> None:
        """Mark tensors as graph outputs (in order)."""
        for n in names:
            self.type_of(n)
            self._outputs.append(n)

    def build(self) -> Graph:
        """The finished, validated graph."""
        if not self._outputs:
            raise ModelError(f"graph {self.name!r} has no outputs")
        return Graph(self.name, self._inputs, self._outputs, self._nodes, self._params,
                     self._types)

    # ---------------------------------------------------------------- float op helpers
    def conv2d(self, x: str, w: str, b: str | None = None, *, strides: Any = 1,
               pads: Any = 0, dilations: Any = 1, groups: int = 1,
               name: str | None = None) -> str:
        """2-D convolution, NCHW input, OIHW weight (``O x C/groups x KH x KW``), pads (top,
        left, bottom, right)."""
        extra = {k: v for k, v in (("dilations", dilations), ("groups", groups))
                 if v not in (1, (1, 1))}
        return self.node("conv2d", [x, w] + ([b] if b else []), name, strides=strides,
                         pads=pads, **extra)

    def dense(self, x: str, w: str, b: str | None = None, *, name: str | None = None) -> str:
        """``x [N, K] @ w[M, K].T + b``."""
        return self.node("dense", [x, w] + ([b] if b else []), name)

    def batch_norm(self, x: str, gamma: str, beta: str, mean: str, var: str, *,
                   epsilon: float = 1e-5, name: str | None = None) -> str:
        """Inference batch normalization over channels (axis 1)."""
        return self.node("batch_norm", [x, gamma, beta, mean, var], name, epsilon=epsilon)

    def relu(self, x: str, *, name: str | None = None) -> str:
        return self.node("relu", [x], name)

    def clip(self, x: str, lo: float, hi: float, *, name: str | None = None) -> str:
        return self.node("clip", [x], name, lo=float(lo), hi=float(hi))

    def add(self, a: str, b: str, *, name: str | None = None) -> str:
        return self.node("add", [a, b], name)

    def max_pool(self, x: str, kernel: Any, strides: Any = None, pads: Any = 0, *,
                 name: str | None = None) -> str:
        return self.node("max_pool", [x], name, kernel=kernel,
                         strides=kernel if strides is None else strides, pads=pads)

    def avg_pool(self, x: str, kernel: Any, strides: Any = None, pads: Any = 0, *,
                 count_include_pad: bool = False, name: str | None = None) -> str:
        return self.node("avg_pool", [x], name, kernel=kernel,
                         strides=kernel if strides is None else strides, pads=pads,
                         count_include_pad=bool(count_include_pad))

    def global_avg_pool(self, x: str, *, name: str | None = None) -> str:
        return self.node("global_avg_pool", [x], name)

    def flatten(self, x: str, axis: int = 1, *, name: str | None = None) -> str:
        return self.node("flatten", [x], name, axis=axis)

    def reshape(self, x: str, shape: Sequence[int], *, name: str | None = None) -> str:
        return self.node("reshape", [x], name, shape=tuple(shape))

    def softmax(self, x: str, axis: int = -1, *, name: str | None = None) -> str:
        return self.node("softmax", [x], name, axis=axis)

    def concat(self, xs: Sequence[str], axis: int = 1, *, name: str | None = None) -> str:
        return self.node("concat", list(xs), name, axis=axis)
