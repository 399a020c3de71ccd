"""The one middleware every request passes: its ``X-Request-Id``, the security headers on
its answer, and the input guard (size cap, no control characters) before any route.

One layer instead of three: each ASGI middleware wraps ``send`` once more and, with
Starlette's ``MutableHeaders``, rescans the answer's headers for every header it sets. Here
the headers to add are encoded once per kind of path, and the answer's own are looked at
once.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from twotier.kit.headers import DOCS_PATH, security_headers
from twotier.kit.inputguard import ErrorRenderer, InputGuardMiddleware
from twotier.kit.requestid import HEADER, request_id_of

_REQUEST_ID = HEADER.encode()
Raw = list[tuple[bytes, bytes]]


def _encoded(path: str, *, production: bool) -> Raw:
    return [
        (name.lower().encode("latin-1"), value.encode("latin-1"))
        for name, value in security_headers(path, production=production).items()
    ]


class EdgeMiddleware:
    def __init__(
        self, app: ASGIApp, *, production: bool, max_body_bytes: int, render_error: ErrorRenderer
    ) -> None:
        self.app = app
        self.guard = InputGuardMiddleware(
            app, max_body_bytes=max_body_bytes, render_error=render_error
        )
        # security_headers() differs by these three kinds of path only.
        self._pages = _encoded("/", production=production)
        self._docs = _encoded(DOCS_PATH, production=production)
        self._static = _encoded("/static/", production=production)

    def _extra(self, path: str) -> Raw:
        if path.startswith("/static/"):
            return self._static
        return self._docs if path == DOCS_PATH else self._pages

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        echoed = (_REQUEST_ID, request_id.encode("latin-1"))
        extra = self._extra(scope.get("path", ""))

        async def send_at_edge(message: Message) -> None:
            if message["type"] == "http.response.start":
                own = [
                    (name, value)
                    for name, value in message.get("headers", ())
                    if name.lower() != _REQUEST_ID
                ]
                present = {name.lower() for name, _ in own}
                own.append(echoed)
                own.extend(header for header in extra if header[0] not in present)
                message["headers"] = own
            await send(message)

        await self.guard(scope, receive, send_at_edge)
