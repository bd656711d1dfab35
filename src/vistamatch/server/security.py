"""Known hosts, same-origin writes and the page's security headers, as pure ASGI middleware.

A DNS-rebinding page reaches the server under its own name: the Host check answers 421 to any
name the server was not bound or configured for. A page on another origin can send a form or a
`fetch` without reading the answer: writes from a foreign Origin (or `Origin: null`, or
`Sec-Fetch-Site: cross-site`) get 403. Clients that send no Origin (curl, scripts) are not
browsers run by someone else's page, and pass.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import error_response

LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
WILDCARD_BINDS = ("0.0.0.0", "::", "")
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
DEFAULT_PORTS = {"http": 80, "https": 443}

# The page loads only its own script, styles and images (plus the blob: preview of the chosen file).
PAGE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# Swagger UI's page (/docs) starts itself with an inline script and inline styles; no user content.
DOCS_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
DOCS_PATHS = ("/docs", "/docs/oauth2-redirect")


def host_name(value: str) -> str:
    """'LocalHost:8000' -> 'localhost', '[::1]:8000' -> '::1', 'example.org.' -> 'example.org'."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value
    name, sep, port = value.rpartition(":")
    if sep and port.isdigit() and ":" not in name:
        value = name
    return value.rstrip(".")


class RequestGuard:
    """421 for an unknown Host, 403 for a cross-site write; everything else passes unchanged.

    Allowed hosts: the loopback names, the address the connection arrived on (so a server bound
    to 0.0.0.0 answers on its own IPs), and `allowed_hosts` (the --host value and --allowed-host
    additions; "*" turns the check off). Writes may come from the request's own origin and from
    the configured CORS origins.
    """

    def __init__(self, app: ASGIApp, allowed_hosts: tuple[str, ...] = (), cors_origins: tuple[str, ...] = ()):
        self.app = app
        names = {host_name(h) for h in allowed_hosts} - {host_name(h) for h in WILDCARD_BINDS}
        self.any_host = "*" in names
        self.hosts = frozenset(names | set(LOOPBACK_HOSTS))
        self.cors_origins = frozenset(_origin(o) for o in cors_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = Headers(scope=scope)
        host = headers.get("host")
        if host is not None and not self._known_host(host_name(host), scope):
            # The allowed names are not listed: they would tell a rebinding page what to try.
            message = f"unknown host {host!r}: this server answers only to the names it was started for (see --allowed-host)"
            return await error_response(421, message)(scope, receive, send)
        if scope["method"] in WRITE_METHODS and not self._write_allowed(headers, scope):
            message = "cross-site request refused: writes are accepted from this server's own page only"
            return await error_response(403, message)(scope, receive, send)
        await self.app(scope, receive, send)

    def _known_host(self, name: str, scope: Scope) -> bool:
        server = scope.get("server")
        return self.any_host or name in self.hosts or (server is not None and name == host_name(str(server[0])))

    def _write_allowed(self, headers: Headers, scope: Scope) -> bool:
        origin = headers.get("origin")
        if origin is not None:
            origin, host = _origin(origin), headers.get("host")
            if origin == "null":  # a sandboxed frame, a file:// page, a redirect from elsewhere
                return False
            return origin in self.cors_origins or (host is not None and origin == _origin(f"{scope.get('scheme', 'http')}://{host}"))
        # No Origin: not a browser, or an old one; a modern browser says where a request came from.
        return headers.get("sec-fetch-site", "").lower() != "cross-site"


def _origin(text: str) -> str:
    """An origin in one spelling: lower case, no default port, no path. 'null' stays 'null'."""
    parts = urlsplit(text.strip().lower())
    if not parts.scheme or not parts.hostname:
        return "null"
    try:
        port = parts.port
    except ValueError:
        return "null"
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != DEFAULT_PORTS.get(parts.scheme) else "")


class SecurityHeaders:
    """Content-Security-Policy, nosniff, Referrer-Policy and no framing on every response.

    A header a response sets itself (the gallery files' sandbox policy) is kept. With no CORS
    origin configured, Cross-Origin-Resource-Policy also stops other sites from embedding our
    images (and so from probing which files the gallery holds).
    """

    def __init__(self, app: ASGIApp, same_origin_resources: bool = True):
        self.app = app
        self.defaults = [
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"same-origin"),
            (b"x-frame-options", b"DENY"),
        ]
        if same_origin_resources:
            self.defaults.append((b"cross-origin-resource-policy", b"same-origin"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        policy = DOCS_POLICY if scope["path"] in DOCS_PATHS else PAGE_POLICY
        extra = [*self.defaults, (b"content-security-policy", policy.encode())]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(name, value) for name, value in extra if name not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
