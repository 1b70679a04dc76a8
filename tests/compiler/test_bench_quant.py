"""``vta bench quant``'s rows on a small zoo model: the kit's quantizer, onnxruntime's QDQ
model run fused and unfused (ONNX's definition), and the kit on onnxruntime's models with
the parity columns filled in."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
from vta.compiler.bench import quant


@pytest.fixture(scope="module")
def resnet8_rows():
    model, calib, evals = quant.zoo_case("resnet8", calibration=2, images=2)
    return quant.bench_model("resnet8", model, calib, evals, None,
                             modes={"kit pow2": {}})


def test_rows_cover_every_variant_once(resnet8_rows):
    variants = [r.variant for r in resnet8_rows]
    assert variants == ["float", "kit pow2", "onnxruntime QDQ", "onnxruntime QDQ unfused",
                        "kit on ORT QDQ", "onnxruntime QOperator", "kit on ORT QOperator",
                        "onnxruntime dynamic", "kit on ORT dynamic"]
    table = quant.format_rows(resnet8_rows)
    assert "onnxruntime QDQ unfused" in table and "nan" not in table


def test_parity_columns_are_filled_where_two_executions_are_compared(resnet8_rows):
    by_variant = {r.variant: r for r in resnet8_rows}
    for variant in ("onnxruntime QDQ unfused", "kit on ORT QDQ", "kit on ORT QOperator"):
        row = by_variant[variant]
        assert 0 <= row.identical <= 1 and 0 <= row.agreement <= 1, variant
        assert row.max_steps >= 0 and (row.identical < 1) == (row.max_steps > 0), variant
    assert by_variant["onnxruntime QDQ"].identical is None


def test_unfused_session_turns_graph_optimizations_off():
    model, _, _ = quant.zoo_case("resnet8", calibration=2, images=0)
    level = ort.GraphOptimizationLevel
    fused = quant._ort_session(model).get_session_options()
    literal = quant._ort_session(model, fused=False).get_session_options()
    assert fused.graph_optimization_level != level.ORT_DISABLE_ALL
    assert literal.graph_optimization_level == level.ORT_DISABLE_ALL


def test_parity_counts_steps_and_top1():
    kit = np.array([[0.0, 0.5, 1.0], [1.0, 0.0, 0.0]], np.float32)
    ref = np.array([[0.0, 0.5, 1.5], [0.0, 0.5, 0.0]], np.float32)
    identical, steps, top1 = quant._parity(kit, ref, 0.5)
    assert identical == pytest.approx(3 / 6) and steps == 2 and top1 == 0.5
