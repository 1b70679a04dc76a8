"""The boards the kit builds for, as data.

One :class:`Board` per supported board holds everything the build flow, the resource
verdict, the simulated overlay, the deploy checks and the docs need: the FPGA part, the
processing-system type and the names of its ports the accelerator connects to, base
addresses, the AXI width and profile of the data port, DRAM bandwidth figures, the default
configuration (whose ``CLOCK_MHZ`` is the clock the design targets), the fabric capacity,
and the PYNQ lines the board runs (:data:`vta.driver.pynq_lines.PYNQ_LINES`: the image's
Python and the Vivado release its block design targets come with the line).  Nothing else
in the kit repeats these numbers.

Zynq-7000 boards (PYNQ-Z1, PYNQ-Z2) use the ``processing_system7`` PS: control through
``M_AXI_GP0`` (32-bit AXI3), data through ``S_AXI_HP0`` (64-bit AXI3), fabric clock
``FCLK_CLK0``, reset ``FCLK_RESET0_N``, interrupt ``IRQ_F2P``.  ZynqMP boards (Ultra96-V2,
ZCU104) use ``zynq_ultra_ps_e``: control through ``M_AXI_HPM0_FPD``, data through
``S_AXI_HP0_FPD`` (128-bit AXI4), clock ``pl_clk0``, reset ``pl_resetn0``, interrupt
``pl_ps_irq0``.  The Kria boards (KV260, KR260) are one K26 SOM on different carriers:
the same part, PS and block design, the SOM's own board part.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from vta.driver.pynq_lines import PYNQ_LINES, PynqLine
from vta.hw.config import VTAConfig
from vta.hw.errors import VTAError

__all__ = ["Board", "Capacity", "BoardError", "BOARDS", "PARTS", "board", "capacity_for",
           "PRESET_TARGET"]

# Every board's default preset keeps every resource at or below this share of its part
# (checked by tests/boards/test_fit.py with `vta hw resources --board NAME`).
PRESET_TARGET = 0.80


class BoardError(VTAError):
    """An unknown board or part name, or a configuration a board cannot host."""


@dataclass(frozen=True)
class Capacity:
    """Fabric resources of one FPGA part (BRAM counted as 36 Kb blocks, UltraRAM as 288 Kb
    URAM288 blocks)."""

    part: str
    lut: int
    ff: int
    bram36: int
    dsp: int
    dsp_kind: str     # DSP48E1 (7-series) or DSP48E2 (UltraScale+)
    uram: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counts by resource name; ``URAM`` only for parts that have UltraRAM."""
        d = {"LUT": self.lut, "FF": self.ff, "BRAM36": self.bram36, "DSP": self.dsp}
        if self.uram:
            d["URAM"] = self.uram
        return d

    @property
    def fields(self) -> tuple[str, str, str]:
        """(device, package, speed grade) as a ``.hwh`` SYSTEMINFO names them:
        ``xc7z020clg400-1`` -> (``7z020``, ``clg400``, ``-1``); UltraScale+ parts keep
        their prefix: ``xck26-sfvc784-2LV-c`` -> (``xck26``, ``sfvc784``, ``-2LV``)."""
        pieces = self.part.split("-")
        if len(pieces) >= 3:                       # device-package-speed-temperature
            return pieces[0], pieces[1], f"-{pieces[2]}"
        m = re.fullmatch(r"xc(\d[a-z]\d+)([a-z]+\d+)-(\w+)", self.part)
        if m is None:
            raise BoardError(f"cannot split part {self.part!r} into device and package")
        return m.group(1), m.group(2), f"-{m.group(3)}"


