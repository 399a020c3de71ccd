"""The app's routes found from the path's first segments, not tried one by one.

FastAPI (0.165) finds a request's route by asking each included router in turn, and each asks
every route it holds; the router that matches is then asked again to handle the request, which
matches once more. For ``GET /api/v1/customers/{id}`` that was about 26 regular expressions and
a quarter of the request's CPU in process.

``RouteIndex`` sits where the app's router starts (its ``middleware_stack``) and keeps, for
the first three segments of every API path and its number of segments (``("api", "v1",
"customers", "5")``), the routes that can answer it, in the order FastAPI would try them. A
request whose path leads to one of those routes with a full match is handed to that route
exactly as FastAPI's router would hand it (the same scope keys, the same route-selected
hook); everything else — a path no indexed route matches in full, a wrong method (405),
trailing-slash redirects, websockets, lifespan, any route after one the index cannot see
through — goes to FastAPI's own router unchanged.

Indexed: the app's included routers whose routes are plain ``APIRoute``s with literal first
three segments, up to the first top-level entry that is not (a mount, a route added to the app
itself, a router whose paths start with a parameter): FastAPI tries that entry before anything
after it, so nothing after it is indexed. A plain route with a literal path (the OpenAPI
document) is indexed under its path and sends its requests FastAPI's way.
``tests/kit/test_routeindex.py`` checks that every route of the app is reached the same way
through the index as through FastAPI's router.

The index reads FastAPI's router structures (private to FastAPI, pinned in
``constraints.txt``); when they are not what it knows, it indexes nothing and every request
takes FastAPI's way.
"""

from __future__ import annotations

from typing import Any

from fastapi import routing
from starlette._utils import get_route_path
from starlette.routing import Match, Route, Router
from starlette.types import ASGIApp, Receive, Scope, Send

_KNOWN = all(
    hasattr(routing, name)
    for name in (
        "_IncludedRouter",
        "_EffectiveRouteContext",
        "_apply_router_form_limits",
        "_get_fastapi_scope",
        "_update_scope",
        "_route_selected",
        "_FASTAPI_INCLUDED_ROUTER_KEY",
        "_FASTAPI_EFFECTIVE_ROUTE_CONTEXT_KEY",
    )
)
# FastAPI's private router structures, read as they are.
fastapi_routing: Any = routing
DEPTH = 3

Key = tuple[str, ...]
# (the included router, the route's effective context in it)
Leaf = tuple[Any, Any]


def path_key(path: str) -> Key:
    """The path's first three segments and its number of segments: a route's parameters
    match within a segment (no ``:path`` parameters are indexed), so only routes with as
    many segments as the request's path can match it."""
    return (*path.split("/", DEPTH + 1)[1 : DEPTH + 1], str(path.count("/")))


def _leaves(entry: Any) -> list[Leaf] | None:
    """The routes of a top-level included router, or None when it holds anything else."""
    if not isinstance(entry, fastapi_routing._IncludedRouter):
        return None
    if entry.effective_low_priority_routes():
        return None
    leaves: list[Leaf] = []
    for context in entry.effective_candidates():
        if not (
            isinstance(context, fastapi_routing._EffectiveRouteContext)
            and isinstance(context.original_route, fastapi_routing.APIRoute)
            and context.starlette_route is None
            and not context.frontend_prefix
        ):
            return None
        if ":path}" in context.path_format or any(
            "{" in segment for segment in path_key(context.path_format)
        ):
            return None
        leaves.append((entry, context))
    return leaves


def _literal(entry: Any) -> bool:
    return type(entry) is Route and "{" not in entry.path


def build(routes: list[Any]) -> dict[Key, list[Leaf]]:
    table: dict[Key, list[Leaf]] = {}
    if not _KNOWN:
        return table
    for entry in routes:
        leaves = _leaves(entry)
        if leaves is None:
            if _literal(entry):
                # Only its own path can reach it (the OpenAPI document): FastAPI's way.
                table.setdefault(path_key(entry.path), []).append((None, entry))
                continue
            break  # FastAPI tries this entry before any after it: index no further
        for leaf in leaves:
            table.setdefault(path_key(leaf[1].path_format), []).append(leaf)
    return table


class RouteIndex:
    """ASGI: the first full match among the indexed routes, else FastAPI's router."""

    def __init__(self, router: Router, fallback: ASGIApp) -> None:
        self.router = router
        self.fallback = fallback
        self._version: tuple[int, int] | None = None
        self._table: dict[Key, list[Leaf]] = {}

    def _current(self) -> dict[Key, list[Leaf]]:
        # Routes added to the app itself after start-up (tests do) are seen at once. A route
        # added to an included router after the first request is not indexed (FastAPI's way
        # still finds it when no indexed route matches): routes are added in create_app.
        version = (len(self.router.routes), getattr(self.router, "_routes_version", 0))
        if version != self._version:
            self._table = build(list(self.router.routes))
            self._version = version
        return self._table

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.fallback(scope, receive, send)
            return
        leaves = self._current().get(path_key(get_route_path(scope)))
        if leaves:
            for branch, context in leaves:
                if branch is None:
                    break
                match, child_scope = context.matches(scope)
                if match is Match.FULL:
                    await self._handle(scope, receive, send, branch, context, child_scope)
                    return
        await self.fallback(scope, receive, send)

    async def _handle(
        self, scope: Scope, receive: Receive, send: Send, branch: Any, context: Any, child: Scope
    ) -> None:
        # What FastAPI's router, the included router's handle and its _handle_selected do
        # for the route they select, in their order.
        fastapi_routing._apply_router_form_limits(scope, getattr(self.router, "form_limits", {}))
        if "router" not in scope:
            scope["router"] = self.router
        fastapi_routing._apply_router_form_limits(scope, branch.include_context.form_limits)
        fastapi_scope = fastapi_routing._get_fastapi_scope(scope)
        fastapi_scope[fastapi_routing._FASTAPI_INCLUDED_ROUTER_KEY] = branch
        route = context.original_route
        child["route"] = route
        fastapi_routing._update_scope(scope, child)
        fastapi_routing._route_selected(scope=scope, path=context.path_format, mount=False)
        fastapi_scope[fastapi_routing._FASTAPI_EFFECTIVE_ROUTE_CONTEXT_KEY] = context
        scope["route"] = route
        await route.handle(scope, receive, send)


def install(router: Router) -> None:
    """Put the index in front of ``router`` (after all of the app's routes are added)."""
    router.middleware_stack = RouteIndex(router, router.middleware_stack)
