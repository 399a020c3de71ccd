"""Commerce in the portal over plain HTTP: the operator's catalog pages, subscriptions and
licenses on a customer's record, and the customer's own Subscriptions page."""

from __future__ import annotations

import re
import uuid
from html import unescape

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tests import html
from tests.commerce.helpers import World, make_offer, subscribe, two_tier_world
from tests.customers.helpers import customer_of
from tests.directory.test_portal_session import csrf_from, portal_sign_in
from tests.factories import OPERATOR_PASSWORD, Org, unique
from twotier.commerce.models import Order
from twotier.config import Settings
from twotier.kit.db import Database


@pytest.fixture
async def operator_signed_in(client: httpx.AsyncClient, session: AsyncSession) -> str:
    """An operator signed in to the portal; returns its email."""
    from twotier.operator.service import create_operator

    email = f"{unique('ops')}@vendor.example"
    await create_operator(session, email=email, password=OPERATOR_PASSWORD, name="Ops")
    await session.flush()
    signed = await portal_sign_in(client, email, OPERATOR_PASSWORD)
    assert signed.status_code == 303
    return email


def text(page: httpx.Response) -> str:
    return unescape(page.text)


def section(page: httpx.Response, testid: str) -> str:
    """The words of a table, without its markup."""
    body = page.text.split(f'data-testid="{testid}"', 1)
    assert len(body) == 2, testid
    table = body[1].split(">", 1)[1].split("</table>", 1)[0]
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", table)).split())


async def sign_in_as(client: httpx.AsyncClient, org: Org) -> None:
    client.cookies.clear()  # whoever was signed in in this client leaves
    assert (await portal_sign_in(client, org.email, org.password)).status_code == 303


# The operator's catalog.


async def test_catalog_lists_products_with_skus_and_offers_with_prices(
    client: httpx.AsyncClient, operator: dict[str, str], operator_signed_in: str
) -> None:
    await make_offer(
        client,
        operator,
        product="Contoso 365",
        sku="Business Basic",
        prices=[
            {"country": "TW", "currency": "TWD", "unit_price": "180"},
            {"country": "US", "currency": "USD", "unit_price": "6.00"},
        ],
    )
    page = await client.get("/operator/catalog")
    assert page.status_code == 200
    assert 'href="/operator/catalog" aria-current="page">Catalog</a>' in page.text
    products = section(page, "products")
    assert "Contoso 365" in products
    assert "Business Basic" in products
    offers = section(page, "offers")
    assert "Business Basic (annual)" in offers
    assert "TW 180.00 TWD" in offers
    assert "US 6.00 USD" in offers
    assert "7 days" in offers


async def test_operator_retires_an_offer_from_the_catalog_page(
    client: httpx.AsyncClient, operator: dict[str, str], operator_signed_in: str
) -> None:
    offer = await make_offer(client, operator)
    page = await client.get("/operator/catalog")
    action = f"/operator/catalog/offers/{offer['id']}/retire"
    assert action in html.actions(page.text)
    done = await client.post(action, data={"csrf_token": csrf_from(page.text)})
    assert done.status_code == 303
    page = await client.get(done.headers["location"])
    assert "The offer was retired" in text(page)
    assert "retired" in section(page, "offers")
    assert action not in html.actions(page.text)
    forged = await client.post(action, data={"csrf_token": "forged"})
    assert forged.status_code == 403


