"""The kit's exception hierarchy: every user-facing error derives from :class:`VTAError`.

The ``vta`` CLI prints a ``VTAError`` as one line (``vta: error: ...``) and exits 2, so
every message must name what was wrong and what was expected.
"""


class VTAError(Exception):
    """Base of every error the kit raises on purpose (bad config, program, model, device)."""


class ConfigError(VTAError, ValueError):
    """A configuration key has a value the kit cannot build; the message names the key."""


class IsaError(VTAError, ValueError):
    """An instruction or uop cannot be encoded or decoded; the message names the field."""
