"""The demo world, seeded by the real `twotier demo` and checked through the API."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.conftest import create_database, drop_database
from tests.factories import enrollment_body, tenant_body
from tests.test_cli import _api, run
from twotier.kit.db import Database
from twotier.models import Base

PASSWORD = "amber-kettle-drifts-north"


@pytest.fixture(scope="module")
def demo(pg_base_url: str | None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database the real command seeded (once for the module)."""
    url = asyncio.run(create_database(pg_base_url, Path(tmp_path_factory.mktemp("demo"))))
    seeded = run(url, "demo")
    assert seeded.returncode == 0, seeded.stderr
    assert seeded.stderr == ""
    yield url
    asyncio.run(drop_database(url, pg_base_url))


def sign_in(email: str) -> tuple[str, str, dict[str, object]]:
    return ("POST", "/api/v1/auth/token", {"email": email, "password": PASSWORD})


async def _counts(url: str) -> dict[str, int]:
    db = Database(url)
    try:
        async with db.read_sessions() as s:
            return {
                table.name: int(await s.scalar(select(func.count()).select_from(table)) or 0)
                for table in Base.metadata.sorted_tables
            }
    finally:
        await db.dispose()


def test_contoso_is_an_approved_indirect_provider_on_the_provider_list(demo: str) -> None:
    providers, partner = asyncio.run(
        _api(
            demo,
            [
                ("GET", "/api/v1/providers", None),
                sign_in("admin@contoso-distribution.example"),
                ("GET", "/api/v1/partner", None),
            ],
        )
    )[0::2]
    assert providers.status_code == 200
    assert [(p["company_name"], p["country"]) for p in providers.json()["items"]] == [
        ("Contoso Distribution Ltd", "TW")
    ]
    assert partner.status_code == 200
    assert partner.json()["programs"] == ["indirect_provider"]
    assert partner.json()["partner_id"] == providers.json()["items"][0]["partner_id"]


def test_fabrikam_is_an_indirect_reseller_whose_admin_is_an_admin_agent(demo: str) -> None:
    _token, partner, me, users = asyncio.run(
        _api(
            demo,
            [
                sign_in("admin@fabrikam.example"),
                ("GET", "/api/v1/partner", None),
                ("GET", "/api/v1/me", None),
                ("GET", "/api/v1/partner/users", None),
            ],
        )
    )
    assert partner.status_code == 200, partner.text
    assert partner.json()["programs"] == ["indirect_reseller"]
    assert partner.json()["company_name"] == "Fabrikam Cloud Resellers Ltd"
    assert me.json()["partner"]["partner_roles"] == ["admin_agent"]
    assert me.json()["partner"]["programs"] == ["indirect_reseller"]
    assert [(u["email"], u["partner_roles"]) for u in users.json()["items"]] == [
        ("admin@fabrikam.example", ["admin_agent"])
    ]


def test_both_partners_went_through_email_confirmation_and_approval(demo: str) -> None:
    approved = asyncio.run(
        _api(
            demo,
            [
                sign_in("operator@twotier.example"),
                ("GET", "/api/v1/operator/enrollments?status=approved", None),
            ],
        )
    )[1].json()["items"]
    assert sorted((e["company_name"], e["program"]) for e in approved) == [
        ("Contoso Distribution Ltd", "indirect_provider"),
        ("Fabrikam Cloud Resellers Ltd", "indirect_reseller"),
    ]
    assert all(e["verified_at"] and e["decided_at"] and not e["shortcut"] for e in approved)


def test_the_newcomer_membership_enrolls_a_new_tenant_in_taiwan(demo: str) -> None:
    shown = run(demo, "demo")
    found = re.search(r"username (\S+), password (\S+), partner ID (\d{7})", shown.stdout)
    assert found, shown.stdout
    username, password, partner_id = found.groups()
    assert password == PASSWORD
    tenant = tenant_body(country="TW")
    membership = {"username": username, "password": password}
    _created, _token, lookup, enrolled = asyncio.run(
        _api(
            demo,
            [
                ("POST", "/api/v1/tenants", tenant),
                (
                    "POST",
                    "/api/v1/auth/token",
                    {"email": tenant["admin"]["email"], "password": tenant["admin"]["password"]},
                ),
                ("POST", "/api/v1/enrollment/membership-lookup", membership),
                (
                    "POST",
                    "/api/v1/enrollments",
                    enrollment_body(
                        membership | {"organizations": [{"partner_id": partner_id}]},
                        company="Adatum Cloud Services Ltd",
                    ),
                ),
            ],
        )
    )
    assert lookup.status_code == 200, lookup.text
    assert [
        (o["partner_id"], o["country"], o["eligible"]) for o in lookup.json()["organizations"]
    ] == [(partner_id, "TW", True)]
    assert enrolled.status_code == 201, enrolled.text
    assert enrolled.json()["status"] == "pending_email_verification"


