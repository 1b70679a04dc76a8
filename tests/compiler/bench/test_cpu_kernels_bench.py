"""``vta bench cpu-kernels``: every case runs and is timed against numpy and onnxruntime;
JSON and table."""

import json

from vta.hw.cli import main


def test_json_record_has_every_case(capsys):
    assert main(["bench", "cpu-kernels", "--repeat", "1", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    cases = record["cases"]
    assert len(cases) == 14 and cases[0]["case"].startswith("conv C1")
    assert all(c["kernel_us"] > 0 and c["numpy_us"] > 0 and c["onnxruntime_us"] > 0 for c in cases)
    assert record["build_seconds"] >= 0 and record["host"]


def test_table_ends_with_the_verdict(capsys):
    assert main(["bench", "cpu-kernels", "--repeat", "1"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[1].split()[:3] == ["case", "kit", "us"] and len(lines) == 2 + 14 + 1
    assert lines[-1] == "every kernel at least as fast as onnxruntime" \
        or lines[-1].startswith("slower than onnxruntime: ")
