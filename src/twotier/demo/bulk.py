"""A benchmark's channel, bulk-loaded: providers, resellers linked to them, two-tier
customers with their relationships and grants, users and API tokens, a catalog and some
subscriptions — written straight into the tables (COPY on PostgreSQL, executemany on
SQLite), not through the services, so that a million customers take minutes.

The shape follows what the services write (the same columns, statuses and roles), so every
read sees a world it could have made. Two resellers are marked for the benchmark: one with
many customers (``big``) and one with few (``small``), both of the same provider, and each
with a customer that has subscriptions. Their tokens and ids are written to a JSON file the
benchmark reads.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Table, insert, text

from twotier.access.models import DelegatedAccessGrant, GrantSource, GrantStatus
from twotier.channel.models import LinkStatus, ResellerLink
from twotier.channel.service import PROVIDER_GRANT_DAYS, PROVIDER_GRANT_ROLES
from twotier.commerce.models import (
    Offer,
    OfferPrice,
    Order,
    OrderLine,
    Product,
    SeatPool,
    Sku,
    Subscription,
)
from twotier.customers.models import (
    CustomerRelationship,
    RelationshipKind,
    RelationshipStatus,
    Tier,
    search_key,
)
from twotier.customers.schemas import DEFAULT_ROLES
from twotier.directory.models import (
    AccessToken,
    PartnerAccount,
    PartnerProgram,
    PartnerStatus,
    Program,
    Tenant,
    TenantKind,
    TokenKind,
    User,
)
from twotier.kit.clock import utcnow
from twotier.kit.db import Database
from twotier.kit.security import hash_password_blocking, new_token, token_hash

BENCH_PASSWORD = "bench-lantern-orchard-71"  # noqa: S105 — every bench user's, printed
CHUNK = 20_000  # customers written per transaction
SUBSCRIBED_EVERY = 10  # one customer in ten has a subscription
TOKEN_DAYS = 30

_FIRST = (
    "North", "Blue", "Silver", "Golden", "Eastern", "Pacific", "Summit", "Harbor", "Jade",
    "Crimson", "Maple", "Coastal", "Alpine", "Lotus", "Falcon", "Cedar", "Nimbus", "Orchid",
    "Granite", "Willow", "Amber", "Atlas", "Bamboo", "Horizon", "Ivory", "Lunar",
)  # fmt: skip
_SECOND = (
    "wind", "ridge", "bay", "stone", "field", "river", "peak", "light", "gate", "wave",
    "leaf", "crest", "spring", "forge", "vale", "brook",
)  # fmt: skip
_KIND = ("Traders", "Logistics", "Foods", "Clinic", "Design", "Robotics", "Textiles", "Tea")
_ZH = ("台北", "新竹", "台中", "高雄", "台南", "宜蘭", "花蓮", "嘉義")
_ZH_KIND = ("貿易", "科技", "食品", "診所", "設計", "物流")


def customer_name(i: int) -> str:
    """A varied, realistic company name; one in eight in Traditional Chinese."""
    if i % 8 == 7:
        return f"{_ZH[i % len(_ZH)]}{_ZH_KIND[(i // 8) % len(_ZH_KIND)]}{i}股份有限公司"
    first = _FIRST[i % len(_FIRST)]
    second = _SECOND[(i // len(_FIRST)) % len(_SECOND)]
    return f"{first}{second} {_KIND[(i // 7) % len(_KIND)]} {i}"


@dataclass
class Sample:
    """One reseller the benchmark asks as, with the tokens and ids its reads need."""

    reseller_account_id: str
    reseller_token: str
    customers: int
    customer_id: str  # a customer of the reseller's with subscriptions
    customer_token: str  # that customer's global admin
    q: str  # a prefix of some of the reseller's customers' names


@dataclass
class BenchWorld:
    customers: int
    resellers: int
    providers: int
    provider_account_id: str  # the samples' provider
    provider_token: str
    big: Sample
    small: Sample
    database: str = ""
    timings: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, data: str) -> BenchWorld:
        raw = json.loads(data)
        raw["big"] = Sample(**raw["big"])
        raw["small"] = Sample(**raw["small"])
        return cls(**raw)


class Writer:
    """Rows into tables, the fastest way the database offers."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.rows = 0

    async def write(self, table: Table, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        self.rows += len(rows)
        if self.db.is_sqlite:
            async with self.db.write_sessions() as session, session.begin():
                await session.execute(insert(table), rows)
            return
        columns = list(rows[0])
        json_columns = {c.name for c in table.columns if isinstance(c.type, JSON)}
        records = [
            tuple(json.dumps(row[c]) if c in json_columns else _plain(row[c]) for c in columns)
            for row in rows
        ]
        async with self.db.engine.connect() as conn:
            raw = await conn.get_raw_connection()
            driver: Any = raw.driver_connection
            await driver.copy_records_to_table(table.name, records=records, columns=columns)
            await conn.commit()


def _plain(value: Any) -> Any:
    """Enum members as their text (COPY knows the column's type, not SQLAlchemy's)."""
    return value.value if hasattr(value, "value") and not isinstance(value, Decimal) else value


def _tenant(tid: uuid.UUID, name: str, domain: str, now: datetime) -> dict[str, Any]:
    return {
        "id": tid,
        "display_name": name,
        "domain": domain,
        "country": "TW",
        "kind": TenantKind.organization,
        "created_at": now,
        "updated_at": now,
    }


def _user(
    tid: uuid.UUID, email: str, password_hash: str, partner: bool, now: datetime
) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(),
        "tenant_id": tid,
        "email": email,
        "display_name": "Admin",
        "password_hash": password_hash,
        "roles": ["global_admin"],
        "partner_roles": ["admin_agent"] if partner else [],
        "is_active": True,
        "temporary_password_expires_at": None,
        "created_at": now,
        "updated_at": now,
    }


