"""Errors as problem+json, pagination limits and cursors, the OpenAPI document."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from tests.factories import make_org, make_user

ROOT = Path(__file__).resolve().parents[2]


async def test_unknown_api_path_is_a_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["code"] == "not_found"
    assert {"type", "title", "status", "detail", "code"} <= set(problem)


async def test_wrong_method_is_a_problem(client: httpx.AsyncClient) -> None:
    response = await client.put("/api/v1/me")
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"
    assert response.headers["allow"] == "GET"
    # One route per method: the answer names all of them, not the first route's alone.
    token = await client.put("/api/v1/auth/token")
    assert token.headers["allow"] == "POST, DELETE"


async def test_malformed_json_is_a_validation_problem(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/tenants", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"


async def test_limit_above_the_maximum_is_clamped_not_refused(
    client: httpx.AsyncClient,
) -> None:
    org = await make_org(client)
    response = await client.get("/api/v1/tenant/users?limit=5000", headers=org.auth)
    assert response.status_code == 200
    assert response.json()["next_cursor"] is None


async def test_limit_below_one_is_refused(client: httpx.AsyncClient) -> None:
    org = await make_org(client)
    response = await client.get("/api/v1/tenant/users?limit=0", headers=org.auth)
    assert response.status_code == 422


async def test_garbage_cursor_is_refused_with_a_code(client: httpx.AsyncClient) -> None:
    org = await make_org(client)
    for cursor in ("not-a-cursor", "W1tdXQ", "eyJhIjoxfQ"):
        response = await client.get(
            "/api/v1/tenant/users", params={"cursor": cursor}, headers=org.auth
        )
        assert response.status_code == 422
        assert response.json()["code"] == "invalid_cursor"


async def test_openapi_is_served_as_3_1(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response.json()["openapi"].startswith("3.1")
    docs = await client.get("/api/docs")
    assert docs.status_code == 200
    assert "/static/api-docs.js" in docs.text  # which opens /api/v1/openapi.json


async def test_committed_openapi_json_matches_the_app(client: httpx.AsyncClient) -> None:
    """A changed contract must show up as a diff: run `make openapi` and commit it."""
    served = (await client.get("/api/v1/openapi.json")).json()
    committed = json.loads((ROOT / "openapi.json").read_text())
    assert served == committed, "openapi.json is stale: run `make openapi`"


async def test_a_cursor_works_only_on_the_list_that_issued_it(client: httpx.AsyncClient) -> None:
    org = await make_org(client)
    for _ in range(3):
        await make_user(client, org)
    first = await client.get("/api/v1/tenant/users", params={"limit": 1}, headers=org.auth)
    cursor = first.json()["next_cursor"]
    assert cursor

    same_list = await client.get(
        "/api/v1/tenant/users", params={"limit": 1, "cursor": cursor}, headers=org.auth
    )
    other_list = await client.get(
        "/api/v1/audit-records", params={"cursor": cursor}, headers=org.auth
    )
    reversed_list = await client.get(
        "/api/v1/audit-records", params={"limit": 1, "newest_first": "true"}, headers=org.auth
    )
    desc_cursor = reversed_list.json()["next_cursor"]
    ascending = await client.get(
        "/api/v1/audit-records", params={"cursor": desc_cursor}, headers=org.auth
    )

    assert same_list.status_code == 200
    assert same_list.json()["items"][0]["id"] != first.json()["items"][0]["id"]
    assert other_list.status_code == 422
    assert other_list.json()["code"] == "invalid_cursor"
    assert desc_cursor
    assert ascending.status_code == 422
    assert ascending.json()["code"] == "invalid_cursor"
