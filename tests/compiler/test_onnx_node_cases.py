"""ONNX's own node test cases (shipped in the onnx package) for the quantized ops, through
``vta.compiler.compile`` and execution: exact, or for a variant the kit does not support one
clear line -- never a wrong answer.

Each case's first input is the runtime input; its other inputs (weights, scales, zero
points) become constants, as they are in real models.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import vta.compiler
from vta.hw.errors import VTAError

OPS = ("QuantizeLinear", "DequantizeLinear", "QLinearConv", "QLinearMatMul", "ConvInteger",
       "MatMulInteger", "DynamicQuantizeLinear")

UNSUPPORTED = {
    # element types other than int8/uint8
    "test_quantizelinear_e4m3fn": "float8", "test_quantizelinear_e5m2": "float8",
    "test_quantizelinear_uint16": "uint16", "test_quantizelinear_int16": "int16",
    "test_quantizelinear_uint4": "uint4", "test_quantizelinear_int4": "int4",
    "test_quantizelinear_uint2": "uint2", "test_quantizelinear_int2": "int2",
    "test_quantizelinear_float4e2m1": "float4",
    "test_dequantizelinear_e4m3fn": "float8", "test_dequantizelinear_e4m3fn_float16": "float8",
    "test_dequantizelinear_e4m3fn_zero_point": "float8",
    "test_dequantizelinear_e5m2": "float8", "test_dequantizelinear_uint16": "uint16",
    "test_dequantizelinear_int16": "int16", "test_dequantizelinear_uint4": "uint4",
    "test_dequantizelinear_int4": "int4", "test_dequantizelinear_uint2": "uint2",
    "test_dequantizelinear_int2": "int2", "test_dequantizelinear_float4e2m1": "float4",
    # blocked quantization
    "test_quantizelinear_blocked_asymmetric": "blocked",
    "test_quantizelinear_blocked_symmetric": "blocked",
    "test_dequantizelinear_blocked": "blocked",
    # per-axis scales of a runtime tensor
    "test_quantizelinear_axis": "per-axis", "test_dequantizelinear_axis": "per-axis",
    # a batched (3-D) constant right operand
    "test_qlinearmatmul_3D_uint8_float32": "batched", "test_qlinearmatmul_3D_int8_float32":
        "batched", "test_qlinearmatmul_3D_uint8_float16": "batched",
    "test_qlinearmatmul_3D_int8_float16": "batched",
}
"""Cases the kit refuses, and the word its one-line error contains."""


def _cases() -> list:
    from onnx.backend.test.case.node import collect_testcases

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cases = collect_testcases(None)
    return [c for c in cases if c.model.graph.node
            and {n.op_type for n in c.model.graph.node} <= set(OPS)]


CASES = {c.name: c for c in _cases()}


def _with_constants(case):
    """The case's model with every input but the first made an initializer."""
    from onnx import numpy_helper

    model = case.model.__class__()
    model.CopyFrom(case.model)
    inputs, _ = case.data_sets[0]
    g = model.graph
    keep = g.input[0]
    for vi, value in list(zip(g.input, inputs, strict=True))[1:]:
        if isinstance(value, (np.ndarray, np.generic)) and np.asarray(value).dtype != object:
            g.initializer.append(numpy_helper.from_array(np.asarray(value), vi.name))
        else:                                    # float8, int4, ...: kept as ONNX stored it
            tensor = value.__class__()
            tensor.CopyFrom(value)
            tensor.name = vi.name
            g.initializer.append(tensor)
    del g.input[1:]
    assert g.input[0] is keep or g.input[0].name == keep.name
    return model, inputs[0]


def test_every_quantized_op_has_cases():
    ops = {n.op_type for c in CASES.values() for n in c.model.graph.node}
    assert ops == set(OPS)
    assert len(CASES) >= 20


@pytest.mark.parametrize("name", sorted(CASES))
def test_onnx_node_case(name):
    model, x = _with_constants(CASES[name])
    expected = CASES[name].data_sets[0][1]
    if name in UNSUPPORTED:
        with pytest.raises(VTAError) as info:
            vta.compiler.compile(model, "default", "fsim")
        message = str(info.value)
        assert "\n" not in message and UNSUPPORTED[name] in message, message
        return
    with vta.compiler.compile(model, "default", "fsim") as exe:
        got = exe(x)
    for out, want in zip(model.graph.output, expected, strict=True):
        value = got[out.name]
        assert value.dtype == want.dtype, (out.name, value.dtype, want.dtype)
        np.testing.assert_array_equal(value, want)
