"""Rewrite passes over the float graph: each takes a :class:`Graph` and returns a new one.

- :func:`fold_constants`: evaluate nodes whose inputs are all params (e.g. ONNX
  ``DequantizeLinear`` of an int8 weight) into params.
- :func:`fold_batch_norm`: merge ``batch_norm`` into the ``conv2d`` / ``conv_transpose2d`` /
  ``dense`` feeding it.
- :func:`fold_affine`: merge ``mul`` / ``add`` by a per-channel constant into the
  linear layer feeding it (ONNX ``MatMul`` + ``Add``, ``ConvInteger`` + ``Mul``).
- :func:`fuse_layer_norm`: the decomposed layer norm older exporters write
  (``ReduceMean, Sub, Pow 2, ReduceMean, Add eps, Sqrt, Div[, Mul scale][, Add bias]``) as one
  ``layer_norm`` node.
- :func:`remove_dead`: drop nodes and params no output depends on.
- :func:`simplify`: all of the above, in order.

A linear layer's output channels are axis 1 of a convolution's output and the last axis of a
dense layer's (which may have leading batch/sequence axes).
"""

from __future__ import annotations

import numpy as np

from .graph import Graph, Node, TensorType
from .interpreter import OP_IMPLS

__all__ = ["fold_constants", "fold_batch_norm", "fold_affine", "fuse_layer_norm", "remove_dead",
           "simplify", "LINEAR_OPS"]

LINEAR_OPS = ("conv2d", "conv_transpose2d", "dense")
"""Float ops with a constant weight and bias that per-channel scales and shifts fold into."""


def _channel_axis(op: str, rank: int) -> int:
    return rank - 1 if op == "dense" else 1


