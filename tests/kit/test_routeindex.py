"""The route index (``kit.routeindex``) picks the route FastAPI's router would pick, and hands
it the request as FastAPI would: for every route of the app, with every method it answers
and one it does not, and for paths no route has."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import fastapi.routing as fastapi_routing
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.exceptions import HTTPException
from starlette.responses import PlainTextResponse
from starlette.types import Receive, Scope, Send

from twotier.app import create_app
from twotier.config import Settings
from twotier.kit import routeindex

SETTINGS = Settings(env="test", database_url="sqlite+aiosqlite://", _env_file=None)
AN_ID = "00000000-0000-4000-8000-000000000001"
PARAM = re.compile(r"{[^}]+}")


def _requests(app: FastAPI) -> Iterator[tuple[str, str]]:
    for context in iter_route_contexts(app.routes):
        route = context.route
        if not isinstance(route, APIRoute):
            continue
        path = PARAM.sub(AN_ID, route.path)
        methods = route.methods or set()
        for method in sorted(methods):
            yield method, path
        yield "PUT" if "PUT" not in methods else "PATCH", path  # 405, or another route
    for path in (
        "/api/v1/customers/",  # FastAPI redirects to the path without the slash
        "/api/v1/nothing-here",
        f"/api/v1/customers/{AN_ID}/nothing/here",
        "/customers",
        "/static/nothing.css",
        "/",
    ):
        yield "GET", path


async def _dispatch(app: FastAPI, method: str, path: str) -> dict[str, Any]:
    """Where the app's router sends the request: the route handed it and what the scope
    told that route, or the status of the answer when no route is."""
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 1),
        "server": ("testserver", 80),
        "state": {},
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        sent.append(message)

    try:
        await app.router(scope, receive, send)
        status, headers = sent[0]["status"], dict(sent[0].get("headers", []))
    except HTTPException as exc:  # a mount's refusal, answered by the app's handlers
        status, headers = exc.status_code, {}
    return {
        "status": status,
        "location": headers.get(b"location"),
        "route": scope.get("_handled_by"),
        "path_params": scope.get("path_params"),
        "endpoint": scope.get("endpoint"),
        "scope_route": scope.get("route"),
        "router": scope.get("router"),
        "fastapi": dict(scope.get(fastapi_routing._FASTAPI_SCOPE_KEY, {})),
    }


@pytest.fixture
def spied(monkeypatch: pytest.MonkeyPatch) -> None:
    """Routes answer at once, naming themselves in the scope (no database, no handlers)."""

    async def handle(self: APIRoute, scope: Scope, receive: Receive, send: Send) -> None:
        scope["_handled_by"] = self
        await PlainTextResponse("handled")(scope, receive, send)

    monkeypatch.setattr(APIRoute, "handle", handle)


def _index(app: FastAPI) -> routeindex.RouteIndex:
    index = app.router.middleware_stack
    assert isinstance(index, routeindex.RouteIndex)
    return index


def _set_stack(app: FastAPI, stack: Any) -> None:
    router: Any = app.router
    router.middleware_stack = stack


async def test_every_route_is_reached_as_through_fastapis_router(spied: None) -> None:
    app = create_app(SETTINGS)
    index = _index(app)
    requests = list(_requests(app))
    assert len(requests) > 200
    handed = 0
    for method, path in requests:
        through_index = await _dispatch(app, method, path)
        _set_stack(app, index.fallback)
        try:
            through_fastapi = await _dispatch(app, method, path)
        finally:
            _set_stack(app, index)
        assert through_index == through_fastapi, (method, path)
        handed += through_index["route"] is not None
    # Most requests reach a route; the rest are FastAPI's own 404, 405 and redirect.
    assert handed > 150
    assert (await _dispatch(app, "GET", "/api/v1/nothing"))["status"] == 404


async def test_the_apis_routes_are_indexed_and_taken_from_the_index(
    spied: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = create_app(SETTINGS)
    indexed = {
        id(context.original_route)
        for leaves in routeindex.build(list(app.router.routes)).values()
        for branch, context in leaves
        if branch is not None
    }
    api = [
        c.route
        for c in iter_route_contexts(app.routes)
        if isinstance(c.route, APIRoute) and c.route.path.startswith("/api/v1/")
    ]
    assert len(api) > 80
    assert [route.path for route in api if id(route) not in indexed] == []
    # The portal's pages come after a router whose paths begin with a parameter: FastAPI's way.
    pages = [
        c.route
        for c in iter_route_contexts(app.routes)
        if isinstance(c.route, APIRoute) and c.route.path == "/customers"
    ]
    assert pages
    assert not any(id(route) in indexed for route in pages)

    # An indexed read never reaches FastAPI's router; a page does.
    index = _index(app)
    fallen_back: list[str] = []
    original = index.fallback

    async def fallback(scope: Scope, receive: Receive, send: Send) -> None:
        fallen_back.append(scope["path"])
        await original(scope, receive, send)

    monkeypatch.setattr(index, "fallback", fallback)
    assert (await _dispatch(app, "GET", f"/api/v1/customers/{AN_ID}"))["route"] is not None
    assert (await _dispatch(app, "GET", "/customers"))["route"] is not None
    assert fallen_back == ["/customers"]


async def test_a_route_added_after_the_first_request_is_reached(spied: None) -> None:
    app = create_app(SETTINGS)
    assert (await _dispatch(app, "GET", "/api/v1/me"))["status"] == 200

    @app.get("/api/v1/customers/{customer_id}/added-later")
    async def added(customer_id: str) -> dict[str, str]:
        return {}

    answer = await _dispatch(app, "GET", f"/api/v1/customers/{AN_ID}/added-later")
    assert answer["route"].endpoint is added
    assert answer["path_params"] == {"customer_id": AN_ID}


async def test_the_first_route_in_fastapis_order_wins(spied: None) -> None:
    """A parameter route of an earlier router shadows a literal one of a later router, and
    a route of the right method wins over an earlier one of another."""
    app = FastAPI()
    first, second = fastapi_routing.APIRouter(), fastapi_routing.APIRouter()

    @first.get("/api/v1/things/{thing}")
    async def any_thing(thing: str) -> None: ...

    @first.post("/api/v1/others/special")
    async def post_special() -> None: ...

    @second.get("/api/v1/things/special")
    async def special_thing() -> None: ...

    @second.get("/api/v1/others/special")
    async def get_special() -> None: ...

    app.include_router(first)
    app.include_router(second)
    routeindex.install(app.router)
    index = _index(app)
    answers = {}
    for method, path in [
        ("GET", "/api/v1/things/special"),
        ("GET", "/api/v1/others/special"),
        ("POST", "/api/v1/others/special"),
        ("DELETE", "/api/v1/others/special"),
    ]:
        through_index = await _dispatch(app, method, path)
        _set_stack(app, index.fallback)
        assert through_index == await _dispatch(app, method, path)
        _set_stack(app, index)
        route = through_index["route"]
        answers[method, path] = (through_index["status"], route and route.endpoint)
    assert answers == {
        ("GET", "/api/v1/things/special"): (200, any_thing),
        ("GET", "/api/v1/others/special"): (200, get_special),
        ("POST", "/api/v1/others/special"): (200, post_special),
        # No route of the method: the first of the path answers (in the app, its 405).
        ("DELETE", "/api/v1/others/special"): (200, post_special),
    }


async def test_a_request_is_matched_only_against_routes_with_as_many_segments(
    spied: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = create_app(SETTINGS)
    tried: list[str] = []
    original = fastapi_routing._EffectiveRouteContext.matches

    def matches(self: Any, scope: Scope) -> Any:
        tried.append(self.path_format)
        return original(self, scope)

    monkeypatch.setattr(fastapi_routing._EffectiveRouteContext, "matches", matches)
    path = f"/api/v1/customers/{AN_ID}/subscriptions"
    answer = await _dispatch(app, "GET", path)
    assert answer["route"].path == "/api/v1/customers/{customer_id}/subscriptions"
    # Only paths of five segments under /api/v1/customers were tried (not all of them).
    assert tried
    assert all(p.startswith("/api/v1/customers/") and p.count("/") == 5 for p in tried), tried
