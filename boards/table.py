"""The boards the kit builds for, as data.

One :class:`Board` per supported board holds everything the build flow, the resource
verdict, the simulated overlay and the docs need: the FPGA part, the processing-system
type and the names of its ports the accelerator connects to, base addresses, the fabric
clock, the AXI width and profile of the data port, DRAM bandwidth figures, the default
configuration and the fabric capacity.  Nothing else in the kit repeats these numbers.

Zynq-7000 boards (PYNQ-Z1, PYNQ-Z2) use the ``processing_system7`` PS: control through
``M_AXI_GP0`` (32-bit AXI3), data through ``S_AXI_HP0`` (64-bit AXI3), fabric clock
``FCLK_CLK0``, reset ``FCLK_RESET0_N``, interrupt ``IRQ_F2P``.  ZynqMP boards (Ultra96-V2,
ZCU104) use ``zynq_ultra_ps_e``: control through ``M_AXI_HPM0_FPD``, data through
``S_AXI_HP0_FPD`` (128-bit AXI4), clock ``pl_clk0``, reset ``pl_resetn0``, interrupt
``pl_ps_irq0``.
"""

from __future__ import annotations

from dataclasses import dataclass

from vta.hw.config import VTAConfig
from vta.hw.errors import VTAError

__all__ = ["Board", "Capacity", "BoardError", "BOARDS", "PARTS", "board", "capacity_for"]


class BoardError(VTAError):
    """An unknown board or part name, or a configuration a board cannot host."""


@dataclass(frozen=True)
class Capacity:
    """Fabric resources of one FPGA part (BRAM counted as 36 Kb blocks)."""

    part: str
    lut: int
    ff: int
    bram36: int
    dsp: int
    dsp_kind: str     # DSP48E1 (7-series) or DSP48E2 (UltraScale+)

    def as_dict(self) -> dict[str, int]:
        return {"LUT": self.lut, "FF": self.ff, "BRAM36": self.bram36, "DSP": self.dsp}


@dataclass(frozen=True)
class Board:
    """One board: part, PS, port names, address map, clock, AXI and DRAM figures.

    Members
    -------
    name, title:
        Table key (``pynq-z1``) and the vendor's name.
    part, board_part:
        The FPGA part and Vivado's board-part name (used when the board files are
        installed; the part alone is enough otherwise).
    ps:
        ``ps7`` (Zynq-7000, ``processing_system7``) or ``zynqmp`` (``zynq_ultra_ps_e``).
    ps_vlnv:
        The PS IP's VLNV without version, for ``create_bd_cell``.
    control_port, data_port, clock_pin, reset_pin, irq_pin:
        PS pins the accelerator's control slave, DRAM master, clock, reset and interrupt
        connect to.
    control_base, control_range:
        Address of the accelerator's registers in the PS's view, and the window size.
    dram_base, dram_size:
        PS DRAM as the accelerator's master sees it through the data port.
    clock_mhz:
        Fabric clock the PS generates for the accelerator.
    axi_width, axi_profile:
        Data port width in bits and profile (``axi3``: 16-beat bursts; ``axi4``).
    dram:
        A description of the board's DRAM; ``dram_peak_gbs`` its peak bandwidth and
        ``port_peak_gbs`` the data port's peak at ``clock_mhz`` (GB/s, 1e9 bytes).
    config:
        The preset name of the board's default configuration.
    pynq_image:
        Whether an official PYNQ image exists for the board (``vta board deploy``).
    """

    name: str
    title: str
    part: str
    board_part: str
    ps: str
    ps_vlnv: str
    control_port: str
    data_port: str
    clock_pin: str
    reset_pin: str
    irq_pin: str
    control_base: int
    control_range: int
    dram_base: int
    dram_size: int
    clock_mhz: int
    axi_width: int
    axi_profile: str
    dram: str
    dram_peak_gbs: float
    config: str
    pynq_image: bool = True

    @property
    def port_peak_gbs(self) -> float:
        return self.axi_width / 8 * self.clock_mhz / 1000

    @property
    def capacity(self) -> Capacity:
        return PARTS[self.part]

    @property
    def family(self) -> str:
        """``zynq`` (7-series fabric) or ``zynquplus`` (UltraScale+)."""
        return "zynq" if self.ps == "ps7" else "zynquplus"

    def default_config(self) -> VTAConfig:
        return VTAConfig.preset(self.config)

    def check_config(self, config: VTAConfig) -> None:
        """Raise :class:`BoardError` if ``config``'s bus does not match the data port.

        The accelerator's AXI master connects straight to the PS data port, so its width
        and burst profile must be the port's.
        """
        if config.BUS_WIDTH != self.axi_width:
            raise BoardError(f"config {config.name} has a {config.BUS_WIDTH}-bit bus but "
                             f"{self.name}'s {self.data_port} is {self.axi_width}-bit; use "
                             f"BUS_WIDTH={self.axi_width} (e.g. --config {self.config})")
        if config.AXI_PROFILE != self.axi_profile:
            raise BoardError(f"config {config.name} uses the {config.AXI_PROFILE} profile but "
                             f"{self.name}'s {self.data_port} needs {self.axi_profile}; use "
                             f"AXI_PROFILE={self.axi_profile!r} (e.g. --config {self.config})")

    def as_dict(self) -> dict:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["port_peak_gbs"] = self.port_peak_gbs
        d["capacity"] = self.capacity.as_dict()
        return d


