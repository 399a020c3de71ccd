"""The ceiling twotier's hot reads on embedded SQLite are measured against: the same answers
(byte for byte) from twotier's own schema in the same SQLite file, served by Starlette +
aiosqlite + orjson with one query per request (the bearer token's check joined into it) and
nothing else — no ORM, no validation, no dependency injection, no middleware.

The SQLite twin of ``bench/bare_app.py``. Values as twotier stores them on SQLite: UUIDs as
32 hex digits (answered hyphenated), times as naive UTC text (answered as pydantic writes
aware UTC ones, ``Z``), money as text (answered in twotier's spelling, ``canonical_money``),
booleans as 0/1, JSON as text.

Run: BARE_DATABASE_URL=sqlite+aiosqlite:////path/to.db uvicorn bench.bare_sqlite_app:app
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import aiosqlite
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

LIMIT = 50

# As twotier's connections (kit/db.py ``_sqlite_setup``); each statement its own transaction.
PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA busy_timeout=30000",
    "PRAGMA foreign_keys=ON",
    "PRAGMA synchronous=NORMAL",
)

# The caller: token → user → tenant → partner account (as twotier's principal query), as a
# one-row CTE the queries compare with scalar subqueries (each evaluated once: the planner
# then searches the partner's index as for a constant). ?1 is the token's hash, ?2 the time
# now as SQLite holds it.
ME = """
WITH me AS MATERIALIZED (
    SELECT u.id AS user_id, u.tenant_id, pa.id AS account_id
    FROM access_tokens t
    JOIN users u ON u.id = t.user_id
    LEFT JOIN partner_accounts pa ON pa.tenant_id = u.tenant_id
    WHERE t.token_hash = ?1 AND t.kind = 'api' AND t.revoked_at IS NULL
      AND t.expires_at > ?2 AND u.is_active = 1
)
"""
MINE = "(SELECT account_id FROM me)"

CUSTOMER_COLUMNS = """
    r.created_at, r.id, r.kind, r.tier, c.id, c.display_name, c.domain, c.country,
    o.id, o.partner_id, o.company_name, o.country
"""

CUSTOMERS_FROM = f"""
    FROM customer_relationships r
    JOIN tenants c ON c.id = r.customer_tenant_id
    LEFT JOIN partner_accounts o ON o.id = r.other_tier_account_id
    WHERE r.partner_account_id = {MINE} AND r.status = 'active'
"""
ORDER = " ORDER BY r.created_at, r.id LIMIT 51"

PAGE = ME + "SELECT" + CUSTOMER_COLUMNS + CUSTOMERS_FROM + ORDER


# ?3, ?4: the prefix's range [low, high) (twotier's ``prefix_range``). A search answers
# in the order of what matched (the name, else the domain), then the relationship: a page
# from each search index, merged (twotier's ``MergedPagedRead``).
def _search(name: str, domain: str) -> str:
    """The search over two ranges: ``name`` and ``domain`` are the conditions on each."""
    branch = "SELECT * FROM (SELECT" + CUSTOMER_COLUMNS + ", {key} AS match" + CUSTOMERS_FROM
    return (
        ME
        + "SELECT * FROM ("
        + branch.format(key="r.search_name")
        + f" AND {name} ORDER BY r.search_name, r.id LIMIT 51) UNION ALL "
        + branch.format(key="r.search_domain")
        + f" AND {domain} AND NOT ({name}) ORDER BY r.search_domain, r.id LIMIT 51)"
        + ") ORDER BY match, 2 LIMIT 51"
    )


SEARCH = _search(
    "r.search_name >= ?3 AND r.search_name < ?4", "r.search_domain >= ?3 AND r.search_domain < ?4"
)
SEARCH_OPEN = _search("r.search_name >= ?3", "r.search_domain >= ?3")  # no end (U+10FFFF)


def _shared(mine: str, other: str) -> str:
    """The customers shared with ?3 (the other tier), over an active link between us: the
    caller's side of it is ``mine``, the other's ``other``."""
    return (
        ME
        + "SELECT"
        + CUSTOMER_COLUMNS
        + CUSTOMERS_FROM
        + f"""
    AND r.other_tier_account_id = ?3 AND EXISTS (
        SELECT 1 FROM reseller_links l
        WHERE l.{mine} = {MINE} AND l.{other} = ?3 AND l.status = 'active')
