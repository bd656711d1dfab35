"""One image from one URL, safe to run on a server: ``fetch_one_image(url, allow_private=False)``.

Shared by the page's query by URL (and meant for the CLI's). The crawler's limits apply (size while
streaming, one total timeout, content type, at most ``max_redirects`` hops) and the body passes the
crawler's validation. Against server-side request forgery, every hop's host is resolved by a resolver
that refuses loopback, private, link-local, multicast, reserved and unspecified addresses, and the
connection goes to exactly the checked address (no second lookup a DNS rebinding could answer
differently); an address given as a literal is checked the same way. Redirects are followed here,
hop by hop, so each target is checked; proxies from the environment are not used (a proxy would
connect for us, unchecked). ``allow_private=True`` (a setting, for a LAN gallery) turns the check off.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urljoin, urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver

from .fetch import USER_AGENT, FetchSettings, read_image_body
from .reasons import CONNECTION, INVALID_URL, REDIRECTS, TIMEOUT, Rejected, http_reason
from .validate import ImageRules, validate_image

PRIVATE_ADDRESS = "private_address"  # loopback, private, link-local...: refused unless allowed
REDIRECT_STATUS = frozenset({301, 302, 303, 307, 308})


def is_public_address(address: str) -> bool:
    """True for a globally routable unicast address (an IPv4-mapped IPv6 address counts as its IPv4)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


class _CheckedResolver(AbstractResolver):
    """The system resolver, refusing any answer that is not a public address."""

    def __init__(self) -> None:
        self._inner = aiohttp.ThreadedResolver()

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_INET):
        answers = await self._inner.resolve(host, port, family)
        refused = [a["host"] for a in answers if not is_public_address(a["host"])]
        if refused:
            raise Rejected(PRIVATE_ADDRESS, f"{host} resolves to {', '.join(refused)}")
        return answers

    async def close(self) -> None:
        await self._inner.close()


def _checked_url(url: str, allow_private: bool) -> str:
    """``url`` if it is http(s) with a host; a literal address must be public unless allowed."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as exc:
        raise Rejected(INVALID_URL, str(exc)) from None
    if parts.scheme not in ("http", "https") or not host:
        raise Rejected(INVALID_URL, "only http and https addresses with a host name can be fetched")
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        return url  # a name: the resolver checks what it resolves to
    if not allow_private and not is_public_address(str(literal)):
        raise Rejected(PRIVATE_ADDRESS, f"{host} is not a public address")
    return url


async def fetch_one_image_async(
    url: str, *, allow_private: bool = False, fetch: FetchSettings = FetchSettings(), rules: ImageRules = ImageRules(min_bytes=1, min_side=1)
) -> bytes:
    """The validated image bytes at ``url``; raises Rejected (with a reason of reasons.py or PRIVATE_ADDRESS)."""
    connector = aiohttp.TCPConnector(resolver=None if allow_private else _CheckedResolver(), limit=4)
    timeout = aiohttp.ClientTimeout(total=fetch.timeout_s, sock_connect=fetch.connect_timeout_s)
    headers = {"User-Agent": USER_AGENT, "Accept": "image/*,*/*;q=0.5"}
    async with aiohttp.ClientSession(connector=connector, timeout=timeout, headers=headers, trust_env=False) as session:
        try:  # one deadline for the whole fetch, redirects included
            body = await asyncio.wait_for(_follow(session, _checked_url(url, allow_private), allow_private, fetch), fetch.timeout_s)
        except asyncio.TimeoutError:
            raise Rejected(TIMEOUT, f"no image within {fetch.timeout_s:g} s") from None
    validate_image(body, rules)
    return body


async def _follow(session: aiohttp.ClientSession, url: str, allow_private: bool, fetch: FetchSettings) -> bytes:
    for _ in range(fetch.max_redirects + 1):
        try:
            async with session.get(url, allow_redirects=False) as resp:
                if resp.status in REDIRECT_STATUS and resp.headers.get("Location"):
                    url = _checked_url(urljoin(url, resp.headers["Location"]), allow_private)
                    continue
                if not 200 <= resp.status < 300:
                    raise Rejected(http_reason(resp.status))
                return await read_image_body(resp, fetch)
        except (aiohttp.InvalidURL, ValueError) as exc:
            raise Rejected(INVALID_URL, str(exc)) from None
        except aiohttp.ClientError as exc:  # refused, reset, DNS, TLS, cut short
            if isinstance(exc.__cause__, Rejected):
                raise exc.__cause__ from None
            raise Rejected(CONNECTION, str(exc)) from None
    raise Rejected(REDIRECTS, f"more than {fetch.max_redirects}")


def fetch_one_image(url: str, *, allow_private: bool = False, fetch: FetchSettings = FetchSettings()) -> bytes:
    """``fetch_one_image_async`` for synchronous callers (the CLI)."""
    return asyncio.run(fetch_one_image_async(url, allow_private=allow_private, fetch=fetch))
