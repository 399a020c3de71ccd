from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from twotier.commerce import catalog, licenses, service
from twotier.commerce.schemas import (
    CountryOfferOut,
    LicenseOut,
    LicenseUpdate,
    OfferCreate,
    OfferOut,
    OrderCreate,
    OrderOut,
    ProductCreate,
    ProductOut,
    SubscriptionOut,
    SubscriptionPatch,
    UserLicensesOut,
)
from twotier.directory.auth import CurrentPrincipal
from twotier.kit.countries import CountryCodeText, normalize_country
from twotier.kit.deps import TransactionalRoute, get_session
from twotier.kit.errors import Invalid
from twotier.kit.fastjson import page_response
from twotier.kit.idempotency import create_once
from twotier.kit.openapi import idempotency_key, problems
from twotier.kit.pagination import Page, PageParams, page_of, page_params
from twotier.partners.schemas import PartnerRef

router = APIRouter(prefix="/api/v1", tags=["commerce"], route_class=TransactionalRoute)


# The operator's catalog.


@router.post(
    "/operator/products",
    status_code=201,
    openapi_extra=idempotency_key(),
    response_model=ProductOut,
    responses=problems(403, 422),
    summary="Add a product with its SKUs (operator)",
)
async def create_product(
    data: ProductCreate,
    request: Request,
    principal: CurrentPrincipal,
    session: AsyncSession = Depends(get_session),
) -> JSONResponse:
    return await create_once(
        session,
        request,
        scope=f"user:{principal.user_id}",
        body=data,
        make=lambda: catalog.create_product(session, principal, data),
    )


@router.get(
    "/operator/products",
    response_model=Page[ProductOut],
    responses=problems(403),
    summary="Products (operator)",
)
async def list_products(
    principal: CurrentPrincipal,
    params: PageParams = Depends(page_params),
    session: AsyncSession = Depends(get_session),
) -> Page[ProductOut]:
    items, cursor = await catalog.list_products(session, principal, params)
    return Page[ProductOut](items=items, next_cursor=cursor)


@router.post(
    "/operator/offers",
    status_code=201,
    openapi_extra=idempotency_key(),
    response_model=OfferOut,
    responses=problems(403, 422),
    summary="Add an offer for a SKU with per-country prices (operator)",
)
async def create_offer(
    data: OfferCreate,
    request: Request,
    principal: CurrentPrincipal,
    session: AsyncSession = Depends(get_session),
) -> JSONResponse:
    return await create_once(
        session,
        request,
        scope=f"user:{principal.user_id}",
        body=data,
        make=lambda: catalog.create_offer(session, principal, data),
    )


@router.get(
    "/operator/offers",
    response_model=Page[OfferOut],
    responses=problems(403),
    summary="Offers with every price (operator)",
)
async def list_all_offers(
    principal: CurrentPrincipal,
    params: PageParams = Depends(page_params),
    session: AsyncSession = Depends(get_session),
) -> Page[OfferOut]:
    items, cursor = await catalog.list_offers(session, principal, params)
    return Page[OfferOut](items=items, next_cursor=cursor)


@router.post(
    "/operator/offers/{offer_id}/retire",
    response_model=OfferOut,
    responses=problems(403, 404),
    summary="Stop selling an offer; existing subscriptions are unaffected (operator)",
)
async def retire_offer(
    offer_id: uuid.UUID,
    principal: CurrentPrincipal,
    session: AsyncSession = Depends(get_session),
) -> OfferOut:
    return await catalog.retire_offer(session, principal, offer_id)


@router.get(
    "/offers",
    response_model=Page[CountryOfferOut],
    responses=problems(403, 422),
    summary="What partners can sell in a country, with its price there",
)
async def offers_for_country(
    principal: CurrentPrincipal,
    country: Annotated[str, CountryCodeText, Query(description="e.g. DE")],
    params: PageParams = Depends(page_params),
    session: AsyncSession = Depends(get_session),
) -> Page[CountryOfferOut]:
    try:
        code = normalize_country(country)
    except ValueError as exc:
        raise Invalid(str(exc), code="country_invalid") from exc
    items, cursor = await catalog.offers_for_country(session, principal, code, params)
    return Page[CountryOfferOut](items=items, next_cursor=cursor)


# Orders (the provider, on behalf of a customer).


@router.post(
    "/customers/{customer_id}/orders",
    status_code=201,
    openapi_extra=idempotency_key(required=True),
    response_model=OrderOut,
    responses=problems(403, 404, 422, 428),
    summary="Submit an order on behalf of a customer, naming the reseller of record",
    description="Requires `Idempotency-Key`: a retry with the same key and body returns the "
    "same order; the same key with another body is 422 `idempotency_key_reused`.",
)
async def create_order(
    customer_id: uuid.UUID,
    data: OrderCreate,
    request: Request,
    principal: CurrentPrincipal,
    session: AsyncSession = Depends(get_session),
) -> JSONResponse:
    return await create_once(
        session,
        request,
        scope=f"orders:{principal.partner_account_id or principal.user_id}",
        body={"customer_id": str(customer_id), **data.model_dump(mode="json")},
        make=lambda: service.create_order(session, principal, customer_id, data),
        required=True,
    )