@dataclass(frozen=True)
class Board:
    """One board: part, PS, port names, address map, AXI and DRAM figures, PYNQ lines.

    Members
    -------
    name, title:
        Table key (``pynq-z1``) and the vendor's name.
    part, board_part:
        The FPGA part and Vivado's board-part name (used when the board files are
        installed; the part alone is enough otherwise).
    ps:
        ``ps7`` (Zynq-7000, ``processing_system7``) or ``zynqmp`` (``zynq_ultra_ps_e``);
        the IP's version comes with the Vivado release (:mod:`vta.boards.vivado`).
    control_port, data_port, clock_pin, reset_pin, irq_pin:
        PS pins the accelerator's control slave, DRAM master, clock, reset and interrupt
        connect to.
    control_base, control_range:
        Address of the accelerator's registers in the PS's view, and the window size.
    dram_base, dram_size:
        PS DRAM as the accelerator's master sees it through the data port.
    axi_width, axi_profile:
        Data port width in bits and profile (``axi3``: 16-beat bursts; ``axi4``).
    dram:
        A description of the board's DRAM; ``dram_peak_gbs`` its peak bandwidth and
        ``port_peak_gbs`` the data port's peak at ``clock_mhz`` (GB/s, 1e9 bytes).
    config:
        The preset name of the board's default configuration; its ``CLOCK_MHZ`` is the
        fabric clock the design targets (:attr:`clock_mhz`).
    pynq_lines:
        The PYNQ lines (``"3.1"``, ``"4.0"``) with images for the board, the current one
        first: the default build targets its Vivado release, the deploy check accepts any.
    pynq_board:
        The name the board's PYNQ image gives it (``$BOARD``: ``Pynq-Z1``, ``KV260``).
    note:
        Where the board stands (end of life, how PYNQ gets on it), for ``board list``.
    """

    name: str
    title: str
    part: str
    board_part: str
    ps: str
    control_port: str
    data_port: str
    clock_pin: str
    reset_pin: str
    irq_pin: str
    control_base: int
    control_range: int
    dram_base: int
    dram_size: int
    axi_width: int
    axi_profile: str
    dram: str
    dram_peak_gbs: float
    config: str
    pynq_lines: tuple[str, ...]
    pynq_board: str
    note: str = ""

    @property
    def clock_mhz(self) -> int:
        """The fabric clock the design targets: the board preset's ``CLOCK_MHZ``."""
        return self.default_config().CLOCK_MHZ

    @property
    def port_peak_gbs(self) -> float:
        return self.axi_width / 8 * self.clock_mhz / 1000

    @property
    def capacity(self) -> Capacity:
        return PARTS[self.part]

    @property
    def family(self) -> str:
        """``zynq`` (7-series fabric) or ``zynquplus`` (UltraScale+), as a ``.hwh``
        names it."""
        return "zynq" if self.ps == "ps7" else "zynquplus"

    @property
    def ps_ip(self) -> str:
        """The PS IP's name (``processing_system7`` or ``zynq_ultra_ps_e``)."""
        return "processing_system7" if self.ps == "ps7" else "zynq_ultra_ps_e"

    @property
    def pynq(self) -> PynqLine:
        """The board's current PYNQ line."""
        return PYNQ_LINES[self.pynq_lines[0]]

    @property
    def python(self) -> str:
        """Python version of the current line's image."""
        return self.pynq.python

    @property
    def vivado(self) -> str:
        """The Vivado release the default block design targets (the current line's)."""
        return self.pynq.vivado

    def line(self, name: str | None = None) -> PynqLine:
        """One of the board's PYNQ lines (None: the current one).

        Raises
        ------
        BoardError
            The board has no image of that line.
        """
        if name is None:
            return self.pynq
        key = str(name).strip().removesuffix(".x")
        if key not in self.pynq_lines:
            raise BoardError(f"{self.name} has no PYNQ {name} image; its PYNQ lines are "
                             f"{', '.join(v + '.x' for v in self.pynq_lines)}")
        return PYNQ_LINES[key]

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
        if config.ULTRA_RAM and not self.capacity.uram:
            raise BoardError(f"config {config.name} puts its buffers in UltraRAM but "
                             f"{self.name}'s {self.part} has none; use ULTRA_RAM=false")

    def as_dict(self) -> dict:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["pynq_lines"] = list(self.pynq_lines)
        d.update(clock_mhz=self.clock_mhz, port_peak_gbs=self.port_peak_gbs,
                 python=self.python, vivado=self.vivado, capacity=self.capacity.as_dict())
        return d


PARTS: dict[str, Capacity] = {c.part: c for c in (
    Capacity("xc7z020clg400-1", lut=53_200, ff=106_400, bram36=140, dsp=220,
             dsp_kind="DSP48E1"),
    Capacity("xczu3eg-sbva484-1-i", lut=70_560, ff=141_120, bram36=216, dsp=360,
             dsp_kind="DSP48E2"),
    Capacity("xczu7ev-ffvc1156-2-e", lut=230_400, ff=460_800, bram36=312, dsp=1_728,
             dsp_kind="DSP48E2", uram=96),
    Capacity("xck26-sfvc784-2LV-c", lut=117_120, ff=234_240, bram36=144, dsp=1_248,
             dsp_kind="DSP48E2", uram=64),
)}

