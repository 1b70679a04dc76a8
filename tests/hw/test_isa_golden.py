"""The encoding must reproduce TVM's own C-struct bytes for the default config.

The vectors (``data/isa_vectors_default.json``, see ``data/README.md``) were encoded by TVM's
``hw_spec.h`` structs, HW_VER 0.0.2, and are carried by the repository as test data."""

import json
from pathlib import Path

import pytest
from vta.hw import VTAConfig, isa

GOLDEN = Path(__file__).resolve().parent / "data" / "isa_vectors_default.json"


@pytest.fixture(scope="module")
def golden():
    return json.loads(GOLDEN.read_text())


def test_golden_config_is_default(golden):
    cfg = VTAConfig.from_dict(golden["config"])
    assert cfg == VTAConfig.preset("default")


def test_instructions_encode_byte_for_byte(golden):
    cfg = VTAConfig.preset("default")
    assert len(golden["instructions"]) == 300
    for i, vec in enumerate(golden["instructions"]):
        insn = isa.from_dict(vec)
        assert isa.encode([insn], cfg).hex() == vec["bytes"], f"instruction {i}: {vec}"


def test_instructions_decode_to_fields(golden):
    cfg = VTAConfig.preset("default")
    data = b"".join(bytes.fromhex(v["bytes"]) for v in golden["instructions"])
    decoded = isa.decode(data, cfg)
    for vec, insn in zip(golden["instructions"], decoded, strict=True):
        expected = {k: v for k, v in vec.items() if k != "bytes"}
        assert isa.to_dict(insn) == expected


def test_uops_encode_and_decode(golden):
    cfg = VTAConfig.preset("default")
    assert len(golden["uops"]) == 50
    for vec in golden["uops"]:
        uop = isa.Uop(vec["dst_idx"], vec["src_idx"], vec["wgt_idx"])
        assert isa.encode_uops([uop], cfg).hex() == vec["bytes"]
        assert isa.decode_uops(bytes.fromhex(vec["bytes"]), cfg) == [uop]
