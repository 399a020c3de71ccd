"""The lean handler (``kit.fastroute``) answers as FastAPI's handler does, for reads and for
writes with a JSON body: the same status, body and headers for the same request, FastAPI's
422 for bad parameters and bodies, the dependencies' errors first — and it is the one
serving the API's reads and its orders."""

from __future__ import annotations

from typing import Any

import fastapi.routing as fastapi_routing
import httpx
import orjson
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts

from tests.commerce.helpers import World, subscribe, two_tier_world
from twotier.config import Settings
from twotier.kit import fastroute
from twotier.kit.db import Database

# Reads a reseller, a provider and a customer make, hot and not, with ids and query strings.
READS = [
    ("reseller", "/api/v1/me"),
    ("customer", "/api/v1/me"),
    ("reseller", "/api/v1/customers"),
    ("reseller", "/api/v1/customers?limit=1"),
    ("reseller", "/api/v1/customers?q=north"),
    ("reseller", "/api/v1/customers/{customer}"),
    ("provider", "/api/v1/customers/{customer}"),
    ("reseller", "/api/v1/customers/{customer}/subscriptions"),
    ("customer", "/api/v1/customers/{customer}/subscriptions"),
    ("customer", "/api/v1/customers/{customer}/subscriptions?status=active"),
    ("customer", "/api/v1/customers/{customer}/subscriptions?status=cancelled&limit=5"),
    ("reseller", "/api/v1/customers?q=&limit=2&limit=1"),  # empty, and given twice
    ("reseller", "/api/v1/customers/{customer}/delegated-access"),
    ("provider", "/api/v1/indirect-resellers/{reseller}/customers"),
    ("reseller", "/api/v1/indirect-providers"),
    ("reseller", "/api/v1/offers"),
    ("reseller", "/api/v1/partner"),
    ("reseller", "/api/v1/audit-records"),
    # Refused or not found: the dependencies' and the services' errors.
    ("customer", "/api/v1/customers"),
    ("provider", "/api/v1/customers/00000000-0000-4000-8000-000000000000"),
    # Bad parameters: FastAPI's own 422.
    ("reseller", "/api/v1/customers?limit=0"),
    ("reseller", "/api/v1/customers/not-a-uuid"),
    ("reseller", "/api/v1/customers?cursor=forged"),
    ("customer", "/api/v1/customers/{customer}/subscriptions?status=bogus"),
    ("customer", "/api/v1/customers/{customer}/subscriptions?status="),
    ("reseller", "/api/v1/customers?limit=many"),
    # No credentials at all, and a bad id: the 401 comes first.
    (None, "/api/v1/customers/not-a-uuid"),
    (None, "/api/v1/me"),
]


