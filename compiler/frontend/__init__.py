"""vta.compiler.frontend: the graph IR, ONNX import and quantization."""
