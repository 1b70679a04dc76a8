"""docs/models.md holds the operator support table the code generates."""

from pathlib import Path

from vta.compiler.frontend.onnx_import import SUPPORTED_OPS
from vta.compiler.op_support import support_rows, support_table

DOC = Path(__file__).resolve().parents[2] / "docs" / "models.md"


def test_support_table_in_the_docs_equals_the_code():
    text = DOC.read_text()
    start = text.index("<!-- support-table:start -->\n") + len("<!-- support-table:start -->\n")
    end = text.index("\n<!-- support-table:end -->")
    assert text[start:end] == support_table(), (
        "docs/models.md is stale: paste `python -m vta.compiler.op_support` between the "
        "support-table markers")


def test_every_supported_op_has_a_row():
    assert {r[0] for r in support_rows()} == set(SUPPORTED_OPS)
