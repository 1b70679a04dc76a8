"""A :class:`~vta.compiler.frontend.graph.Graph` as JSON (its params as named arrays).

The compiled artifact (:mod:`vta.compiler.artifact`) stores the quantized graph this way:
the nodes, tensor types and input/output names as JSON, every param as an array under a
key of its own (``param0``, ``param1``, ...).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .graph import Graph, Node, TensorType

__all__ = ["graph_to_json", "graph_from_json"]


def graph_to_json(graph: Graph, arrays: dict[str, np.ndarray]) -> dict:
    """A JSON-able description of ``graph``; its params are added to ``arrays``."""
    keys = {}
    for i, (name, value) in enumerate(graph.params.items()):
        keys[name] = f"param{i}"
        arrays[keys[name]] = value
    return {"name": graph.name, "inputs": list(graph.inputs), "outputs": list(graph.outputs),
            "nodes": [{"op": n.op, "name": n.name, "inputs": list(n.inputs),
                       "output": n.output, "attrs": dict(n.attrs)} for n in graph.nodes],
            "types": {k: {"shape": list(t.shape), "dtype": t.dtype, "scale": t.scale,
                          "zero_point": t.zero_point} for k, t in graph.types.items()},
            "params": keys}


def graph_from_json(d: dict, arrays: Mapping[str, np.ndarray]) -> Graph:
    """The graph described by :func:`graph_to_json`."""
    nodes = [Node(n["op"], n["name"], tuple(n["inputs"]), n["output"], n["attrs"])
             for n in d["nodes"]]
    types = {k: TensorType(tuple(t["shape"]), t["dtype"], t["scale"], t.get("zero_point", 0))
             for k, t in d["types"].items()}
    params = {name: arrays[key] for name, key in d["params"].items()}
    return Graph(d["name"], tuple(d["inputs"]), tuple(d["outputs"]), nodes, params, types)
