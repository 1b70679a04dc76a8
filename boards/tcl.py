"""Vivado TCL that turns the generated Verilog into ``<name>.bit`` and ``<name>.hwh``.

The script is self-contained and relative to its own folder, and written for one Vivado
release (:mod:`vta.boards.vivado`: the release of the board's PYNQ line unless another is
chosen) whose IP it pins by full VLNV; run in another release it stops with one line
saying which release to use.  It creates a project for the board's part, a block design
with the processing system (Zynq-7000 ``processing_system7`` or ZynqMP
``zynq_ultra_ps_e``), the accelerator as a module reference of the generated wrapper, an
interconnect (``axi_interconnect`` or ``smartconnect``, per release) from the PS's
general-purpose master to the accelerator's control port, the accelerator's master
straight on a high-performance (non-coherent) PS port, the fabric clock at the config's
frequency, a processor-system reset and the interrupt to the PS (through ``xlconcat`` or
the inline-HDL ``ilconcat``).  It assigns the control port the board's base address, runs
synthesis, implementation and bitstream generation, fails on negative slack, and copies
the bitstream and hardware handoff next to itself for PYNQ's ``Overlay``.

Run it with :func:`vivado_command` (``vivado -mode batch -source build.tcl``).
"""

from __future__ import annotations

from vta.hw.config import VTAConfig

from .table import Board
from .vivado import vivado_release
from .wrapper import WRAPPER_MODULE

__all__ = ["vivado_tcl", "vivado_command", "TCL_NAME", "ACCEL_CELL", "BD_NAME"]

TCL_NAME = "build.tcl"
ACCEL_CELL = "vta_0"
BD_NAME = "vta_bd"


def _ps7_properties(board: Board, config: VTAConfig) -> dict[str, str]:
    return {
        "PCW_USE_M_AXI_GP0": "1",
        "PCW_USE_S_AXI_HP0": "1",
        "PCW_S_AXI_HP0_DATA_WIDTH": str(config.BUS_WIDTH),
        "PCW_EN_CLK0_PORT": "1",
        "PCW_EN_RST0_PORT": "1",
        "PCW_FPGA0_PERIPHERAL_FREQMHZ": str(config.CLOCK_MHZ),
        "PCW_USE_FABRIC_INTERRUPT": "1",
        "PCW_IRQ_F2P_INTR": "1",
    }


def _zynqmp_properties(board: Board, config: VTAConfig) -> dict[str, str]:
    return {
        "PSU__USE__M_AXI_GP0": "1",          # M_AXI_HPM0_FPD
        "PSU__USE__M_AXI_GP1": "0",
        "PSU__USE__M_AXI_GP2": "0",
        "PSU__MAXIGP0__DATA_WIDTH": "32",
        "PSU__USE__S_AXI_GP2": "1",          # S_AXI_HP0_FPD
        "PSU__SAXIGP2__DATA_WIDTH": str(config.BUS_WIDTH),
        "PSU__FPGA_PL0_ENABLE": "1",
        "PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ": str(config.CLOCK_MHZ),
        "PSU__USE__IRQ0": "1",
    }


def _dict(props: dict[str, str]) -> str:
    return " \\\n    ".join(f"CONFIG.{k} {{{v}}}" for k, v in props.items())