def _token(user_id: uuid.UUID, now: datetime) -> tuple[str, dict[str, Any]]:
    token = new_token()
    return token, {
        "id": uuid.uuid4(),
        "token_hash": token_hash(token),
        "user_id": user_id,
        "kind": TokenKind.api,
        "created_at": now,
        "expires_at": now + timedelta(days=TOKEN_DAYS),
        "revoked_at": None,
    }


@dataclass
class _Partners:
    accounts: list[uuid.UUID]
    tenants: list[uuid.UUID]
    admins: list[uuid.UUID]


async def _partners(
    w: Writer, count: int, program: Program, start: int, password_hash: str, now: datetime
) -> tuple[_Partners, list[dict[str, Any]]]:
    """``count`` approved partners in ``program``; their admins' token rows (one each)."""
    out = _Partners([], [], [])
    tenants, users, accounts, programs, tokens = [], [], [], [], []
    label = "Distribution" if program is Program.indirect_provider else "Cloud Resellers"
    for n in range(count):
        tid, aid = uuid.uuid4(), uuid.uuid4()
        name = f"{_FIRST[n % len(_FIRST)]}{_SECOND[n % len(_SECOND)]} {label} {n}"
        slug = f"{program.value.split('_')[1]}-{n}"
        tenants.append(_tenant(tid, name, f"{slug}.bench.example", now))
        user = _user(tid, f"admin@{slug}.bench.example", password_hash, True, now)
        users.append(user)
        accounts.append(
            {
                "id": aid,
                "tenant_id": tid,
                "partner_id": str(start + n),
                "company_name": name,
                "company_name_lower": name.lower(),
                "country": "TW",
                "status": PartnerStatus.active,
                "legal_profile": {},
                "primary_contact": {},
                "support_profile": {},
                "approved_at": now,
                "created_at": now,
                "updated_at": now,
            }
        )
        programs.append({"partner_account_id": aid, "program": program, "approved_at": now})
        tokens.append(_token(user["id"], now)[1])
        out.accounts.append(aid)
        out.tenants.append(tid)
        out.admins.append(user["id"])
    await w.write(Tenant.__table__, tenants)  # type: ignore[arg-type]
    await w.write(User.__table__, users)  # type: ignore[arg-type]
    await w.write(PartnerAccount.__table__, accounts)  # type: ignore[arg-type]
    await w.write(PartnerProgram.__table__, programs)  # type: ignore[arg-type]
    return out, tokens


