"""One image from one URL, for a command or a server: ``fetch_one_image(url, allow_private=False)``.

Used by `vistamatch search URL` and the page's query by URL. It is the crawler's Fetcher (time
limit, streamed size limit, redirects, a retry for what can succeed later) and its image
validation; unless ``allow_private``, only public addresses are fetched (addresses.py checks the
address each connection really goes to, redirects included, and no proxy is used).
"""

from __future__ import annotations

import asyncio

from .fetch import Fetcher, FetchSettings, fetch_image
from .validate import ImageRules


async def fetch_one_image_async(url: str, *, allow_private: bool = False, timeout_s: float = 10.0, max_bytes: int = 20 * 1024 * 1024) -> bytes:
    """The validated image bytes at ``url``; raises Rejected with the reason (reasons.py)."""
    settings = FetchSettings(
        concurrency=1, per_host=1, timeout_s=timeout_s, connect_timeout_s=min(5.0, timeout_s), retries=1,
        max_retry_after_s=timeout_s, max_bytes=max_bytes, public_only=not allow_private,
    )
    rules = ImageRules(min_bytes=1, max_bytes=max_bytes, min_side=1)  # any real image may be a query
    async with Fetcher(settings) as fetcher:
        return (await fetch_image(fetcher, url, rules)).data


def fetch_one_image(url: str, *, allow_private: bool = False, timeout_s: float = 10.0, max_bytes: int = 20 * 1024 * 1024) -> bytes:
    """``fetch_one_image_async`` for synchronous callers."""
    return asyncio.run(fetch_one_image_async(url, allow_private=allow_private, timeout_s=timeout_s, max_bytes=max_bytes))
