"""``vta sim run`` and the DRAM image format."""

import numpy as np
import pytest
from vta.driver import DeviceError
from vta.driver.dram_image import DramImage
from vta.hw import VTAConfig, isa
from vta.hw.cli import main

BASE = 0x1000_0000


def test_image_round_trip_and_errors(tmp_path):
    image = DramImage()
    image.add(BASE, b"abc")
    image.add(BASE + 64, bytes(range(10)))
    path = tmp_path / "img.bin"
    image.save(path)
    assert DramImage.load(path) == image
    with pytest.raises(DeviceError, match="overlaps"):
        image.add(BASE + 1, b"x")
    (tmp_path / "bad.bin").write_bytes(b"nonsense")
    with pytest.raises(DeviceError, match="not a DRAM image"):
        DramImage.load(tmp_path / "bad.bin")
    with pytest.raises(DeviceError, match="claims 10 bytes"):
        DramImage.from_bytes(image.to_bytes()[:-1])


def test_sim_run_executes_program_with_image(tmp_path, capsys, alu_program):
    cfg = VTAConfig.preset("tiny")
    values = np.arange(cfg.batch * cfg.block_out, dtype=np.int32) * 3 - 7
    out_addr = alu_program(tmp_path, cfg, values)["out"]
    status = main(["sim", "run", str(tmp_path / "prog.bin"), "--device", "fsim",
                   "--dram", str(tmp_path / "in.img"), "--output", str(tmp_path / "out.img"),
                   "--config", "tiny"])
    out = capsys.readouterr().out
    assert status == 0
    assert "ALU_UOPS" in out and "INSN_DONE     6" in out
    result = dict(DramImage.load(tmp_path / "out.img").segments)
    got = np.frombuffer(result[out_addr], dtype=np.int8)
    assert np.array_equal(got, np.maximum(values, 0).astype(np.int8))


def test_sim_run_errors_are_one_line(tmp_path, capsys):
    (tmp_path / "odd.bin").write_bytes(b"\0" * 5)
    assert main(["sim", "run", str(tmp_path / "odd.bin")]) == 2
    assert "vta: error: " in capsys.readouterr().err
    assert main(["sim", "run", str(tmp_path / "missing.bin")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_sim_run_output_must_be_a_writable_file_before_running(tmp_path, capsys):
    prog = tmp_path / "p.bin"
    prog.write_bytes(isa.encode([isa.Finish()], VTAConfig.preset("default")))
    assert main(["sim", "run", str(prog), "--output", str(tmp_path)]) == 2
    err = capsys.readouterr()
    assert "is a folder" in err.err and "cycles" not in err.out        # refused before the run
    assert main(["sim", "run", str(prog), "--output", str(tmp_path / "no" / "x.img")]) == 2
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["sim", "run", str(prog), "--max-cycles", "0"])


def test_sim_run_max_cycles_stops_a_long_run_in_one_line(tmp_path, capsys):
    """``--max-cycles N`` on an RTL device: a legal 268M-cycle GEMM is aborted at N cycles
    with one line saying where each module was (pysim had no cycle limit at all)."""
    prog = tmp_path / "long.bin"
    prog.write_bytes(isa.encode([isa.Gemm(), isa.Gemm(uop_end=1, iter_out=16383,
                                                       iter_in=16383), isa.Finish()],
                                VTAConfig.preset("tiny")))
    assert main(["sim", "run", str(prog), "--device", "pysim", "--config", "tiny",
                 "--max-cycles", "400"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("vta: error: pysim: run of 3 instructions at ")
    assert "or 400 cycles: compute busy; fetch routed 3 of 3 instructions" in err
