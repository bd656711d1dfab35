"""Public addresses only: loopback, private, link-local and other non-global addresses are refused
before a connection is made (no request forgery against the machine or its network).

A host name is checked at the addresses aiohttp then connects to (the resolver below is the one it
uses, so a second DNS answer cannot differ from the checked one); an IP address written in the URL,
or in any redirect, is checked before that request starts.
"""

from __future__ import annotations

import ipaddress
import socket

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from .reasons import PRIVATE_ADDRESS, Rejected


def is_public(address: str) -> bool:
    """True for a global unicast address; an IPv4-mapped IPv6 address is judged as its IPv4 address."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone ("fe80::1%eth0")
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


class PublicOnlyResolver(AbstractResolver):
    """The default resolver, refusing a name when any of its addresses is not public."""

    def __init__(self) -> None:
        self._inner = DefaultResolver()

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        for result in results:
            if not is_public(result["host"]):
                raise Rejected(PRIVATE_ADDRESS, f"{host} is {result['host']}")
        return results

    async def close(self) -> None:
        await self._inner.close()


def literal_address_check() -> aiohttp.TraceConfig:
    """A trace that refuses each request (the first and every redirect) to a non-public IP literal."""

    async def on_request_start(session, context, params) -> None:
        host = (params.url.host or "").strip("[]")
        try:
            public = is_public(host)
        except ValueError:  # a name: the resolver checks it
            return
        if not public:
            raise Rejected(PRIVATE_ADDRESS, host)

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_request_start)
    return trace
