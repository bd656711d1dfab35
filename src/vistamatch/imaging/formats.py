"""Which image formats the loader reads, and how to name the ones it does not.

Pillow reads many more formats than a photo gallery holds, some through external programs
(EPS runs Ghostscript). The loader opens only the formats listed here; anything else Pillow
recognises is reported as "unsupported format X".
"""

from __future__ import annotations

from PIL import Image, features


def _heif_plugin_registered() -> bool:
    """Register pillow-heif's HEIC/HEIF opener when the plugin is installed."""
    try:
        import pillow_heif
    except ImportError:
        return False
    pillow_heif.register_heif_opener()
    return True


HEIF_AVAILABLE: bool = _heif_plugin_registered()
AVIF_AVAILABLE: bool = bool(features.check("avif"))

_BASE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"}
_HEIF_EXTENSIONS = {".heic", ".heif"} if HEIF_AVAILABLE else set()
_AVIF_EXTENSIONS = {".avif"} if AVIF_AVAILABLE else set()

IMAGE_EXTENSIONS: frozenset[str] = frozenset(_BASE_EXTENSIONS | _HEIF_EXTENSIONS | _AVIF_EXTENSIONS)
"""Lower-case file suffixes (with the dot) of the formats :func:`load_image` reads here."""

# Pillow format names the loader opens. The JPEG opener also returns MPO (a JPEG with extra
# pictures that cameras write as .jpg); DIB is Pillow's name for a headerless BMP.
READABLE_FORMATS: tuple[str, ...] = (
    ("JPEG", "PNG", "WEBP", "GIF", "BMP", "DIB", "TIFF")
    + (("HEIF",) if HEIF_AVAILABLE else ())
    + (("AVIF",) if AVIF_AVAILABLE else ())
)

# ISO base media files (HEIC, AVIF) start with a box "ftyp" followed by a brand.
_FTYP_BRANDS = {
    b"heic": "HEIC", b"heix": "HEIC", b"hevc": "HEIC", b"heim": "HEIC", b"heis": "HEIC",
    b"mif1": "HEIF", b"msf1": "HEIF", b"avif": "AVIF", b"avis": "AVIF",
}
_PLUGIN_HINT = {"HEIC": "install pillow-heif", "HEIF": "install pillow-heif", "AVIF": "needs Pillow built with AVIF"}


def sniff_unreadable_format(head: bytes) -> str | None:
    """Name a known image format from the first bytes when this installation cannot read it.

    Returns e.g. "HEIC (install pillow-heif)" or None when the bytes are not recognised.
    """
    if head[4:8] == b"ftyp":
        kind = _FTYP_BRANDS.get(head[8:12])
        if kind is not None and not _readable_kind(kind):
            return f"{kind} ({_PLUGIN_HINT[kind]})"
    return None


def _readable_kind(kind: str) -> bool:
    return AVIF_AVAILABLE if kind == "AVIF" else HEIF_AVAILABLE


def identify_other_format(stream) -> str | None:
    """The name of a format Pillow recognises but the loader does not open (PSD, EPS, ICO, ...).

    Only reads the header: no pixel data is decoded and no external program runs.
    """
    stream.seek(0)
    try:
        with Image.open(stream) as other:
            return other.format
    except Exception:  # any failure here just means "not an image we can name"
        return None