_PS7 = dict(ps="ps7", control_port="M_AXI_GP0", data_port="S_AXI_HP0",
            clock_pin="FCLK_CLK0", reset_pin="FCLK_RESET0_N", irq_pin="IRQ_F2P",
            control_base=0x43C0_0000, control_range=0x1_0000,
            dram_base=0x0000_0000, dram_size=0x2000_0000,
            axi_width=64, axi_profile="axi3", config="pynq", pynq_lines=("3.1",))
_ZYNQMP = dict(ps="zynqmp", control_port="M_AXI_HPM0_FPD", data_port="S_AXI_HP0_FPD",
               clock_pin="pl_clk0", reset_pin="pl_resetn0", irq_pin="pl_ps_irq0",
               control_base=0xA000_0000, control_range=0x1_0000,
               dram_base=0x0000_0000, dram_size=0x8000_0000,
               axi_width=128, axi_profile="axi4")
# The K26 SOM carries the DRAM (4 GiB of 64-bit DDR4), the same on every carrier; the
# accelerator reaches the low 2 GiB (DDR_LOW) as on every ZynqMP board.
_K26 = dict(part="xck26-sfvc784-2LV-c", dram="4 GiB DDR4, 64-bit at 2400 MT/s",
            dram_peak_gbs=19.2, config="k26", pynq_lines=("4.0", "3.1"), **_ZYNQMP)

BOARDS: dict[str, Board] = {b.name: b for b in (
    Board("pynq-z1", "Digilent PYNQ-Z1", part="xc7z020clg400-1",
          board_part="www.digilentinc.com:pynq-z1:part0:1.0",
          dram="512 MiB DDR3, 16-bit at 1050 MT/s", dram_peak_gbs=2.1, pynq_board="Pynq-Z1",
          note="no PYNQ 4 image (Zynq-7000 left in PYNQ 4.0): stays on PYNQ 3.1", **_PS7),
    Board("pynq-z2", "TUL PYNQ-Z2", part="xc7z020clg400-1",
          board_part="tul.com.tw:pynq-z2:part0:1.0",
          dram="512 MiB DDR3, 16-bit at 1050 MT/s", dram_peak_gbs=2.1, pynq_board="Pynq-Z2",
          note="no PYNQ 4 image (Zynq-7000 left in PYNQ 4.0): stays on PYNQ 3.1", **_PS7),
    Board("ultra96-v2", "Avnet Ultra96-V2", part="xczu3eg-sbva484-1-i",
          board_part="avnet.com:ultra96v2:part0:1.2",
          dram="2 GiB LPDDR4, 32-bit at 2133 MT/s", dram_peak_gbs=8.5, config="ultra96",
          pynq_lines=("3.1",), pynq_board="Ultra96V2",
          note="end of life in Avnet's flows (2025); no PYNQ 4 image", **_ZYNQMP),
    Board("zcu104", "Xilinx ZCU104", part="xczu7ev-ffvc1156-2-e",
          board_part="xilinx.com:zcu104:part0:1.1",
          dram="2 GiB DDR4, 64-bit at 2666 MT/s", dram_peak_gbs=21.3, config="zcu104",
          pynq_lines=("4.0", "3.1"), pynq_board="ZCU104",
          note="PYNQ 4.0's reference board", **_ZYNQMP),
    Board("kv260", "AMD Kria KV260 Vision AI Starter Kit",
          board_part="xilinx.com:kv260_som:part0:1.4", pynq_board="KV260",
          note="K26 SOM; PYNQ through Kria-PYNQ on Canonical's Ubuntu", **_K26),
    Board("kr260", "AMD Kria KR260 Robotics Starter Kit",
          board_part="xilinx.com:kr260_som:part0:1.1", pynq_board="KR260",
          note="K26 SOM (same design as the KV260); PYNQ through Kria-PYNQ", **_K26),
)}

# Names users type for the same board.
_ALIASES = {"pynqz1": "pynq-z1", "pynqz2": "pynq-z2", "ultra96": "ultra96-v2",
            "ultra96v2": "ultra96-v2", "zcu-104": "zcu104", "kv-260": "kv260",
            "kr-260": "kr260"}


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
    by_lower = {name.lower(): cap for name, cap in PARTS.items()}
    try:
        return by_lower[part.strip().lower()]
    except KeyError:
        raise BoardError(f"unknown part {part!r}; known parts are {', '.join(PARTS)}") from None
