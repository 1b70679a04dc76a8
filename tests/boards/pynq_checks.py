"""The PYNQ code path against a simulated board; runs inside a venv of one PYNQ line.

Collected only when named explicitly: ``test_pynq_path.py`` creates a venv per PYNQ line
(``pynq==3.1.2`` and ``pynq==4.0.0``, numpy<2) and runs ``pytest
tests/boards/pynq_checks.py`` in each.  Here the real ``pynq`` package of that line parses
the generated ``.hwh`` and the unchanged ``vta.driver`` ``pynq`` backend drives the Verilator
model of the generated Verilog through ``pynq.Overlay``, ``pynq.MMIO`` and
``pynq.allocate``; results must equal fsim's bit for bit.  The simulated board is one the
line has images for: a PYNQ-Z1 (Zynq-7000) on 3.1, a KV260 (ZynqMP) on 4.0.
"""

from __future__ import annotations

import numpy as np
import pynq
import pytest
from pynqmetadata.frontends import Metadata
from vta.boards.hwh import hwh_xml
from vta.boards.pynq_sim import SimBusError, SimulatedPynqDevice, make_sim_overlay
from vta.boards.table import BOARDS
from vta.driver import DeviceDeadlock, DeviceProgramError, DeviceTimeout, open_device
from vta.driver.pynq_lines import PYNQ_LINES, PynqVersionError, check_pynq, line_of
from vta.hw import isa
from vta.hw.config import VTAConfig
from vta.hw.program_errors import ErrorKind
from vta.hw.regmap import BY_NAME, REGISTERS
from vta.sim.dram import Dram
from vta.sim.progen import random_program

LINE = line_of(pynq.__version__)
SIM_BOARD = {"3.1": "pynq-z1", "4.0": "kv260"}[LINE.line]


def small_config(board) -> VTAConfig:
    """The tiny core on the board's bus (width, profile) at the board's clock."""
    return VTAConfig.preset("tiny").replace(BUS_WIDTH=board.axi_width,
                                            AXI_PROFILE=board.axi_profile,
                                            CLOCK_MHZ=board.clock_mhz)


CONFIG = small_config(BOARDS[SIM_BOARD])


def test_the_installed_pynq_is_a_supported_line():
    assert LINE is not None and pynq.__version__ == LINE.tested
    assert check_pynq(pynq, arch="x86_64") is LINE
    # this line's own metadata parser (pynq.metadata in 3.1, pynqmetadata.views in 4.0)
    assert LINE.parser_class().__module__.startswith(LINE.metadata_parser.split(":")[0])
    assert SIM_BOARD in [n for n, b in BOARDS.items() if LINE.line in b.pynq_lines]


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_pynq_parses_the_hwh_of_every_board(name, tmp_path):
    board = BOARDS[name]
    cfg = board.default_config()
    path = tmp_path / "design.hwh"
    line = LINE.line if LINE.line in board.pynq_lines else None
    path.write_text(hwh_xml(board, cfg, pynq_line=line))
    parser = LINE.parser_class()(Metadata(input=path))
    ip = parser.ip_dict["vta_0"]
    assert ip["phys_addr"] == board.control_base
    assert ip["addr_range"] == board.control_range
    assert ip["parameters"]["VTA_CONFIG"] == cfg.name
    regs = ip["registers"]
    assert {r.name: r.offset for r in REGISTERS} == \
        {k: v["address_offset"] for k, v in regs.items()}
    clock = parser.clock_dict[0]
    # the PS divides its IO PLL: the achieved rate is within 10% of the request
    assert clock["enable"] == 1
    achieved = 1000 if board.ps == "ps7" else 1500
    assert abs(achieved / (clock["divisor0"] * clock["divisor1"]) - cfg.CLOCK_MHZ) \
        <= cfg.CLOCK_MHZ / 10
    assert parser.family_ps == board.ps_ip


