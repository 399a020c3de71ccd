"""GET/POST /api/v1/tenant/users: who may list and add, and tenant isolation."""

from __future__ import annotations

import httpx
import pytest

from tests.factories import PASSWORD, make_org, make_user, sign_in, unique


def user_body(org_domain: str, roles: list[str] | None = None) -> dict[str, object]:
    return {
        "email": f"{unique('u')}@{org_domain}",
        "display_name": "Nina New",
        "password": PASSWORD,
        "roles": roles or [],
    }


async def test_global_admin_adds_a_user_who_can_sign_in(client: httpx.AsyncClient) -> None:
    org = await make_org(client)
    body = user_body(org.tenant["domain"], ["license_admin"])
    response = await client.post("/api/v1/tenant/users", json=body, headers=org.auth)
    assert response.status_code == 201
    created = response.json()
    assert created["roles"] == ["license_admin"]
    assert "password" not in created
    assert "password_hash" not in created
    token = await sign_in(client, str(body["email"]))
    me = (await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})).json()
    assert me["tenant"]["id"] == org.id
    assert me["user"]["roles"] == ["license_admin"]


@pytest.mark.parametrize(
    ("role", "may_list", "may_add"),
    [
        ("global_admin", True, True),
        ("user_admin", True, True),
        ("license_admin", True, False),
        ("helpdesk_admin", True, False),
        ("billing_admin", False, False),
        (None, False, False),
    ],
)
async def test_directory_roles_decide_who_lists_and_adds_users(
    client: httpx.AsyncClient, role: str | None, may_list: bool, may_add: bool
) -> None:
    org = await make_org(client)
    _user, token = await make_user(client, org, [role] if role else [])
    auth = {"Authorization": f"Bearer {token}"}
    listed = await client.get("/api/v1/tenant/users", headers=auth)
    assert listed.status_code == (200 if may_list else 403)
    added = await client.post(
        "/api/v1/tenant/users", json=user_body(org.tenant["domain"]), headers=auth
    )
    assert added.status_code == (201 if may_add else 403)
    if not may_add:
        assert added.json()["code"] == "insufficient_role"


async def test_users_of_another_tenant_are_never_listed(client: httpx.AsyncClient) -> None:
    mine = await make_org(client)
    theirs = await make_org(client)
    await make_user(client, theirs)
    listed = (await client.get("/api/v1/tenant/users", headers=mine.auth)).json()
    assert [u["email"] for u in listed["items"]] == [mine.email]


async def test_user_email_must_be_unique_across_tenants(client: httpx.AsyncClient) -> None:
    mine = await make_org(client)
    theirs = await make_org(client)
    body = user_body(mine.tenant["domain"])
    body["email"] = theirs.email
    response = await client.post("/api/v1/tenant/users", json=body, headers=mine.auth)
    assert response.status_code == 409
    assert response.json()["code"] == "email_taken"


async def test_unknown_role_is_refused(client: httpx.AsyncClient) -> None:
    org = await make_org(client)
    body = user_body(org.tenant["domain"], ["superuser"])
    response = await client.post("/api/v1/tenant/users", json=body, headers=org.auth)
    assert response.status_code == 422