PARTS: dict[str, Capacity] = {c.part: c for c in (
    Capacity("xc7z020clg400-1", lut=53_200, ff=106_400, bram36=140, dsp=220,
             dsp_kind="DSP48E1"),
    Capacity("xczu3eg-sbva484-1-i", lut=70_560, ff=141_120, bram36=216, dsp=360,
             dsp_kind="DSP48E2"),
    Capacity("xczu7ev-ffvc1156-2-e", lut=230_400, ff=460_800, bram36=312, dsp=1_728,
             dsp_kind="DSP48E2"),
)}

_PS7 = dict(ps="ps7", ps_vlnv="xilinx.com:ip:processing_system7",
            control_port="M_AXI_GP0", data_port="S_AXI_HP0", clock_pin="FCLK_CLK0",
            reset_pin="FCLK_RESET0_N", irq_pin="IRQ_F2P",
            control_base=0x43C0_0000, control_range=0x1_0000,
            dram_base=0x0000_0000, dram_size=0x2000_0000,
            clock_mhz=100, axi_width=64, axi_profile="axi3", config="pynq")
_ZYNQMP = dict(ps="zynqmp", ps_vlnv="xilinx.com:ip:zynq_ultra_ps_e",
               control_port="M_AXI_HPM0_FPD", data_port="S_AXI_HP0_FPD", clock_pin="pl_clk0",
               reset_pin="pl_resetn0", irq_pin="pl_ps_irq0",
               control_base=0xA000_0000, control_range=0x1_0000,
               dram_base=0x0000_0000, dram_size=0x8000_0000,
               axi_width=128, axi_profile="axi4")

BOARDS: dict[str, Board] = {b.name: b for b in (
    Board("pynq-z1", "Digilent PYNQ-Z1", part="xc7z020clg400-1",
          board_part="www.digilentinc.com:pynq-z1:part0:1.0",
          dram="512 MiB DDR3, 16-bit at 1050 MT/s", dram_peak_gbs=2.1, **_PS7),
    Board("pynq-z2", "TUL PYNQ-Z2", part="xc7z020clg400-1",
          board_part="tul.com.tw:pynq-z2:part0:1.0",
          dram="512 MiB DDR3, 16-bit at 1050 MT/s", dram_peak_gbs=2.1, **_PS7),
    Board("ultra96-v2", "Avnet Ultra96-V2", part="xczu3eg-sbva484-1-i",
          board_part="avnet.com:ultra96v2:part0:1.2",
          dram="2 GiB LPDDR4, 32-bit at 2133 MT/s", dram_peak_gbs=8.5,
          clock_mhz=333, config="ultra96", **_ZYNQMP),
    Board("zcu104", "Xilinx ZCU104", part="xczu7ev-ffvc1156-2-e",
          board_part="xilinx.com:zcu104:part0:1.1",
          dram="2 GiB DDR4, 64-bit at 2666 MT/s", dram_peak_gbs=21.3,
          clock_mhz=333, config="zcu104", **_ZYNQMP),
)}

# Names users type for the same board.
_ALIASES = {"pynqz1": "pynq-z1", "pynqz2": "pynq-z2", "ultra96": "ultra96-v2",
            "ultra96v2": "ultra96-v2", "zcu-104": "zcu104"}


def board(name: str | Board) -> Board:
    """Look a board up by name (case-insensitive; ``ultra96`` = ``ultra96-v2``).

    Raises
    ------
    BoardError
        The name is not in the table; the message lists the boards.
    """
    if isinstance(name, Board):
        return name
    key = str(name).strip().lower()
    key = _ALIASES.get(key, key)
    try:
        return BOARDS[key]
    except KeyError:
        raise BoardError(f"unknown board {name!r}; boards are {', '.join(BOARDS)}") from None


def capacity_for(part: str) -> Capacity:
    """The fabric capacity of ``part`` (a part of one of the boards)."""
    try:
        return PARTS[part.strip().lower()]
    except KeyError:
        raise BoardError(f"unknown part {part!r}; known parts are {', '.join(PARTS)}") from None