def test_a_line_refuses_the_families_it_has_no_images_for(model):
    text, built = model
    others = [n for n, b in BOARDS.items() if not LINE.supports_family(b.family)]
    assert others == ([] if LINE.line == "3.1" else ["pynq-z1", "pynq-z2"])
    for name in others:
        with pytest.raises(PynqVersionError, match=rf"PYNQ {LINE.tested} on {name} "
                                                   rf"\(Zynq-7000\) cannot run"):
            SimulatedPynqDevice(name, small_config(BOARDS[name]), built, text)
    assert set(PYNQ_LINES) == {"3.1", "4.0"}


@pytest.fixture(scope="module")
def model():
    from vta.sim.verilator.build import build_library, verilog_for_config

    text, ports = verilog_for_config(CONFIG, progress=False)
    return text, build_library(text, ports=ports, progress=False)


@pytest.fixture
def board(model, tmp_path):
    text, built = model
    sim = SimulatedPynqDevice(SIM_BOARD, CONFIG, built, text)
    bit = make_sim_overlay(SIM_BOARD, CONFIG, tmp_path, text)
    yield sim, bit
    sim.close()


def test_overlay_sets_the_clock_and_binds_the_ip(board):
    sim, bit = board
    assert sim.arch == {"ps7": "armv7l", "zynqmp": "aarch64"}[BOARDS[SIM_BOARD].ps]
    assert sim.fclk0_mhz == 0.0
    dev = open_device("pynq", CONFIG, bitstream=bit, device=sim)
    assert dev.pynq_line is LINE
    assert dev.overlay.is_loaded()
    # set by pynq.ps.Clocks: from the divisors (3.1) or the achieved frequency (4.0)
    assert sim.fclk0_mhz == pytest.approx(CONFIG.CLOCK_MHZ, rel=0.01)
    assert dev.base_address == BOARDS[SIM_BOARD].control_base
    # Through PYNQ's own register map, from the .hwh
    assert dev.overlay.vta_0.register_map.CTRL.address == BY_NAME["CTRL"].offset
    assert dev.read_reg(BY_NAME["CTRL"].offset) & 0b100         # idle
    dev.close()


def _place(dev, scratch: Dram):
    """Copy a scratch DRAM image into one device buffer at the same addresses."""
    used = max(scratch.base + off + n for off, n in scratch._live.items())
    buf = dev.alloc(used - scratch.base, 4096)
    assert buf.addr == scratch.base, "the device's first buffer must start at DRAM base"
    buf.copy_in(scratch.mem[:used - scratch.base])
    return buf


@pytest.mark.parametrize("seed", [1, 2])
def test_random_programs_match_fsim(board, seed):
    sim, bit = board
    scratch = Dram(8 << 20, base=sim.dram.base)
    prog = random_program(CONFIG, np.random.default_rng(seed), scratch, n_blocks=3,
                          virtual_threads=bool(seed % 2))
    ref = open_device("fsim", CONFIG, dram=Dram(8 << 20, base=sim.dram.base))
    ref.memory.mem[:] = scratch.mem
    ref.run(prog.insn_addr, prog.insn_count)
    expected = prog.read_outputs(ref.memory)

    dev = open_device("pynq", CONFIG, bitstream=bit, device=sim)
    buf = _place(dev, scratch)
    flushes = sim.flushes
    result = dev.run(prog.insn_addr, prog.insn_count, timeout=60)
    assert sim.flushes > flushes and sim.invalidates > 0
    got = buf.view()
    for (addr, n), want in zip(prog.outputs, expected, strict=True):
        assert got[addr - buf.addr:addr - buf.addr + n].tobytes() == want
    assert result.cycles > 0 and result.counters["INSN_DONE"] > 0
    dev.close()


