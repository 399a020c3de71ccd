"""The operator's catalog: products with SKUs, offers with per-country prices."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from twotier.commerce.models import OFFER, Offer, OfferPrice, OfferStatus, Product, Sku
from twotier.commerce.schemas import (
    CountryOfferOut,
    OfferCreate,
    OfferOut,
    PriceOut,
    ProductCreate,
    ProductOut,
    SkuOut,
)
from twotier.directory.principal import Permission, Principal
from twotier.events import service as events
from twotier.kit.errors import Forbidden, Invalid, NotFound
from twotier.kit.pagination import PageParams, paginate


def require_operator(principal: Principal) -> None:
    if not principal.can(Permission.operate_platform):
        raise Forbidden("Only the operator manages the catalog.", code="operator_only")


def _product_out(product: Product, skus: Sequence[Sku]) -> ProductOut:
    return ProductOut(
        id=product.id,
        name=product.name,
        description=product.description,
        skus=[SkuOut(id=s.id, name=s.name, unit=s.unit) for s in skus],
        created_at=product.created_at,
    )


async def create_product(
    session: AsyncSession, principal: Principal, data: ProductCreate
) -> ProductOut:
    require_operator(principal)
    product = Product(id=uuid.uuid4(), name=data.name.strip(), description=data.description)
    session.add(product)
    skus = [
        Sku(id=uuid.uuid4(), product_id=product.id, name=s.name.strip(), unit=s.unit)
        for s in data.skus
    ]
    await session.flush()
    session.add_all(skus)
    await session.flush()
    await events.announce(
        session,
        principal,
        "product_created",
        resource_type="product",
        resource_id=product.id,
        detail={"name": product.name, "skus": [s.name for s in skus]},
    )
    return _product_out(product, skus)


async def list_products(
    session: AsyncSession, principal: Principal, params: PageParams
) -> tuple[list[ProductOut], str | None]:
    require_operator(principal)
    products, cursor = await paginate(
        session, select(Product), keys=[Product.created_at, Product.id], params=params
    )
    skus = await _skus_of(session, [p.id for p in products])
    return [_product_out(p, skus.get(p.id, [])) for p in products], cursor


async def _skus_of(
    session: AsyncSession, product_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[Sku]]:
    if not product_ids:
        return {}
    out: dict[uuid.UUID, list[Sku]] = {}
    rows = await session.scalars(
        select(Sku).where(Sku.product_id.in_(product_ids)).order_by(Sku.created_at, Sku.name)
    )
    for sku in rows:
        out.setdefault(sku.product_id, []).append(sku)
    return out


def _offer_out(offer: Offer, sku: Sku, product: Product, prices: Sequence[OfferPrice]) -> OfferOut:
    return OfferOut(
        id=offer.id,
        name=offer.name,
        product_id=product.id,
        product_name=product.name,
        sku_id=sku.id,
        sku_name=sku.name,
        unit=sku.unit,
        billing_cycle=offer.billing_cycle,
        term=offer.term,
        cancellation_window_days=offer.cancellation_window_days,
        min_quantity=offer.min_quantity,
        max_quantity=offer.max_quantity,
        status=offer.status,
        prices=[
            PriceOut(country=p.country, currency=p.currency, unit_price=p.unit_price)
            for p in sorted(prices, key=lambda p: p.country)
        ],
        created_at=offer.created_at,
    )


async def create_offer(session: AsyncSession, principal: Principal, data: OfferCreate) -> OfferOut:
    require_operator(principal)
    sku = await session.get(Sku, data.sku_id)
    if sku is None:
        raise Invalid("There is no SKU with this id.", code="sku_not_found")
    product = await session.get_one(Product, sku.product_id)
    offer = Offer(
        id=uuid.uuid4(),
        sku_id=sku.id,
        name=data.name.strip(),
        billing_cycle=data.billing_cycle,
        term=data.term,
        cancellation_window_days=data.cancellation_window_days,
        min_quantity=data.min_quantity,
        max_quantity=data.max_quantity,
        status=OfferStatus.active,
    )
    session.add(offer)
    await session.flush()
    prices = [
        OfferPrice(
            id=uuid.uuid4(),
            offer_id=offer.id,
            country=p.country,
            currency=p.currency,
            unit_price=p.unit_price,
        )
        for p in data.prices
    ]
    session.add_all(prices)
    await session.flush()
    await events.announce(
        session,
        principal,
        "offer_created",
        resource_type="offer",
        resource_id=offer.id,
        detail={
            "name": offer.name,
            "sku": sku.name,
            "prices": {p.country: f"{p.unit_price} {p.currency}" for p in prices},
        },
    )
    return _offer_out(offer, sku, product, prices)


async def list_offers(
    session: AsyncSession, principal: Principal, params: PageParams
) -> tuple[list[OfferOut], str | None]:
    """Every offer with all its prices (the operator's view)."""
    require_operator(principal)
    rows, cursor = await paginate(
        session,
        select(Offer, Sku, Product)
        .join(Sku, Sku.id == Offer.sku_id)
        .join(Product, Product.id == Sku.product_id),
        keys=[Offer.created_at, Offer.id],
        params=params,
        scalars=False,
    )
    prices: dict[uuid.UUID, list[OfferPrice]] = {}
    if rows:
        for price in await session.scalars(
            select(OfferPrice).where(OfferPrice.offer_id.in_([o.id for o, _s, _p in rows]))
        ):
            prices.setdefault(price.offer_id, []).append(price)
    return [_offer_out(o, s, p, prices.get(o.id, [])) for o, s, p in rows], cursor


def country_offer_out(
    offer: Offer, sku: Sku, product: Product, price: OfferPrice
) -> CountryOfferOut:
    return CountryOfferOut(
        id=offer.id,
        name=offer.name,
        product_id=product.id,
        product_name=product.name,
        sku_id=sku.id,
        sku_name=sku.name,
        unit=sku.unit,
        billing_cycle=offer.billing_cycle,
        term=offer.term,
        cancellation_window_days=offer.cancellation_window_days,
        min_quantity=offer.min_quantity,
        max_quantity=offer.max_quantity,
        price=PriceOut(country=price.country, currency=price.currency, unit_price=price.unit_price),
    )


async def offers_for_country(
    session: AsyncSession, principal: Principal, country: str, params: PageParams
) -> tuple[list[CountryOfferOut], str | None]:
    """What partners can sell in ``country``: active offers priced there."""
    if not (principal.is_partner or principal.is_operator):
        raise Forbidden("The catalog is for partners.", code="not_a_partner")
    rows, cursor = await paginate(
        session,
        select(Offer, Sku, Product, OfferPrice)
        .join(OfferPrice, OfferPrice.offer_id == Offer.id)
        .join(Sku, Sku.id == Offer.sku_id)
        .join(Product, Product.id == Sku.product_id)
        .where(OfferPrice.country == country, Offer.status == OfferStatus.active),
        keys=[Offer.created_at, Offer.id],
        params=params,
        scalars=False,
    )
    return [country_offer_out(o, s, p, pr) for o, s, p, pr in rows], cursor


async def retire_offer(
    session: AsyncSession, principal: Principal, offer_id: uuid.UUID
) -> OfferOut:
    """Stop selling an offer; its subscriptions go on as they are."""
    require_operator(principal)
    offer = await session.get(Offer, offer_id, with_for_update=True)
    if offer is None:
        raise NotFound("No such offer.", code="offer_not_found")
    if offer.status != OfferStatus.retired:
        OFFER.move(offer, OfferStatus.retired)
        await session.flush()
        await events.announce(
            session,
            principal,
            "offer_retired",
            resource_type="offer",
            resource_id=offer.id,
            detail={"name": offer.name},
        )
    sku = await session.get_one(Sku, offer.sku_id)
    product = await session.get_one(Product, sku.product_id)
    prices = list(await session.scalars(select(OfferPrice).where(OfferPrice.offer_id == offer.id)))
    return _offer_out(offer, sku, product, prices)