@pytest.fixture
def solved(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths of the requests FastAPI's own dependency solver served (the lean handler's
    fallback), as they come."""
    paths: list[str] = []
    original = fastapi_routing.solve_dependencies  # type: ignore[attr-defined]

    async def counting(*args: Any, **kwargs: Any) -> Any:
        paths.append(kwargs["request"].url.path)
        return await original(*args, **kwargs)

    monkeypatch.setattr("fastapi.routing.solve_dependencies", counting)
    return paths


@pytest.fixture
async def world(
    client: httpx.AsyncClient, db: Database, settings: Settings, operator: dict[str, str]
) -> World:
    world = await two_tier_world(client, db, settings, operator)
    await subscribe(client, world, quantity=2)
    return world


def _answer(response: httpx.Response) -> tuple[int, str, Any]:
    body = response.json() if response.content else None
    if isinstance(body, dict):
        body.pop("request_id", None)  # a new one per request
    return response.status_code, response.headers.get("content-type", ""), body


async def test_the_lean_handler_answers_as_fastapi_does(
    app: FastAPI, client: httpx.AsyncClient, world: World
) -> None:
    answers: dict[str, list[tuple[int, str, Any]]] = {"lean": [], "fastapi": []}
    for handler in ("lean", "fastapi"):
        if handler == "fastapi":
            # Any override sends every request through FastAPI's own handler.
            app.dependency_overrides[_unrelated] = _unrelated
        for who, path in READS:
            url = path.format(customer=world.customer.id, reseller=world.reseller_account_id)
            headers = getattr(world, who).auth if who else {}
            answers[handler].append(_answer(await client.get(url, headers=headers)))
    assert answers["lean"] == answers["fastapi"]
    statuses = [status for status, _, _ in answers["lean"]]
    # The walk met answers and refusals of each kind.
    assert {200, 401, 403, 404, 422} <= set(statuses), statuses


async def test_the_api_reads_are_served_lean(
    app: FastAPI, client: httpx.AsyncClient, world: World, solved: list[str]
) -> None:
    ok = await client.get("/api/v1/me", headers=world.reseller.auth)
    assert ok.status_code == 200
    assert solved == []  # the lean handler solved it
    bad = await client.get("/api/v1/customers?limit=0", headers=world.reseller.auth)
    assert bad.status_code == 422
    assert solved == ["/api/v1/customers"]  # FastAPI's handler told what is wrong


def test_which_routes_get_the_lean_handler(app: FastAPI) -> None:
    lean: set[str] = set()
    full: set[str] = set()
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if not isinstance(route, APIRoute) or "GET" not in (route.methods or set()):
            continue
        (lean if fastroute.lean_handler(route, _fallback) else full).add(route.path)
    # Every API read answering a model; no page (HTML), no write.
    assert {"/api/v1/me", "/api/v1/customers", "/api/v1/customers/{customer_id}"} <= lean
    assert all(path.startswith(("/api/v1/", "/healthz")) for path in lean)
    assert {"/dashboard", "/customers", "/api/docs"} <= full


async def _unrelated() -> None:
    """A dependency no route has: overriding it changes nothing but the handler."""


async def _fallback(_request: Any) -> Any:
    raise AssertionError("not called")


def test_the_lean_handler_reads_parameters_without_fastapis_per_request_work(
    app: FastAPI,
) -> None:
    """Every parameter of a lean route is read by a plan made once (aliases, lists), not
    worked out again by ``request_params_to_args`` at each request."""
    steps = []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIRoute) and fastroute.lean_handler(route, _fallback):
            step = fastroute._plan(route.dependant, fastroute._json_body_field(route))
            assert step is not None
            steps.append(step)
    pending = list(steps)
    seen = 0
    while pending:
        step = pending.pop()
        pending.extend(sub for _name, sub in step.dependencies)
        for fields, plan in (
            (step.path_params, step.path_plan),
            (step.query_params, step.query_plan),
        ):
            assert plan is not None
            assert [p.name for p in plan] == [f.name for f in fields]
            seen += len(plan)
    assert seen > 50


def _order(world: World, quantity: Any = 1) -> dict[str, Any]:
    line = {"offer_id": world.offer["id"], "quantity": quantity,
            "partner_id_on_record": world.reseller_partner_id}  # fmt: skip
    return {"line_items": [line], "attestation_accepted": True}


def _shape(answer: tuple[int, str, Any]) -> tuple[int, str, Any]:
    """An answer with what differs between two orders left out (ids, times)."""
    status, kind, body = answer
    if status == 201:
        lines = [(li["quantity"], li["unit_price"], li["partner_id_on_record"])
                 for li in body["line_items"]]  # fmt: skip
        return status, kind, (sorted(body), lines, len(body["subscriptions"]))
    return answer


async def test_the_lean_handler_writes_as_fastapi_does(
    app: FastAPI, client: httpx.AsyncClient, world: World, solved: list[str]
) -> None:
    """A write with a JSON body (an order): the same answer through either handler, for a
    good body and for each way a body can be wrong; the lean one serves the good one."""
    path = f"/api/v1/customers/{world.customer.id}/orders"
    auth = world.provider.auth
    json_type = {"content-type": "application/json"}
    cases: list[tuple[str, dict[str, str], bytes]] = [
        (path, auth | json_type, orjson.dumps(_order(world))),
        (path, auth | {"content-type": "application/merge-patch+json"},
         orjson.dumps(_order(world, 2))),
        (path, auth | json_type, orjson.dumps(_order(world, 0))),  # fails validation
        (path, auth | json_type, b'{"line_items": ['),  # not JSON
        (path, auth | json_type, b""),  # no body
        (path, auth | {"content-type": "text/plain"}, orjson.dumps(_order(world))),
        (path, json_type, orjson.dumps(_order(world))),  # no credentials
        ("/api/v1/customers/not-a-uuid/orders", auth | json_type, orjson.dumps(_order(world))),
        (f"/api/v1/customers/{world.reseller.id}/orders", auth | json_type,
         orjson.dumps(_order(world))),  # not the provider's customer
    ]  # fmt: skip
    answers: dict[str, list[tuple[int, str, Any]]] = {"lean": [], "fastapi": []}
    for handler in ("lean", "fastapi"):
        if handler == "fastapi":
            app.dependency_overrides[_unrelated] = _unrelated
        for n, (url, headers, content) in enumerate(cases):
            solved.clear()
            key = {"Idempotency-Key": f"{handler}-{n}"}
            response = await client.post(url, content=content, headers=headers | key)
            answers[handler].append(_shape(_answer(response)))
            if handler == "lean" and n == 0:
                assert response.status_code == 201, response.text
                assert solved == []  # served by the lean handler
    assert answers["lean"] == answers["fastapi"]
    statuses = [status for status, _, _ in answers["lean"]]
    assert statuses == [201, 201, 422, 422, 422, 422, 401, 422, 404]