async def test_operator_adds_a_product_with_several_skus(
    client: httpx.AsyncClient, operator_signed_in: str
) -> None:
    form = await client.get("/operator/catalog/products/new")
    assert form.status_code == 200
    assert form.text.count('name="skus.') == 6  # three blank rows, name and unit each
    more = await client.post(
        "/operator/catalog/products",
        data={
            "csrf_token": csrf_from(form.text),
            "name": "Fabrikam Backup",
            "skus.0.name": "Standard",
            "action": "add_row",
        },
    )
    assert more.status_code == 200
    assert 'name="skus.1.name"' in more.text
    assert 'value="Standard"' in more.text
    made = await client.post(
        "/operator/catalog/products",
        data={
            "csrf_token": csrf_from(form.text),
            "name": "Fabrikam Backup",
            "description": "Nightly backups",
            "skus.0.name": "Standard",
            "skus.0.unit": "device",
            "skus.1.name": "",
            "skus.2.name": "Premium",
            "skus.2.unit": "gb",
        },
    )
    assert made.status_code == 303
    assert made.headers["location"] == "/operator/catalog?notice=product_created"
    page = await client.get(made.headers["location"])
    assert "The product was added." in page.text
    products = section(page, "products")
    assert "Fabrikam Backup" in products
    assert "Standard" in products
    assert "per device" in products
    assert "Premium" in products
    assert "per gb" in products


async def test_product_form_keeps_the_input_and_says_what_is_wrong(
    client: httpx.AsyncClient, operator_signed_in: str
) -> None:
    form = await client.get("/operator/catalog/products/new")
    bad = await client.post(
        "/operator/catalog/products",
        data={
            "csrf_token": csrf_from(form.text),
            "name": "",
            "description": "Kept <b>as typed</b>",
            "skus.0.name": "",
            "skus.1.name": "x" * 201,
        },
    )
    assert bad.status_code == 422
    assert 'id="e-name"' in bad.text
    assert "This field is required." in bad.text
    assert "Enter at most 200 characters." in bad.text
    assert 'id="e-skus-1-name"' in bad.text  # the message sits on the row it is about
    assert "Kept &lt;b&gt;as typed&lt;/b&gt;</textarea>" in bad.text
    page = await client.get("/operator/catalog")
    assert "No products yet." in page.text


async def test_operator_adds_an_offer_with_prices_in_several_countries(
    client: httpx.AsyncClient, operator: dict[str, str], operator_signed_in: str
) -> None:
    product = await client.post(
        "/api/v1/operator/products",
        json={"name": "Contoso Teams", "skus": [{"name": "Phone", "unit": "user"}]},
        headers=operator,
    )
    sku_id = product.json()["skus"][0]["id"]
    catalog = await client.get("/operator/catalog")
    assert f'href="/operator/catalog/offers/new?sku_id={sku_id}"' in catalog.text
    form = await client.get("/operator/catalog/offers/new", params={"sku_id": sku_id})
    assert form.status_code == 200
    assert f'<option value="{sku_id}" selected>Contoso Teams — Phone</option>' in form.text
    assert form.text.count('name="prices.') == 12  # four blank rows
    made = await client.post(
        "/operator/catalog/offers",
        data={
            "csrf_token": csrf_from(form.text),
            "sku_id": sku_id,
            "name": "Phone (monthly)",
            "billing_cycle": "monthly",
            "term": "P1M",
            "cancellation_window_days": "3",
            "min_quantity": "1",
            "max_quantity": "300",
            "prices.0.country": "TW",
            "prices.0.currency": "twd",
            "prices.0.unit_price": "250",
            "prices.2.country": "JP",
            "prices.2.currency": "JPY",
            "prices.2.unit_price": "1100",
        },
    )
    assert made.status_code == 303, made.text
    page = await client.get(made.headers["location"])
    assert "The offer was added." in page.text
    offers = section(page, "offers")
    assert "Phone (monthly)" in offers
    assert "JP 1100.00 JPY" in offers
    assert "TW 250.00 TWD" in offers
    assert "1 to 300" in offers
    assert "3 days" in offers


