"""The ``pynq`` backend: the accelerator in a PYNQ overlay, driven through PYNQ's own API.

:class:`PynqDevice` loads ``<name>.bit`` + ``<name>.hwh`` with ``pynq.Overlay``, binds to
the accelerator's IP (``vta_0``) through ``pynq.MMIO``, allocates physically contiguous
buffers with ``pynq.allocate`` and keeps them coherent by hand: PYNQ buffers on Zynq are
cacheable and not coherent with the accelerator's HP port, so every buffer is flushed
before a run (the device reads it) and invalidated after (the device wrote it).  Runs use
the register protocol of :class:`~vta.driver.register_device.RegisterDevice`; done is
polled over MMIO with a back-off; an invalid program raises the
:class:`~vta.driver.errors.DeviceProgramError` fsim gives (read from the hardware's error
registers); a run that does not finish in time is aborted (CTRL bit 3) and raises
:class:`DeviceTimeout` naming where each module was.

PYNQ is imported only when a device is opened, so the rest of the kit never needs it; a
missing PYNQ is one clear :class:`DeviceError`, and so is a PYNQ release the kit does not
support (:func:`vta.driver.pynq_lines.check_pynq`: PYNQ 3.1.x and 4.0.x, the latter not on
Zynq-7000).  The same code runs on a board and in CI against a simulated ``pynq.Device``
(``vta.boards.pynq_sim``) through both PYNQ lines.

Where the bitstream comes from, first match: ``bitstream=`` argument, the
``VTA_PYNQ_BITSTREAM`` environment variable, the newest bitstream of this config in the
kit's bitstream cache (``vta board build``).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np
from vta.hw.config import VTAConfig
from vta.hw.regmap import REGMAP_BYTES
from vta.hw.toolchain import cache_root

from .device import Buffer
from .errors import DeviceError
from .pynq_lines import check_pynq
from .register_device import RegisterDevice

__all__ = ["PynqDevice", "open_device", "import_pynq", "IP_NAME", "BITSTREAM_ENV"]

IP_NAME = "vta_0"
BITSTREAM_ENV = "VTA_PYNQ_BITSTREAM"


def import_pynq() -> Any:
    """Import PYNQ or raise one line saying how to get it."""
    try:
        import pynq
    except ImportError as e:
        raise DeviceError(f"the pynq backend needs PYNQ ({e}): on a board use PYNQ's own "
                          f"Python; elsewhere pip install 'vta-kit[pynq]' (numpy<2)") from None
    return pynq


def _find_bitstream(config: VTAConfig, bitstream: str | Path | None) -> Path:
    if bitstream is None:
        bitstream = os.environ.get(BITSTREAM_ENV) or None
    if bitstream is None:
        root = cache_root()
        found = sorted((root / "bitstreams").glob(f"*/{config.name}-*/*.bit"),
                       key=lambda p: p.stat().st_mtime)
        if not found:
            raise DeviceError(f"no bitstream for config {config.name}: pass bitstream=PATH, "
                              f"set {BITSTREAM_ENV}, or build one with `vta board build`")
        bitstream = found[-1]
    path = Path(bitstream)
    if not path.is_file():
        raise DeviceError(f"bitstream {path} does not exist")
    if not path.with_suffix(".hwh").is_file():
        raise DeviceError(f"{path.with_suffix('.hwh')} is missing: PYNQ needs the hardware "
                          f"handoff next to the bitstream")
    return path


class PynqDevice(RegisterDevice):
    """The accelerator of a loaded PYNQ overlay.

    Parameters
    ----------
    config:
        The configuration the bitstream was built for (checked against the overlay's
        ``VTA_CONFIG`` parameter when the hardware handoff carries it).
    bitstream:
        Path of ``<name>.bit`` (see the module docstring for the defaults).
    device:
        A ``pynq.Device`` (default: PYNQ's active device).
    download:
        Program the fabric (False: attach to an overlay that is already loaded).
    ip_name:
        The accelerator's instance name in the block design.
    poll_interval:
        Longest sleep between two polls of CTRL, in seconds.

    Raises
    ------
    DeviceError
        PYNQ missing or of an unsupported release (:class:`~vta.driver.pynq_lines.
        PynqVersionError`), no bitstream, the overlay has no such IP or a different config.
    """

    kind = "pynq"
    memory = None           # buffers come from pynq.allocate, not a host-side Dram

    def __init__(self, config: VTAConfig, *, bitstream: str | Path | None = None,
                 device: Any = None, download: bool = True, ip_name: str = IP_NAME,
                 poll_interval: float = 1e-3) -> None:
        super().__init__(config)
        pynq = import_pynq()
        self._pynq = pynq
        self.pynq_line = check_pynq(pynq, arch=getattr(device, "arch", None))
        self.bitstream = _find_bitstream(config, bitstream)
        try:
            self.overlay = pynq.Overlay(str(self.bitstream), download=download, device=device)
        except (RuntimeError, OSError, ValueError) as e:
            raise DeviceError(f"cannot load overlay {self.bitstream}: {e}") from None
        self.pynq_device = self.overlay.device
        ip = self.overlay.ip_dict.get(ip_name)
        if ip is None:
            raise DeviceError(f"overlay {self.bitstream.name} has no IP {ip_name!r}; it has "
                              f"{', '.join(self.overlay.ip_dict) or 'none'}")
        built_for = (ip.get("parameters") or {}).get("VTA_CONFIG")
        if built_for is not None and built_for != config.name:
            raise DeviceError(f"overlay {self.bitstream.name} was built for config "
                              f"{built_for}, not {config.name}")
        if ip["addr_range"] < REGMAP_BYTES:
            raise DeviceError(f"IP {ip_name} maps {ip['addr_range']} bytes; the register map "
                              f"needs {REGMAP_BYTES}")
        self.ip = ip
        self.base_address = ip["phys_addr"]
        self.mmio = pynq.MMIO(self.base_address, ip["addr_range"], device=self.pynq_device)
        self.poll_interval = poll_interval
        self.polls = 0

    # ------------------------------------------------------------------ registers
    def read_reg(self, offset: int) -> int:
        return int(self.mmio.read(offset)) & 0xFFFF_FFFF

    def write_reg(self, offset: int, value: int) -> None:
        self.mmio.write(offset, int(value) & 0xFFFF_FFFF)

    # ------------------------------------------------------------------ memory
    def _alloc(self, nbytes: int, align: int) -> tuple[int, np.ndarray, Any]:
        # pynq.allocate returns page-aligned buffers; larger alignments are not needed by
        # the ISA (elements are at most a few hundred bytes).
        if align > 4096:
            raise DeviceError(f"the pynq backend aligns buffers to 4096 bytes, not {align}")
        try:
            pbuf = self._pynq.allocate(shape=(nbytes,), dtype=np.uint8,
                                       target=self.pynq_device)
        except (RuntimeError, MemoryError) as e:
            raise DeviceError(f"pynq.allocate of {nbytes} bytes failed: {e}") from None
        addr = int(pbuf.device_address)
        if addr % align or addr + nbytes > 1 << 32:
            pbuf.freebuffer()
            raise DeviceError(f"pynq.allocate returned {addr:#x}, which is not {align}-byte "
                              f"aligned below 4 GiB as the accelerator needs")
        return addr, pbuf.view(np.ndarray), pbuf

    def _free(self, buf: Buffer) -> None:
        buf.handle.freebuffer()

    def _flush(self, buf: Buffer, offset: int, nbytes: int) -> None:
        buf.handle.flush()

    def _invalidate(self, buf: Buffer, offset: int, nbytes: int) -> None:
        buf.handle.invalidate()

    # ------------------------------------------------------------------ running
    def _run(self, insn_addr: int, insn_count: int, timeout: float | None):
        # The accelerator reads every live buffer (instructions, uops, data) and may write
        # any of them: flush all before the start, invalidate all after the end.
        live = [b for b in self._buffers.values() if not b.freed]
        for buf in live:
            buf.handle.flush()
        try:
            return super()._run(insn_addr, insn_count, timeout)
        finally:
            for buf in live:
                buf.handle.invalidate()

    def reset(self) -> None:
        """Reprogram the fabric with the overlay's bitstream (the accelerator's power-on
        state; buffers are kept)."""
        self._check_open()
        try:
            self.overlay.download()
        except (RuntimeError, OSError, ValueError) as e:
            raise DeviceError(f"cannot reload overlay {self.bitstream}: {e}") from None

    def _wait_done(self, deadline: float | None, max_cycles: int | None = None) -> bool:
        sleep = 1e-6
        while True:
            self.polls += 1
            if self.done():
                return True
            if deadline is not None and time.perf_counter() > deadline:
                return False
            time.sleep(sleep)
            sleep = min(sleep * 2, self.poll_interval)

    def _close(self) -> None:
        self.overlay = None


def open_device(config: VTAConfig, **options: Any) -> PynqDevice:
    """Backend entry point of ``vta.driver.open_device("pynq", ...)``."""
    return PynqDevice(config, **options)
