"""What a request may carry before any route sees it: a size cap and no control characters.

PostgreSQL refuses NUL in text (a 500 deep inside a query), and control characters in names,
emails or search terms are never meant. One ASGI middleware checks the path, the query string
and every string (keys included) of a JSON, url-encoded or multipart body; free text may keep
tab, CR and LF, nothing else below U+0020. Bodies over the cap are refused from their
``Content-Length`` without reading them, or as soon as a streamed body passes the cap.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Iterator
from typing import Any
from urllib.parse import parse_qsl

from starlette.datastructures import Headers, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from twotier.kit.errors import AppError, Invalid

# C0 controls; free text (bodies) may carry tab, LF and CR.
_CONTROL_ANYWHERE = re.compile(r"[\x00-\x1f]")
_CONTROL_IN_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")

ErrorRenderer = Callable[[Scope, AppError], Awaitable[Response]]


class PayloadTooLarge(AppError):
    status = 413
    code = "payload_too_large"
    title = "Payload too large"


def invalid_characters(where: str, char: str) -> Invalid:
    return Invalid(
        f"{where} contains a control character (U+{ord(char):04X}), which is not allowed.",
        code="invalid_characters",
        extra={"location": where},
    )


def _strings(value: Any, where: str) -> Iterator[tuple[str, str]]:
    """Every string in a parsed JSON document with where it sits (iterative: no recursion)."""
    stack: list[tuple[Any, str]] = [(value, where)]
    while stack:
        item, at = stack.pop()
        if isinstance(item, str):
            yield at, item
        elif isinstance(item, dict):
            for key, child in item.items():
                yield f"{at}.{key}", key
                stack.append((child, f"{at}.{key}"))
        elif isinstance(item, list):
            stack.extend((child, f"{at}[{i}]") for i, child in enumerate(item))


def _first_control(pairs: Iterator[tuple[str, str]], pattern: re.Pattern[str]) -> Invalid | None:
    for where, text in pairs:
        found = pattern.search(text)
        if found:
            return invalid_characters(where, found.group(0))
    return None


def check_path_and_query(scope: Scope) -> Invalid | None:
    path: str = scope.get("path", "")
    found = _CONTROL_ANYWHERE.search(path)
    if found:
        return invalid_characters("path", found.group(0))
    query = scope.get("query_string", b"").decode("latin-1")
    if not query:
        return None
    pairs = parse_qsl(query, keep_blank_values=True, errors="replace")
    return _first_control(
        ((f"query.{k}", text) for k, v in pairs for text in (k, v)), _CONTROL_ANYWHERE
    )


async def _check_body(headers: Headers, body: bytes) -> Invalid | None:
    if not body:
        return None
    media_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type == "application/json" or media_type.endswith("+json"):
        try:
            document = json.loads(body)
        except (ValueError, RecursionError):
            return None  # not JSON: the route's own validation answers 422
        return _first_control(_strings(document, "body"), _CONTROL_IN_TEXT)
    if media_type == "application/x-www-form-urlencoded":
        pairs = parse_qsl(body.decode("latin-1"), keep_blank_values=True, errors="replace")
        return _first_control(
            ((f"form.{k}", text) for k, v in pairs for text in (k, v)), _CONTROL_IN_TEXT
        )
    if media_type == "multipart/form-data":
        return await _check_multipart(headers, body)
    return None


async def _check_multipart(headers: Headers, body: bytes) -> Invalid | None:
    async def stream() -> Any:
        yield body

    try:
        form = await MultiPartParser(headers, stream()).parse()
    except MultiPartException:
        return None  # malformed: the route's own parsing answers
    try:
        fields: list[tuple[str, str]] = []
        for key, value in form.multi_items():
            fields.append((f"form.{key}", key))
            if isinstance(value, UploadFile):
                fields.append((f"form.{key}", value.filename or ""))
            else:
                fields.append((f"form.{key}", value))
        return _first_control(iter(fields), _CONTROL_IN_TEXT)
    finally:
        await form.close()


def _body_headers(scope: Scope) -> tuple[str | None, bytes]:
    """``Content-Length`` (the first) and ``Transfer-Encoding``, in one look at the raw
    headers (most requests have no body: nothing else is read)."""
    length: str | None = None
    encoding = b""
    for name, value in scope["headers"]:
        if name == b"content-length" and length is None:
            length = value.decode("latin-1")
        elif name == b"transfer-encoding":
            encoding = value
    return length, encoding


class InputGuardMiddleware:
    """413 past ``max_body_bytes``; 422 ``invalid_characters`` for control characters."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, render_error: ErrorRenderer) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.render_error = render_error

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        problem = check_path_and_query(scope)
        if problem is not None:
            await self._refuse(scope, receive, send, problem)
            return
        length, encoding = _body_headers(scope)
        if length is None and b"chunked" not in encoding.lower():
            await self.app(scope, receive, send)  # no body to look at
            return
        if length is not None and length.isdigit() and int(length) > self.max_body_bytes:
            await self._refuse(scope, receive, send, self._too_large())
            return
        body, more = await self._read(receive)
        if more:
            await self._refuse(scope, receive, send, self._too_large())
            return
        problem = await _check_body(Headers(scope=scope), body)
        if problem is not None:
            await self._refuse(scope, receive, send, problem)
            return

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _read(self, receive: Receive) -> tuple[bytes, bool]:
        """The whole body, or what was read when it passed the cap (and True)."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return b"", True
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks), False

    def _too_large(self) -> PayloadTooLarge:
        return PayloadTooLarge(
            f"The request body is larger than {self.max_body_bytes} bytes.",
            extra={"max_body_bytes": self.max_body_bytes},
        )

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, exc: AppError) -> None:
        response = await self.render_error(scope, exc)
        await response(scope, receive, send)
