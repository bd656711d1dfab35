"""Why a URL gave no image: the names counted in the summary and recorded in the state file."""

from __future__ import annotations

SAVED = "saved"
TIMEOUT = "timeout"
CONNECTION = "connection"  # refused, reset, DNS, TLS, cut short
REDIRECTS = "too_many_redirects"
INVALID_URL = "invalid_url"
NOT_IMAGE = "not_image"  # wrong content type, or not decodable as an image
CORRUPT = "corrupt"  # an image header but the pixels do not decode (truncated, damaged)
TOO_SMALL = "too_small"  # below the minimum bytes or dimensions
TOO_BIG = "too_big"  # above the maximum bytes or pixels
DUPLICATE = "duplicate"  # same bytes as an image already in the gallery
PRIVATE_ADDRESS = "private_address"  # loopback, private or link-local, when only public ones are allowed


def http_reason(status: int) -> str:
    return f"http_{status}"


class Rejected(Exception):
    """A URL that gave no image. ``reason`` is one of the names above; ``detail`` is for logs."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
