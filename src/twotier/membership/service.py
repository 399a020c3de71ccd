"""The partner-membership registry: accounts and the organization profiles they hold."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from twotier.config import Settings
from twotier.directory.principal import Permission, Principal
from twotier.events import service as events
from twotier.kit import ratelimit
from twotier.kit.errors import Conflict, Invalid, NotFound, TooManyRequests, Unauthorized
from twotier.kit.pagination import PageParams, paginate
from twotier.kit.passwords import ensure_strong, personal_words
from twotier.kit.security import hash_password, verify_password
from twotier.membership.models import MembershipAccount, MembershipOrganization
from twotier.membership.schemas import MembershipCreate


class MembershipSignInFailed(Unauthorized):
    """Wrong registry username or password; the failure counters written before it stay."""

    keep_changes = True

    def __init__(self) -> None:
        super().__init__(
            "The membership username or password is incorrect.",
            code="invalid_membership_credentials",
        )


async def _free_partner_id(session: AsyncSession, taken: set[str]) -> str:
    """A random 7-digit partner ID that nobody holds."""
    for _ in range(50):
        candidate = str(secrets.randbelow(9_000_000) + 1_000_000)
        if candidate in taken:
            continue
        exists = await session.scalar(
            select(MembershipOrganization.id).where(MembershipOrganization.partner_id == candidate)
        )
        if exists is None:
            taken.add(candidate)
            return candidate
    raise Conflict("Could not allocate a partner ID; try again.", code="partner_id_exhausted")


async def create_membership(
    session: AsyncSession,
    data: MembershipCreate,
    *,
    actor: Principal | None = None,
    password_hash: str | None = None,
) -> MembershipAccount:
    if await session.scalar(
        select(MembershipAccount.id).where(MembershipAccount.username == data.username)
    ):
        raise Conflict(f"The username {data.username} is taken.", code="username_taken")
    wanted = [o.partner_id for o in data.organizations if o.partner_id]
    if len(wanted) != len(set(wanted)):
        raise Invalid("The same partner ID is listed twice.", code="partner_id_duplicate")
    if wanted:
        clash = await session.scalar(
            select(MembershipOrganization.partner_id).where(
                MembershipOrganization.partner_id.in_(wanted)
            )
        )
        if clash:
            raise Conflict(f"Partner ID {clash} already exists.", code="partner_id_exists")
    if password_hash is None:
        names = [org.legal_name for org in data.organizations]
        await ensure_strong(data.password, personal_words(data.username, *names))
    account = MembershipAccount(
        id=uuid.uuid4(),
        username=data.username,
        password_hash=password_hash or await hash_password(data.password),
    )
    session.add(account)
    taken: set[str] = set(wanted)
    for org in data.organizations:
        session.add(
            MembershipOrganization(
                account_id=account.id,
                partner_id=org.partner_id or await _free_partner_id(session, taken),
                legal_name=org.legal_name,
                country=org.country,
            )
        )
    await session.flush()
    await events.announce(
        session,
        actor,
        "membership_created",
        resource_type="membership",
        resource_id=account.id,
        detail={"username": account.username, "organizations": len(data.organizations)},
    )
    return account


async def organizations_of(
    session: AsyncSession, account_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[MembershipOrganization]]:
    """Organizations for many accounts in one query (no N+1)."""
    out: dict[uuid.UUID, list[MembershipOrganization]] = {a: [] for a in account_ids}
    if not account_ids:
        return out
    rows = await session.scalars(
        select(MembershipOrganization)
        .where(MembershipOrganization.account_id.in_(account_ids))
        .order_by(MembershipOrganization.partner_id)
    )
    for org in rows:
        out[org.account_id].append(org)
    return out


async def list_memberships(
    session: AsyncSession, operator: Principal, q: str | None, params: PageParams
) -> tuple[list[MembershipAccount], str | None]:
    operator.demand(Permission.operate_platform, "Only the operator keeps the registry.")
    stmt = select(MembershipAccount)
    if q:
        term = q.strip().lower()
        by_org = select(MembershipOrganization.account_id).where(
            (MembershipOrganization.partner_id == term)
            | func.lower(MembershipOrganization.legal_name).startswith(term, autoescape=True)
        )
        stmt = stmt.where(
            MembershipAccount.username.startswith(term, autoescape=True)
            | MembershipAccount.id.in_(by_org)
        )
    return await paginate(
        session, stmt, keys=[MembershipAccount.created_at, MembershipAccount.id], params=params
    )


async def authenticate(
    session: AsyncSession, settings: Settings, *, username: str, password: str, client: str
) -> MembershipAccount:
    """Check registry credentials, throttled like sign-in (per account and per client)."""
    username = username.strip().lower()
    window = settings.signin_window_seconds
    keys = (
        (f"membership:account:{username}", settings.signin_free_failures_per_account),
        (f"membership:client:{client}", settings.signin_max_failures_per_address),
    )
    for key, limit in keys:
        wait = await ratelimit.retry_after(session, key, limit=limit, window_seconds=window)
        if wait is not None:
            raise TooManyRequests(wait, "Too many failed membership sign-ins; try again later.")
    account = await session.scalar(
        select(MembershipAccount).where(MembershipAccount.username == username)
    )
    ok = await verify_password(account.password_hash if account else None, password)
    if account is None or not ok:
        for key, _limit in keys:
            await ratelimit.hit(session, key, window_seconds=window)
        raise MembershipSignInFailed()
    await ratelimit.clear(session, keys[0][0])
    return account


async def organization_by_partner_id(
    session: AsyncSession, account: MembershipAccount, partner_id: str
) -> MembershipOrganization:
    org = await session.scalar(
        select(MembershipOrganization).where(
            MembershipOrganization.account_id == account.id,
            MembershipOrganization.partner_id == partner_id.strip(),
        )
    )
    if org is None:
        raise NotFound(
            "This membership account holds no organization with that partner ID.",
            code="partner_id_not_in_membership",
        )
    return org