@router.get(
    "/customers/{customer_id}/orders",
    response_model=Page[OrderOut],
    responses=problems(403, 404),
)
async def list_orders(
    customer_id: uuid.UUID,
    principal: CurrentPrincipal,
    params: PageParams = Depends(page_params),
    session: AsyncSession = Depends(get_session),
) -> Page[OrderOut]:
    items, cursor = await service.list_orders(session, principal, customer_id, params)
    return Page[OrderOut](items=items, next_cursor=cursor)


@router.get(
    "/customers/{customer_id}/orders/{order_id}",
    response_model=OrderOut,
    responses=problems(403, 404),
)
async def get_order(
    customer_id: uuid.UUID,
    order_id: uuid.UUID,
    principal: CurrentPrincipal,
    session: AsyncSession = Depends(get_session),
) -> OrderOut:
    return await service.get_order(session, principal, customer_id, order_id)


@router.get(
    "/customers/{customer_id}/resellers-of-record",
    response_model=Page[PartnerRef],
    responses=problems(403, 404),
    summary="The resellers a provider may name as partner of record for this customer",
)
async def resellers_of_record(
    customer_id: uuid.UUID,
    principal: CurrentPrincipal,
    params: PageParams = Depends(page_params),
    session: AsyncSession = Depends(get_session),
) -> Page[PartnerRef]:
    rows = await service.resellers_of_record(session, principal, customer_id)
    items, cursor = page_of(
        [PartnerRef.model_validate(r) for r in rows],
        lambda r: (r.company_name.lower(), str(r.id)),
        params,
    )
    return Page[PartnerRef](items=items, next_cursor=cursor)


# Subscriptions.


@router.get(
    "/customers/{customer_id}/subscriptions",
    response_model=Page[SubscriptionOut],
    responses=problems(403, 404),
)
async def list_subscriptions(
    customer_id: uuid.UUID,
    principal: CurrentPrincipal,
    status: Literal["active", "suspended", "cancelled"] | None = None,
    params: PageParams = Depends(page_params),
    session: AsyncSession = Depends(get_session),
) -> Response:
    items, cursor = await service.subscription_dicts(
        session, principal, customer_id, params, status=status
    )
    return page_response(items, cursor)


def _with_etag(out: SubscriptionOut) -> JSONResponse:
    return JSONResponse(out.model_dump(mode="json"), headers={"ETag": out.etag})


@router.get(
    "/customers/{customer_id}/subscriptions/{subscription_id}",
    response_model=SubscriptionOut,
    responses=problems(403, 404),
    summary="A subscription, with its ETag",
)
async def get_subscription(
    customer_id: uuid.UUID,
    subscription_id: uuid.UUID,
    principal: CurrentPrincipal,
    session: AsyncSession = Depends(get_session),
) -> JSONResponse:
    return _with_etag(
        await service.get_subscription(session, principal, customer_id, subscription_id)
    )


@router.patch(
    "/customers/{customer_id}/subscriptions/{subscription_id}",
    response_model=SubscriptionOut,
    responses=problems(403, 404, 409, 412, 422, 428),
    summary="Change quantity, suspend, reactivate, cancel or set auto-renew (If-Match)",
)
async def update_subscription(
    customer_id: uuid.UUID,
    subscription_id: uuid.UUID,
    data: SubscriptionPatch,
    principal: CurrentPrincipal,
    if_match: str | None = Header(None, description="The ETag from the last GET"),
    session: AsyncSession = Depends(get_session),
) -> JSONResponse:
    return _with_etag(
        await service.update_subscription(
            session, principal, customer_id, subscription_id, data, if_match
        )
    )


# Licenses.


@router.get(
    "/customers/{customer_id}/licenses",
    response_model=Page[LicenseOut],
    responses=problems(403, 404),
    summary="Seats per SKU: total (active subscriptions), assigned, available",
)
async def get_licenses(
    customer_id: uuid.UUID,
    principal: CurrentPrincipal,
    params: PageParams = Depends(page_params),
    session: AsyncSession = Depends(get_session),
) -> Page[LicenseOut]:
    seats = await licenses.licenses(session, principal, customer_id)
    items, cursor = page_of(seats, lambda s: (s.product_name, s.sku_name, str(s.sku_id)), params)
    return Page[LicenseOut](items=items, next_cursor=cursor)


@router.get(
    "/customers/{customer_id}/users/{user_id}/licenses",
    response_model=UserLicensesOut,
    responses=problems(403, 404),
)
async def get_user_licenses(
    customer_id: uuid.UUID,
    user_id: uuid.UUID,
    principal: CurrentPrincipal,
    session: AsyncSession = Depends(get_session),
) -> UserLicensesOut:
    return await licenses.user_licenses(session, principal, customer_id, user_id)


@router.post(
    "/customers/{customer_id}/users/{user_id}/license-updates",
    response_model=UserLicensesOut,
    responses=problems(403, 404, 409, 422),
    summary="Assign and unassign licenses for a user (all or nothing)",
)
async def update_user_licenses(
    customer_id: uuid.UUID,
    user_id: uuid.UUID,
    data: LicenseUpdate,
    principal: CurrentPrincipal,
    session: AsyncSession = Depends(get_session),
) -> UserLicensesOut:
    return await licenses.update_user_licenses(session, principal, customer_id, user_id, data)
