"""Account settings → User management in the portal: pick a user, change roles, Update."""

from __future__ import annotations

import httpx

from tests.directory.test_portal_session import csrf_from, portal_sign_in
from tests.factories import make_org, make_user


async def test_admin_changes_a_users_roles_in_the_portal(client: httpx.AsyncClient) -> None:
    org = await make_org(client)
    user, _token = await make_user(client, org)
    await portal_sign_in(client, org.email, org.password)
    listing = await client.get("/account/users")
    assert f'href="/account/users/{user["id"]}"' in listing.text
    page = await client.get(f"/account/users/{user['id']}")
    assert page.status_code == 200
    response = await client.post(
        f"/account/users/{user['id']}",
        data={
            "csrf_token": csrf_from(page.text),
            "display_name": "Uma Renamed",
            "roles": ["license_admin", "helpdesk_admin"],
            "is_active": "true",
        },
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/account/users?notice=user_updated"
    after = await client.get(f"/api/v1/tenant/users/{user['id']}", headers=org.auth)
    assert after.json()["roles"] == ["helpdesk_admin", "license_admin"]
    assert after.json()["display_name"] == "Uma Renamed"
    assert "The user was updated." in (await client.get(response.headers["location"])).text


async def test_removing_the_last_global_admin_is_explained(client: httpx.AsyncClient) -> None:
    org = await make_org(client)
    me = (await client.get("/api/v1/me", headers=org.auth)).json()["user"]
    await portal_sign_in(client, org.email, org.password)
    page = await client.get(f"/account/users/{me['id']}")
    response = await client.post(
        f"/account/users/{me['id']}",
        data={
            "csrf_token": csrf_from(page.text),
            "display_name": me["display_name"],
            "is_active": "true",
        },
    )
    assert response.status_code == 409
    assert "at least one active global admin" in response.text
    still = await client.get("/api/v1/me", headers=org.auth)
    assert still.json()["user"]["roles"] == ["global_admin"]


async def test_another_tenants_user_page_is_not_found(client: httpx.AsyncClient) -> None:
    mine = await make_org(client)
    theirs = await make_org(client)
    their_user, _token = await make_user(client, theirs)
    await portal_sign_in(client, mine.email, mine.password)
    page = await client.get(f"/account/users/{their_user['id']}")
    assert page.status_code == 404
    dashboard = await client.get("/dashboard")
    post = await client.post(
        f"/account/users/{their_user['id']}",
        data={
            "csrf_token": csrf_from(dashboard.text),
            "display_name": "Hijacked",
            "roles": ["global_admin"],
            "is_active": "true",
        },
    )
    assert post.status_code == 404
    untouched = await client.get(f"/api/v1/tenant/users/{their_user['id']}", headers=theirs.auth)
    assert untouched.json()["display_name"] != "Hijacked"