async def test_user_list_pages_without_gaps_or_duplicates(client: httpx.AsyncClient) -> None:
    org = await make_org(client)
    for _ in range(4):
        await client.post(
            "/api/v1/tenant/users", json=user_body(org.tenant["domain"]), headers=org.auth
        )
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": "2"} | ({"cursor": cursor} if cursor else {})
        got = await client.get("/api/v1/tenant/users", params=params, headers=org.auth)
        assert got.status_code == 200, got.text
        page = got.json()
        assert len(page["items"]) <= 2
        seen += [u["id"] for u in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert len(seen) == len(set(seen)) == 5


async def test_idempotency_key_replays_the_first_user(client: httpx.AsyncClient) -> None:
    org = await make_org(client)
    body = user_body(org.tenant["domain"])
    headers = org.auth | {"Idempotency-Key": "add-nina-1"}
    first = await client.post("/api/v1/tenant/users", json=body, headers=headers)
    again = await client.post("/api/v1/tenant/users", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert again.headers.get("Idempotent-Replayed") == "true"
    listed = (await client.get("/api/v1/tenant/users", headers=org.auth)).json()
    assert len(listed["items"]) == 2
    other = user_body(org.tenant["domain"])
    reused = await client.post("/api/v1/tenant/users", json=other, headers=headers)
    assert reused.status_code == 422
    assert reused.json()["code"] == "idempotency_key_reused"


async def test_admin_reads_one_user_of_the_tenant(client: httpx.AsyncClient) -> None:
    org = await make_org(client)
    user, _token = await make_user(client, org, ["helpdesk_admin"])
    response = await client.get(f"/api/v1/tenant/users/{user['id']}", headers=org.auth)
    assert response.status_code == 200
    assert response.json()["roles"] == ["helpdesk_admin"]


async def test_another_tenants_user_is_404_for_read_and_change(client: httpx.AsyncClient) -> None:
    mine = await make_org(client)
    theirs = await make_org(client)
    their_user, _token = await make_user(client, theirs)
    path = f"/api/v1/tenant/users/{their_user['id']}"
    read = await client.get(path, headers=mine.auth)
    changed = await client.patch(path, json={"roles": ["user_admin"]}, headers=mine.auth)
    missing = await client.get(
        "/api/v1/tenant/users/00000000-0000-0000-0000-000000000000", headers=mine.auth
    )
    assert read.status_code == changed.status_code == missing.status_code == 404
    assert read.json() == missing.json()
    untouched = await client.get(path, headers=theirs.auth)
    assert untouched.json()["roles"] == []


async def test_admin_changes_roles_and_the_user_sees_them(client: httpx.AsyncClient) -> None:
    org = await make_org(client)
    user, token = await make_user(client, org)
    response = await client.patch(
        f"/api/v1/tenant/users/{user['id']}",
        json={"roles": ["license_admin", "helpdesk_admin"], "display_name": "Uma Updated"},
        headers=org.auth,
    )
    assert response.status_code == 200
    me = (await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})).json()
    assert me["user"]["roles"] == ["helpdesk_admin", "license_admin"]
    assert me["user"]["display_name"] == "Uma Updated"


async def test_deactivating_a_user_ends_their_access_at_once(client: httpx.AsyncClient) -> None:
    org = await make_org(client)
    user, token = await make_user(client, org)
    auth = {"Authorization": f"Bearer {token}"}
    assert (await client.get("/api/v1/me", headers=auth)).status_code == 200
    for not_a_boolean in (0, "false", "no"):  # JSON false only, as the schema says
        refused = await client.patch(
            f"/api/v1/tenant/users/{user['id']}",
            json={"is_active": not_a_boolean},
            headers=org.auth,
        )
        assert refused.status_code == 422, not_a_boolean
    assert (await client.get("/api/v1/me", headers=auth)).status_code == 200
    await client.patch(
        f"/api/v1/tenant/users/{user['id']}", json={"is_active": False}, headers=org.auth
    )
    assert (await client.get("/api/v1/me", headers=auth)).status_code == 401
    signin = await client.post(
        "/api/v1/auth/token", json={"email": user["email"], "password": PASSWORD}
    )
    assert signin.status_code == 401


async def test_the_last_global_admin_cannot_be_removed(client: httpx.AsyncClient) -> None:
    org = await make_org(client)
    me = (await client.get("/api/v1/me", headers=org.auth)).json()
    path = f"/api/v1/tenant/users/{me['user']['id']}"
    demote = await client.patch(path, json={"roles": []}, headers=org.auth)
    assert demote.status_code == 409
    assert demote.json()["code"] == "last_global_admin"
    deactivate = await client.patch(path, json={"is_active": False}, headers=org.auth)
    assert deactivate.status_code == 409
    second, _token = await make_user(client, org, ["global_admin"])
    assert (await client.patch(path, json={"roles": []}, headers=org.auth)).status_code == 200
    assert second["roles"] == ["global_admin"]


async def test_user_admins_cannot_touch_global_admins(client: httpx.AsyncClient) -> None:
    org = await make_org(client)
    _admin, token = await make_user(client, org, ["user_admin"])
    auth = {"Authorization": f"Bearer {token}"}
    body = user_body(org.tenant["domain"], ["global_admin"])
    assert (await client.post("/api/v1/tenant/users", json=body, headers=auth)).status_code == 403
    me = (await client.get("/api/v1/me", headers=org.auth)).json()
    demote = await client.patch(
        f"/api/v1/tenant/users/{me['user']['id']}", json={"roles": []}, headers=auth
    )
    assert demote.status_code == 403
    plain, _t = await make_user(client, org)
    promote = await client.patch(
        f"/api/v1/tenant/users/{plain['id']}", json={"roles": ["global_admin"]}, headers=auth
    )
    assert promote.status_code == 403
    allowed = await client.patch(
        f"/api/v1/tenant/users/{plain['id']}", json={"roles": ["license_admin"]}, headers=auth
    )
    assert allowed.status_code == 200
