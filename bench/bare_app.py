"""The ceiling twotier's hot reads are measured against: the same answers from twotier's own
schema, served by Starlette + asyncpg + orjson with one query per request (the bearer
token's check joined into it) and nothing else — no ORM, no validation, no dependency
injection, no middleware.

Run: BARE_DATABASE_URL=postgresql://... uvicorn bench.bare_app:app
"""

from __future__ import annotations

import base64
import hashlib
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import asyncpg
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

LIMIT = 50

# The caller: token → user → tenant → partner account (as twotier's principal query), as
# a one-row CTE whose account the queries compare with a scalar subquery (an InitPlan: the
# planner then walks the partner's index as for a constant).
ME = """
WITH me AS MATERIALIZED (
    SELECT u.id AS user_id, u.tenant_id, pa.id AS account_id
    FROM access_tokens t
    JOIN users u ON u.id = t.user_id
    LEFT JOIN partner_accounts pa ON pa.tenant_id = u.tenant_id
    WHERE t.token_hash = $1 AND t.kind = 'api' AND t.revoked_at IS NULL
      AND t.expires_at > now() AND u.is_active
)
"""
MINE = "(SELECT account_id FROM me)"

CUSTOMER_COLUMNS = """
    r.created_at, r.id AS rid, r.kind, r.tier, c.id, c.display_name, c.domain, c.country,
    o.id AS other_id, o.partner_id AS other_partner_id, o.company_name AS other_name,
    o.country AS other_country
"""

CUSTOMERS_FROM = f"""
    FROM customer_relationships r
    JOIN tenants c ON c.id = r.customer_tenant_id
    LEFT JOIN partner_accounts o ON o.id = r.other_tier_account_id
    WHERE r.partner_account_id = {MINE} AND r.status = 'active'
"""

PAGE = ME + "SELECT" + CUSTOMER_COLUMNS + CUSTOMERS_FROM + (" ORDER BY r.created_at, r.id LIMIT 51")
# A search answers in the order of what matched (the name, else the domain), then the
# relationship: a page from each search index, merged (twotier's ``MergedPagedRead``).
_NAME = "r.search_name >= $2 AND r.search_name < $3"
_BRANCH = "(SELECT" + CUSTOMER_COLUMNS + ", {key} AS match" + CUSTOMERS_FROM
SEARCH = (
    ME
    + "SELECT * FROM ("
    + _BRANCH.format(key="r.search_name")
    + f" AND {_NAME} ORDER BY r.search_name, r.id LIMIT 51) UNION ALL "
    + _BRANCH.format(key="r.search_domain")
    + f" AND r.search_domain >= $2 AND r.search_domain < $3 AND NOT ({_NAME})"
    + " ORDER BY r.search_domain, r.id LIMIT 51)) m ORDER BY match, rid LIMIT 51"
)
SHARED = (
    ME
    + "SELECT"
    + CUSTOMER_COLUMNS
    + CUSTOMERS_FROM
    + f"""
    AND r.other_tier_account_id = $2 AND EXISTS (
        SELECT 1 FROM reseller_links l
        WHERE l.status = 'active' AND (
            (l.provider_account_id = {MINE} AND l.reseller_account_id = $2)
            OR (l.reseller_account_id = {MINE} AND l.provider_account_id = $2)))
    ORDER BY r.created_at, r.id LIMIT 51
"""
)
RECORD = (
    ME
    + "SELECT"
    + CUSTOMER_COLUMNS
    + """,
    g.id AS grant_id, g.roles, g.created_at AS granted_at, g.expires_at, g.status AS grant_status,
    g.extension_days, mine.partner_id AS my_partner_id, mine.company_name AS my_name,
    mine.country AS my_country, mine.id AS my_id

    FROM customer_relationships r
    JOIN tenants c ON c.id = r.customer_tenant_id
    LEFT JOIN partner_accounts o ON o.id = r.other_tier_account_id
    JOIN partner_accounts mine ON mine.id = r.partner_account_id
    LEFT JOIN delegated_access_grants g ON g.tenant_id = r.customer_tenant_id
        AND g.partner_account_id = r.partner_account_id AND g.source = 'relationship'
    WHERE r.partner_account_id = (SELECT account_id FROM me) AND r.status = 'active'
      AND r.customer_tenant_id = $2
    ORDER BY g.created_at, g.id
"""
)
WHO = """
SELECT u.id AS user_id, u.email, u.display_name AS user_name, u.roles, u.partner_roles,
    c.id, c.display_name, c.domain, c.country, c.kind,
    pa.id AS account_id, pa.partner_id, pa.company_name, pa.country AS partner_country,
    pp.program
FROM access_tokens t
JOIN users u ON u.id = t.user_id
JOIN tenants c ON c.id = u.tenant_id
LEFT JOIN partner_accounts pa ON pa.tenant_id = c.id
LEFT JOIN partner_programs pp ON pp.partner_account_id = pa.id
WHERE t.token_hash = $1 AND t.kind = 'api' AND t.revoked_at IS NULL
  AND t.expires_at > now() AND u.is_active
"""
SUBSCRIPTIONS = (
    ME
    + """
SELECT s.*, f.name AS offer_name, f.billing_cycle, f.term, k.name AS sku_name,
    p.name AS product_name,
    rs.id AS reseller_id, rs.partner_id AS reseller_partner_id,
    rs.company_name AS reseller_name, rs.country AS reseller_country,
    pv.id AS provider_id, pv.partner_id AS provider_partner_id,
    pv.company_name AS provider_name, pv.country AS provider_country
FROM subscriptions s
JOIN offers f ON f.id = s.offer_id
JOIN skus k ON k.id = s.sku_id
JOIN products p ON p.id = k.product_id
JOIN partner_accounts rs ON rs.id = s.reseller_account_id
JOIN partner_accounts pv ON pv.id = s.provider_account_id
WHERE s.customer_tenant_id = $2 AND ((SELECT tenant_id FROM me) = $2 OR (
    (s.provider_account_id = (SELECT account_id FROM me)
     OR s.reseller_account_id = (SELECT account_id FROM me))
    AND EXISTS (SELECT 1 FROM customer_relationships r
                WHERE r.partner_account_id = (SELECT account_id FROM me)
                AND r.customer_tenant_id = $2 AND r.status = 'active')))
ORDER BY s.created_at, s.id LIMIT 51
"""
)


