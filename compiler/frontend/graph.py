"""The compiler's graph IR: small immutable dataclasses and a builder.

A :class:`Graph` is a list of :class:`Node` in topological order over named tensors. Every
node has one output tensor; its :class:`TensorType` (shape, dtype and, in quantized graphs,
the power-of-two or finer ``scale``) is inferred when the node is added. Constant tensors
(weights, biases) live in ``Graph.params`` as read-only numpy arrays.

Op set (attributes in brackets; images are NCHW, conv weights OIHW, dense weights [M, K]):

Float ops (from ONNX or the builder)
    ``conv2d(x, w[, b])`` [strides, pads=(top, left, bottom, right)], ``dense(x, w[, b])``,
    ``batch_norm(x, gamma, beta, mean, var)`` [epsilon], ``relu``, ``clip`` [lo, hi],
    ``add(a, b)`` / ``mul(a, b)`` (numpy broadcasting), ``softmax`` [axis], ``quantize_linear`` /
    ``dequantize_linear`` [scale, zero_point, dtype] (ONNX fake-quantization).
Integer ops (made by :mod:`.quantize` or imported, semantics in :mod:`.interpreter`)
    ``quantize`` [scale, zero_point, lo, hi], ``dequantize`` [scale, zero_point],
    ``qconv2d(x, w, b)`` / ``qdense(x, w, b)`` [strides, pads, x_zero_point, the
    requantization of :class:`~vta.compiler.requant.Requant`: shift, lo, hi and optionally
    pre_shift, acc_lo, acc_hi, multiplier, post_offset; out_scale, out_zero_point],
    ``qadd(a, b)`` [lshift_a, lshift_b, offset, shift, lo, hi], ``qrescale(x)`` [lshift,
    offset, shift, lo, hi], ``qcast(x)`` [dtype]: int8 <-> uint8 keeping real values (the
    zero point moves by 128).
Ops for either dtype
    ``max_pool`` / ``avg_pool`` [kernel, strides, pads, count_include_pad],
    ``global_avg_pool``, ``flatten`` [axis], ``reshape`` [shape], ``concat`` [axis].

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

__all__ = ["TensorType", "Node", "Graph", "GraphBuilder", "infer_type", "DTYPES", "OPS"]

DTYPES = ("float32", "int8", "uint8", "int16", "int32")

_FLOAT_ONLY = {"conv2d", "dense", "batch_norm", "relu", "clip", "add", "mul", "softmax",
               "quantize_linear"}
_ANY_DTYPE = {"max_pool", "avg_pool", "global_avg_pool", "flatten", "reshape", "concat"}
_INT_OPS = {"quantize", "dequantize", "qconv2d", "qdense", "qadd", "qrescale", "qcast"}
OPS = frozenset(_FLOAT_ONLY | _ANY_DTYPE | _INT_OPS | {"dequantize_linear"})
"""Every op name the IR knows."""


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


# ---------------------------------------------------------------------- shape inference
def _window_attrs(node: Node, kernel: Any | None = None
                  ) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int, int, int]]:
    """The node's (kernel, strides, pads) in canonical form (``kernel`` given for convs,
    read from the node's attribute for pooling)."""
    try:
        k = windows.pair(node.attr("kernel", None) or 0 if kernel is None else kernel,
                         "kernel", 1)
        return (k, windows.pair(node.attr("strides", 1), "strides", 1),
                windows.pads(node.attr("pads", 0)))
    except ValueError as e:
        raise ModelError(f"{node.describe()}: {e}") from None


def _window_out(size: int, k: int, stride: int, pad0: int, pad1: int, node: Node) -> int:
    out = windows.window_out(size, k, stride, pad0, pad1)
    if out <= 0:
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


def _weighted_inputs(node: Node, ts: list[TensorType], rank: int, wdtype: tuple[str, ...],
                     xdtype: tuple[str, ...]) -> tuple[TensorType, TensorType]:
    """The (x, w[, b]) inputs of a conv/dense node, checked: their number, ranks and
    dtypes, and a bias of one value per output channel (the weight's first axis)."""
    if len(ts) not in (2, 3):
        raise ModelError(f"{node.describe()}: expected inputs (x, w[, b]), got {len(ts)}")
    x, w = ts[0], ts[1]
    _expect_rank(x, rank, "input", node)
    _expect_rank(w, rank, "weight", node)
    _expect_dtype(x, xdtype, "input", node)
    _expect_dtype(w, wdtype, "weight", node)
    if len(ts) == 3 and ts[2].shape != (w.shape[0],):
        raise ModelError(f"{node.describe()}: bias must have shape [{w.shape[0]}], "
                         f"not {list(ts[2].shape)}")
    return x, w


def _conv_like(node: Node, ts: list[TensorType], wdtype: tuple[str, ...],
               xdtype: tuple[str, ...]) -> tuple[int, ...]:
    x, w = _weighted_inputs(node, ts, 4, wdtype, xdtype)
    n, c, h, wd = x.shape
    o, i, kh, kw = w.shape
    if i != c:
        raise ModelError(f"{node.describe()}: weight has {i} input channels, input has {c} "
                         "(grouped convolution is not supported)")
    _, (sh, sw), (pt, pl, pb, pr) = _window_attrs(node, (kh, kw))
    return (n, o, _window_out(h, kh, sh, pt, pb, node), _window_out(wd, kw, sw, pl, pr, node))


