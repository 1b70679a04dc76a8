"""The base of every accelerator block built for one configuration.

A :class:`ConfiguredComponent` is a ``wiring.Component`` whose ports and logic derive from
a :class:`~vta.hw.config.VTAConfig`: it refuses anything else with a
:class:`~vta.hw.errors.ConfigError` that shows the bad value, and exposes the
configuration as the read-only ``config`` property.  Subclasses declare their ports in
:meth:`~ConfiguredComponent._ports` and check their other parameters the same way
(:func:`check_int`) before calling ``super().__init__(config)``.
"""

from __future__ import annotations

from typing import Any

from amaranth.lib import wiring

from ..config import VTAConfig
from ..errors import ConfigError

__all__ = ["ConfiguredComponent", "require_config", "check_int"]


def require_config(config: Any, who: str) -> VTAConfig:
    """``config`` if it is a :class:`VTAConfig`; otherwise a :class:`ConfigError`."""
    if not isinstance(config, VTAConfig):
        raise ConfigError(f"{who} needs a VTAConfig, not {config!r}")
    return config


def check_int(who: str, name: str, value: Any, lo: int, hi: int) -> int:
    """``value`` if it is an integer in [lo, hi]; otherwise a :class:`ConfigError`."""
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ConfigError(f"{who} {name} must be an integer in [{lo}, {hi}], not {value!r}")
    return value


class ConfiguredComponent(wiring.Component):
    """A component built for ``config``, with the ports :meth:`_ports` declares.

    Raises
    ------
    ConfigError
        ``config`` is not a :class:`VTAConfig` (the message names the component).
    """

    def __init__(self, config: VTAConfig) -> None:
        self._config = require_config(config, type(self).__name__)
        super().__init__(self._ports(self._config))

    def _ports(self, config: VTAConfig) -> dict[str, Any]:
        """The signature members of this component for ``config``."""
        raise NotImplementedError

    @property
    def config(self) -> VTAConfig:
        """The configuration every size of this block derives from."""
        return self._config