def vivado_tcl(board: Board, config: VTAConfig, *, name: str, sources: list[str],
               max_dsp: int | None = None, jobs: int = 4,
               pynq_line: str | None = None) -> str:
    """The build script's text.

    Parameters
    ----------
    board, config:
        Target board and accelerator configuration (``board.check_config`` passed).
    pynq_line:
        The PYNQ line (``"3.1"``, ``"4.0"``) the bitstream is for: the script is written
        for its Vivado release (default: the board's current line).
    name:
        Base name of the outputs: ``<name>.bit`` and ``<name>.hwh`` beside the script.
    sources:
        Verilog file names relative to the script's folder; the wrapper module
        ``vta_bd_top`` must be among them.
    max_dsp:
        Cap on DSP blocks for synthesis (``synth_design -max_dsp``); multipliers past it
        are built from LUTs.  None: no cap.
    jobs:
        Parallel Vivado jobs for the runs.
    """
    line = board.line(pynq_line)
    pynq_line = line.line
    release = vivado_release(line.vivado)
    ps7 = board.ps == "ps7"
    props = _ps7_properties(board, config) if ps7 else _zynqmp_properties(board, config)
    clk, rst, irq = board.clock_pin, board.reset_pin, board.irq_pin
    ctrl, data = board.control_port, board.data_port
    ctrl_clk = f"{ctrl}_ACLK" if ps7 else "maxihpm0_fpd_aclk"
    data_clk = f"{data}_ACLK" if ps7 else "saxihp0_fpd_aclk"
    automation = f"xilinx.com:bd_rule:{board.ps_ip}"
    auto_cfg = '{make_external "FIXED_IO, DDR" apply_board_preset "$preset" Master "Disable" ' \
               'Slave "Disable"}' if ps7 else '{apply_board_preset "$preset"}'
    src_list = " ".join(f"[file join $here {s}]" for s in sources)
    max_dsp_tcl = ""
    if max_dsp is not None:
        max_dsp_tcl = (f"# The part is short of DSP blocks for {config.gemm_multipliers} "
                       f"GEMM multipliers: cap them, the rest are built from LUTs.\n"
                       f"set_property -name {{STEPS.SYNTH_DESIGN.ARGS.MORE OPTIONS}} "
                       f"-value {{-max_dsp {max_dsp}}} -objects [get_runs synth_1]\n")
    version_error = (f"this script is for Vivado $vivado_release (PYNQ {pynq_line}), not "
                     f"[version -short]: run it there, or generate the build of another "
                     f"PYNQ line with `vta board build --pynq LINE`")
    ic_kind = "SmartConnect" if release.smartconnect else "AXI interconnect"
    ic_clocks = " ".join(f"[get_bd_pins ctrl_ic/{p}]" for p in release.interconnect_clocks())
    ic_rst, ic_periph_rst = release.interconnect_resets()
    ic_rst_tcl = " ".join(f"[get_bd_pins ctrl_ic/{p}]" for p in ic_rst)
    ic_periph_tcl = "".join(f" [get_bd_pins ctrl_ic/{p}]" for p in ic_periph_rst)
    ram = (" Input, weight and accumulator buffers carry ram_style \"ultra\" (UltraRAM)."
           if config.ULTRA_RAM else "")
    return f"""\
# Generated by vta-kit: vta board build --board {board.name} --config {config.name}
# Board {board.title}: part {board.part}, {board.ps} PS, {config.CLOCK_MHZ} MHz fabric clock,
# {config.AXI_PROFILE.upper()} {config.BUS_WIDTH}-bit data port {data}, control port {ctrl}.{ram}
# Written for Vivado {release.version}: run it there (vivado -mode batch -source {TCL_NAME},
# from this folder or any other).
# Outputs: {name}.bit and {name}.hwh beside this script (load with pynq.Overlay).

# The IP below is pinned to Vivado {release.version}'s versions.
set vivado_release {release.version}
if {{[version -short] ne $vivado_release}} {{
    error "{version_error}"
}}

set here [file dirname [file normalize [info script]]]
set name {name}
set part {board.part}
set board_part {board.board_part}
set bd {BD_NAME}
set jobs {jobs}

create_project -force $name [file join $here vivado] -part $part
# The board preset configures the PS's DDR and MIO for the board; without the board files
# the part alone still builds (PYNQ's boot image configures the PS, the overlay only the PL).
set preset 0
if {{[llength [get_board_parts -quiet $board_part]] > 0}} {{
    set_property board_part $board_part [current_project]
    set preset 1
}} else {{
    puts "WARNING: board files for $board_part are not installed; building for part $part"
}}

add_files -norecurse [list {src_list}]
set_property top {WRAPPER_MODULE} [current_fileset]
update_compile_order -fileset sources_1

create_bd_design $bd

# Processing system: {ctrl} for control, {data} (non-coherent HP port) for DRAM.
set ps [create_bd_cell -type ip -vlnv {release.ps(board.ps)} ps]
apply_bd_automation -rule {automation} -config {auto_cfg} $ps
set_property -dict [list \\
    {_dict(props)} \\
] $ps

# The accelerator, as a module reference of the generated wrapper.
set vta [create_bd_cell -type module -reference {WRAPPER_MODULE} {ACCEL_CELL}]

# Reset synchronised to the fabric clock.
set rst [create_bd_cell -type ip -vlnv {release.reset} rst_ps]

# {ic_kind}: PS {ctrl} -> accelerator s_axi_control (protocol and width conversion).
set ic [create_bd_cell -type ip -vlnv {release.interconnect} ctrl_ic]
set_property -dict [list CONFIG.NUM_SI {{1}} CONFIG.NUM_MI {{1}}] $ic

# Interrupt: accelerator interrupt -> PS {irq}.
set irq [create_bd_cell -type {release.concat_type} -vlnv {release.concat} irq_concat]
set_property -dict [list CONFIG.NUM_PORTS {{1}}] $irq

# Clock: PS {clk} ({config.CLOCK_MHZ} MHz) drives everything.
set clk_pin [get_bd_pins ps/{clk}]
connect_bd_net $clk_pin \\
    [get_bd_pins ps/{ctrl_clk}] [get_bd_pins ps/{data_clk}] \\
    [get_bd_pins {ACCEL_CELL}/ap_clk] [get_bd_pins rst_ps/slowest_sync_clk] \\
    {ic_clocks}
connect_bd_net [get_bd_pins ps/{rst}] [get_bd_pins rst_ps/ext_reset_in]
connect_bd_net [get_bd_pins rst_ps/interconnect_aresetn] {ic_rst_tcl}
connect_bd_net [get_bd_pins rst_ps/peripheral_aresetn] \\
    [get_bd_pins {ACCEL_CELL}/ap_rst_n]{ic_periph_tcl}

# Buses.
connect_bd_intf_net [get_bd_intf_pins ps/{ctrl}] [get_bd_intf_pins ctrl_ic/S00_AXI]
connect_bd_intf_net [get_bd_intf_pins ctrl_ic/M00_AXI] \\
    [get_bd_intf_pins {ACCEL_CELL}/s_axi_control]
connect_bd_intf_net [get_bd_intf_pins {ACCEL_CELL}/m_axi_gmem] [get_bd_intf_pins ps/{data}]
connect_bd_net [get_bd_pins {ACCEL_CELL}/interrupt] [get_bd_pins irq_concat/In0]
connect_bd_net [get_bd_pins irq_concat/dout] [get_bd_pins ps/{irq}]

# Address map: registers at {board.control_base:#010x} ({board.control_range // 1024} KiB);
# the accelerator's master sees all of the PS DRAM.
assign_bd_address -offset {board.control_base:#010x} -range {board.control_range // 1024}K \\
    -target_address_space [get_bd_addr_spaces ps/Data] \\
    [get_bd_addr_segs -of_objects [get_bd_intf_pins {ACCEL_CELL}/s_axi_control]]
assign_bd_address

validate_bd_design
save_bd_design
set bd_file [get_files $bd.bd]
# Global synthesis so the whole design, accelerator included, sees the synthesis options.
set_property synth_checkpoint_mode None $bd_file
generate_target all $bd_file
set wrapper [make_wrapper -files $bd_file -top]
add_files -norecurse $wrapper
set_property top [file rootname [file tail $wrapper]] [current_fileset]
update_compile_order -fileset sources_1

{max_dsp_tcl}launch_runs impl_1 -to_step write_bitstream -jobs $jobs
wait_on_run impl_1
if {{[get_property PROGRESS [get_runs impl_1]] != "100%"}} {{
    error "implementation failed: see [file join $here vivado] ($name.runs/impl_1)"
}}
set wns [get_property STATS.WNS [get_runs impl_1]]
if {{$wns < 0}} {{
    error "timing not met at {config.CLOCK_MHZ} MHz (WNS $wns ns): lower CLOCK_MHZ in the config"
}}

# Outputs for PYNQ: <name>.bit and <name>.hwh side by side.
set bit [lindex [glob -nocomplain [file join $here vivado $name.runs impl_1 *.bit]] 0]
file copy -force $bit [file join $here $name.bit]
set hwh [lindex [get_files -all -of_objects $bd_file $bd.hwh] 0]
if {{$hwh eq ""}} {{
    set hwh [lindex [glob -nocomplain [file join $here vivado $name.gen sources_1 bd $bd \\
        hw_handoff $bd.hwh] [file join $here vivado $name.srcs sources_1 bd $bd \\
        hw_handoff $bd.hwh]] 0]
}}
file copy -force $hwh [file join $here $name.hwh]
puts "vta-kit: wrote [file join $here $name.bit] and [file join $here $name.hwh] (WNS $wns ns)"
"""


def vivado_command(tcl_path: str) -> list[str]:
    """The one command that runs the build where Vivado is installed."""
    return ["vivado", "-mode", "batch", "-nojournal", "-nolog", "-source", tcl_path]