async def test_offer_form_keeps_the_input_and_says_what_is_wrong(
    client: httpx.AsyncClient, operator: dict[str, str], operator_signed_in: str
) -> None:
    await make_offer(client, operator)
    form = await client.get("/operator/catalog/offers/new")
    fields = {
        "csrf_token": csrf_from(form.text),
        "sku_id": "",
        "name": "Cheap",
        "billing_cycle": "monthly",
        "term": "P1Y",
        "cancellation_window_days": "seven",
        "min_quantity": "1",
        "max_quantity": "10",
        "prices.0.country": "TW",
        "prices.0.currency": "TWD",
        "prices.0.unit_price": "lots",
        "prices.1.country": "US",
        "prices.1.currency": "DOLLARS",
        "prices.1.unit_price": "9.99",
    }
    bad = await client.post("/operator/catalog/offers", data=fields)
    assert bad.status_code == 422
    assert "Choose a SKU." in bad.text
    assert "Enter a whole number in the allowed range." in bad.text
    assert "Enter an amount such as 12.50." in bad.text
    assert 'id="e-prices-0-unit_price"' in bad.text
    assert 'id="e-prices-1-currency"' in bad.text
    assert "three-letter ISO 4217 code" in bad.text
    assert 'value="lots"' in bad.text
    assert 'value="DOLLARS"' in bad.text
    assert 'value="Cheap"' in bad.text

    sku = re.search(r'<option value="([0-9a-f-]{36})"', form.text)
    assert sku
    crossed = await client.post(
        "/operator/catalog/offers",
        data=fields
        | {
            "sku_id": sku.group(1),
            "cancellation_window_days": "7",
            "min_quantity": "20",
            "prices.0.unit_price": "1",
            "prices.1.currency": "USD",
        },
    )
    assert crossed.status_code == 422
    assert "Min_quantity must not exceed max_quantity" in crossed.text
    assert 'role="alert"' in crossed.text
    offers = html.column((await client.get("/operator/catalog")).text, html.testid("offers"))
    assert "Cheap" not in offers

    valid = await client.post(
        "/operator/catalog/offers",
        data=fields
        | {
            "sku_id": sku.group(1),
            "cancellation_window_days": "7",
            "prices.0.unit_price": "1",
            "prices.1.currency": "USD",
        },
    )
    assert valid.status_code == 303, valid.text
    offers = html.column((await client.get("/operator/catalog")).text, html.testid("offers"))
    assert "Cheap" in offers


async def test_catalog_pages_are_only_for_the_operator(
    client: httpx.AsyncClient, world: World, operator_signed_in: str
) -> None:
    operators = await client.get("/dashboard")
    assert "/operator/catalog" in html.hrefs(operators.text)
    await sign_in_as(client, world.provider)
    dashboard = await client.get("/dashboard")
    assert "/operator/catalog" not in html.hrefs(dashboard.text)
    token = csrf_from(dashboard.text)
    for method, path in (
        ("GET", "/operator/catalog"),
        ("GET", "/operator/catalog/products/new"),
        ("GET", "/operator/catalog/offers/new"),
        ("POST", "/operator/catalog/products"),
        ("POST", "/operator/catalog/offers"),
        ("POST", f"/operator/catalog/offers/{world.offer['id']}/retire"),
    ):
        data = {"csrf_token": token, "name": "Sneaky"} if method == "POST" else None
        response = await client.request(method, path, data=data)
        assert response.status_code == 404, (method, path)
    offers = await client.get("/api/v1/offers?country=TW", headers=world.provider.auth)
    assert [o["id"] for o in offers.json()["items"]] == [world.offer["id"]]  # not retired
    signed_out = httpx.AsyncClient(transport=client._transport, base_url=client.base_url)
    async with signed_out:
        response = await signed_out.get("/operator/catalog")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/signin?next=")


# Subscriptions and licenses on the customer's record.


