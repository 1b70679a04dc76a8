"""A ``pynq.Device`` whose fabric is the Verilator model of the generated design.

PYNQ's own classes -- ``pynq.Overlay`` (bitstream + ``.hwh`` parsing with
``pynqmetadata``), ``pynq.MMIO``, ``pynq.allocate`` / ``PynqBuffer`` with ``flush`` and
``invalidate``, ``pynq.ps.Clocks`` -- run unchanged against :class:`SimulatedPynqDevice`:

* registers (``REGISTER_RW``): the accelerator's window at the board's control base goes
  to the model's AXI4-Lite port; the PS clock registers PYNQ programs -- the Zynq-7000
  SLCR (``0xF8000000``), or the ZynqMP CRL_APB (``0xFF5E0000``) and CRF_APB
  (``0xFD1A0000``) -- are small register files (:class:`PsClockRegisters`) so PYNQ's clock
  setting runs and can be checked; anything else is a bus error.  Between two register
  reads during a run the model advances up to ``cycles_per_poll`` cycles: the hardware
  runs while the CPU polls.
* memory: ``allocate`` returns ``PynqBuffer`` objects whose host array is a *separate*
  copy of the device DRAM, as on a board with caches: ``flush`` copies host -> DRAM and
  ``invalidate`` DRAM -> host, so a driver that forgets either reads or runs on stale data.
* download: the ``.bit`` must be a simulation image (:func:`write_sim_bitstream`) whose
  digest matches the Verilog the model was built from, and the ``.hwh`` (parsed by PYNQ)
  must name the accelerator at the board's address.

:func:`make_sim_overlay` writes both files for a board and configuration.  Every board of
the table can be simulated (``arch`` ``armv7l`` for Zynq-7000, ``aarch64`` for ZynqMP, as
PYNQ sees them).  The installed PYNQ must be a line the kit supports on that family
(:func:`vta.driver.pynq_lines.check_pynq`); the device parses the ``.hwh`` with that line's
own metadata parser, as the line's ``EmbeddedDevice`` does.

Importing this module needs PYNQ (``vta-kit[pynq]``; PYNQ pins numpy<2).
"""

from __future__ import annotations

import hashlib
import struct
import time
from pathlib import Path
from typing import Any

import numpy as np
from vta.driver.pynq_device import import_pynq
from vta.driver.pynq_lines import check_pynq
from vta.hw.config import VTAConfig
from vta.hw.errors import VTAError
from vta.hw.regmap import BY_NAME, CTRL_START, REGMAP_BYTES
from vta.sim.dram import Dram

from .hwh import hwh_xml
from .table import Board
from .table import board as lookup_board

pynq = import_pynq()
from pynq.buffer import PynqBuffer  # noqa: E402 - needs the import check above

__all__ = ["SimulatedPynqDevice", "SimBuffer", "SimBusError", "make_sim_overlay",
           "write_sim_bitstream", "read_sim_bitstream", "SIM_MAGIC", "PsClockRegisters"]

SIM_MAGIC = b"VTA-KIT SIMULATION IMAGE"
_CTRL = BY_NAME["CTRL"].offset
ARCH = {"ps7": "armv7l", "zynqmp": "aarch64"}     # pynq.ps.ZYNQ_ARCH / ZU_ARCH


