"""vta.compiler.frontend: the graph IR, ONNX import, int8 quantization and the numpy
graph interpreter.

Typical use::

    from vta.compiler.frontend import import_onnx, quantize, run
    graph = import_onnx("model.onnx")          # or GraphBuilder(...).build()
    qgraph = quantize(graph, samples)           # power-of-two int8
    expected = run(qgraph, image)               # the exact expected output
"""

from .errors import ModelError
from .graph import Graph, GraphBuilder, Node, TensorType
from .interpreter import run, run_all
from .onnx_import import import_onnx
from .quantize import calibrate, quantize

__all__ = ["ModelError", "Graph", "GraphBuilder", "Node", "TensorType", "import_onnx",
           "quantize", "calibrate", "run", "run_all"]
