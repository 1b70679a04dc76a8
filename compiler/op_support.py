"""The operator support table of docs/models.md, generated from the code that decides it.

For every ONNX op :func:`~vta.compiler.frontend.onnx_import.import_onnx` accepts: the graph
op(s) it becomes, what the quantizer makes of it, where it runs (VTA layer ops come from
:data:`vta.compiler.partition.VTA_OPS`; CPU kernels are llvmlite where
:data:`vta.compiler.cpu.executor.LLVM_OPS` has one, else the reference's numpy
implementation) and the attributes it accepts (:data:`.onnx_import.ATTRIBUTE_LIMITS`).
``python -m vta.compiler.op_support`` prints it; a test checks the page holds this text.
"""

from __future__ import annotations

__all__ = ["support_rows", "support_table"]

# ONNX op -> (graph op after import, what an int8 graph holds in its place)
_IR: dict[str, tuple[str, str]] = {
    "Conv": ("conv2d", "qconv2d"), "ConvInteger": ("qconv2d (int32 out) [, sub_zero_point]",
                                              "qconv2d"),
    "QLinearConv": ("qconv2d", "qconv2d"), "ConvTranspose": ("conv_transpose2d",
                                                            "qconv_transpose2d"),
    "Gemm": ("dense / matmul", "qdense / qmatmul"), "MatMul": ("dense / matmul",
                                                               "qdense / qmatmul"),
    "MatMulInteger": ("qdense (int32 out) [, sub_zero_point]", "qdense"),
    "QLinearMatMul": ("qdense", "qdense"),
    "BatchNormalization": ("batch_norm", "folded into the conv/dense, else float"),
    "Relu": ("relu", "fused clip, else qlut"), "Clip": ("clip", "fused clip, else qlut"),
    "Add": ("add", "qadd (fused residual), float when broadcast"),
    "Mul": ("mul", "folded per-channel, qlut by a scalar, else float"),
    "Sub": ("sub", "qlut by a scalar, else float"), "Div": ("div", "qlut by a scalar, else float"),
    "Pow": ("pow", "qlut"), "PRelu": ("prelu", "qlut (one slope), else float"),
    "MaxPool": ("max_pool", "int8 max_pool"), "AveragePool": ("avg_pool", "int8 avg_pool"),
    "GlobalAveragePool": ("global_avg_pool", "int8"), "GlobalMaxPool": ("global_max_pool",
                                                                         "int8"),
    "ReduceMean": ("reduce_mean / global_avg_pool", "int8"), "ReduceMax": ("reduce_max", "int8"),
    "Softmax": ("softmax", "float"), "LayerNormalization": ("layer_norm", "float"),
    "Flatten": ("flatten", "int8 view"), "Reshape": ("reshape", "int8 view"),
    "Squeeze": ("reshape", "int8 view"), "Unsqueeze": ("reshape", "int8 view"),
    "Transpose": ("transpose", "int8"), "Pad": ("pad", "int8"), "Slice": ("slice", "int8"),
    "Split": ("slice (one per output)", "int8"), "Concat": ("concat", "int8 (rescaled)"),
    "Gather": ("gather", "int8 (tables quantized)"), "Resize": ("resize", "int8"),
    "Upsample": ("resize", "int8"), "Cast": ("cast", "float"),
    "Identity": ("(alias)", "-"), "Dropout": ("(alias)", "-"), "Constant": ("(constant)", "-"),
    "QuantizeLinear": ("quantize (the model's scale; a QDQ layer's output)",
                       "the model's own scales"),
    "DequantizeLinear": ("dequantize (lazy; constants keep their integers)",
                         "the model's own scales"),
    "DynamicQuantizeLinear": ("dynamic_quantize (y, scale, zero point: one node each)",
                              "uint8 with a runtime scale"),
    "QGemm": ("qdense", "qdense"),
    "QLinearAdd": ("dequantize, add, quantize", "float"),
    "QLinearMul": ("dequantize, mul, quantize", "float"),
    "QLinearConcat": ("concat (inputs rescaled by qlut)", "int8 concat"),
    "QLinearAveragePool": ("dequantize, avg_pool, quantize", "float"),
    "QLinearGlobalAveragePool": ("dequantize, global_avg_pool, quantize", "float"),
    "QLinearLeakyRelu": ("qlut", "qlut (exact)"), "QLinearSigmoid": ("qlut", "qlut (exact)"),
    "QLinearSoftmax": ("dequantize, softmax, quantize", "float"),
}
_UNARY = {"Sigmoid": "sigmoid", "Tanh": "tanh", "Exp": "exp", "Log": "log", "Erf": "erf",
          "Sqrt": "sqrt", "Reciprocal": "reciprocal", "Neg": "neg", "Abs": "abs",
          "Softplus": "softplus", "Mish": "mish", "HardSigmoid": "hard_sigmoid",
          "HardSwish": "hard_swish", "LeakyRelu": "leaky_relu", "Elu": "elu", "Selu": "selu",
          "Gelu": "gelu"}
_VTA_NOTE = {"qconv2d": "VTA (any groups, dilation, pads <= 15 and below the kernel span, "
                        "input zero points; when it pays), else CPU",
             "qconv_transpose2d": "VTA as stride^2 sub-convolutions (no dilation, stride <= "
                                  "kernel, no zero point, power-of-two scales, when it pays), "
                                  "else CPU",
             "qdense": "VTA (leading axes of a 2-D/3-D input as rows; a matmul of two "
                       "activations as one GEMM per batch index; when it pays), else CPU"}


def support_rows() -> list[tuple[str, str, str, str, str]]:
    """``(ONNX op, graph op, int8 graph, runs on, accepts)`` for every supported op."""
    from .cpu.executor import LLVM_OPS
    from .frontend.onnx_import import ATTRIBUTE_LIMITS, FOLDABLE_OPS, SUPPORTED_OPS
    from .partition import VTA_OPS

    rows = []
    for op in sorted(SUPPORTED_OPS):
        if op in FOLDABLE_OPS:
            rows.append((op, "-", "-", "folded at import (constants and shapes)", ""))
            continue
        ir, q = _IR.get(op) or (_UNARY[op], "qlut (one int8 table per chain)")
        parts = [p.strip() for p in q.replace("fused residual", "").split("/")]
        first = parts[0].split()[0]
        if first in VTA_OPS and "int32 out" in ir:    # ConvInteger, MatMulInteger
            where = "CPU (numpy; the accelerator stores int8, not int32 sums)"
        elif first in VTA_OPS:
            where = _VTA_NOTE[first]
        elif first == "qlut" or q.startswith("int8") or first in ("qmatmul", "qadd"):
            kernel = "llvmlite" if first in LLVM_OPS or ir.split()[0] in LLVM_OPS else "numpy"
            where = f"CPU ({kernel})"
        elif q == "-":
            where = "-"
        else:
            kernel = "llvmlite" if ir.split()[0] in LLVM_OPS else "numpy"
            where = f"CPU ({kernel})"
        rows.append((op, ir, q, where, ATTRIBUTE_LIMITS.get(op, "")))
    return rows


def support_table() -> str:
    """The rows as the Markdown table of docs/models.md."""
    lines = ["| ONNX op | graph op | in the int8 graph | runs on | accepts |",
             "|---|---|---|---|---|"]
    lines += [f"| {' | '.join(r)} |" for r in support_rows()]
    return "\n".join(lines)


if __name__ == "__main__":
    print(support_table())
