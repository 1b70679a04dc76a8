"""Errors of the compiler front half (graph IR, ONNX import, quantization)."""

from vta.hw.errors import VTAError

__all__ = ["ModelError"]


class ModelError(VTAError, ValueError):
    """A model or graph cannot be built, imported, quantized or run.

    The message names the node (or tensor) and the op, says what was wrong and what was
    expected, on one line.
    """