def _dense_like(node: Node, ts: list[TensorType], wdtype: tuple[str, ...],
                xdtype: tuple[str, ...]) -> tuple[int, ...]:
    x, w = _weighted_inputs(node, ts, 2, wdtype, xdtype)
    if w.shape[1] != x.shape[1]:
        raise ModelError(f"{node.describe()}: weight [M, K] = {list(w.shape)} does not match "
                         f"input [N, K] = {list(x.shape)}")
    return (x.shape[0], w.shape[0])


def _pool_shape(node: Node, x: TensorType) -> tuple[int, ...]:
    _expect_rank(x, 4, "input", node)
    (kh, kw), (sh, sw), (pt, pl, pb, pr) = _window_attrs(node)
    if max(pt, pb) >= kh or max(pl, pr) >= kw:
        raise ModelError(f"{node.describe()}: pads {(pt, pl, pb, pr)} must be smaller than "
                         f"the kernel {(kh, kw)}")
    n, c, h, w = x.shape
    return (n, c, _window_out(h, kh, sh, pt, pb, node), _window_out(w, kw, sw, pl, pr, node))


def _axis(axis: int, rank: int, node: Node) -> int:
    if not -rank <= axis < rank:
        raise ModelError(f"{node.describe()}: axis {axis} out of range for rank {rank}")
    return axis % rank


def _requant_attrs(node: Node) -> None:
    lo, hi = node.attr("lo", -128), node.attr("hi", 127)
    if not -128 <= lo <= hi <= 127:
        raise ModelError(f"{node.describe()}: clip bounds must satisfy -128 <= lo <= hi <= "
                         f"127, not ({lo}, {hi})")
    shifts = node.attr("shift", 0)
    for s in shifts if isinstance(shifts, tuple) else (shifts,):
        if not 0 <= s <= 31:
            raise ModelError(f"{node.describe()}: shift must be in [0, 31], not {s}")


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
    if op in ("conv2d", "dense"):
        like = _conv_like if op == "conv2d" else _dense_like
        return TensorType(like(node, ts, ("float32",), ("float32",)))
    if op in ("qconv2d", "qdense"):
        like = _conv_like if op == "qconv2d" else _dense_like
        shape = like(node, ts, ("int8", "int16"), ("int8",))
        _channel_requant(node, ts[1].shape[0])
        if len(ts) == 3:
            _expect_dtype(ts[2], ("int32",), "bias", node)
        return TensorType(shape, "int8", node.attr("out_scale"),
                          node.attr("out_zero_point", 0))
    if op == "batch_norm":
        _expect_rank(x, 4, "input", node)
        for t in ts[1:]:
            if t.shape != (x.shape[1],):
                raise ModelError(f"{node.describe()}: parameters must have shape "
                                 f"[{x.shape[1]}], not {list(t.shape)}")
        return x
    if op in ("relu", "clip", "softmax"):
        if op == "softmax":
            _axis(node.attr("axis", -1), len(x.shape), node)
        return TensorType(x.shape)
    if op in ("add", "mul"):
        if len(ts) != 2:
            raise ModelError(f"{node.describe()}: expected two inputs, got {len(ts)}")
        return TensorType(_broadcast(x.shape, ts[1].shape, node))
    if op == "qadd":
        _requant_attrs(node)
        if len(ts) != 2 or ts[1].shape != x.shape:
            raise ModelError(f"{node.describe()}: expected two int8 inputs of one shape")
        for t in ts:
            _expect_dtype(t, ("int8",), "input", node)
        return TensorType(x.shape, "int8", node.attr("out_scale"))
    if op == "qrescale":
        _requant_attrs(node)
        _expect_dtype(x, ("int8",), "input", node)
        return TensorType(x.shape, "int8", node.attr("out_scale"))
    if op in ("max_pool", "avg_pool"):
        _expect_dtype(x, ("float32", "int8"), "input", node)
        return TensorType(_pool_shape(node, x), x.dtype, x.scale, x.zero_point)
    if op == "global_avg_pool":
        _expect_rank(x, 4, "input", node)
        _expect_dtype(x, ("float32", "int8"), "input", node)
        return TensorType(x.shape[:2] + (1, 1), x.dtype, x.scale, x.zero_point)
    if op == "flatten":
        axis = _axis(node.attr("axis", 1), len(x.shape) + 1, node)
        return TensorType((math.prod(x.shape[:axis]), math.prod(x.shape[axis:])),
                          x.dtype, x.scale, x.zero_point)
    if op == "reshape":
        shape = tuple(node.attr("shape", ()))
        if math.prod(shape) != x.size:
            raise ModelError(f"{node.describe()}: cannot reshape {list(x.shape)} to "
                             f"{list(shape)}")
        return TensorType(shape, x.dtype, x.scale, x.zero_point)
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
    if op == "quantize_linear":
        return TensorType(x.shape, node.attr("dtype", "int8"))
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
    if op == "qcast":
        dtype = node.attr("dtype")
        if dtype not in ("int8", "uint8"):
            raise ModelError(f"{node.describe()}: dtype must be int8 or uint8, not {dtype!r}")
        _expect_dtype(x, ("uint8",) if dtype == "int8" else ("int8",), "input", node)
        shift = 128 if dtype == "uint8" else -128
        return TensorType(x.shape, dtype, x.scale, x.zero_point + shift)
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

    def param(self, name: str | None, value: np.ndarray, scale: float | None = None) -> str:
        """Add a constant tensor; float64 arrays are stored as float32."""
        value = np.asarray(value)
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
               pads: Any = 0, name: str | None = None) -> str:
        """2-D convolution, NCHW input, OIHW weight, pads (top, left, bottom, right)."""
        return self.node("conv2d", [x, w] + ([b] if b else []), name, strides=strides,
                         pads=pads)

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