async def test_record_shows_subscriptions_and_licenses_to_provider_and_reseller(
    client: httpx.AsyncClient, world: World
) -> None:
    await subscribe(client, world, quantity=6)
    path = f"/customers/{world.customer.id}"
    for who in (world.provider, world.reseller):
        await sign_in_as(client, who)
        page = await client.get(path)
        assert page.status_code == 200
        subs = section(page, "subscriptions")
        assert "Contoso 365" in subs
        assert "Business Standard (annual)" in subs
        assert "6 Active" in subs
        assert "375.50 TWD" in subs
        assert world.reseller_partner_id in subs
        seats = section(page, "licenses")
        assert "Business Standard 6 0 6" in seats
    # The reseller (partner of record) neither orders nor changes; the provider does both.
    assert not html.exists(page.text, "#h-add-subscription")
    assert "Add subscription" not in html.buttons(page.text)
    assert "etag" not in html.fields(page.text)
    assert "Assign Business Standard to" in page.text  # its grant includes License admin
    await sign_in_as(client, world.provider)
    page = await client.get(path)
    assert html.exists(page.text, "#h-add-subscription")
    assert "Add subscription" in html.buttons(page.text)
    assert "etag" in html.fields(page.text)
    assert "Assign Business Standard to" in page.text  # the provider holds License admin too


async def test_record_lists_orders_newest_first_with_their_lines(
    client: httpx.AsyncClient, world: World
) -> None:
    await subscribe(client, world, quantity=6)
    await subscribe(client, world, quantity=2)
    path = f"/customers/{world.customer.id}"
    for who in (world.provider, world.reseller):
        await sign_in_as(client, who)
        orders = section(await client.get(path), "orders")
        assert orders.index("2 \u00d7 Business Standard (annual) · 751.00 TWD") < orders.index(
            "6 \u00d7 Business Standard (annual) · 2253.00 TWD"
        )
        assert f"reseller of record {world.reseller_partner_id}" in orders
        assert "Contoso Distribution" in orders


async def test_the_record_says_why_licenses_cannot_be_assigned(
    client: httpx.AsyncClient, world: World
) -> None:
    customer = await customer_of(
        client, world.reseller, None, access={"roles": ["user_admin"], "duration_days": 30}
    )
    await sign_in_as(client, world.reseller)
    page = await client.get(f"/customers/{customer.id}")
    assert page.status_code == 200
    assert "No subscriptions yet." in section(page, "subscriptions")
    assert "No licenses yet" in section(page, "licenses")
    assert html.exists(page.text, html.testid("licenses-blocked"))
    assert "has not granted you License admin" in text(page)
    assert not html.exists(page.text, html.testid("license-users"))

    await subscribe(client, world, quantity=1)  # the world's customer granted License admin
    granted = await client.get(f"/customers/{world.customer.id}")
    assert html.exists(granted.text, html.testid("license-users"))
    assert not html.exists(granted.text, html.testid("licenses-blocked"))


