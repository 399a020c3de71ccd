"""The operator's catalog and what partners see of it, with money as exact decimals."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.channel.helpers import approved
from tests.commerce.helpers import make_offer
from tests.factories import make_org
from twotier.commerce.models import OfferPrice
from twotier.config import Settings
from twotier.kit.db import Database


async def test_operator_builds_products_skus_and_offers(
    client: httpx.AsyncClient, operator: dict[str, str]
) -> None:
    product = await client.post(
        "/api/v1/operator/products",
        json={
            "name": "Contoso 365",
            "description": "Mail, documents and meetings",
            "skus": [{"name": "Business Basic", "unit": "seat"}, {"name": "Archive", "unit": "gb"}],
        },
        headers=operator,
    )
    assert product.status_code == 201, product.text
    assert [(s["name"], s["unit"]) for s in product.json()["skus"]] == [
        ("Business Basic", "seat"),
        ("Archive", "gb"),
    ]
    offer = await client.post(
        "/api/v1/operator/offers",
        json={
            "sku_id": product.json()["skus"][0]["id"],
            "name": "Business Basic monthly",
            "billing_cycle": "monthly",
            "term": "P1M",
            "cancellation_window_days": 3,
            "min_quantity": 2,
            "max_quantity": 300,
            "prices": [
                {"country": "de", "currency": "eur", "unit_price": "5.6"},
                {"country": "TW", "currency": "TWD", "unit_price": "180"},
            ],
        },
        headers=operator,
    )
    assert offer.status_code == 201, offer.text
    body = offer.json()
    assert body["product_name"] == "Contoso 365"
    assert body["sku_name"] == "Business Basic"
    assert (body["cancellation_window_days"], body["min_quantity"], body["max_quantity"]) == (
        3,
        2,
        300,
    )
    assert body["prices"] == [
        {"country": "DE", "currency": "EUR", "unit_price": "5.60"},
        {"country": "TW", "currency": "TWD", "unit_price": "180.00"},
    ]
    listed = (await client.get("/api/v1/operator/offers", headers=operator)).json()["items"]
    assert [o["id"] for o in listed] == [body["id"]]
    products = (await client.get("/api/v1/operator/products", headers=operator)).json()["items"]
    assert [p["name"] for p in products] == ["Contoso 365"]


@pytest.mark.parametrize(
    ("price", "expected"),
    [
        ("0.1", "0.10"),
        ("19.99", "19.99"),
        ("0.0001", "0.0001"),
        ("123456789.1234", "123456789.1234"),
        ("99999999999999.9999", "99999999999999.9999"),
        ("7.5000", "7.50"),
    ],
)
async def test_prices_round_trip_exactly_as_decimal_strings(
    client: httpx.AsyncClient,
    session: AsyncSession,
    operator: dict[str, str],
    price: str,
    expected: str,
) -> None:
    offer = await make_offer(
        client, operator, prices=[{"country": "TW", "currency": "TWD", "unit_price": price}]
    )
    assert offer["prices"][0]["unit_price"] == expected
    stored = await session.scalar(
        select(OfferPrice.unit_price).where(OfferPrice.offer_id == uuid.UUID(offer["id"]))
    )
    assert isinstance(stored, Decimal)
    assert stored == Decimal(price)
    listed = (await client.get("/api/v1/operator/offers", headers=operator)).json()["items"]
    assert listed[0]["prices"][0]["unit_price"] == expected


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"prices": [{"country": "TW", "currency": "TWD", "unit_price": "1.23456"}]}, "decimal"),
        ({"prices": [{"country": "TW", "currency": "TWD", "unit_price": "-1"}]}, "non-negative"),
        ({"prices": [{"country": "TW", "currency": "TW$", "unit_price": "1"}]}, "ISO 4217"),
        ({"prices": [{"country": "XX", "currency": "TWD", "unit_price": "1"}]}, "ISO 3166"),
        ({"prices": []}, "at least 1"),
        (
            {
                "prices": [
                    {"country": "TW", "currency": "TWD", "unit_price": "1"},
                    {"country": "tw", "currency": "TWD", "unit_price": "2"},
                ]
            },
            "one price per country",
        ),
        ({"min_quantity": 10, "max_quantity": 5}, "min_quantity"),
        ({"term": "P3Y"}, "P1M"),
        ({"billing_cycle": "weekly"}, "monthly"),
        # Money is a decimal string: a JSON number could already have lost a cent.
        ({"prices": [{"country": "TW", "currency": "TWD", "unit_price": 12.5}]}, "decimal string"),
        ({"prices": [{"country": "TW", "currency": "TWD", "unit_price": "1e3"}]}, "decimal string"),
        ({"surprise": True}, "Extra inputs are not permitted"),
    ],
)
async def test_invalid_offers_are_refused_with_a_reason(
    client: httpx.AsyncClient,
    operator: dict[str, str],
    change: dict[str, Any],
    problem: str,
) -> None:
    product = await client.post(
        "/api/v1/operator/products",
        json={"name": "P", "skus": [{"name": "S"}]},
        headers=operator,
    )
    body = {
        "sku_id": product.json()["skus"][0]["id"],
        "name": "O",
        "billing_cycle": "monthly",
        "term": "P1M",
        "prices": [{"country": "TW", "currency": "TWD", "unit_price": "1"}],
    } | change
    response = await client.post("/api/v1/operator/offers", json=body, headers=operator)
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"
    assert problem in response.text
    assert (await client.get("/api/v1/operator/offers", headers=operator)).json()["items"] == []


async def test_an_offer_needs_a_real_sku(
    client: httpx.AsyncClient, operator: dict[str, str]
) -> None:
    response = await client.post(
        "/api/v1/operator/offers",
        json={
            "sku_id": "00000000-0000-4000-8000-000000000000",
            "name": "O",
            "billing_cycle": "monthly",
            "term": "P1M",
            "prices": [{"country": "TW", "currency": "TWD", "unit_price": "1"}],
        },
        headers=operator,
    )
    assert response.status_code == 422
    assert response.json()["code"] == "sku_not_found"


async def test_only_the_operator_edits_the_catalog(
    client: httpx.AsyncClient, db: Database, settings: Settings, operator: dict[str, str]
) -> None:
    provider = await approved(client, db, settings, operator, "indirect_provider", "Contoso")
    for who in (provider.auth, (await make_org(client)).auth):
        response = await client.post(
            "/api/v1/operator/products",
            json={"name": "P", "skus": [{"name": "S"}]},
            headers=who,
        )
        assert response.status_code == 403
        assert response.json()["code"] == "operator_only"
        assert (await client.get("/api/v1/operator/offers", headers=who)).status_code == 403


async def test_partners_see_offers_priced_in_a_country(
    client: httpx.AsyncClient, db: Database, settings: Settings, operator: dict[str, str]
) -> None:
    both = await make_offer(
        client,
        operator,
        sku="Both",
        prices=[
            {"country": "TW", "currency": "TWD", "unit_price": "300"},
            {"country": "DE", "currency": "EUR", "unit_price": "9.90"},
        ],
    )
    german = await make_offer(
        client,
        operator,
        sku="German",
        prices=[{"country": "DE", "currency": "EUR", "unit_price": "4"}],
    )
    provider = await approved(client, db, settings, operator, "indirect_provider", "Contoso")
    tw = (await client.get("/api/v1/offers?country=tw", headers=provider.auth)).json()["items"]
    assert [(o["id"], o["price"]) for o in tw] == [
        (both["id"], {"country": "TW", "currency": "TWD", "unit_price": "300.00"})
    ]
    de = (await client.get("/api/v1/offers?country=DE", headers=provider.auth)).json()["items"]
    assert [o["id"] for o in de] == [both["id"], german["id"]]
    assert de[1]["price"]["unit_price"] == "4.00"
    bad = await client.get("/api/v1/offers?country=ZZ", headers=provider.auth)
    assert (bad.status_code, bad.json()["code"]) == (422, "country_invalid")
    plain = await make_org(client)
    assert (await client.get("/api/v1/offers?country=TW", headers=plain.auth)).status_code == 403