"""
        + ORDER
    )


SHARED_WITH_PROVIDER = _shared("reseller_account_id", "provider_account_id")
SHARED_WITH_RESELLER = _shared("provider_account_id", "reseller_account_id")

# ?3: the customer. One row per grant of the caller's in the customer's tenant, or one row
# without; a grant past its expiry is expired (twotier's ``grant_status``: never stored).
RECORD = (
    ME
    + "SELECT"
    + CUSTOMER_COLUMNS
    + """,
    g.id, g.roles, g.created_at, g.expires_at,
    CASE WHEN g.status = 'active' AND g.expires_at <= ?2 THEN 'expired' ELSE g.status END,
    g.extension_days, mine.id, mine.partner_id, mine.company_name, mine.country
    FROM customer_relationships r
    JOIN tenants c ON c.id = r.customer_tenant_id
    LEFT JOIN partner_accounts o ON o.id = r.other_tier_account_id
    JOIN partner_accounts mine ON mine.id = r.partner_account_id
    LEFT JOIN delegated_access_grants g ON g.tenant_id = r.customer_tenant_id
        AND g.partner_account_id = r.partner_account_id AND g.source = 'relationship'
    WHERE r.partner_account_id = (SELECT account_id FROM me) AND r.status = 'active'
      AND r.customer_tenant_id = ?3
    ORDER BY g.created_at, g.id
"""
)
# One row per program of the caller's partner account, or one row.
WHO = """
SELECT u.id, u.email, u.display_name, u.roles, u.partner_roles,
    c.id, c.display_name, c.domain, c.country, c.kind,
    pa.id, pa.partner_id, pa.company_name, pa.country, pp.program
FROM access_tokens t
JOIN users u ON u.id = t.user_id
JOIN tenants c ON c.id = u.tenant_id
LEFT JOIN partner_accounts pa ON pa.tenant_id = c.id
LEFT JOIN partner_programs pp ON pp.partner_account_id = pa.id
WHERE t.token_hash = ?1 AND t.kind = 'api' AND t.revoked_at IS NULL
  AND t.expires_at > ?2 AND u.is_active = 1
"""
# ?3: the customer: the customer itself sees all of its subscriptions, a partner its own
# with an active relationship.
SUBSCRIPTIONS = (
    ME
    + """
SELECT s.id, s.customer_tenant_id, s.order_id, s.offer_id, s.sku_id, s.quantity, s.status,
    s.auto_renew, s.unit_price, s.currency, s.created_at, s.updated_at, s.term_ends_at,
    s.cancellable_until, s.suspended_at, s.cancelled_at, s.version,
    f.name, f.billing_cycle, f.term, k.name, p.name,
    rs.id, rs.partner_id, rs.company_name, rs.country,
    pv.id, pv.partner_id, pv.company_name, pv.country
FROM subscriptions s
JOIN offers f ON f.id = s.offer_id
JOIN skus k ON k.id = s.sku_id
JOIN products p ON p.id = k.product_id
JOIN partner_accounts rs ON rs.id = s.reseller_account_id
JOIN partner_accounts pv ON pv.id = s.provider_account_id
WHERE s.customer_tenant_id = ?3 AND ((SELECT tenant_id FROM me) = ?3 OR (
    (s.provider_account_id = (SELECT account_id FROM me)
     OR s.reseller_account_id = (SELECT account_id FROM me))
    AND EXISTS (SELECT 1 FROM customer_relationships r
                WHERE r.partner_account_id = (SELECT account_id FROM me)
                AND r.customer_tenant_id = ?3 AND r.status = 'active')))
