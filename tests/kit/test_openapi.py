"""The OpenAPI document says what the server answers: pages for lists, problem+json errors."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.factories import make_org

API = "/api/v1/"


@pytest.fixture
async def document(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    return dict(response.json())


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, op)
        for path, item in document["paths"].items()
        for method, op in item.items()
        if path.startswith(API)
    ]


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


async def test_every_list_is_a_page_never_a_bare_array(document: dict[str, Any]) -> None:
    pages, bare = [], []
    for method, path, op in operations(document):
        answer = op["responses"].get("200", {}).get("content", {}).get("application/json")
        if method != "GET" or answer is None:
            continue
        schema = resolve(document, answer["schema"])
        if schema.get("type") == "array":
            bare.append(path)
        elif set(schema.get("properties", {})) == {"items", "next_cursor"}:
            pages.append(path)
    assert bare == []
    for listed in ("/api/v1/customers/{customer_id}/licenses", "/api/v1/my/partners"):
        assert listed in pages


async def test_every_error_is_documented_as_problem_json(document: dict[str, Any]) -> None:
    plain, problems = [], 0
    for method, path, op in operations(document):
        for status, response in op["responses"].items():
            if int(status) < 400:
                continue
            if set(response.get("content", {})) != {"application/problem+json"}:
                plain.append(f"{method} {path} {status}")
            problems += 1
    assert plain == []
    assert problems > 200
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas
    assert {"type", "title", "status", "detail", "code"} <= set(schemas["Problem"]["required"])


async def test_every_operation_documents_the_statuses_its_shape_implies(
    document: dict[str, Any],
) -> None:
    public = {
        "POST /api/v1/tenants",
        "POST /api/v1/auth/token",
        "GET /api/v1/providers",
        "GET /api/v1/invitations/{token}",
        "POST /api/v1/enrollments/verify-email",
        "GET /api/v1/webhook-events",
        "GET /api/v1/dev/mailbox",
    }
    for method, path, op in operations(document):
        documented = set(op["responses"])
        name = f"{method} {path}"
        if name not in public:
            assert "401" in documented, name
        if "{" in path:
            assert "404" in documented, name
        if op.get("parameters") or "requestBody" in op:
            assert "422" in documented, name
    tenants = document["paths"]["/api/v1/tenant/users"]["get"]["responses"]
    assert "403" in tenants  # role checked
    me = document["paths"]["/api/v1/me"]["get"]["responses"]
    assert set(me) == {"200", "401"}  # nothing else can happen to it


async def test_the_documented_problem_is_what_the_server_sends(
    client: httpx.AsyncClient, document: dict[str, Any]
) -> None:
    org = await make_org(client)
    invalid = await client.get("/api/v1/tenant/users?limit=0", headers=org.auth)
    unauthenticated = await client.get("/api/v1/me")
    schemas = document["components"]["schemas"]
    for response, schema in (
        (invalid, schemas["ValidationProblem"]),
        (unauthenticated, schemas["Problem"]),
    ):
        assert response.headers["content-type"] == "application/problem+json"
        body = response.json()
        assert set(schema["required"]) <= set(body)
        assert set(schema["properties"]) >= {"type", "title", "status", "detail", "code"}
    assert invalid.json()["errors"][0]["loc"] == ["query", "limit"]
    retry = document["paths"]["/api/v1/auth/token"]["post"]["responses"]["429"]
    assert "Retry-After" in retry["headers"]


async def test_creating_operations_document_the_idempotency_key(
    document: dict[str, Any],
) -> None:
    def key_of(path: str) -> dict[str, Any]:
        params = document["paths"][path]["post"]["parameters"]
        return next(p for p in params if p["name"] == "Idempotency-Key")

    assert key_of("/api/v1/customers/{customer_id}/orders")["required"] is True
    assert key_of("/api/v1/tenant/users")["required"] is False
    assert key_of("/api/v1/tenant/users")["schema"]["maxLength"] == 255