def scale_output_channels(op: str, w: np.ndarray, scale: np.ndarray, groups: int = 1
                          ) -> np.ndarray:
    """The weight of linear op ``op`` with output channel ``o`` multiplied by ``scale[o]``
    (conv weights OIHW, dense [M, K], transposed conv ``(C, O / groups, KH, KW)``)."""
    if op == "conv_transpose2d":
        c, og = w.shape[:2]
        v = w.reshape(groups, c // groups, og, *w.shape[2:])
        return (v * scale.reshape(groups, 1, og, 1, 1)).reshape(w.shape)
    return w * scale.reshape((-1,) + (1,) * (w.ndim - 1))


def _out_channels(op: str, w: np.ndarray, groups: int = 1) -> int:
    return w.shape[1] * groups if op == "conv_transpose2d" else w.shape[0]


def _rebuild(graph: Graph, nodes: list[Node], params: dict[str, np.ndarray],
             types: dict[str, TensorType]) -> Graph:
    return remove_dead(Graph(graph.name, graph.inputs, graph.outputs, nodes, params, types))


def fold_constants(graph: Graph) -> Graph:
    """Replace every node whose inputs are all params by a param holding its value."""
    params = dict(graph.params)
    types = dict(graph.types)
    nodes = []
    for node in graph.nodes:
        if node.inputs and all(i in params for i in node.inputs):
            t = types[node.output]
            value = OP_IMPLS[node.op](node, *(params[i] for i in node.inputs))
            params[node.output] = np.asarray(value).astype(t.dtype).reshape(t.shape)
        else:
            nodes.append(node)
    return _rebuild(graph, nodes, params, types)


def fold_batch_norm(graph: Graph) -> Graph:
    """Fold ``batch_norm(linear(x, w, b))`` into ``linear(x, w', b')`` (``linear`` one of
    :data:`LINEAR_OPS`; for ``dense`` the batch norm normalizes axis 1 of a 2-D output).

    Folds when the layer's output feeds only the batch norm and every parameter is a
    constant; other batch norms stay (the float executor runs them; the quantizer runs them
    in float).
    """
    params = dict(graph.params)
    types = dict(graph.types)
    consumers: dict[str, int] = {}
    for node in graph.nodes:
        for i in node.inputs:
            consumers[i] = consumers.get(i, 0) + 1
    producers = {n.output: n for n in graph.nodes}
    replaced: dict[str, Node] = {}   # conv name -> folded conv
    dropped: set[str] = set()        # batch norm names
    for node in graph.nodes:
        if node.op != "batch_norm":
            continue
        conv = producers.get(node.inputs[0])
        if (conv is None or conv.op not in LINEAR_OPS or consumers.get(conv.output) != 1
                or conv.output in graph.outputs
                or (conv.op == "dense" and len(types[conv.output].shape) != 2)
                or not all(i in params for i in conv.inputs[1:] + node.inputs[1:])):
            continue
        gamma, beta, mean, var = (params[i].astype(np.float64) for i in node.inputs[1:])
        scale = gamma / np.sqrt(var + node.attr("epsilon", 1e-5))
        w = params[conv.inputs[1]].astype(np.float64)
        groups = conv.attr("groups", 1)
        b = (params[conv.inputs[2]].astype(np.float64) if len(conv.inputs) > 2
             else np.zeros(_out_channels(conv.op, w, groups)))
        wname, bname = f"{conv.name}.w_bn", f"{conv.name}.b_bn"
        params[wname] = scale_output_channels(conv.op, w, scale, groups).astype(np.float32)
        params[bname] = ((b - mean) * scale + beta).astype(np.float32)
        types[wname] = TensorType(w.shape)
        types[bname] = TensorType(b.shape)
        replaced[conv.name] = Node(conv.op, conv.name, (conv.inputs[0], wname, bname),
                                   node.output, conv.attrs)
        dropped.add(node.name)
    nodes = [replaced.get(n.name, n) for n in graph.nodes if n.name not in dropped]
    return _rebuild(graph, nodes, params, types)


def _per_channel(value: np.ndarray, out_shape: tuple[int, ...], axis: int = 1
                 ) -> np.ndarray | None:
    """``value`` as one number per channel (``axis``) if it broadcasts only along it."""
    channels = out_shape[axis]
    v = np.asarray(value, dtype=np.float64)
    if v.ndim > len(out_shape):
        return None
    full = (1,) * (len(out_shape) - v.ndim) + v.shape
    for ax, d in enumerate(full):
        if d != 1 and (ax != axis or d != channels):
            return None
    return np.broadcast_to(v.reshape(full), tuple(channels if ax == axis else 1
                                                  for ax in range(len(out_shape)))
                           ).reshape(channels).copy()


def fold_affine(graph: Graph) -> Graph:
    """Fold ``mul(y, c)`` and ``add(y, c)`` into ``y = conv2d|dense(x, w, b)``.

    Folds when ``c`` is a constant varying at most along the channel axis and ``y`` feeds
    only that node.
    """
    params = dict(graph.params)
    types = dict(graph.types)
    nodes = list(graph.nodes)
    changed = True
    while changed:
        changed = False
        producers = {n.output: i for i, n in enumerate(nodes)}
        uses: dict[str, int] = {}
        for n in nodes:
            for i in n.inputs:
                uses[i] = uses.get(i, 0) + 1
        for idx, node in enumerate(nodes):
            if node.op not in ("mul", "add"):
                continue
            for pos in (0, 1):
                y, c = node.inputs[pos], node.inputs[1 - pos]
                pi = producers.get(y)
                if (pi is None or c not in params or uses.get(y) != 1
                        or y in graph.outputs or nodes[pi].op not in LINEAR_OPS
                        or not all(i in params for i in nodes[pi].inputs[1:])):
                    continue
                prod = nodes[pi]
                yshape = types[y].shape
                vec = _per_channel(params[c], yshape, _channel_axis(prod.op, len(yshape)))
                if vec is None or types[node.output].shape != yshape:
                    continue
                w = params[prod.inputs[1]].astype(np.float64)
                groups = prod.attr("groups", 1)
                b = (params[prod.inputs[2]].astype(np.float64) if len(prod.inputs) > 2
                     else np.zeros(_out_channels(prod.op, w, groups)))
                if node.op == "mul":
                    w = scale_output_channels(prod.op, w, vec, groups)
                    b = b * vec
                else:
                    b = b + vec
                wname, bname = f"{prod.name}.w_{node.name}", f"{prod.name}.b_{node.name}"
                params[wname], params[bname] = w.astype(np.float32), b.astype(np.float32)
                types[wname], types[bname] = TensorType(w.shape), TensorType(b.shape)
                nodes[pi] = Node(prod.op, prod.name, (prod.inputs[0], wname, bname),
                                 node.output, prod.attrs)
                del nodes[idx]
                changed = True
                break
            if changed:
                break
    return _rebuild(graph, nodes, params, types)


def _scalar_param(graph: Graph, name: str) -> float | None:
    v = graph.params.get(name)
    return float(v.reshape(-1)[0]) if v is not None and v.size == 1 else None


def fuse_layer_norm(graph: Graph) -> Graph:
    """Replace the decomposed layer norm over the last axis by one ``layer_norm`` node."""
    producers = {n.output: n for n in graph.nodes}
    uses: dict[str, int] = {}
    for n in graph.nodes:
        for i in n.inputs:
            uses[i] = uses.get(i, 0) + 1
    params, types = dict(graph.params), dict(graph.types)
    replace: dict[str, Node] = {}
    dropped: set[str] = set()

    def last_axis_mean(node: Node | None) -> str | None:
        if node is None or node.op != "reduce_mean" or not node.attr("keepdims", True):
            return None
        rank = len(types[node.inputs[0]].shape)
        return node.inputs[0] if tuple(node.attr("axes", ())) == (rank - 1,) else None

    for div in graph.nodes:
        if div.op != "div":
            continue
        sub, sqrt = producers.get(div.inputs[0]), producers.get(div.inputs[1])
        if sub is None or sqrt is None or sub.op != "sub" or sqrt.op != "sqrt":
            continue
        x = sub.inputs[0]
        if last_axis_mean(producers.get(sub.inputs[1])) != x:
            continue
        add = producers.get(sqrt.inputs[0])
        if add is None or add.op != "add":
            continue
        eps = _scalar_param(graph, add.inputs[1])
        var = producers.get(add.inputs[0])
        powr = producers.get(var.inputs[0]) if var is not None else None
        if eps is None or last_axis_mean(var) is None or powr is None or powr.op != "pow" \
                or powr.inputs[0] != sub.output or _scalar_param(graph, powr.inputs[1]) != 2:
            continue
        chain = [producers[sub.inputs[1]], sub, powr, var, add, sqrt]
        if any(uses.get(n.output, 0) != 1 for n in chain if n is not sub) \
                or uses.get(sub.output) != 2 or any(n.output in graph.outputs for n in chain):
            continue
        width = types[x].shape[-1]
        absorbed = [div]               # div, then an optional scale mul and bias add
        scale = np.ones(width, np.float32)
        bias = None
        for op in ("mul", "add"):
            tail = absorbed[-1]
            users = [n for n in graph.nodes if tail.output in n.inputs]
            if len(users) != 1 or users[0].op != op or tail.output in graph.outputs \
                    or users[0].inputs[0] != tail.output or users[0].inputs[1] not in params \
                    or params[users[0].inputs[1]].shape != (width,) \
                    or (op == "add" and absorbed[-1].op != "mul"):
                break
            absorbed.append(users[0])
            if op == "mul":
                scale = params[users[0].inputs[1]]
            else:
                bias = params[users[0].inputs[1]]
        last = absorbed[-1]
        sname, bname = f"{div.name}.ln_scale", f"{div.name}.ln_bias"
        params[sname], types[sname] = np.asarray(scale, np.float32), TensorType((width,))
        ins = (x, sname)
        if bias is not None:
            params[bname], types[bname] = np.asarray(bias, np.float32), TensorType((width,))
            ins = (x, sname, bname)
        replace[last.name] = Node("layer_norm", last.name, ins, last.output,
                                  {"axis": len(types[x].shape) - 1, "epsilon": eps})
        dropped.update(n.name for n in chain + absorbed[:-1])
    if not replace:
        return graph
    nodes = [replace.get(n.name, n) for n in graph.nodes if n.name not in dropped]
    return _rebuild(graph, nodes, params, types)


def remove_dead(graph: Graph) -> Graph:
    """Drop nodes, params and types no graph output depends on."""
    live = set(graph.outputs)
    keep = []
    for node in reversed(graph.nodes):
        if node.output in live:
            keep.append(node)
            live.update(node.inputs)
    keep.reverse()
    live.update(graph.inputs)
    params = {k: v for k, v in graph.params.items() if k in live}
    types = {k: v for k, v in graph.types.items() if k in live}
    if len(keep) == len(graph.nodes) and len(params) == len(graph.params):
        return graph
    return Graph(graph.name, graph.inputs, graph.outputs, keep, params, types)


def simplify(graph: Graph) -> Graph:
    """Constant folding, batch-norm and affine folding, layer-norm fusion, dead-node
    removal."""
    # Affine folding first too: a batch norm after MatMul + Add folds once the Add has.
    graph = fold_affine(fold_constants(graph))
    return remove_dead(fuse_layer_norm(fold_affine(fold_batch_norm(graph))))
