"""The Vivado releases the board flow generates block designs for, and their IP versions.

A block-design script pins every IP by its full VLNV, and the versions (and even the IP)
change between Vivado releases, so :mod:`vta.boards.tcl` and :mod:`vta.boards.hwh` take
them from one :class:`VivadoRelease`: the release of the board's PYNQ line
(:data:`vta.driver.pynq_lines.PYNQ_LINES`).

What differs between the two releases the PYNQ lines use:

* 2024.1 (PYNQ 3.1): the control path goes through ``axi_interconnect`` 2.1, as PYNQ 3.1's
  own base overlays do, and the interrupt through the ``xlconcat`` utility IP;
* 2025.2 (PYNQ 4.0): ``smartconnect`` 1.0 for the control path (the interconnect AMD
  recommends; it converts AXI3/AXI4 to the accelerator's AXI4-Lite) and the inline-HDL
  ``ilconcat`` 1.0 for the interrupt: Vivado 2024.2 introduced the ``inline_hdl`` variants of
  the utility IPs and deprecated ``xlconcat`` & co. for removal.

The processing systems (``processing_system7`` 5.5, ``zynq_ultra_ps_e`` 3.5) and
``proc_sys_reset`` 5.0 are the same in both; the fabric clock comes from the PS in both.

Sources (read 2026): Xilinx/PYNQ v3.1 ``boards/Pynq-Z1/base/base.tcl`` and
``boards/ZCU104/base/base.tcl`` (``scripts_vivado_version 2024.1``: processing_system7:5.5,
zynq_ultra_ps_e:3.5, axi_interconnect:2.1, proc_sys_reset:5.0, xlconcat:2.1); block-design
scripts written by Vivado 2025.2 (``write_bd_tcl``, ``scripts_vivado_version 2025.2``)
listing processing_system7:5.5, proc_sys_reset:5.0, smartconnect:1.0 and
inline_hdl:ilconcat:1.0; analogdevicesinc/hdl pull request 1874 ("Update utility cores to
inline hdl variants (Vivado 2024.2+)"); no zynq_ultra_ps_e newer than 3.5 in any indexed
2025 script.
"""

from __future__ import annotations

from dataclasses import dataclass

from .table import BoardError

__all__ = ["VivadoRelease", "VIVADO_RELEASES", "vivado_release"]


@dataclass(frozen=True)
class VivadoRelease:
    """The IP a block design uses in one Vivado release (full VLNVs).

    Members
    -------
    version:
        ``version -short`` of the release (``2024.1``).
    ps7, zynqmp:
        The Zynq-7000 and ZynqMP processing systems.
    interconnect:
        The control-path interconnect: ``axi_interconnect`` (pins ``ACLK``, ``ARESETN``,
        ``S00_ACLK`` ...) or ``smartconnect`` (pins ``aclk``, ``aresetn``).
    reset:
        The processor-system reset.
    concat, concat_type:
        The interrupt concat IP and its ``create_bd_cell -type`` (``ip`` or
        ``inline_hdl``).
    """

    version: str
    ps7: str
    zynqmp: str
    interconnect: str
    reset: str
    concat: str
    concat_type: str

    @property
    def smartconnect(self) -> bool:
        return ":smartconnect:" in self.interconnect

    def ps(self, ps_kind: str) -> str:
        """The PS VLNV for a board's ``ps`` (``ps7`` or ``zynqmp``)."""
        return self.ps7 if ps_kind == "ps7" else self.zynqmp

    def interconnect_clocks(self) -> tuple[str, ...]:
        """The interconnect's clock pins (all on the fabric clock)."""
        return ("aclk",) if self.smartconnect else ("ACLK", "S00_ACLK", "M00_ACLK")

    def interconnect_resets(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(pins on the reset block's interconnect reset, pins on its peripheral reset).

        ``axi_interconnect`` takes ``ARESETN`` from the interconnect reset and its port
        resets from the peripheral reset; ``smartconnect`` has one ``aresetn``.
        """
        if self.smartconnect:
            return ("aresetn",), ()
        return ("ARESETN",), ("S00_ARESETN", "M00_ARESETN")


VIVADO_RELEASES: dict[str, VivadoRelease] = {r.version: r for r in (
    VivadoRelease("2024.1", ps7="xilinx.com:ip:processing_system7:5.5",
                  zynqmp="xilinx.com:ip:zynq_ultra_ps_e:3.5",
                  interconnect="xilinx.com:ip:axi_interconnect:2.1",
                  reset="xilinx.com:ip:proc_sys_reset:5.0",
                  concat="xilinx.com:ip:xlconcat:2.1", concat_type="ip"),
    VivadoRelease("2025.2", ps7="xilinx.com:ip:processing_system7:5.5",
                  zynqmp="xilinx.com:ip:zynq_ultra_ps_e:3.5",
                  interconnect="xilinx.com:ip:smartconnect:1.0",
                  reset="xilinx.com:ip:proc_sys_reset:5.0",
                  concat="xilinx.com:inline_hdl:ilconcat:1.0", concat_type="inline_hdl"),
)}


def vivado_release(version: str | VivadoRelease) -> VivadoRelease:
    """The release ``version`` (``2024.1``); :class:`BoardError` naming the known ones."""
    if isinstance(version, VivadoRelease):
        return version
    try:
        return VIVADO_RELEASES[str(version).strip()]
    except KeyError:
        raise BoardError(f"no block design for Vivado {version!r}; the flow targets "
                         f"{', '.join(VIVADO_RELEASES)}") from None
