"""HEAD, OPTIONS and 405 answers from every route of a path, not from the first one that matches.

FastAPI routes answer only the methods they declare: HEAD on a gallery file was a 405, and a
405 or OPTIONS named the methods of one route (GET /api/history/{id}) while the same path has
others (DELETE). This middleware asks every route of the path, for HEAD, OPTIONS and 405 only.
"""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import Match, Mount, Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import error_response

READ_METHODS = frozenset({"GET", "HEAD"})
PROBED_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


class MethodsMiddleware:
    """HEAD runs the GET route and drops the body; OPTIONS answers 204 with Allow; 405 says Allow.

    Asking every route costs about half a millisecond, so it is done only for HEAD, OPTIONS and
    a 405 from the router; every other request goes through untouched. A CORS preflight (an
    OPTIONS with Access-Control-Request-Method) is left to the CORS middleware outside this one;
    without configured origins it gets the plain answer, which grants nothing.
    """

    def __init__(self, app: ASGIApp, router: Router):
        self.app = app
        self.router = router

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        method = scope["method"]
        if method in ("HEAD", "OPTIONS") and (declared := self._declared_methods(scope)):
            if method == "OPTIONS" and "OPTIONS" not in declared:
                return await Response(status_code=204, headers={"Allow": _allow(declared)})(scope, receive, send)
            if method == "HEAD" and "HEAD" not in declared and "GET" in declared:
                return await self.app({**scope, "method": "GET"}, receive, _without_body(send))
            if method not in declared:
                return await self._not_allowed(scope, declared)(scope, receive, send)
        replaced, original = False, dict(scope)  # the router updates scope (a mount's root_path)

        async def send_with_allow(message: Message) -> None:
            nonlocal replaced
            if message["type"] == "http.response.start" and message["status"] == 405:
                replaced = True  # the router named one route's methods (or none): say them all
                await self._not_allowed(original, self._declared_methods(original))(scope, receive, send)
            elif not replaced:
                await send(message)

        await self.app(scope, receive, send_with_allow)

    def _not_allowed(self, scope: Scope, declared: set[str]) -> Response:
        allow = _allow(declared)
        return error_response(405, f"method {scope['method']} not allowed here; allowed: {allow}", headers={"Allow": allow})

    def _declared_methods(self, scope: Scope) -> set[str]:
        """The methods some route of this path takes, asked of each route with each method.

        Only the public `matches` is used: FastAPI keeps included routers as routes of their own.
        """
        methods: set[str] = set()
        for route in self.router.routes:
            if isinstance(route, Mount):  # static files: a mount matches every method
                if route.matches(scope)[0] is not Match.NONE:
                    methods |= READ_METHODS
                continue
            methods |= {m for m in PROBED_METHODS if route.matches({**scope, "method": m})[0] is Match.FULL}
        return methods


def _allow(declared: set[str]) -> str:
    return ", ".join(sorted(declared | ({"HEAD"} if "GET" in declared else set()) | {"OPTIONS"}))


def _without_body(send: Send) -> Send:
    async def send_head(message: Message) -> None:
        if message["type"] == "http.response.body":
            message = {**message, "body": b""}
        await send(message)

    return send_head
