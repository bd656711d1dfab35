"""The query of ``vistamatch search``: an image file, or an http(s) URL fetched like the crawler fetches.

A URL goes through the crawler's Fetcher (time limit, streamed size limit, retries, redirects) and its
image validation; loopback, private and link-local addresses are refused unless allowed
(crawler/addresses.py checks the address each connection really goes to).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import VistaMatchError


@dataclass(frozen=True)
class QueryImage:
    name: str  # the path or URL as given: for messages and the export marker
    data: bytes


def is_url(text: str) -> bool:
    return text.lower().startswith(("http://", "https://"))


def read_query(text: str, *, allow_private: bool = False, timeout_s: float = 10.0, max_bytes: int = 20 * 1024 * 1024) -> QueryImage:
    """The query's bytes; VistaMatchError (one line naming the path or URL) when there are none."""
    if is_url(text):
        return QueryImage(text, fetch_image(text, allow_private=allow_private, timeout_s=timeout_s, max_bytes=max_bytes))
    path = Path(text)
    if path.is_dir():
        raise VistaMatchError(f"the query is a folder, not an image file: {path}")
    if not path.is_file():
        raise VistaMatchError(f"query image not found: {path}")
    try:
        return QueryImage(text, path.read_bytes())
    except OSError as exc:
        raise VistaMatchError(f"cannot read the query image {path}: {exc.strerror or exc}") from None


def fetch_image(url: str, *, allow_private: bool, timeout_s: float, max_bytes: int) -> bytes:
    from ..crawler.reasons import PRIVATE_ADDRESS, Rejected
    from ..crawler.single import fetch_one_image

    try:
        return fetch_one_image(url, allow_private=allow_private, timeout_s=timeout_s, max_bytes=max_bytes)
    except Rejected as exc:
        hint = " (pass --allow-private-urls to allow it)" if exc.reason == PRIVATE_ADDRESS else ""
        raise VistaMatchError(f"query URL refused, {exc}{hint}: {url}") from None