class PsClockRegisters:
    """The PS clock registers PYNQ's ``pynq.ps.Clocks`` reads and writes, at reset values
    of a PS whose IO PLL runs at 1000 MHz (Zynq-7000, 50 MHz reference) or 1500 MHz
    (ZynqMP, 33.333 MHz reference), fabric clock 0 off.

    ``windows`` maps a base address to its register file (``uint32`` words).
    """

    def __init__(self, ps: str) -> None:
        self.ps = ps
        if ps == "ps7":
            slcr = np.zeros(0x200 // 4, dtype=np.uint32)
            for offset, fdiv in ((0x100, 40), (0x104, 32), (0x108, 20)):  # ARM, DDR, IO PLL
                slcr[offset // 4] = fdiv << 12
            slcr[0x120 // 4] = 2 << 8                                    # CPU: ARM PLL / 2
            self.windows = {0xF800_0000: slcr}
        else:
            crl = np.zeros(0x100 // 4, dtype=np.uint32)
            crf = np.zeros(0x100 // 4, dtype=np.uint32)
            crl[0x20 // 4] = 90 << 8 | 1 << 16          # IOPLL: 33.333 * 90 / 2
            crl[0x30 // 4] = 72 << 8 | 1 << 16          # RPLL
            crf[0x20 // 4] = 72 << 8 | 1 << 16          # APLL: 1200 MHz
            crf[0x2C // 4] = 64 << 8 | 1 << 16          # DPLL
            crf[0x38 // 4] = 90 << 8 | 1 << 16          # VPLL
            crf[0x60 // 4] = 1 << 8                     # ACPU: APLL / 1
            self.windows = {0xFF5E_0000: crl, 0xFD1A_0000: crf}

    def window(self, address: int, length: int) -> tuple[np.ndarray, int] | None:
        """(register file, byte offset) holding ``length`` bytes at ``address``, or None."""
        for base, regs in self.windows.items():
            off = address - base
            if 0 <= off and off + length <= regs.nbytes:
                return regs, off
        return None

    @property
    def fclk0_mhz(self) -> float:
        """Fabric clock 0 as programmed (0 while its divisors are 0)."""
        if self.ps == "ps7":
            slcr = self.windows[0xF800_0000]
            ctrl = int(slcr[0x170 // 4])
            io_pll = 50.0 * (int(slcr[0x108 // 4]) >> 12 & 0x7F)
        else:
            crl = self.windows[0xFF5E_0000]
            ctrl = int(crl[0xC0 // 4])
            pll = int(crl[0x20 // 4])
            io_pll = 33.333 * (pll >> 8 & 0x7F) / (2 if pll >> 16 & 1 else 1)
        div1_shift = 20 if self.ps == "ps7" else 16     # FCLK_CTRL vs PL0_REF_CTRL
        div0, div1 = ctrl >> 8 & 0x3F, ctrl >> div1_shift & 0x3F
        return io_pll / (div0 * div1) if div0 and div1 else 0.0


class SimBusError(VTAError):
    """An access the simulated board would answer with a bus error (or a bad image)."""


class SimBuffer(PynqBuffer):
    """A ``PynqBuffer`` of the simulated DRAM: freeing returns it to the device once."""

    def freebuffer(self) -> None:
        if getattr(self, "sim_owner", None) is not None and not self.freed:
            self.freed = True
            self.sim_owner.return_pointer(self.device_address)


def write_sim_bitstream(path: Path, board: Board, verilog: str, design: str) -> Path:
    """Write a ``.bit`` (Xilinx header) whose payload identifies ``verilog`` by digest."""
    def field(tag: bytes, text: str) -> bytes:
        data = text.encode() + b"\0"
        return tag + struct.pack(">h", len(data)) + data

    digest = hashlib.sha256(verilog.encode()).digest()
    payload = SIM_MAGIC + b"\0" * (-len(SIM_MAGIC) % 4) + digest
    t = time.gmtime(0)
    header = (struct.pack(">h", 9) + bytes.fromhex("0ff00ff00ff00ff000") + struct.pack(">h", 1)
              + field(b"a", f"{design};UserID=0XFFFFFFFF;Version=vta-kit-sim")
              + field(b"b", board.part[2:].rsplit("-", 1)[0])
              + field(b"c", time.strftime("%Y/%m/%d", t))
              + field(b"d", time.strftime("%H:%M:%S", t))
              + b"e" + struct.pack(">i", len(payload)))
    Path(path).write_bytes(header + payload)
    return Path(path)


def read_sim_bitstream(path: Path) -> bytes:
    """The Verilog digest of a simulation image; :class:`SimBusError` for anything else."""
    from pynq.pl_server.embedded_device import parse_bit_header

    try:
        data = parse_bit_header(Path(path).read_bytes())["data"]
    except Exception as e:  # noqa: BLE001 - any malformed header
        raise SimBusError(f"{path} is not a bitstream ({type(e).__name__})") from None
    if not data.startswith(SIM_MAGIC):
        raise SimBusError(f"{path} is a real bitstream; the simulated board runs only "
                          f"simulation images (make_sim_overlay)")
    return data[-32:]


def make_sim_overlay(board: str | Board, config: VTAConfig, out_dir: Path, verilog: str,
                     *, name: str | None = None) -> Path:
    """Write ``<name>.bit`` (simulation image of ``verilog``) and ``<name>.hwh``; return the
    ``.bit`` path."""
    b = lookup_board(board)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    name = name or f"vta_{b.name.replace('-', '_')}_{config.name}"
    (out_dir / f"{name}.hwh").write_text(hwh_xml(b, config, name=name))
    return write_sim_bitstream(out_dir / f"{name}.bit", b, verilog, name)


class SimulatedPynqDevice(pynq.Device):
    """A Zynq board whose programmable logic is a Verilator model (see module docstring).

    Parameters
    ----------
    board:
        A board of the table (``pynq-z1``, ``kv260`` ...).
    config:
        The accelerator configuration of the model (its bus must be the board's).
    built:
        The compiled model (``vta.sim.verilator.build.build_library`` result).
    verilog:
        The Verilog text the model was built from (its digest must match the image).
    dram_bytes:
        Size of the simulated DRAM, placed at 0x1000_0000 inside the board's DDR window.
    cycles_per_poll:
        Cycles the fabric advances between two register reads of the host.
    """

    _probe_priority_ = 1_000_042   # never the default device: created explicitly

    @classmethod
    def _probe_(cls) -> list:
        return []

    def __init__(self, board: str | Board, config: VTAConfig, built: Any, verilog: str, *,
                 dram_bytes: int = 64 << 20, cycles_per_poll: int = 1 << 14) -> None:
        from vta.sim.verilator.model import VerilatorModel

        b = lookup_board(board)
        b.check_config(config)
        arch = ARCH[b.ps]
        # The PYNQ line installed must run on this board's family (as on a real board).
        self.pynq_line = check_pynq(pynq, arch=arch, board=b.name)
        super().__init__(f"vta-sim-{b.name}")
        self.name = f"vta-sim-{b.name}"
        self.board = b
        self.config = config
        self.arch = arch
        self.capabilities = {"REGISTER_RW": True, "MEMORY_MAPPED": False, "CALLABLE": False}
        self.dram = Dram(dram_bytes, base=0x1000_0000)
        if self.dram.base + self.dram.size > b.dram_base + b.dram_size:
            raise SimBusError(f"{dram_bytes} bytes of DRAM do not fit {b.name}'s DDR window")
        self.model = VerilatorModel(built, self.dram, config=config)
        self.digest = hashlib.sha256(verilog.encode()).digest()
        self.cycles_per_poll = cycles_per_poll
        self.loaded = False
        self.running = False
        self.timestamp = ""
        self.bitfile_name = None
        self._host: dict[int, np.ndarray] = {}          # allocation address -> host copy
        self.flushes = 0
        self.invalidates = 0
        self.register_reads = 0
        self.clocks = PsClockRegisters(b.ps)

    # ------------------------------------------------------------------ metadata + download
    def get_bitfile_metadata(self, bitfile_name: str, partial: bool = False):
        """PYNQ's own parse of the ``.hwh`` beside ``bitfile_name``, with the runtime
        metadata parser of the installed PYNQ line.

        As ``EmbeddedDevice`` does, minus the XRT ``xclbin`` it synthesises for its memory
        manager (which needs XRT's ``xclbinutil``): this device allocates by itself.
        """
        from pynqmetadata.frontends import Metadata

        hwh = Path(bitfile_name).with_suffix(".hwh")
        if not hwh.is_file():
            raise RuntimeError(f"Unable to find metadata for bitstream {bitfile_name}")
        parser = self.pynq_line.parser_class()(Metadata(input=hwh))
        if not partial:
            parser.refresh_hierarchy_dict()
        parser.bin_data = None
        parser.xclbin_data = None
        parser.dtbo_data = None
        return parser

    def download(self, bitstream: Any, parser: Any = None) -> None:
        """Program the simulated fabric: check the image, reset the model."""
        if read_sim_bitstream(bitstream.bitfile_name) != self.digest:
            raise SimBusError(f"{bitstream.bitfile_name} was built from other Verilog than "
                              f"this simulated board's model")
        ip = (parser.ip_dict if parser is not None else {}).get("vta_0")
        if ip is None or ip["phys_addr"] != self.board.control_base:
            raise SimBusError(f"the .hwh of {bitstream.bitfile_name} does not place vta_0 at "
                              f"{self.board.control_base:#x}")
        self.model.reset()
        self.running = False
        self.loaded = True
        super().post_download(bitstream, parser, self.name)

    def gen_cache(self, bitstream: Any, parser: Any = None) -> None:
        """PYNQ's metadata cache is a board-global file: nothing to cache here."""

    @property
    def fclk0_mhz(self) -> float:
        """The fabric clock 0 as PYNQ programmed it into the PS."""
        return self.clocks.fclk0_mhz

    # ------------------------------------------------------------------ registers
    def _accel_offset(self, address: int, length: int) -> int | None:
        off = address - self.board.control_base
        if 0 <= off and off + length <= self.board.control_range:
            return off
        return None

    def read_registers(self, address: int, length: int) -> bytes:
        self.register_reads += 1
        off = self._accel_offset(address, length)
        if off is not None:
            self._require_loaded(address)
            if self.running:
                # The fabric runs on while the host polls.
                if self.model.run_until_done(self.cycles_per_poll):
                    self.running = False
            return b"".join(struct.pack("<I", self._reg_read(off + i))
                            for i in range(0, length, 4))
        window = self.clocks.window(address, length)
        if window is not None:
            regs, soff = window
            return regs.view(np.uint8)[soff:soff + length].tobytes()
        raise SimBusError(f"bus error: read of {length} bytes at {address:#x}")

    def write_registers(self, address: int, data: bytes) -> None:
        off = self._accel_offset(address, len(data))
        if off is not None:
            self._require_loaded(address)
            for i in range(0, len(data), 4):
                value = struct.unpack("<I", bytes(data[i:i + 4]).ljust(4, b"\0"))[0]
                self._reg_write(off + i, value)
            return
        window = self.clocks.window(address, len(data))
        if window is not None:
            regs, soff = window
            regs.view(np.uint8)[soff:soff + len(data)] = np.frombuffer(bytes(data), np.uint8)
            return
        raise SimBusError(f"bus error: write of {len(data)} bytes at {address:#x}")

    def _require_loaded(self, address: int) -> None:
        if not self.loaded:
            raise SimBusError(f"bus error at {address:#x}: no bitstream loaded")

    def _reg_read(self, offset: int) -> int:
        # Beyond the register map the AXI4-Lite slave decodes nothing: it reads 0.
        return self.model.read_reg(offset) if offset < REGMAP_BYTES else 0

    def _reg_write(self, offset: int, value: int) -> None:
        if offset >= REGMAP_BYTES:
            return
        self.model.write_reg(offset, value)
        if offset == _CTRL and value & CTRL_START:
            self.running = True

    # ------------------------------------------------------------------ memory
    def allocate(self, shape: Any, dtype: Any, **kwargs: Any) -> SimBuffer:
        """A non-coherent physically contiguous buffer (page aligned)."""
        nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
        addr = self.dram.alloc(max(nbytes, 1), 4096)
        host = np.zeros(max(nbytes, 1), dtype=np.uint8)       # the CPU's cached copy
        host[:] = self.dram.view(addr, host.size)
        self._host[addr] = host
        buf = SimBuffer(shape, dtype, buffer=host, device_address=addr, bo=addr,
                        device=self, coherent=False)
        buf.sim_owner = self
        return buf

    def return_pointer(self, pointer: int) -> None:
        """Free an allocation (called by ``PynqBuffer.freebuffer``)."""
        if self._host.pop(pointer, None) is not None:
            self.dram.free(pointer)

    def flush(self, bo: int, offset: int, ptr: int, size: int) -> None:
        self.flushes += 1
        host = self._host[bo]
        self.dram.view(bo + offset, size)[:] = host[offset:offset + size]

    def invalidate(self, bo: int, offset: int, ptr: int, size: int) -> None:
        self.invalidates += 1
        host = self._host[bo]
        host[offset:offset + size] = self.dram.view(bo + offset, size)

    def close(self) -> None:
        self.model.close()