@dataclass
class _Catalog:
    offers: list[tuple[uuid.UUID, uuid.UUID, Decimal]]  # (offer, sku, TW price)


async def _catalog(w: Writer, now: datetime) -> _Catalog:
    products, skus, offers, prices = [], [], [], []
    catalog = _Catalog([])
    for p, (product, price) in enumerate((("Contoso 365", "375.50"), ("Contoso Defender", "99"))):
        pid = uuid.uuid4()
        products.append(
            {"id": pid, "name": product, "description": "Bench catalog", "created_at": now}
        )
        for s, sku in enumerate(("Standard", "Premium")):
            sid, oid = uuid.uuid4(), uuid.uuid4()
            skus.append(
                {"id": sid, "product_id": pid, "name": sku, "unit": "seat", "created_at": now}
            )
            offers.append(
                {
                    "id": oid,
                    "sku_id": sid,
                    "name": f"{product} {sku} (annual)",
                    "billing_cycle": "monthly",
                    "term": "P1Y",
                    "cancellation_window_days": 7,
                    "min_quantity": 1,
                    "max_quantity": 10000,
                    "status": "active",
                    "created_at": now,
                }
            )
            unit = Decimal(price) * (s + 1) + p
            prices.append(
                {
                    "id": uuid.uuid4(),
                    "offer_id": oid,
                    "country": "TW",
                    "currency": "TWD",
                    "unit_price": unit,
                }
            )
            catalog.offers.append((oid, sid, unit))
    await w.write(Product.__table__, products)  # type: ignore[arg-type]
    await w.write(Sku.__table__, skus)  # type: ignore[arg-type]
    await w.write(Offer.__table__, offers)  # type: ignore[arg-type]
    await w.write(OfferPrice.__table__, prices)  # type: ignore[arg-type]
    return catalog


class _Customers:
    """The rows of one chunk of customers, per table, in foreign-key order."""

    def __init__(self) -> None:
        self.tables: dict[Table, list[dict[str, Any]]] = {
            t.__table__: []  # type: ignore[misc]
            for t in (
                Tenant,
                User,
                CustomerRelationship,
                DelegatedAccessGrant,
                Order,
                Subscription,
                OrderLine,
                SeatPool,
                AccessToken,
            )
        }

    def add(self, model: Any, row: dict[str, Any]) -> None:
        self.tables[model.__table__].append(row)

    async def write(self, w: Writer) -> None:
        for table, rows in self.tables.items():
            await w.write(table, rows)


def _plan(customers: int, resellers: int, big: int, small: int) -> Iterator[int]:
    """The reseller of each customer in turn: the first ``big`` go to reseller 0, the next
    ``small`` to reseller 1, the rest round the others (or round all, with only two)."""
    others = max(resellers - 2, 0)
    for i in range(customers):
        if i < big:
            yield 0
        elif i < big + small:
            yield 1
        else:
            yield 2 + (i % others) if others else i % resellers