def _default(value: Any) -> Any:
    if isinstance(value, Decimal | asyncpg.pgproto.pgproto.UUID):
        return str(value)
    raise TypeError


def _json(body: Any) -> Response:
    # Aware UTC datetimes as twotier writes them ("…Z").
    body = orjson.dumps(body, default=_default, option=orjson.OPT_UTC_Z)
    return Response(body, media_type="application/json")


def _token(request: Request) -> str:
    token = request.headers.get("authorization", "").partition(" ")[2]
    return hashlib.sha256(token.encode()).hexdigest()


def _ref(row: Any, prefix: str) -> dict[str, Any] | None:
    if row[f"{prefix}_id"] is None:
        return None
    return {
        "id": row[f"{prefix}_id"],
        "partner_id": row[f"{prefix}_partner_id"],
        "company_name": row[f"{prefix}_name"],
        "country": row[f"{prefix}_country"],
    }


def _customer(row: Any) -> dict[str, Any]:
    other = _ref(row, "other")
    return {
        "id": row["id"],
        "company_name": row["display_name"],
        "domain": row["domain"],
        "country": row["country"],
        "relationship": {
            "since": row["created_at"],
            "kind": row["kind"],
            "indirect_provider": other if row["tier"] == "reseller" else None,
            "indirect_reseller": other if row["tier"] == "provider" else None,
        },
    }


def _page(rows: list[Any], item: Any) -> Response:
    cursor = None
    if len(rows) > LIMIT:
        rows = rows[:LIMIT]
        last = rows[-1]
        key = f"{last['created_at'].isoformat()}|{last.get('rid', last['id'])}"
        cursor = base64.urlsafe_b64encode(key.encode()).decode()
    return _json({"items": [item(r) for r in rows], "next_cursor": cursor})


def _prefix(q: str) -> tuple[str, str]:
    key = q.strip().lower()
    return key, key[:-1] + chr(ord(key[-1]) + 1)


