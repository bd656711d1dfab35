"""Error types. ``str(error)`` is always one readable line for the user."""


class VistaMatchError(Exception):
    """Base of every error the CLI and the server report as a message, not a traceback."""


class ImageLoadError(VistaMatchError):
    """A file or upload that is not a readable image (corrupt, truncated, too large, unknown format)."""

    def __init__(self, name: str, reason: str):
        self.name = name
        self.reason = reason
        super().__init__(f"{name}: {reason}")


class WeightsError(VistaMatchError):
    """A weights file that is missing, unreadable or does not fit the architecture."""


class IndexMismatchError(VistaMatchError):
    """An index built with other weights or preprocessing than the ones in use."""
