"""`vta hw resources`: the yosys flow on a small Amaranth MAC design with a BRAM."""

from __future__ import annotations

import json

import pytest
from amaranth.back import verilog
from amaranth.hdl import Module, Signal, signed
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out
from vta.boards.resources import ResourceError, estimate, verdict
from vta.boards.table import Capacity, capacity_for
from vta.hw.cli import main as vta_main

N_MULS = 6


class MacLanes(wiring.Component):
    """``n`` registered int8 x int8 products summed into a 512 x 32 BRAM."""

    def __init__(self, n: int) -> None:
        self.n = n
        super().__init__({"a": In(8 * n), "b": In(8 * n), "addr": In(9), "we": In(1),
                          "acc": Out(32)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.mem = mem = memory.Memory(shape=32, depth=512, init=[])
        wr, rd = mem.write_port(), mem.read_port(transparent_for=())
        total = 0
        for i in range(self.n):
            p = Signal(signed(16), name=f"p{i}")
            m.d.sync += p.eq(self.a[8 * i:8 * i + 8].as_signed()
                             * self.b[8 * i:8 * i + 8].as_signed())
            total = total + p
        m.d.comb += [wr.addr.eq(self.addr), wr.en.eq(self.we), wr.data.eq(total),
                     rd.addr.eq(self.addr)]
        m.d.sync += self.acc.eq(rd.data)
        return m


@pytest.fixture(scope="module")
def mac_v(tmp_path_factory):
    path = tmp_path_factory.mktemp("mac") / "mac_lanes.v"
    path.write_text(verilog.convert(MacLanes(N_MULS), name="mac_lanes"))
    return path


@pytest.mark.slow
def test_counts_dsp_bram_and_the_dsp_cap(mac_v, tmp_path):
    full = estimate(mac_v, "mac_lanes", workdir=tmp_path / "full")
    muls = [m for m in full.multipliers if m.dsp_eligible]
    assert [(m.a_width, m.b_width) for m in muls] == [(8, 8)] * N_MULS
    assert full.dsp == N_MULS and full.soft_multipliers == 0
    assert full.bram36 == 0.5                       # one RAMB18 for 512 x 32
    assert full.bram_by_memory == {"mem": 0.5}
    assert full.ff >= 32
    assert (tmp_path / "full" / "synth.log").exists()


def test_verdict_lines():
    from vta.boards.resources import Resources

    z020 = capacity_for("xc7z020clg400-1")
    fits, line = verdict(Resources(20_000, 30_000, 100, 150, {}), z020)
    assert fits and line.startswith("FITS xc7z020clg400-1: LUT 20000/53200 (38%)")
    fits, line = verdict(Resources(20_000, 30_000, 143, 256, {}), z020)
    assert not fits
    assert line.startswith("DOES NOT FIT xc7z020clg400-1: BRAM36, DSP over budget")
    assert "BRAM36 143/140 (102%)" in line
    tiny = Capacity("toy", lut=100, ff=100, bram36=10, dsp=10, dsp_kind="DSP48E1")
    assert not verdict(Resources(90, 10, 0, 0, {}), tiny)[0]          # LUTs over 85%
    assert verdict(Resources(85, 10, 9, 9, {}), tiny)[0]              # BRAM/DSP at 90% ok
    fits, line = verdict(Resources(80, 10, 9.5, 9, {}), tiny)        # BRAM over 90%
    assert not fits and line.startswith("DOES NOT FIT toy: BRAM36 over budget")
    assert "BRAM/DSP within 90% of the part" in line


def test_bad_inputs(tmp_path):
    with pytest.raises(ResourceError, match="does not exist"):
        estimate(tmp_path / "none.v", "top")
    bad = tmp_path / "bad.v"
    bad.write_text("module top(input a; endmodule\n")
    with pytest.raises(ResourceError, match="yosys failed on the design"):
        estimate(bad, "top", workdir=tmp_path / "w")


@pytest.mark.slow
def test_cli_caps_dsps_and_prints_a_verdict(mac_v, capsys):
    status = vta_main(["hw", "resources", "--verilog", str(mac_v), "--top", "mac_lanes",
                       "--part", "xc7z020clg400-1", "--max-dsp", "4", "--json"])
    out = [line.strip() for line in capsys.readouterr().out.strip().splitlines()]
    assert status == 0
    counts = json.loads(out[-2])
    assert counts["used"]["DSP"] == 4 and counts["soft_multipliers"] == N_MULS - 4
    assert counts["used"]["LUT"] > 2 * 30             # two 8x8 multipliers in LUTs
    assert out[-3].startswith(f"multipliers: {N_MULS} ({N_MULS} of 8x8); 2 built from LUTs")
    assert out[-1].startswith("FITS xc7z020clg400-1")


@pytest.mark.slow
@pytest.mark.parametrize("family", ["xc7", "xcup"])
def test_packed_gemm_core_maps_one_dsp_per_pair(tmp_path, family):
    """GEMM_DSP_PACK: each pair of int8 products is one 8 x 25 multiply that synthesis
    puts in one DSP48, none in LUTs.  On a DSP48E1 (xc7) yosys also absorbs the pre-adder
    forming the packed weight, the bias (C port) and the product register (PREG); its
    DSP48E2 mapping leaves those to the fabric."""
    from vta.hw import VTAConfig
    from vta.hw.gateware.gemm import GemmCore

    cfg = VTAConfig.preset("tiny").replace(GEMM_DSP_PACK=True)
    path = tmp_path / "gemm.v"
    path.write_text(verilog.convert(GemmCore(cfg), name="gemm"))
    res = estimate(path, "gemm", family=family, workdir=tmp_path / "w")
    assert [(m.a_width, m.b_width) for m in res.multipliers] == [(8, 25)] * 8
    assert res.dsp == cfg.gemm_multipliers == cfg.macs_per_cycle // 2 == 8
    if family == "xc7":
        assert res.ff == 0, res.cells          # the product registers are PREGs


@pytest.mark.slow
def test_unpacked_gemm_core_maps_one_8x8_multiplier_per_product(tmp_path):
    """Without packing each product is written as an acc_width-bit multiply of the
    sign-extended input element (a cheaper form for the Verilated model); synthesis must
    still see one 8 x 8 multiplier per product, in a DSP, none widened by the extension."""
    from vta.hw import VTAConfig
    from vta.hw.gateware.gemm import GemmCore

    cfg = VTAConfig.preset("tiny").replace(GEMM_DSP_PACK=False)
    path = tmp_path / "gemm.v"
    path.write_text(verilog.convert(GemmCore(cfg), name="gemm"))
    res = estimate(path, "gemm", family="xc7", workdir=tmp_path / "w")
    assert [(m.a_width, m.b_width) for m in res.multipliers] == [(8, 8)] * cfg.macs_per_cycle
    assert res.dsp == cfg.macs_per_cycle


class TwoMemories(wiring.Component):
    """Two 4096 x 72 memories, one marked ram_style "ultra"."""

    def __init__(self) -> None:
        super().__init__({"addr": In(12), "data": In(72), "we": In(1), "out": Out(144)})

    def elaborate(self, platform):
        m = Module()
        outs = []
        for name, attrs in (("ultra_mem", {"ram_style": "ultra"}), ("plain_mem", {})):
            m.submodules[name] = mem = memory.Memory(shape=72, depth=4096, init=[],
                                                     attrs=attrs)
            rd, wr = mem.read_port(transparent_for=()), mem.write_port()
            m.d.comb += [rd.addr.eq(self.addr), wr.addr.eq(self.addr),
                         wr.data.eq(self.data), wr.en.eq(self.we)]
            outs.append(rd.data)
        m.d.comb += self.out.eq(outs[0] | (outs[1] << 72))
        return m


@pytest.mark.slow
def test_ultraram_only_for_memories_marked_ultra(tmp_path):
    """As Vivado: UltraRAM for ram_style "ultra", block RAM for the rest."""
    path = tmp_path / "two.v"
    path.write_text(verilog.convert(TwoMemories(), name="two"))
    res = estimate(path, "two", family="xcup", uram=True, workdir=tmp_path / "w")
    assert res.uram == 1 and res.uram_by_memory == {"ultra_mem": 1.0}
    assert res.bram_by_memory == {"plain_mem": 8.0}         # 4096 x 72 in 4K x 9 BRAM36s
    k26 = capacity_for("xck26-sfvc784-2LV-c")
    fits, line = verdict(res, k26)
    assert fits and "URAM 1/64 (2%)" in line and "BRAM/DSP/URAM within 90%" in line
    with pytest.raises(ResourceError, match="UltraRAM exists on the xcup family only"):
        estimate(path, "two", family="xc7", uram=True)