async def customers(request: Request) -> Response:
    q = request.query_params.get("q")
    async with request.app.state.pool.acquire() as conn:
        if q:
            rows = await conn.fetch(SEARCH, _token(request), *_prefix(q))
        else:
            rows = await conn.fetch(PAGE, _token(request))
    return _page(rows, _customer)


async def shared(request: Request) -> Response:
    other = uuid.UUID(request.path_params["other"])
    async with request.app.state.pool.acquire() as conn:
        rows = await conn.fetch(SHARED, _token(request), other)
    return _page(rows, _customer)


async def customer(request: Request) -> Response:
    cid = uuid.UUID(request.path_params["customer"])
    async with request.app.state.pool.acquire() as conn:
        rows = await conn.fetch(RECORD, _token(request), cid)
    if not rows:
        return _json({"detail": "No such customer."})
    me = _ref(rows[0], "my")
    body = _customer(rows[0]) | {
        "access": [
            {
                "id": r["grant_id"],
                "partner": me,
                "roles": orjson.loads(r["roles"]),
                "created_at": r["granted_at"],
                "expires_at": r["expires_at"],
                "status": r["grant_status"],
                "extension_requested_days": r["extension_days"],
            }
            for r in rows
            if r["grant_id"] is not None
        ]
    }
    return _json(body)


async def me(request: Request) -> Response:
    async with request.app.state.pool.acquire() as conn:
        rows = await conn.fetch(WHO, _token(request))
    first = rows[0]
    partner = None
    if first["account_id"] is not None:
        partner = {
            "id": first["account_id"],
            "partner_id": first["partner_id"],
            "company_name": first["company_name"],
            "country": first["partner_country"],
            "programs": sorted(r["program"] for r in rows if r["program"]),
            "partner_roles": sorted(orjson.loads(first["partner_roles"])),
        }
    return _json(
        {
            "user": {
                "id": first["user_id"],
                "email": first["email"],
                "display_name": first["user_name"],
                "roles": sorted(orjson.loads(first["roles"])),
            },
            "tenant": {
                "id": first["id"],
                "display_name": first["display_name"],
                "domain": first["domain"],
                "country": first["country"],
                "kind": first["kind"],
            },
            "partner": partner,
        }
    )


def _subscription(row: Any) -> dict[str, Any]:
    reseller = _ref(row, "reseller")
    return {
        "id": row["id"],
        "customer_id": row["customer_tenant_id"],
        "order_id": row["order_id"],
        "offer_id": row["offer_id"],
        "offer_name": row["offer_name"],
        "product_name": row["product_name"],
        "sku_id": row["sku_id"],
        "sku_name": row["sku_name"],
        "quantity": row["quantity"],
        "status": row["status"],
        "auto_renew": row["auto_renew"],
        "billing_cycle": row["billing_cycle"],
        "term": row["term"],
        "unit_price": row["unit_price"],
        "currency": row["currency"],
        "partner_id_on_record": row["reseller_partner_id"],
        "indirect_reseller": reseller,
        "indirect_provider": _ref(row, "provider"),
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "term_ends_at": row["term_ends_at"],
        "cancellable_until": row["cancellable_until"],
        "suspended_at": row["suspended_at"],
        "cancelled_at": row["cancelled_at"],
        "etag": f'"{row["id"].hex[:12]}-{row["version"]}"',
    }


async def subscriptions(request: Request) -> Response:
    cid = uuid.UUID(request.path_params["customer"])
    async with request.app.state.pool.acquire() as conn:
        rows = await conn.fetch(SUBSCRIPTIONS, _token(request), cid)
    return _page(rows, _subscription)


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    url = os.environ["BARE_DATABASE_URL"].replace("postgresql+asyncpg://", "postgresql://")
    size = int(os.environ.get("BARE_POOL_SIZE", "20"))
    app.state.pool = await asyncpg.create_pool(url, min_size=size, max_size=size)
    yield
    await app.state.pool.close()


app = Starlette(
    routes=[
        Route("/api/v1/customers", customers),
        Route("/api/v1/customers/{customer}", customer),
        Route("/api/v1/customers/{customer}/subscriptions", subscriptions),
        Route("/api/v1/me", me),
        Route("/api/v1/indirect-resellers/{other}/customers", shared),
        Route("/api/v1/indirect-providers/{other}/customers", shared),
    ],
    lifespan=lifespan,
)
