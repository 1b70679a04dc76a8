"""The Verilator harness, build cache and ctypes binding, on a small real AXI design.

The design is tests/sim/verilator_copier.py (an AXI master DMA copier with ``vta_top``'s
port names), so these tests do not depend on the accelerator's gateware.  Its sequential
burst loop makes the cycle count an exact function of the DRAM model's latencies.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from vta.hw.ports import Port, PortError, ports_from_manifest
from vta.hw.regmap import CTRL_DONE, REGISTERS
from vta.hw.toolchain import ToolError
from vta.sim.dram import Dram
from vta.sim.verilator import build as vbuild
from vta.sim.verilator.build import BuildError, build_library, cache_root
from vta.sim.verilator.glue import (
    clock_trigger_member,
    clocked_eval,
    port_glue,
    ports_from_verilog,
    regmap_header,
)
from vta.sim.verilator.model import DramTiming, VerilatorError, VerilatorModel

from tests.sim.verilator_copier import copier_verilog

pytestmark = pytest.mark.slow     # the first run compiles two small models (~15 s each)

CTRL, COUNT, SRC, DST, KEY, CYCLES = 0x00, 0x10, 0x14, 0x18, 0x1C, 0x20


@pytest.fixture(scope="session")
def copier64():
    return build_library(copier_verilog(64), progress=False)


@pytest.fixture(scope="session")
def copier128():
    return build_library(copier_verilog(128, axi4=True, max_burst=64), progress=False)


def _copy(model: VerilatorModel, src: int, dst: int, beats: int, key: int) -> int:
    model.write_reg(COUNT, beats)
    model.write_reg(SRC, src)
    model.write_reg(DST, dst)
    model.write_reg(KEY, key)
    model.write_reg(CTRL, 1)
    assert model.run_until_done(1_000_000)
    assert model.read_reg(CTRL) & 0b110 == 0b110          # done and idle
    return model.read_reg(CYCLES)


def _bursts(beats: int, max_burst: int) -> list[int]:
    out = []
    while beats:
        out.append(min(beats, max_burst))
        beats -= out[-1]
    return out


@pytest.mark.parametrize("rd_lat,wr_lat", [(1, 1), (10, 5), (32, 32)])
def test_copy_is_exact_and_cycles_follow_the_latencies(copier64, rd_lat, wr_lat):
    dram = Dram(1 << 16)
    src, dst = dram.alloc(8 * 40), dram.alloc(8 * 40)
    data = np.random.default_rng(rd_lat).integers(0, 256, 8 * 40, dtype=np.uint8)
    dram.write(src, data)
    with VerilatorModel(copier64, dram, timing=DramTiming(rd_lat, wr_lat)) as model:
        assert model.bus_bytes == 8
        cycles = _copy(model, src, dst, 40, 0x5A)
        assert model.interrupt
        stats = model.dram_stats()
    np.testing.assert_array_equal(dram.view(dst, 320), data ^ 0x5A)
    # Per burst of n beats: NEXT, AR (accepted at once), the first beat rd_lat cycles after
    # AR, n beats, AW, n beats (WREADY from the cycle after AW), B wr_lat cycles after the
    # last beat; plus the final NEXT.
    expected = sum(1 + rd_lat + n + 1 + n + wr_lat for n in _bursts(40, 16)) + 1
    assert cycles == expected
    assert stats["read_bytes"] == stats["write_bytes"] == 320
    assert stats["read_bursts"] == stats["write_bursts"] == 3


def test_wide_bus_and_page_split(copier128):
    """128-bit data (a VlWide port), 64-beat AXI4 bursts cut at a 4 KiB page boundary."""
    dram = Dram(1 << 16)
    buf = dram.alloc(3 * 4096, align=4096)
    src, dst = buf + 4096 - 16 * 20, buf + 8192     # 20 beats, then the page ends
    data = np.random.default_rng(7).integers(0, 256, 16 * 100, dtype=np.uint8)
    dram.write(src, data)
    with VerilatorModel(copier128, dram, timing=DramTiming(3, 3)) as model:
        assert model.bus_bytes == 16
        _copy(model, src, dst, 100, 0x00)
        stats = model.dram_stats()
    np.testing.assert_array_equal(dram.view(dst, 1600), data)
    assert stats["read_bursts"] == 3        # 20 (to the page end), 64, 16


def test_bandwidth_limit_slows_the_data_phases(copier64):
    dram = Dram(1 << 16)
    src, dst = dram.alloc(8 * 64), dram.alloc(8 * 64)
    data = np.arange(8 * 64, dtype=np.uint32).astype(np.uint8)
    dram.write(src, data)
    with VerilatorModel(copier64, dram, timing=DramTiming(4, 4)) as model:
        full = _copy(model, src, dst, 64, 1)
        model.set_timing(DramTiming(4, 4, bytes_per_cycle=2))   # a quarter beat per cycle
        quarter = _copy(model, src, dst, 64, 2)
    np.testing.assert_array_equal(dram.view(dst, 512), data ^ 2)
    # Each burst of 16 beats, read and written, now moves a beat every 4 cycles: the first
    # beat rides on the credit banked while waiting, each later one costs 3 more cycles.
    assert quarter - full == 4 * 2 * 15 * 3


def test_access_outside_memory_gets_error_responses(copier64):
    """A burst outside the memory is answered SLVERR (zero data, nothing written), as an
    interconnect would: the design sees the error and the run goes on."""
    dram = Dram(1 << 16)
    dst = dram.alloc(64)
    with VerilatorModel(copier64, dram) as model:
        model.write_reg(COUNT, 4)
        model.write_reg(SRC, dram.base + dram.size - 16)     # runs off the end
        model.write_reg(DST, dst)
        model.write_reg(CTRL, 1)
        assert model.run_until_done(10_000)
        assert model.dram_stats()["error_bursts"] == 1
        assert not dram.read(dst, 32).strip(b"\0")          # zero data was copied
        model.write_reg(DST, dram.base + dram.size)          # writes off the end
        model.write_reg(SRC, dst)
        model.write_reg(CTRL, 1)
        assert model.run_until_done(10_000)
        assert model.dram_stats()["error_bursts"] == 2


def test_cycle_limit_and_bad_register_offset(copier64):
    dram = Dram(1 << 16)
    src, dst = dram.alloc(8 * 256), dram.alloc(8 * 256)
    with VerilatorModel(copier64, dram) as model:
        model.write_reg(COUNT, 256)
        model.write_reg(SRC, src)
        model.write_reg(DST, dst)
        model.write_reg(CTRL, 1)
        before = model.cycle
        assert not model.run_until_done(50)
        assert 50 <= model.cycle - before <= 53       # plus the poll in flight, completed
        with pytest.raises(VerilatorError, match="multiple of 4"):
            model.read_reg(0x13)


def test_register_reads_after_a_cycle_limit_answer_the_register_asked(copier64):
    """A run slice that ends in the middle of a CTRL poll completes that poll: the host's
    next register read gets its own register, not the poll's CTRL value (which used to
    shift every later read by one -- a timed-out run then reported garbage positions)."""
    dram = Dram(1 << 16)
    src, dst = dram.alloc(8 * 256), dram.alloc(8 * 256)
    with VerilatorModel(copier64, dram) as model:
        model.write_reg(SRC, src)
        model.write_reg(DST, dst)
        model.write_reg(COUNT, 256)
        model.write_reg(CTRL, 1)
        for n in range(1, 9):                 # the limit falls in every phase of a poll
            assert not model.run_until_done(n)
            assert model.read_reg(COUNT) == 256          # CTRL reads 0 while running
            assert model.read_reg(KEY) == 0              # write-only: reads 0
            assert model.read_reg(COUNT) == 256
        assert model.run_until_done(1_000_000)


def test_two_instances_are_independent(copier64):
    d1, d2 = Dram(1 << 16), Dram(1 << 16)
    a = [d.alloc(64) for d in (d1, d2)]
    b = [d.alloc(64) for d in (d1, d2)]
    d1.write(a[0], bytes(range(64)))
    d2.write(a[1], bytes(range(100, 164)))
    m1, m2 = VerilatorModel(copier64, d1), VerilatorModel(copier64, d2)
    _copy(m1, a[0], b[0], 8, 0)
    _copy(m2, a[1], b[1], 8, 0)
    assert d1.read(b[0], 64) == bytes(range(64))
    assert d2.read(b[1], 64) == bytes(range(100, 164))
    m1.close()
    with pytest.raises(VerilatorError, match="closed"):
        m1.step(1)
    m2.close()


def test_cached_build_is_found_fast(copier64):
    again = build_library(copier_verilog(64), progress=False)
    assert again.cached and again.library == copier64.library
    assert again.seconds < 1.0


def test_trace_window(tmp_path):
    built = build_library(copier_verilog(64), trace="vcd", progress=False)
    assert built.digest != build_library(copier_verilog(64), progress=False).digest
    dram = Dram(1 << 16)
    src, dst = dram.alloc(64), dram.alloc(64)
    vcd = tmp_path / "copy.vcd"
    with VerilatorModel(built, dram) as model:
        start = model.cycle + 10
        model.trace(vcd, start, start + 20)
        _copy(model, src, dst, 8, 0)
        model.close_trace()
    text = vcd.read_text()
    assert "m_axi_gmem_ARVALID" in text
    times = [int(line[1:]) for line in text.splitlines() if line.startswith("#")]
    assert min(times) == 2 * start and max(times) == 2 * (start + 20) - 1


def test_untraced_build_refuses_trace(copier64, tmp_path):
    with VerilatorModel(copier64, Dram(1 << 16)) as model, \
            pytest.raises(VerilatorError, match="without tracing"):
        model.trace(tmp_path / "x.vcd")


# ------------------------------------------------------------------ build and port glue
def test_ports_parsed_from_verilog_and_glue_types():
    ports = ports_from_verilog(copier_verilog(128, axi4=True))
    by_name = {p.name: p for p in ports}
    assert by_name["m_axi_gmem_RDATA"] == Port("m_axi_gmem_RDATA", "in", 128)
    assert by_name["m_axi_gmem_ARLEN"].width == 8 and "m_axi_gmem_WID" not in by_name
    glue = port_glue(ports)
    assert "t->m_axi_gmem_RDATA.data()" in glue and "#define VTA_BUS_BYTES 16" in glue
    glue64 = port_glue(ports_from_verilog(copier_verilog(64)))
    assert "&t->m_axi_gmem_RDATA, p, 8" in glue64


def test_manifest_ports_and_missing_port():
    ports = ports_from_verilog(copier_verilog(64))
    manifest = {"ports": [{"name": p.name, "direction": "output" if p.direction == "out"
                           else "input", "width": p.width} for p in ports]}
    assert ports_from_manifest(manifest) == ports
    with pytest.raises(PortError, match="lacks port.*m_axi_gmem_RLAST"):
        port_glue([p for p in ports if p.name != "m_axi_gmem_RLAST"])
    with pytest.raises(PortError, match="no module 'vta_top'"):
        ports_from_verilog("module other(a); input a; endmodule")


def test_harness_register_constants_come_from_the_register_map():
    header = regmap_header()
    for reg in REGISTERS:
        assert f"#define VTA_REG_{reg.name} {reg.offset:#04x}u" in header
    assert f"#define VTA_CTRL_DONE {CTRL_DONE:#x}u" in header
    harness = (Path(vbuild.__file__).parent / "harness.cpp").read_text()
    assert '#include "vta_regmap.h"' in harness
    assert "VTA_REG_CTRL" in harness and "VTA_CTRL_DONE" in harness
    assert not re.search(r"CTRL\w* = |0x[0-9a-fA-F]+;", harness)   # no offsets of its own


def test_missing_compiler_is_named(monkeypatch):
    monkeypatch.setenv("CXX", "no-such-c++-compiler")
    with pytest.raises(ToolError, match="no C\\+\\+ compiler 'no-such-c\\+\\+-compiler'"):
        build_library(copier_verilog(64) + "\n// uncached variant\n", progress=False)


def test_verilator_error_is_quoted(tmp_path, monkeypatch):
    monkeypatch.setenv("VTA_CACHE_DIR", str(tmp_path))
    bad = copier_verilog(64).replace("endmodule", "wire broken = ;\nendmodule", 1)
    with pytest.raises(BuildError, match="verilator failed on vta_top.v: .*Error"):
        build_library(bad, progress=False)


def test_cache_root_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("VTA_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "xdg" / "vta-kit"
    monkeypatch.setenv("VTA_CACHE_DIR", str(tmp_path / "mine"))
    assert cache_root() == tmp_path / "mine"
    assert vbuild.LIBRARY_NAME == "libvtasim.so"


def test_dram_timing_defaults_and_validation():
    from vta.hw import VTAConfig

    assert DramTiming.for_config(VTAConfig.preset("pynq")).read_latency == 32
    assert DramTiming.for_config(VTAConfig.preset("ultra96")).write_latency == 48
    with pytest.raises(VerilatorError, match="max_reads must be in"):
        DramTiming(max_reads=0)
    with pytest.raises(VerilatorError, match="read_latency must be an integer"):
        DramTiming(read_latency=-1)


# ------------------------------------------------------------ single-evaluation cycles
def test_quiet_cycles_take_one_evaluation_and_count_the_same(copier64):
    """The copier's memory-port outputs are fed by state only: quiet cycles skip the low
    clock phase, and the cycle count is the exact one the two-phase harness gives."""
    ready_follows = build_library(copier_verilog(64, ready_follows_valid=True),
                                  progress=False)
    counts = {}
    for name, built in (("registered", copier64), ("ready follows valid", ready_follows)):
        dram = Dram(1 << 16)
        src, dst = dram.alloc(8 * 100), dram.alloc(8 * 100)
        data = (np.arange(800) % 251).astype(np.uint8)
        dram.write(src, data)
        with VerilatorModel(built, dram, timing=DramTiming(10, 5)) as model:
            counts[name] = _copy(model, src, dst, 100, 0)
            np.testing.assert_array_equal(dram.view(dst, 800), data)
            if name == "registered":
                assert model.single_evaluation and model.clocked_evaluation
                assert model.fast_cycles > model.cycle // 2
                # Waiting out the DRAM latency, the inputs do not change: those cycles run
                # the clocked regions only.
                assert 0 < model.quiet_cycles < model.fast_cycles
            else:       # RREADY depends on the RVALID input: two evaluations every cycle
                assert not model.single_evaluation and model.fast_cycles == 0
                assert model.quiet_cycles == 0
    # RREADY only matters while RVALID is high, so both designs take the same cycles.
    assert counts["registered"] == counts["ready follows valid"]


def test_clock_trigger_member_refuses_outputs_fed_by_inputs():
    ports = [Port("m_axi_gmem_RREADY", "out", 1), Port("s_axi_control_ARREADY", "out", 1)]
    header = "    CData/*0:0*/ __Vtrigprevexpr___TOP__ap_clk__0;\n"
    ico = ("void Vvta_top___024root___ico_sequent__TOP__0(Vvta_top___024root* vlSelf) {\n"
           "    vlSelfRef.PORT = (1U & vlSelfRef.x);\n}\n")
    nba = ("void Vvta_top___024root___nba_sequent__TOP__0(Vvta_top___024root* vlSelf) {\n"
           "    vlSelfRef.m_axi_gmem_RREADY = vlSelfRef.y;\n}\n")
    member = "__Vtrigprevexpr___TOP__ap_clk__0"
    internal = ico.replace("PORT", "vta_top__DOT__x")
    # Assigned after the clock edge only, or a control-port output: allowed.
    assert clock_trigger_member(header, {"a.cpp": internal, "b.cpp": nba}, ports) == member
    assert clock_trigger_member(
        header, {"a.cpp": ico.replace("PORT", "s_axi_control_ARREADY")}, ports) == member
    # A memory-port output computed from inputs: two evaluations per cycle (in either of
    # the spellings Verilator uses for the model's members).
    assert clock_trigger_member(header, {"a.cpp": ico.replace("PORT", "m_axi_gmem_RREADY")},
                                ports) is None
    arrow = ico.replace("vlSelfRef.PORT", "vlSelf->m_axi_gmem_RREADY")
    assert clock_trigger_member(header, {"a.cpp": arrow}, ports) is None
    # Nothing recognisable in the input-combinational code, or a trigger named otherwise:
    # the check cannot vouch for the design, so two evaluations per cycle.
    assert clock_trigger_member(header, {"a.cpp": nba}, ports) is None
    assert clock_trigger_member("", {"a.cpp": internal}, ports) is None


def test_clocked_eval_needs_exactly_the_three_phases():
    """glue.clocked_eval accepts the eval() Verilator 5 generates -- the ico loop, then the
    act/nba loops through bool phase functions -- and refuses any other shape."""
    root = "Vvta_top___024root"
    phases = "".join(f"bool {root}___eval_phase__{p}({root}* vlSelf) {{\n    return 0;\n}}\n"
                     for p in ("ico", "act", "nba"))
    body = (f"void {root}___eval({root}* vlSelf) {{\n"
            "    auto& vlSelfRef = std::ref(*vlSelf).get();\n"
            "    do {\n"
            f"        vlSelfRef.__VicoPhaseResult = {root}___eval_phase__ico(vlSelf);\n"
            "    } while (vlSelfRef.__VicoPhaseResult);\n"
            "    do {\n"
            "        do {\n"
            f"            vlSelfRef.__VactPhaseResult = {root}___eval_phase__act(vlSelf);\n"
            "        } while (vlSelfRef.__VactPhaseResult);\n"
            f"        vlSelfRef.__VnbaPhaseResult = {root}___eval_phase__nba(vlSelf);\n"
            "    } while (vlSelfRef.__VnbaPhaseResult);\n"
            "}\n")
    assert clocked_eval({"a.cpp": phases, "b.cpp": body})
    # Another region, phases in another order, or no bool phase functions: whole evals.
    extra = body.replace("    do {\n        do {", f"    {root}___eval_phase__pre(vlSelf);\n"
                         "    do {\n        do {")
    assert not clocked_eval({"a.cpp": phases, "b.cpp": extra})
    swapped = body.replace("__act(vlSelf)", "__tmp(vlSelf)").replace(
        "__nba(vlSelf)", "__act(vlSelf)").replace("__tmp(vlSelf)", "__nba(vlSelf)")
    assert not clocked_eval({"a.cpp": phases, "b.cpp": swapped})
    assert not clocked_eval({"a.cpp": phases.replace("bool ", "void "), "b.cpp": body})
    assert not clocked_eval({"a.cpp": phases})