async def seed(
    db: Database,
    *,
    customers: int,
    resellers: int = 10_000,
    providers: int = 1_000,
    big: int = 10_000,
    small: int = 100,
    progress: Callable[[int], None] | None = None,
) -> BenchWorld:
    """Load the channel; ``progress`` is told how many customers each chunk wrote."""
    if resellers < 2 or providers < 1:
        raise ValueError("a bench world needs two resellers and a provider at least")
    big = min(big, customers // 2)
    small = min(small, customers - big)
    now = utcnow()
    w = Writer(db)
    password_hash = hash_password_blocking(BENCH_PASSWORD)
    provs, prov_tokens = await _partners(
        w, providers, Program.indirect_provider, 5_000_000, password_hash, now
    )
    sellers, seller_tokens = await _partners(
        w, resellers, Program.indirect_reseller, 6_000_000, password_hash, now
    )
    # The two samples' tokens are kept; every other partner admin has one too.
    provider_token, prov_tokens[0] = _token(provs.admins[0], now)
    big_token, seller_tokens[0] = _token(sellers.admins[0], now)
    small_token, seller_tokens[1] = _token(sellers.admins[1], now)
    await w.write(AccessToken.__table__, prov_tokens + seller_tokens)  # type: ignore[arg-type]
    provider_of = [0, 0] + [r % providers for r in range(2, resellers)]
    await _links(w, provs, sellers, provider_of, now)
    catalog = await _catalog(w, now)

    samples: dict[int, tuple[str, str]] = {}  # reseller index → (customer id, admin token)
    chunk = _Customers()
    pending = 0
    for i, r in enumerate(_plan(customers, resellers, big, small)):
        is_sample = r in (0, 1) and r not in samples
        tid, token = _customer(
            chunk,
            i,
            sellers.accounts[r],
            provs.accounts[provider_of[r]],
            catalog,
            password_hash,
            now,
            subscriptions=5 if is_sample else (1 if i % SUBSCRIBED_EVERY == 0 else 0),
            with_token=is_sample,
        )
        if token is not None:
            samples[r] = (str(tid), token)
        pending += 1
        if pending == CHUNK:
            await chunk.write(w)
            if progress:
                progress(pending)
            chunk, pending = _Customers(), 0
    await chunk.write(w)
    if progress and pending:
        progress(pending)
    await _analyze(db)

    def sample(r: int, token: str, count: int, q: str) -> Sample:
        customer_id, customer_token = samples[r]
        return Sample(str(sellers.accounts[r]), token, count, customer_id, customer_token, q)

    return BenchWorld(
        customers=customers,
        resellers=resellers,
        providers=providers,
        provider_account_id=str(provs.accounts[0]),
        provider_token=provider_token,
        big=sample(0, big_token, big, search_key(customer_name(0))[:5]),
        small=sample(1, small_token, small, search_key(customer_name(big))[:5]),
        database=db.engine.url.render_as_string(hide_password=True),
    )


async def _links(
    w: Writer, provs: _Partners, sellers: _Partners, provider_of: list[int], now: datetime
) -> None:
    links, grants = [], []
    for r, p in enumerate(provider_of):
        lid = uuid.uuid4()
        links.append(
            {
                "id": lid,
                "provider_account_id": provs.accounts[p],
                "reseller_account_id": sellers.accounts[r],
                "status": LinkStatus.active,
                "active_pair": f"{provs.accounts[p]}:{sellers.accounts[r]}",
                "invitation_id": None,
                "authorized_by_user_id": sellers.admins[r],
                "created_at": now,
                "terminated_at": None,
                "terminated_by_account_id": None,
                "terminated_by_user_id": None,
            }
        )
        roles = list(PROVIDER_GRANT_ROLES)
        grants.append(
            _grant(
                sellers.tenants[r],
                provs.accounts[p],
                roles,
                GrantSource.reseller_link,
                lid,
                sellers.admins[r],
                now,
                PROVIDER_GRANT_DAYS,
            )
        )
    await w.write(ResellerLink.__table__, links)  # type: ignore[arg-type]
    await w.write(DelegatedAccessGrant.__table__, grants)  # type: ignore[arg-type]


def _grant(
    tenant_id: uuid.UUID,
    partner_account_id: uuid.UUID,
    roles: list[str],
    source: GrantSource,
    source_id: uuid.UUID,
    approved_by: uuid.UUID,
    now: datetime,
    days: int,
) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(),
        "tenant_id": tenant_id,
        "partner_account_id": partner_account_id,
        "roles": roles,
        "status": GrantStatus.active,
        "source": source,
        "reseller_link_id": source_id if source is GrantSource.reseller_link else None,
        "relationship_id": source_id if source is GrantSource.relationship else None,
        "approved_by_user_id": approved_by,
        "created_at": now,
        "expires_at": now + timedelta(days=days),
        "revoked_at": None,
        "extension_days": None,
        "extension_requested_at": None,
    }