ORDER BY s.created_at, s.id LIMIT 51
"""
)


def _tag(list_name: str, table: str, key: str = "created_at") -> str:
    """twotier's cursor tag (``kit.pagination.binding``) of a list sorted by its table's
    (key, id), ascending."""
    spec = f"{list_name}|asc|{table}.{key}|{table}.id"
    return hashlib.sha256(spec.encode()).hexdigest()[:12]


CUSTOMERS_TAG = _tag("GET /api/v1/customers", "customer_relationships")
SEARCH_TAG = _tag("GET /api/v1/customers", "customer_relationships", "search_name")
SHARED_RESELLER_TAG = _tag(
    "GET /api/v1/indirect-resellers/{reseller_id}/customers", "customer_relationships"
)
SHARED_PROVIDER_TAG = _tag(
    "GET /api/v1/indirect-providers/{provider_id}/customers", "customer_relationships"
)
SUBSCRIPTIONS_TAG = _tag("GET /api/v1/customers/{customer_id}/subscriptions", "subscriptions")


def _uuid(hex32: str | None) -> str | None:
    """A stored UUID (32 hex digits) as answered: hyphenated."""
    if hex32 is None:
        return None
    h = hex32
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _time(text: str | None) -> str | None:
    """A stored time ("2026-12-07 10:00:00.123456", naive UTC) as pydantic and orjson write
    the aware one: "2026-12-07T10:00:00.123456Z", without a fraction of zero."""
    if text is None:
        return None
    if text.endswith(".000000"):
        text = text[:-7]
    return text.replace(" ", "T", 1) + "Z"


def _money(text: str) -> str:
    """A stored amount in twotier's spelling (``canonical_money``): at least two decimals,
    no trailing zeros beyond them."""
    if "e" in text or "E" in text:  # an exponent: leave it to Decimal, as twotier does
        value = Decimal(text).normalize()
        exponent = value.as_tuple().exponent
        assert isinstance(exponent, int)
        return str(value.quantize(Decimal("0.01")) if exponent > -2 else value)
    whole, _, fraction = text.partition(".")
    return f"{whole}.{fraction.rstrip('0').ljust(2, '0')}"


def _cursor(tag: str, key: str, id_hex: str, *, timed: bool = True) -> str:
    """twotier's cursor (``kit.pagination.encode``) after a row: its key's values as Python
    writes them (``isoformat`` of an aware time when ``timed``, the hyphenated UUID)."""
    if timed:
        if key.endswith(".000000"):
            key = key[:-7]
        key = key.replace(" ", "T", 1) + "+00:00"
    raw = orjson.dumps([tag, key, _uuid(id_hex)])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _json(body: Any, status_code: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status_code, media_type="application/json")


def _token(request: Request) -> str:
    token = request.headers.get("authorization", "").partition(" ")[2]
    return hashlib.sha256(token.encode()).hexdigest()


def _now() -> str:
    """The time now as twotier binds it on SQLite (naive UTC text, always six decimals)."""
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _hex(text: str) -> str:
    return uuid.UUID(text).hex


def _ref(id_hex: str | None, partner_id: str, name: str, country: str) -> dict[str, Any] | None:
    if id_hex is None:
        return None
    return {"id": _uuid(id_hex), "partner_id": partner_id, "company_name": name, "country": country}


def _customer(row: Sequence[Any]) -> dict[str, Any]:
    (since, _id, kind, tier, tenant_id, name, domain, country, other_id, other_partner_id,
     other_name, other_country) = row[:12]  # fmt: skip
    other = _ref(other_id, other_partner_id, other_name, other_country)
    return {
        "id": _uuid(tenant_id),
        "company_name": name,
        "domain": domain,
        "country": country,
        "relationship": {
            "since": _time(since),
            "kind": kind,
            "indirect_provider": other if tier == "reseller" else None,
            "indirect_reseller": other if tier == "provider" else None,
        },
    }


def _page(
    rows: Sequence[Sequence[Any]],
    item: Callable[[Sequence[Any]], dict[str, Any]],
    tag: str,
    keys: tuple[int, int],
    *,
    timed: bool = True,
) -> Response:
    """A page of at most LIMIT items, and the cursor after its last row (whose sort keys
    are at the positions ``keys``) when there are more."""
    cursor = None
    if len(rows) > LIMIT:
        rows = rows[:LIMIT]
        last = rows[-1]
        cursor = _cursor(tag, last[keys[0]], last[keys[1]], timed=timed)
    return _json({"items": [item(r) for r in rows], "next_cursor": cursor})


class Pool:
    """aiosqlite connections (each with its own thread), one per statement in flight."""

    def __init__(self, connections: list[aiosqlite.Connection]) -> None:
        self.connections = connections
        self.idle: asyncio.Queue[aiosqlite.Connection] = asyncio.Queue()
        for conn in connections:
            self.idle.put_nowait(conn)

    @classmethod
    async def open(cls, path: str, size: int) -> Pool:
        connections = []
        for _ in range(size):
            conn = await aiosqlite.connect(path, timeout=30, isolation_level=None)
            for pragma in PRAGMAS:
                await conn.execute(pragma)
            connections.append(conn)
        return cls(connections)

    async def fetch(self, sql: str, params: Sequence[Any]) -> list[Any]:
        conn = await self.idle.get()
        try:
            return list(await conn.execute_fetchall(sql, params))  # one hop to the thread
        finally:
            self.idle.put_nowait(conn)

    async def close(self) -> None:
        for conn in self.connections:
            await conn.close()


def _pool(request: Request) -> Pool:
    pool: Pool = request.app.state.pool
    return pool


def _prefix(q: str) -> tuple[str, str | None]:
    """twotier's ``prefix_range``: [low, high) in code point order, high None when the
    prefix has no successor."""
    key = q.strip().lower()
    stem = key.rstrip(chr(0x10FFFF))
    return key, (stem[:-1] + chr(ord(stem[-1]) + 1)) if stem else None


async def customers(request: Request) -> Response:
    q = request.query_params.get("q")
    if q and q.strip():
        low, high = _prefix(q)
        if high is None:
            rows = await _pool(request).fetch(SEARCH_OPEN, (_token(request), _now(), low))
        else:
            rows = await _pool(request).fetch(SEARCH, (_token(request), _now(), low, high))
        return _page(rows, _customer, SEARCH_TAG, (12, 1), timed=False)
    rows = await _pool(request).fetch(PAGE, (_token(request), _now()))
    return _page(rows, _customer, CUSTOMERS_TAG, (0, 1))


async def shared_with_provider(request: Request) -> Response:
    other = _hex(request.path_params["other"])
    rows = await _pool(request).fetch(SHARED_WITH_PROVIDER, (_token(request), _now(), other))
    return _page(rows, _customer, SHARED_PROVIDER_TAG, (0, 1))


async def shared_with_reseller(request: Request) -> Response:
    other = _hex(request.path_params["other"])
    rows = await _pool(request).fetch(SHARED_WITH_RESELLER, (_token(request), _now(), other))
    return _page(rows, _customer, SHARED_RESELLER_TAG, (0, 1))


async def customer(request: Request) -> Response:
    cid = _hex(request.path_params["customer"])
    rows = await _pool(request).fetch(RECORD, (_token(request), _now(), cid))
    if not rows:
        return _json({"detail": "No such customer."}, 404)
    first = rows[0]
    mine = _ref(*first[18:22])  # the caller, whom each grant names
    access = [
        {
            "id": _uuid(grant_id),
            "partner": mine,
            "roles": orjson.loads(roles),
            "created_at": _time(created_at),
            "expires_at": _time(expires_at),
            "status": status,
            "extension_requested_days": extension_days,
        }
        for grant_id, roles, created_at, expires_at, status, extension_days in (
            r[12:18] for r in rows
        )
        if grant_id is not None
    ]
    return _json(_customer(first) | {"access": access})


async def me(request: Request) -> Response:
    rows = await _pool(request).fetch(WHO, (_token(request), _now()))
    if not rows:
        return _json({"detail": "Not signed in."}, 401)
    (user_id, email, user_name, roles, partner_roles, tenant_id, tenant_name, domain, country,
     kind, account_id, partner_id, company_name, partner_country, _program) = rows[0]  # fmt: skip
    partner = None
    if account_id is not None:
        partner = {
            "id": _uuid(account_id),
            "partner_id": partner_id,
            "company_name": company_name,
            "country": partner_country,
            "programs": sorted({r[14] for r in rows if r[14] is not None}),
            "partner_roles": sorted(set(orjson.loads(partner_roles))),
        }
    return _json(
        {
            "user": {
                "id": _uuid(user_id),
                "email": email,
                "display_name": user_name,
                "roles": sorted(set(orjson.loads(roles))),
            },
            "tenant": {
                "id": _uuid(tenant_id),
                "display_name": tenant_name,
                "domain": domain,
                "country": country,
                "kind": kind,
            },
            "partner": partner,
        }
    )


def _subscription(row: Sequence[Any]) -> dict[str, Any]:
    (id_, customer_id, order_id, offer_id, sku_id, quantity, status, auto_renew, unit_price,
     currency, created_at, updated_at, term_ends_at, cancellable_until, suspended_at,
     cancelled_at, version, offer_name, billing_cycle, term, sku_name, product_name,
     *partners) = row  # fmt: skip
    reseller = _ref(*partners[:4])
    return {
        "id": _uuid(id_),
        "customer_id": _uuid(customer_id),
        "order_id": _uuid(order_id),
        "offer_id": _uuid(offer_id),
        "offer_name": offer_name,
        "product_name": product_name,
        "sku_id": _uuid(sku_id),
        "sku_name": sku_name,
        "quantity": quantity,
        "status": status,
        "auto_renew": bool(auto_renew),
        "billing_cycle": billing_cycle,
        "term": term,
        "unit_price": _money(unit_price),
        "currency": currency,
        "partner_id_on_record": partners[1],
        "indirect_reseller": reseller,
        "indirect_provider": _ref(*partners[4:8]),
        "created_at": _time(created_at),
        "updated_at": _time(updated_at),
        "term_ends_at": _time(term_ends_at),
        "cancellable_until": _time(cancellable_until),
        "suspended_at": _time(suspended_at),
        "cancelled_at": _time(cancelled_at),
        "etag": f'"{id_[:12]}-{version}"',
    }


async def subscriptions(request: Request) -> Response:
    cid = _hex(request.path_params["customer"])
    rows = await _pool(request).fetch(SUBSCRIPTIONS, (_token(request), _now(), cid))
    return _page(rows, _subscription, SUBSCRIPTIONS_TAG, (10, 0))


def database_path(url: str) -> str:
    """The file of a ``sqlite+aiosqlite:///path`` (or ``sqlite:///path``) URL."""
    for prefix in ("sqlite+aiosqlite:///", "sqlite:///"):
        if url.startswith(prefix):
            path = url.removeprefix(prefix)
            if not path or path.startswith(":memory:"):
                break
            return path
    raise SystemExit(f"BARE_DATABASE_URL: a SQLite file's URL, not {url!r}")


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    path = database_path(os.environ["BARE_DATABASE_URL"])
    size = int(os.environ.get("BARE_POOL_SIZE", "16"))
    app.state.pool = await Pool.open(path, size)
    yield
    await app.state.pool.close()


app = Starlette(
    routes=[
        Route("/api/v1/customers", customers),
        Route("/api/v1/customers/{customer}", customer),
        Route("/api/v1/customers/{customer}/subscriptions", subscriptions),
        Route("/api/v1/me", me),
        Route("/api/v1/indirect-resellers/{other}/customers", shared_with_reseller),
        Route("/api/v1/indirect-providers/{other}/customers", shared_with_provider),
    ],
    lifespan=lifespan,
)