def test_fabrikam_authorized_contoso_and_contoso_has_a_pending_invitation(demo: str) -> None:
    _t, providers = asyncio.run(
        _api(demo, [sign_in("admin@fabrikam.example"), ("GET", "/api/v1/indirect-providers", None)])
    )
    [link] = providers.json()["items"]
    assert link["company_name"] == "Contoso Distribution Ltd"
    assert link["status"] == "active"
    assert link["access"]["status"] == "active"
    _t, resellers, invitations = asyncio.run(
        _api(
            demo,
            [
                sign_in("admin@contoso-distribution.example"),
                ("GET", "/api/v1/indirect-resellers", None),
                ("GET", "/api/v1/reseller-invitations", None),
            ],
        )
    )
    assert [r["company_name"] for r in resellers.json()["items"]] == [
        "Fabrikam Cloud Resellers Ltd"
    ]
    statuses = sorted(i["status"] for i in invitations.json()["items"])
    assert statuses == ["accepted", "pending"]
    seeded = run(demo, "demo")
    pending = next(i for i in invitations.json()["items"] if i["status"] == "pending")
    assert pending["invite_url"].rsplit("/", 1)[1] in seeded.stdout


def test_demo_customers_one_two_tier_one_reseller_only(demo: str) -> None:
    _t, reseller_view = asyncio.run(
        _api(demo, [sign_in("admin@fabrikam.example"), ("GET", "/api/v1/customers", None)])
    )
    kinds = {c["company_name"]: c["relationship"]["kind"] for c in reseller_view.json()["items"]}
    assert kinds == {"Northwind Traders": "two_tier", "Wide World Importers": "direct"}
    _t, provider_view = asyncio.run(
        _api(
            demo,
            [sign_in("admin@contoso-distribution.example"), ("GET", "/api/v1/customers", None)],
        )
    )
    assert [c["company_name"] for c in provider_view.json()["items"]] == ["Northwind Traders"]
    _t, partners = asyncio.run(
        _api(demo, [sign_in("admin@northwind.example"), ("GET", "/api/v1/my/partners", None)])
    )
    assert len(partners.json()["items"]) == 2


def test_the_catalog_is_priced_in_the_demo_countries_and_a_few_more(demo: str) -> None:
    _t, taiwan, us, offers = asyncio.run(
        _api(
            demo,
            [
                sign_in("admin@contoso-distribution.example"),
                ("GET", "/api/v1/offers?country=TW", None),
                ("GET", "/api/v1/offers?country=US", None),
                ("GET", "/api/v1/offers?country=FR", None),
            ],
        )
    )
    assert sorted((o["name"], o["price"]["unit_price"]) for o in taiwan.json()["items"]) == [
        ("Business Premium (annual, billed monthly)", "660.00"),
        ("Business Standard (annual, billed monthly)", "375.50"),
        ("Defender for Endpoint P1 (annual, billed annually)", "1080.00"),
        ("Project Plan 3 (monthly)", "930.00"),
    ]
    assert {o["price"]["currency"] for o in taiwan.json()["items"]} == {"TWD"}
    assert {o["price"]["currency"] for o in us.json()["items"]} == {"USD"}
    assert len(us.json()["items"]) == 4
    assert offers.json()["items"] == []


def test_northwind_has_subscriptions_from_contoso_with_fabrikam_of_record(demo: str) -> None:
    _t, customers = asyncio.run(
        _api(demo, [sign_in("admin@fabrikam.example"), ("GET", "/api/v1/customers", None)])
    )
    northwind = next(
        c["id"] for c in customers.json()["items"] if c["company_name"] == "Northwind Traders"
    )
    _t, subs, seats = asyncio.run(
        _api(
            demo,
            [
                sign_in("admin@fabrikam.example"),
                ("GET", f"/api/v1/customers/{northwind}/subscriptions", None),
                ("GET", f"/api/v1/customers/{northwind}/licenses", None),
            ],
        )
    )
    assert sorted(
        (
            s["sku_name"],
            s["quantity"],
            s["status"],
            s["indirect_provider"]["company_name"],
            s["indirect_reseller"]["company_name"],
        )
        for s in subs.json()["items"]
    ) == [
        (
            "Business Premium",
            2,
            "active",
            "Contoso Distribution Ltd",
            "Fabrikam Cloud Resellers Ltd",
        ),
        (
            "Business Standard",
            25,
            "active",
            "Contoso Distribution Ltd",
            "Fabrikam Cloud Resellers Ltd",
        ),
    ]
    assert sorted((s["sku_name"], s["total"], s["assigned"]) for s in seats.json()["items"]) == [
        ("Business Premium", 2, 1),
        ("Business Standard", 25, 3),
    ]
    _t, own, users = asyncio.run(
        _api(
            demo,
            [
                sign_in("admin@northwind.example"),
                ("GET", "/api/v1/customers/" + northwind + "/subscriptions", None),
                ("GET", "/api/v1/tenant/users", None),
            ],
        )
    )
    assert len(own.json()["items"]) == 2
    assert len(users.json()["items"]) == 5


def test_running_the_demo_again_changes_nothing(demo: str) -> None:
    before = asyncio.run(_counts(demo))
    again = run(demo, "demo")
    assert again.returncode == 0, again.stderr
    assert "seeded" not in again.stdout
    assert "admin@fabrikam.example" in again.stdout
    assert "username newcomer" in again.stdout
    assert asyncio.run(_counts(demo)) == before
    assert before["partner_accounts"] == 2
    assert before["membership_accounts"] == 3
    assert (before["products"], before["skus"], before["offers"]) == (3, 4, 4)
    assert (before["orders"], before["subscriptions"], before["license_assignments"]) == (1, 2, 4)