def test_deadlock_is_flagged_by_the_hardware_with_fsims_message(board):
    sim, bit = board
    dev = open_device("pynq", CONFIG, bitstream=bit, device=sim)
    # A GEMM that pops a load->compute token nobody pushes, then FINISH.
    insns = [isa.Gemm(pop_prev=1, reset=1, uop_bgn=0, uop_end=1, iter_out=1, iter_in=1),
             isa.Finish()]
    data = isa.encode(insns, CONFIG)
    buf = dev.alloc(len(data), 4096)
    buf.copy_in(np.frombuffer(data, np.uint8))
    with pytest.raises(DeviceDeadlock) as err:
        dev.run(buf.addr, len(insns), timeout=30)
    assert isinstance(err.value, DeviceTimeout)
    assert str(err.value) == ("deadlock before FINISH: compute blocked at instruction 0 "
                              "(GEMM) waiting for a load->compute token")
    dev.close()


def test_program_errors_read_from_the_board_and_the_board_recovers(board):
    """A bad program raises fsim's error on the board too; the next program runs."""
    sim, bit = board
    dev = open_device("pynq", CONFIG, bitstream=bit, device=sim)
    ref = open_device("fsim", CONFIG)
    bad = [isa.Store(y_size=1, x_size=1, x_stride=1, x_pad_0=1), isa.Finish()]
    errors = []
    for d in (dev, ref):
        data = isa.encode(bad, CONFIG)
        buf = d.alloc(len(data), 4096)
        buf.copy_in(np.frombuffer(data, np.uint8))
        with pytest.raises(DeviceProgramError) as err:
            d.run(buf.addr, len(bad), timeout=30)
        errors.append((err.value.kind, str(err.value)))
    assert errors[0] == errors[1] and errors[0][0] == ErrorKind.PADS
    good = isa.encode([isa.Gemm(), isa.Finish()], CONFIG)
    buf = dev.alloc(len(good), 4096)
    buf.copy_in(np.frombuffer(good, np.uint8))
    assert dev.run(buf.addr, 2, timeout=30).counters["INSN_DONE"] == 2
    dev.close()


def test_bus_errors_and_foreign_images(board, tmp_path):
    sim, bit = board
    with pytest.raises(SimBusError, match="no bitstream loaded"):
        pynq.MMIO(BOARDS[SIM_BOARD].control_base, 0x100, device=sim).read(0)
    other = make_sim_overlay(SIM_BOARD, CONFIG, tmp_path / "other", "module other; endmodule")
    with pytest.raises(SimBusError, match="other Verilog"):
        pynq.Overlay(str(other), device=sim)


def test_compiled_network_matches_fsim(board):
    """Two conv layers and a dense layer (int8, requantized) through the PYNQ path."""
    from vta.compiler import ops

    sim, bit = board
    rng = np.random.default_rng(7)
    b = CONFIG.block
    data = rng.integers(-128, 128, (1, 2, 6, 6, 1, b), dtype=np.int8)
    w1 = rng.integers(-8, 8, (2, 2, 3, 3, b, b), dtype=np.int8)
    w2 = rng.integers(-8, 8, (2, 2, 3, 3, b, b), dtype=np.int8)
    bias = rng.integers(-500, 500, 2 * b, dtype=np.int32)

    def network(dev):
        x = ops.conv2d(dev, data, w1, bias, padding=1, shift=5, clip=(0, 127))
        x = ops.conv2d(dev, x, w2, padding=1, stride=2, shift=6, clip=(0, 127))
        flat = x.reshape(1, -1, 1, b)                      # (N/B, K/BLOCK, B, BLOCK)
        wd = np.random.default_rng(8).integers(-8, 8, (2, flat.shape[1], b, b), dtype=np.int8)
        return x, ops.dense(dev, flat, wd, shift=4, clip=(-128, 127))

    ref = open_device("fsim", CONFIG)
    want = network(ref)
    dev = open_device("pynq", CONFIG, bitstream=bit, device=sim)
    got = network(dev)
    for g, w in zip(got, want, strict=True):
        assert g.dtype == np.int8 and np.array_equal(g, w)
    assert np.any(got[1] != 0)
    dev.close()
