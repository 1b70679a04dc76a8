"""Shared fixtures of the driver tests."""

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from vta.driver.dram_image import DramImage
from vta.hw import VTAConfig, isa

BASE = 0x1000_0000


@pytest.fixture
def alu_program() -> Callable[..., dict[str, int]]:
    """``write(folder, cfg, values)``: a six-instruction program (load a uop and one ACC
    row of int32 ``values``, ``max(x, 0)`` on the ALU, store it) as ``folder/prog.bin`` and
    its DRAM image as ``folder/in.img``; returns the DRAM addresses it uses by name."""

    def write(folder: Path, cfg: VTAConfig, values: np.ndarray) -> dict[str, int]:
        addr = {"uop": BASE + 0x1000, "acc": BASE + 0x2000, "out": BASE + 0x3000}
        image = DramImage()
        image.add(addr["uop"], isa.encode_uops([isa.Uop(0, 0, 0)], cfg))
        image.add(addr["acc"], np.asarray(values, np.int32).tobytes())
        image.add(addr["out"], bytes(cfg.out_elem_bytes))
        image.save(folder / "in.img")
        program = [
            isa.Load(memory_type=isa.MemType.UOP, dram_base=addr["uop"] // cfg.uop_elem_bytes,
                     y_size=1, x_size=1, x_stride=1),
            isa.Load(memory_type=isa.MemType.ACC, dram_base=addr["acc"] // cfg.acc_elem_bytes,
                     y_size=1, x_size=1, x_stride=1),
            isa.Alu(uop_end=1, iter_out=1, iter_in=1, alu_opcode=isa.AluOp.MAX, use_imm=1,
                    imm=0, push_next=1),
            isa.Store(pop_prev=1, push_prev=1, dram_base=addr["out"] // cfg.out_elem_bytes,
                      y_size=1, x_size=1, x_stride=1),
            isa.Load(memory_type=isa.MemType.UOP, pop_next=1),
            isa.Finish(),
        ]
        (folder / "prog.bin").write_bytes(isa.encode(program, cfg))
        return addr

    return write