async def test_provider_adds_a_subscription_with_the_form_once_even_if_sent_twice(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    await sign_in_as(client, world.provider)
    path = f"/customers/{world.customer.id}"
    page = await client.get(path)
    offer_id = world.offer["id"]
    assert f'<option value="{offer_id}">' in page.text
    assert "375.50 TWD per seat" in text(page)
    assert f'<option value="{world.reseller_partner_id}"' in page.text
    assert "has accepted the vendor's customer agreement" in text(page)
    key = re.search(r'name="order_key" value="([0-9a-f]+)"', page.text)
    assert key
    data = {
        "csrf_token": csrf_from(page.text),
        "order_key": key.group(1),
        "offer_id": offer_id,
        "quantity": "4",
        "partner_id_on_record": world.reseller_partner_id,
        "attestation": "yes",
    }
    first = await client.post(f"{path}/orders", data=data)
    assert first.status_code == 303
    again = await client.post(f"{path}/orders", data=data)  # a double click
    assert again.status_code == 303
    assert again.headers["location"] == first.headers["location"]
    orders = await session.scalar(
        select(func.count())
        .select_from(Order)
        .where(Order.customer_tenant_id == uuid.UUID(world.customer.id))
    )
    assert orders == 1
    shown = await client.get(first.headers["location"])
    assert "The subscription was added." in shown.text
    assert "4 Active" in section(shown, "subscriptions")
    reused = await client.post(f"{path}/orders", data=data | {"quantity": "9"})
    assert reused.status_code == 409
    assert "This form was submitted already." in reused.text
    subs = (await client.get(world.path("/subscriptions"), headers=world.reseller.auth)).json()
    assert [(s["quantity"], s["partner_id_on_record"]) for s in subs["items"]] == [
        (4, world.reseller_partner_id)
    ]


async def test_add_subscription_form_keeps_the_input_and_says_what_is_wrong(
    client: httpx.AsyncClient, world: World
) -> None:
    await sign_in_as(client, world.provider)
    path = f"/customers/{world.customer.id}"
    page = await client.get(path)
    data = {
        "csrf_token": csrf_from(page.text),
        "order_key": "k1",
        "offer_id": world.offer["id"],
        "quantity": "0",
        "partner_id_on_record": world.reseller_partner_id,
    }
    bad = await client.post(f"{path}/orders", data=data)
    assert bad.status_code == 422
    assert "Tick the box to confirm the attestation." in bad.text
    assert "Enter a whole number of at least 1." in bad.text
    assert f'<option value="{world.offer["id"]}" selected>' in bad.text
    assert 'name="quantity" type="number" min="1" value="0"' in bad.text
    too_many = await client.post(
        f"{path}/orders", data=data | {"quantity": "20000", "attestation": "yes"}
    )
    assert too_many.status_code == 422
    assert "is sold in quantities of 1 to 10000" in too_many.text
    stranger = await client.post(
        f"{path}/orders",
        data=data | {"quantity": "1", "attestation": "yes", "partner_id_on_record": "9999999"},
    )
    assert stranger.status_code == 422
    assert "cannot be the partner of record" in stranger.text
    subs = (await client.get(world.path("/subscriptions"), headers=world.provider.auth)).json()
    assert subs["items"] == []


async def test_resellers_do_not_order(client: httpx.AsyncClient, world: World) -> None:
    await sign_in_as(client, world.reseller)
    path = f"/customers/{world.customer.id}"
    page = await client.get(path)
    refused = await client.post(
        f"{path}/orders",
        data={
            "csrf_token": csrf_from(page.text),
            "order_key": "k",
            "offer_id": world.offer["id"],
            "quantity": "1",
            "partner_id_on_record": world.reseller_partner_id,
            "attestation": "yes",
        },
    )
    assert refused.status_code == 403
    assert "resellers do not purchase" in refused.text


def _etag(page: httpx.Response, sub_id: str) -> str:
    found = re.search(
        rf'action="/customers/[0-9a-f-]+/subscriptions/{sub_id}"[^>]*>\s*'
        r'<input type="hidden" name="csrf_token" value="[^"]+">\s*'
        r'<input type="hidden" name="etag" value="([^"]+)">',
        page.text,
    )
    assert found
    return unescape(found.group(1))


async def test_provider_changes_quantity_suspends_reactivates_and_cancels(
    client: httpx.AsyncClient, world: World
) -> None:
    sub = await subscribe(client, world, quantity=5)
    await sign_in_as(client, world.provider)
    path = f"/customers/{world.customer.id}"
    action = f"{path}/subscriptions/{sub['id']}"

    async def do(**fields: str) -> httpx.Response:
        page = await client.get(path)
        return await client.post(
            action,
            data={"csrf_token": csrf_from(page.text), "etag": _etag(page, sub["id"])} | fields,
        )

    changed = await do(action="quantity", quantity="8")
    assert changed.status_code == 303
    page = await client.get(changed.headers["location"])
    assert "The subscription was changed." in page.text
    assert "8 Active" in section(page, "subscriptions")
    assert (await do(action="auto_renew_off")).status_code == 303
    assert (await do(action="suspend")).status_code == 303
    page = await client.get(path)
    subs = section(page, "subscriptions")
    assert "8 Suspended" in subs
    assert "Off term ends" in subs
    assert "Reactivate" in html.buttons(page.text)
    assert action in html.actions(page.text)
    assert (await do(action="reactivate")).status_code == 303
    assert (await do(action="cancel")).status_code == 303
    page = await client.get(path)
    assert "Cancelled" in section(page, "subscriptions")
    assert action not in html.actions(page.text)  # nothing left to change
    bad = await client.post(
        action, data={"csrf_token": csrf_from(page.text), "etag": sub["etag"], "action": "x"}
    )
    assert bad.status_code == 422


async def test_a_stale_page_says_the_subscription_changed(
    client: httpx.AsyncClient, world: World
) -> None:
    sub = await subscribe(client, world, quantity=5)
    await sign_in_as(client, world.provider)
    path = f"/customers/{world.customer.id}"
    stale = await client.get(path)
    etag = _etag(stale, sub["id"])
    # Meanwhile, someone else changes it.
    other = await client.patch(
        world.path(f"/subscriptions/{sub['id']}"),
        json={"quantity": 6},
        headers=world.provider.auth | {"If-Match": etag},
    )
    assert other.status_code == 200
    refused = await client.post(
        f"{path}/subscriptions/{sub['id']}",
        data={
            "csrf_token": csrf_from(stale.text),
            "etag": etag,
            "action": "quantity",
            "quantity": "9",
        },
    )
    assert refused.status_code == 412
    assert "This subscription changed since you loaded the page" in refused.text
    assert "6 Active" in section(refused, "subscriptions")  # as it is now
    assert _etag(refused, sub["id"]) == other.headers["ETag"]
    current = await client.get(
        world.path(f"/subscriptions/{sub['id']}"), headers=world.provider.auth
    )
    assert current.json()["quantity"] == 6


async def test_reseller_assigns_licenses_until_none_are_left(
    client: httpx.AsyncClient, world: World
) -> None:
    await subscribe(client, world, quantity=1)
    domain = world.customer.tenant["domain"]
    made = await client.post(
        "/api/v1/tenant/users",
        json={"email": f"nina@{domain}", "display_name": "Nina", "password": "a long password"},
        headers=world.customer.auth,
    )
    assert made.status_code == 201, made.text
    users = (await client.get("/api/v1/tenant/users", headers=world.customer.auth)).json()["items"]
    ids = {u["email"]: u["id"] for u in users}
    await sign_in_as(client, world.reseller)
    path = f"/customers/{world.customer.id}"
    page = await client.get(path)
    assert f"Assign Business Standard to nina@{domain}" in html.buttons(page.text)
    data = {"csrf_token": csrf_from(page.text), "sku_id": world.sku_id, "action": "assign"}
    first = await client.post(f"{path}/licenses/{ids[world.customer.email]}", data=data)
    assert first.status_code == 303
    page = await client.get(first.headers["location"])
    assert "The license was assigned." in page.text
    assert f"Unassign Business Standard from {world.customer.email}" in html.buttons(page.text)
    refused = await client.post(f"{path}/licenses/{ids[f'nina@{domain}']}", data=data)
    assert refused.status_code == 409
    assert "No Business Standard licenses are left" in refused.text
    assert "Business Standard 1 1 0" in section(refused, "licenses")
    assert f"Unassign Business Standard from nina@{domain}" not in html.buttons(refused.text)
    back = await client.post(
        f"{path}/licenses/{ids[world.customer.email]}", data=data | {"action": "unassign"}
    )
    assert back.status_code == 303
    second = await client.post(f"{path}/licenses/{ids[f'nina@{domain}']}", data=data)
    assert second.status_code == 303
    page = await client.get(second.headers["location"])
    assert f"Unassign Business Standard from nina@{domain}" in html.buttons(page.text)


async def test_the_customer_sees_its_subscriptions_and_assigns_licenses(
    client: httpx.AsyncClient, world: World
) -> None:
    await subscribe(client, world, quantity=2)
    await sign_in_as(client, world.customer)
    page = await client.get("/subscriptions")
    assert page.status_code == 200
    assert 'href="/subscriptions" aria-current="page">Subscriptions</a>' in page.text
    subs = section(page, "subscriptions")
    assert "Business Standard (annual)" in subs
    assert world.reseller_partner_id in subs
    assert "etag" not in html.fields(page.text)  # the customer changes no subscription
    own = (await client.get("/api/v1/tenant/users", headers=world.customer.auth)).json()["items"]
    me = own[0]["id"]
    assigned = await client.post(
        f"/subscriptions/licenses/{me}",
        data={"csrf_token": csrf_from(page.text), "sku_id": world.sku_id, "action": "assign"},
    )
    assert assigned.status_code == 303
    page = await client.get(assigned.headers["location"])
    assert "The license was assigned." in page.text
    assert "Business Standard 2 1 1" in section(page, "licenses")
    licenses = (
        await client.get(world.path(f"/users/{me}/licenses"), headers=world.reseller.auth)
    ).json()
    assert [lic["sku_name"] for lic in licenses["licenses"]] == ["Business Standard"]

    customer_dashboard = await client.get("/dashboard")
    assert "/subscriptions" in html.nav(customer_dashboard.text)

    await sign_in_as(client, world.reseller)
    partner_dashboard = await client.get("/dashboard")
    assert "/subscriptions" not in html.hrefs(partner_dashboard.text)

    await sign_in_as(client, world.provider)
    record = await client.get(f"/customers/{world.customer.id}")
    assert "etag" in html.fields(record.text)  # the provider does


async def test_commerce_pages_of_another_partners_customer_are_not_found(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    operator: dict[str, str],
    world: World,
) -> None:
    sub = await subscribe(client, world, quantity=2)
    users = (await client.get("/api/v1/tenant/users", headers=world.customer.auth)).json()["items"]
    victim = users[0]["id"]
    other = await two_tier_world(client, db, settings, operator)
    for who in (other.provider, other.reseller):
        await sign_in_as(client, who)
        token = csrf_from((await client.get("/dashboard")).text)
        base = f"/customers/{world.customer.id}"
        for method, path in (
            ("GET", base),
            ("POST", f"{base}/orders"),
            ("POST", f"{base}/subscriptions/{sub['id']}"),
            ("POST", f"{base}/licenses/{victim}"),
            # Its own customer, another customer's subscription and user.
            ("POST", f"/customers/{other.customer.id}/subscriptions/{sub['id']}"),
            ("POST", f"/customers/{other.customer.id}/licenses/{victim}"),
        ):
            data = {
                "csrf_token": token,
                "etag": sub["etag"],
                "action": "suspend" if "subscriptions" in path else "assign",
                "sku_id": world.sku_id,
                "order_key": "k",
                "offer_id": world.offer["id"],
                "quantity": "1",
                "partner_id_on_record": world.reseller_partner_id,
                "attestation": "yes",
            }
            response = await client.request(method, path, data=data if method == "POST" else None)
            assert response.status_code == 404, (who.email, method, path, response.text[:300])
    # Another customer's admin: its own page shows nothing of this customer's; another
    # tenant's user is not found.
    await sign_in_as(client, other.customer)
    page = await client.get("/subscriptions")
    assert "No subscriptions yet." in page.text
    stolen = await client.post(
        f"/subscriptions/licenses/{victim}",
        data={"csrf_token": csrf_from(page.text), "sku_id": world.sku_id, "action": "assign"},
    )
    assert stolen.status_code == 404
    current = await client.get(
        world.path(f"/subscriptions/{sub['id']}"), headers=world.provider.auth
    )
    assert current.json()["status"] == "active"
    assert current.json()["etag"] == sub["etag"]
    count = await client.get(world.path("/licenses"), headers=world.reseller.auth)
    assert count.json()["items"][0]["assigned"] == 0
