"""A DRAM image file: segments of bytes at physical addresses (for ``vta sim run``).

Format (little-endian)::

    8 bytes   magic b"VTADRAM1"
    u32       number of segments
    u32       0 (reserved)
    per segment:
      u64     physical byte address
      u64     length in bytes
      bytes   the data

A program run from the command line reads its data, uops and results at absolute
physical addresses, so :meth:`DramImage.place` reserves exactly those ranges on the device
(:meth:`~vta.driver.dram_device.DramDevice.buffer_at`) before the program itself is
allocated elsewhere.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

from .device import Buffer, Device
from .errors import DeviceError

__all__ = ["DramImage", "MAGIC"]

MAGIC = b"VTADRAM1"
_HEADER = struct.Struct("<8sII")
_SEGMENT = struct.Struct("<QQ")


@dataclass
class DramImage:
    """Segments ``(address, data)`` of device memory."""

    segments: list[tuple[int, bytes]] = field(default_factory=list)

    def add(self, addr: int, data: bytes) -> None:
        """Append a segment; it may not overlap an existing one."""
        end = addr + len(data)
        for a, d in self.segments:
            if addr < a + len(d) and a < end:
                raise DeviceError(f"DRAM image segment [{addr:#x}, {end:#x}) overlaps "
                                  f"[{a:#x}, {a + len(d):#x})")
        self.segments.append((int(addr), bytes(data)))

    def to_bytes(self) -> bytes:
        parts = [_HEADER.pack(MAGIC, len(self.segments), 0)]
        for addr, data in self.segments:
            parts += [_SEGMENT.pack(addr, len(data)), data]
        return b"".join(parts)

    @classmethod
    def from_bytes(cls, blob: bytes, name: str = "DRAM image") -> DramImage:
        """Parse an image; a malformed one raises :class:`DeviceError` naming the problem."""
        if len(blob) < _HEADER.size or blob[:8] != MAGIC:
            raise DeviceError(f"{name} is not a DRAM image (expected magic {MAGIC!r})")
        _, count, _ = _HEADER.unpack_from(blob)
        image, pos = cls(), _HEADER.size
        for i in range(count):
            if pos + _SEGMENT.size > len(blob):
                raise DeviceError(f"{name}: segment {i} header is truncated")
            addr, n = _SEGMENT.unpack_from(blob, pos)
            pos += _SEGMENT.size
            if pos + n > len(blob):
                raise DeviceError(f"{name}: segment {i} at {addr:#x} claims {n} bytes, the "
                                  f"file holds {len(blob) - pos}")
            image.add(addr, blob[pos:pos + n])
            pos += n
        if pos != len(blob):
            raise DeviceError(f"{name}: {len(blob) - pos} bytes after the last segment")
        return image

    def save(self, path: str | Path) -> None:
        """Write the image; :class:`DeviceError` naming ``path`` if that fails."""
        try:
            Path(path).write_bytes(self.to_bytes())
        except OSError as e:
            raise DeviceError(f"cannot write DRAM image {path}: {e.strerror or e}") from None

    @staticmethod
    def check_writable(path: str | Path) -> None:
        """Refuse, before a run, an output path that cannot become a file (a folder, or
        inside a missing folder)."""
        p = Path(path)
        if p.is_dir():
            raise DeviceError(f"--output {path} is a folder; give a file name")
        if not p.parent.is_dir():
            raise DeviceError(f"--output {path}: folder {p.parent} does not exist")

    @classmethod
    def load(cls, path: str | Path) -> DramImage:
        try:
            blob = Path(path).read_bytes()
        except OSError as e:
            raise DeviceError(f"cannot read DRAM image {path}: {e.strerror or e}") from None
        return cls.from_bytes(blob, str(path))

    def place(self, device: Device) -> list[Buffer]:
        """Reserve every segment's range on ``device`` and copy the data in."""
        buffer_at = getattr(device, "buffer_at", None)
        if buffer_at is None:
            raise DeviceError(f"{device.kind} devices cannot place data at fixed addresses")
        buffers = []
        for addr, data in self.segments:
            if not data:
                continue
            buf = buffer_at(addr, len(data))
            device.copy_to_device(buf, data)
            buffers.append(buf)
        return buffers

    @classmethod
    def read_back(cls, device: Device, buffers: list[Buffer]) -> DramImage:
        """The current contents of ``buffers`` as an image."""
        return cls([(b.addr, device.copy_from_device(b).tobytes()) for b in buffers])
