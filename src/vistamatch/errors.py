"""Error types. ``str(error)`` is always one readable line for the user."""


class VistaMatchError(Exception):
    """Base of every error the CLI and the server report as a message, not a traceback."""


class ImageLoadError(VistaMatchError):
    """A file or upload that is not a readable image (corrupt, truncated, too large, unknown format).

    ``damaged`` is true for an image that cannot be decoded (truncated, corrupt, too large) and
    false for something that is not an image we read at all.
    """

    def __init__(self, name: str, reason: str, *, damaged: bool = False):
        self.name = name
        self.reason = reason
        self.damaged = damaged
        super().__init__(f"{name}: {reason}")


class DecodeBudgetError(ImageLoadError):
    """An image whose decoding would take more memory than the decode budget allows (the server answers 413)."""

    def __init__(self, name: str, reason: str):
        super().__init__(name, reason, damaged=True)


class WeightsError(VistaMatchError):
    """A weights file that is missing, unreadable or does not fit the architecture."""


class IndexMismatchError(VistaMatchError):
    """An index built with other weights or preprocessing than the ones in use."""
