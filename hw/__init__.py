"""vta.hw: the configuration, the instruction set and the Amaranth gateware."""

from . import isa
from .config import PRESETS, VTAConfig
from .errors import ConfigError, IsaError, VTAError

__all__ = ["VTAConfig", "PRESETS", "isa", "VTAError", "ConfigError", "IsaError"]