def _customer(
    chunk: _Customers,
    i: int,
    reseller: uuid.UUID,
    provider: uuid.UUID,
    catalog: _Catalog,
    password_hash: str,
    now: datetime,
    *,
    subscriptions: int,
    with_token: bool,
) -> tuple[uuid.UUID, str | None]:
    """Customer ``i`` of ``reseller`` (two-tier, with ``provider``): its tenant, admin,
    both relationships and grants, its subscriptions, and (``with_token``) its admin's
    API token."""
    tid = uuid.uuid4()
    name = customer_name(i)
    domain = f"customer-{i}.bench.example"
    # Oldest first in the lists: each customer a second after the one before.
    since = now - timedelta(seconds=10_000_000 - i)
    chunk.add(Tenant, _tenant(tid, name, domain, since))
    admin = _user(tid, f"admin@{domain}", password_hash, False, since)
    chunk.add(User, admin)
    tiers = ((reseller, Tier.reseller, provider), (provider, Tier.provider, reseller))
    for partner, tier, other in tiers:
        rid = uuid.uuid4()
        chunk.add(
            CustomerRelationship,
            {
                "id": rid,
                "customer_tenant_id": tid,
                "partner_account_id": partner,
                "kind": RelationshipKind.two_tier,
                "tier": tier,
                "other_tier_account_id": other,
                "status": RelationshipStatus.active,
                "active_pair": f"{partner}:{tid}",
                "invitation_id": None,
                "accepted_by_user_id": admin["id"],
                "search_name": search_key(name),
                "search_domain": search_key(domain),
                "created_at": since,
                "terminated_at": None,
                "terminated_by": None,
                "terminated_by_user_id": None,
            },
        )
        roles = [role.value for role in DEFAULT_ROLES]
        grant = _grant(tid, partner, roles, GrantSource.relationship, rid, admin["id"], since, 365)
        chunk.add(DelegatedAccessGrant, grant)
    seats: dict[uuid.UUID, int] = {}
    for n in range(subscriptions):
        offer, sku, price = catalog.offers[(i + n) % len(catalog.offers)]
        oid, sid = uuid.uuid4(), uuid.uuid4()
        quantity = 5 + (i + n) % 20
        chunk.add(
            Order,
            {
                "id": oid,
                "customer_tenant_id": tid,
                "provider_account_id": provider,
                "status": "completed",
                "created_by_user_id": admin["id"],
                "attestation_accepted_at": since,
                "created_at": since,
            },
        )
        chunk.add(
            Subscription,
            {
                "id": sid,
                "customer_tenant_id": tid,
                "order_id": oid,
                "offer_id": offer,
                "sku_id": sku,
                "provider_account_id": provider,
                "reseller_account_id": reseller,
                "quantity": quantity,
                "status": "active",
                "auto_renew": True,
                "unit_price": price,
                "currency": "TWD",
                "term_ends_at": now + timedelta(days=200),
                "cancellable_until": since + timedelta(days=7),
                "suspended_at": None,
                "cancelled_at": None,
                "version": 1,
                "created_at": since + timedelta(milliseconds=n),
                "updated_at": since,
            },
        )
        chunk.add(
            OrderLine,
            {
                "id": uuid.uuid4(),
                "order_id": oid,
                "line_number": 1,
                "offer_id": offer,
                "quantity": quantity,
                "reseller_account_id": reseller,
                "unit_price": price,
                "currency": "TWD",
                "subscription_id": sid,
            },
        )
        seats[sku] = seats.get(sku, 0) + quantity
    for sku, total in seats.items():
        chunk.add(
            SeatPool,
            {
                "id": uuid.uuid4(),
                "customer_tenant_id": tid,
                "sku_id": sku,
                "total": total,
                "assigned": 0,
            },
        )
    if not with_token:
        return tid, None
    token, row = _token(admin["id"], now)
    chunk.add(AccessToken, row)
    return tid, token


async def _analyze(db: Database) -> None:
    """Fresh statistics, so the planner sees the world as it is now."""
    async with db.engine.connect() as conn:
        if db.is_sqlite:
            await conn.execute(text("ANALYZE"))
        else:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("VACUUM ANALYZE"))
        await conn.commit()
