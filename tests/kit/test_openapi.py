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
    }
    for method, path, op in operations(document):
        documented = set(op["responses"])
        name = f"{method} {path}"
        if name not in public:
            assert "401" in documented, name
            assert op["security"] == [{"bearer": []}], name
        else:
            assert "security" not in op, name
        if "{" in path:
            assert "404" in documented, name
        if "requestBody" in op:
            assert {"400", "413"} <= documented, name
        assert "422" in documented, name  # control characters, in any request
    tenants = document["paths"]["/api/v1/tenant/users"]["get"]["responses"]
    assert "403" in tenants  # role checked
    me = document["paths"]["/api/v1/me"]["get"]["responses"]
    # 403: a reset password must be changed first (POST /api/v1/me/password).
    assert set(me) == {"200", "401", "403", "422"}  # nothing else can happen to it
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


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


def _objects(document: dict[str, Any], schema: dict[str, Any], seen: set[str]) -> list[str]:
    """Names (or paths) of the object schemas under ``schema`` that allow unknown fields."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        if name in seen:
            return []
        seen.add(name)
        target = resolve(document, schema)
        named = (
            [name]
            if target.get("type") == "object" and target.get("additionalProperties") is not False
            else []
        )
        return named + _objects(document, {k: v for k, v in target.items()}, seen)
    loose: list[str] = []
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in schema.get(key, []):
            loose += _objects(document, sub, seen)
    if "items" in schema:
        loose += _objects(document, schema["items"], seen)
    for sub in schema.get("properties", {}).values():
        loose += _objects(document, sub, seen)
    return loose


async def test_request_bodies_refuse_unknown_fields(
    client: httpx.AsyncClient, document: dict[str, Any]
) -> None:
    loose, bodies = [], 0
    for method, path, op in operations(document):
        for media in op.get("requestBody", {}).get("content", {}).values():
            bodies += 1
            loose += [f"{method} {path}: {n}" for n in _objects(document, media["schema"], set())]
    assert bodies > 20
    assert loose == []
    refused = await client.post(
        "/api/v1/auth/token", json={"email": "a@b.example", "password": "x", "remember": True}
    )
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["loc"] == ["body", "remember"]


async def test_request_schemas_state_the_limits_the_server_checks(
    document: dict[str, Any],
) -> None:
    schemas = document["components"]["schemas"]
    countries = schemas["CountryCode"]["enum"]
    assert {"TW", "DE", "US"} <= set(countries)
    assert "EU" not in countries
    for model in ("TenantCreate", "Address", "OrganizationIn", "PriceIn"):
        assert schemas[model]["properties"]["country"] == {
            "$ref": "#/components/schemas/CountryCode"
        }
    price = schemas["PriceIn"]["properties"]
    assert price["unit_price"]["type"] == "string"
    assert price["unit_price"]["pattern"] == r"^[0-9]{1,14}(\.[0-9]{1,4})?$"
    assert price["currency"]["pattern"] == "^[A-Za-z]{3}$"
    assert schemas["TenantCreate"]["properties"]["domain"]["maxLength"] == 253
    assert schemas["SubscriptionPatch"]["minProperties"] == 1
    assert "anyOf" not in schemas["SubscriptionPatch"]["properties"]["quantity"]  # not null
    events = schemas["WebhookCreate"]["properties"]["events"]["items"]["enum"]
    assert "order_created" in events
    assert "webhook_test" not in events
    assert schemas["TokenRequest"]["properties"]["email"]["maxLength"] == 254
    assert schemas["MembershipCredentials"]["properties"]["username"]["maxLength"] == 300
    offers = document["paths"]["/api/v1/offers"]["get"]["parameters"]
    country = next(p for p in offers if p["name"] == "country")
    assert country["schema"]["$ref"] == "#/components/schemas/CountryCode"


async def test_refusals_before_any_route_are_documented_problems(
    client: httpx.AsyncClient, document: dict[str, Any]
) -> None:
    documented = document["paths"]["/api/v1/auth/token"]["post"]["responses"]
    not_text = await client.post(
        "/api/v1/auth/token",
        content=b'{"email": "\xff", "password": "x"}',
        headers={"content-type": "application/json"},
    )
    control = await client.post(
        "/api/v1/auth/token", json={"email": "a\u0000@b.example", "password": "x"}
    )
    in_query = await client.get("/api/v1/me", params={"q": "\u0001"})
    for response, status in ((not_text, 400), (control, 422), (in_query, 422)):
        assert response.status_code == status
        assert response.headers["content-type"] == "application/problem+json"
    assert {"400", "413", "422"} <= set(documented)
    assert "422" in document["paths"]["/api/v1/me"]["get"]["responses"]
