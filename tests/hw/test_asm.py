"""The text assembly form: round trips, parse errors, and the ``vta asm``/``disasm`` CLI."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from vta.hw import IsaError, VTAConfig, asm, isa
from vta.hw.cli import main
from vta.hw.isa import Opcode

CFG = VTAConfig()
CLASSES = {Opcode.LOAD: isa.Load, Opcode.STORE: isa.Store, Opcode.GEMM: isa.Gemm,
           Opcode.FINISH: isa.Finish, Opcode.ALU: isa.Alu}


@st.composite
def instructions(draw):
    opcode = draw(st.sampled_from(sorted(CLASSES)))
    fields = isa.layout_for(CFG).formats[opcode]
    return CLASSES[opcode](**{f.name: draw(st.integers(f.lo, f.hi)) for f in fields
                              if f.name != "opcode"})


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(instructions(), min_size=1, max_size=6))
def test_text_round_trip(insns):
    assert asm.parse_program(asm.format_program(insns)) == insns


def test_uop_text_round_trip():
    uops = [isa.Uop(1, 2, 3), isa.Uop(0, 0, 0), isa.Uop(2047, 2047, 1023)]
    assert asm.parse_program(asm.format_program(uops)) == uops


PROGRAM = """\
# a small program
LOAD INP sram_base=0 dram_base=0x1000 y_size=1 x_size=16 x_stride=16 push_next
GEMM pop_prev uop_bgn=0 uop_end=1 iter_out=1 iter_in=16 src_factor_in=1   ; comment
ALU MAX use_imm iter_out=1 iter_in=16 dst_factor_in=1 src_factor_in=1 imm=-3
FINISH
"""


def test_parse_example():
    insns = asm.parse_program(PROGRAM)
    assert [type(i) for i in insns] == [isa.Load, isa.Gemm, isa.Alu, isa.Finish]
    assert insns[0].memory_type == isa.MemType.INP and insns[0].push_next == 1
    assert insns[0].dram_base == 0x1000
    assert insns[2].alu_opcode == isa.AluOp.MAX and insns[2].imm == -3


@pytest.mark.parametrize("text,message", [
    ("JUMP x=1", "unknown op 'JUMP'"),
    ("GEMM sram_base=1", "GEMM has no field 'sram_base'"),
    ("GEMM uop_bgn=abc", "field uop_bgn needs an integer, not 'abc'"),
    ("LOAD INP banana", "unexpected word 'banana'"),
    ("FINISH\nUOP dst_idx=1", "mixes UOP lines with instructions"),
])
def test_parse_errors_name_the_line(text, message):
    with pytest.raises(IsaError, match=message):
        asm.parse_program(text, "prog.s")


def test_cli_asm_and_disasm(tmp_path, capsys):
    src = tmp_path / "prog.s"
    src.write_text(PROGRAM)
    binary = tmp_path / "prog.bin"
    assert main(["asm", str(src), "-o", str(binary)]) == 0
    assert binary.read_bytes() == isa.encode(asm.parse_program(PROGRAM), CFG)
    capsys.readouterr()

    assert main(["disasm", str(binary), "--format", "text"]) == 0
    text = capsys.readouterr().out
    assert asm.parse_program(text) == asm.parse_program(PROGRAM)

    assert main(["disasm", str(binary), "--format", "json"]) == 0
    items = json.loads(capsys.readouterr().out)
    assert [d["op"] for d in items] == ["LOAD", "GEMM", "ALU", "FINISH"]
    assert items[0]["memory_type"] == 2 and items[0]["memory_type_name"] == "INP"
    assert items[2]["alu_opcode"] == 1 and items[2]["imm"] == -3
    assert [isa.from_dict(d) for d in items] == asm.parse_program(PROGRAM)


def test_cli_uops_and_tiny_config(tmp_path, capsys):
    src = tmp_path / "uops.s"
    src.write_text("UOP dst_idx=3 src_idx=4 wgt_idx=5\n")
    binary = tmp_path / "uops.bin"
    assert main(["asm", str(src), "-o", str(binary), "--config", "tiny"]) == 0
    capsys.readouterr()
    assert main(["disasm", str(binary), "--uops", "--format", "json", "--config", "tiny"]) == 0
    assert json.loads(capsys.readouterr().out) == [{"dst_idx": 3, "src_idx": 4, "wgt_idx": 5}]


def test_cli_errors_are_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.s"
    bad.write_text("FINISH\nGEMM uop_bgn=99999\n")
    assert main(["asm", str(bad), "-o", str(tmp_path / "x.bin")]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("vta: error: ") and "uop_bgn=99999 out of range" in err
    assert main(["disasm", str(tmp_path / "missing.bin")]) == 2
    assert "cannot read" in capsys.readouterr().err
    odd = tmp_path / "odd.bin"
    odd.write_bytes(b"\0" * 20)
    assert main(["disasm", str(odd)]) == 2
    assert "not a multiple of 16 bytes" in capsys.readouterr().err


def test_cli_asm_refuses_binary_empty_and_unwritable(tmp_path, capsys):
    binary = tmp_path / "prog.bin"
    binary.write_bytes(bytes([0x03, 0xA6, 0xFF, 0x00]))
    assert main(["asm", str(binary), "-o", str(tmp_path / "x.bin")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "is not a text program: byte 1 (0xa6)" in err
    empty = tmp_path / "empty.s"
    empty.write_text("# nothing here\n\n")
    assert main(["asm", str(empty), "-o", str(tmp_path / "e.bin")]) == 2
    assert "holds no instructions" in capsys.readouterr().err
    assert not (tmp_path / "e.bin").exists()
    ok = tmp_path / "ok.s"
    ok.write_text("FINISH\n")
    assert main(["asm", str(ok), "-o", str(tmp_path / "nodir" / "out.bin")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "cannot write" in err and "No such file" in err
