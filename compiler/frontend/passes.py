"""Rewrite passes over the float graph: each takes a :class:`Graph` and returns a new one.

- :func:`fold_constants`: evaluate nodes whose inputs are all params (e.g. ONNX
  ``DequantizeLinear`` of an int8 weight) into params.
- :func:`fold_batch_norm`: merge ``batch_norm`` into the ``conv2d`` feeding it.
- :func:`fold_affine`: merge ``mul`` / ``add`` by a per-channel constant into the
  ``conv2d`` / ``dense`` feeding it (ONNX ``MatMul`` + ``Add``, ``ConvInteger`` + ``Mul``).
- :func:`remove_dead`: drop nodes and params no output depends on.
- :func:`simplify`: all of the above, in order.
"""

from __future__ import annotations

import numpy as np

from .graph import Graph, Node, TensorType
from .interpreter import OP_IMPLS

__all__ = ["fold_constants", "fold_batch_norm", "fold_affine", "remove_dead", "simplify"]


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
    """Fold ``batch_norm(conv2d(x, w, b))`` into ``conv2d(x, w', b')``.

    Folds when the conv's output feeds only the batch norm and every parameter is a
    constant; other batch norms stay (the float executor runs them; the quantizer rejects
    them with a message naming the node).
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
        if (conv is None or conv.op != "conv2d" or consumers.get(conv.output) != 1
                or conv.output in graph.outputs
                or not all(i in params for i in conv.inputs[1:] + node.inputs[1:])):
            continue
        gamma, beta, mean, var = (params[i].astype(np.float64) for i in node.inputs[1:])
        scale = gamma / np.sqrt(var + node.attr("epsilon", 1e-5))
        w = params[conv.inputs[1]].astype(np.float64)
        b = (params[conv.inputs[2]].astype(np.float64) if len(conv.inputs) > 2
             else np.zeros(w.shape[0]))
        wname, bname = f"{conv.name}.w_bn", f"{conv.name}.b_bn"
        params[wname] = (w * scale[:, None, None, None]).astype(np.float32)
        params[bname] = ((b - mean) * scale + beta).astype(np.float32)
        types[wname] = TensorType(w.shape)
        types[bname] = TensorType(b.shape)
        replaced[conv.name] = Node("conv2d", conv.name, (conv.inputs[0], wname, bname),
                                   node.output, conv.attrs)
        dropped.add(node.name)
    nodes = [replaced.get(n.name, n) for n in graph.nodes if n.name not in dropped]
    return _rebuild(graph, nodes, params, types)


def _per_channel(value: np.ndarray, out_shape: tuple[int, ...]) -> np.ndarray | None:
    """``value`` as one number per channel (axis 1) if it broadcasts only along it."""
    channels = out_shape[1]
    v = np.asarray(value, dtype=np.float64)
    if v.ndim > len(out_shape):
        return None
    full = (1,) * (len(out_shape) - v.ndim) + v.shape
    for axis, d in enumerate(full):
        if d != 1 and (axis != 1 or d != channels):
            return None
    return np.broadcast_to(v.reshape(full), (1, channels) + (1,) * (len(out_shape) - 2)
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
                        or y in graph.outputs or nodes[pi].op not in ("conv2d", "dense")):
                    continue
                prod = nodes[pi]
                yshape = types[y].shape
                vec = _per_channel(params[c], yshape)
                if vec is None or types[node.output].shape != yshape:
                    continue
                w = params[prod.inputs[1]].astype(np.float64)
                b = (params[prod.inputs[2]].astype(np.float64) if len(prod.inputs) > 2
                     else np.zeros(w.shape[0]))
                if node.op == "mul":
                    w = w * vec.reshape((-1,) + (1,) * (w.ndim - 1))
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
    """Constant folding, batch-norm and affine folding, dead-node removal."""
    return remove_dead(fold_affine(fold_batch_norm(fold_constants(graph))))
