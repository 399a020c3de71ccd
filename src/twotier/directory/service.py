"""Tenants, users, sign-in and tokens: the rules. Services flush; the request commits."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from twotier.config import Settings
from twotier.directory import emails, throttle
from twotier.directory.access import access_tenant_user, user_in_tenant
from twotier.directory.models import AccessToken, Tenant, TenantKind, TokenKind, User
from twotier.directory.principal import Permission, Principal
from twotier.directory.roles import DirectoryRole
from twotier.directory.schemas import PartnerRolesIn, TenantCreate, UserCreate, UserUpdate
from twotier.events import service as events
from twotier.kit.clock import utcnow
from twotier.kit.errors import Conflict, Forbidden, NotFound, Unauthorized
from twotier.kit.pagination import PageParams, paginate
from twotier.kit.passwords import ensure_strong, personal_words
from twotier.kit.security import hash_password, new_token, token_hash, verify_password


async def _ensure_free(session: AsyncSession, *, domain: str | None, email: str | None) -> None:
    if domain is not None and await session.scalar(
        select(Tenant.id).where(Tenant.domain == domain)
    ):
        raise Conflict(f"The domain {domain} already belongs to a tenant.", code="domain_taken")
    if email is not None and await session.scalar(select(User.id).where(User.email == email)):
        raise Conflict(f"{email} is already a user.", code="email_taken")


async def _add_unique(session: AsyncSession, *objects: object) -> None:
    """Insert in a savepoint; a unique clash with a concurrent request becomes the same 409
    as the pre-check gives (begin_nested flushes first, so the objects are added inside it).
    """
    try:
        async with session.begin_nested():
            session.add_all(objects)
    except IntegrityError as exc:
        message = str(exc.orig).lower()
        if "domain" in message:
            raise Conflict("That domain already belongs to a tenant.", code="domain_taken") from exc
        raise Conflict("That email is already a user.", code="email_taken") from exc


async def create_tenant(
    session: AsyncSession,
    settings: Settings,
    data: TenantCreate,
    *,
    kind: str = TenantKind.organization,
) -> tuple[Tenant, User]:
    await _ensure_free(session, domain=data.domain, email=data.admin.email)
    who = data.admin
    words = personal_words(who.email, who.display_name, data.domain, data.display_name)
    await ensure_strong(who.password, words)
    tenant = Tenant(
        id=uuid.uuid4(),
        display_name=data.display_name,
        domain=data.domain,
        country=data.country,
        kind=kind,
    )
    admin = User(
        id=uuid.uuid4(),
        tenant_id=tenant.id,
        email=data.admin.email,
        display_name=data.admin.display_name,
        password_hash=await hash_password(data.admin.password),
        roles=[DirectoryRole.global_admin.value],
    )
    await _add_unique(session, tenant, admin)
    await events.announce(
        session,
        None,
        "tenant_created",
        resource_type="tenant",
        resource_id=tenant.id,
        actor_user_id=admin.id,
        actor_tenant_id=tenant.id,
        detail={"domain": tenant.domain, "country": tenant.country, "kind": kind},
    )
    emails.tenant_created(session, settings, tenant, admin)
    return tenant, admin


@dataclass(frozen=True)
class Delegation:
    """A partner acting in a customer's tenant under a delegated-access grant."""

    customer_tenant_id: uuid.UUID
    granted_roles: frozenset[str]


def _tenant_of(actor: Principal, delegation: Delegation | None) -> uuid.UUID:
    return delegation.customer_tenant_id if delegation else actor.tenant_id


def _audit_scope(delegation: Delegation | None) -> dict[str, Any]:
    if delegation is None:
        return {}
    return {"on_behalf_of_customer_id": delegation.customer_tenant_id}


def _guard_global_admin(
    actor: Principal, *roles: list[str], delegation: Delegation | None = None
) -> None:
    """Only a global admin grants, removes or edits the global admin role (as in Entra ID)."""
    held = delegation.granted_roles if delegation else actor.roles
    if DirectoryRole.global_admin.value in held:
        return
    if any(DirectoryRole.global_admin.value in r for r in roles):
        raise Forbidden(
            "Only a global admin can make, change or remove a global admin.",
            code="insufficient_role",
        )


async def create_user(
    session: AsyncSession,
    settings: Settings,
    actor: Principal,
    data: UserCreate,
    *,
    delegation: Delegation | None = None,
) -> User:
    _guard_global_admin(actor, [role.value for role in data.roles], delegation=delegation)
    await _ensure_free(session, domain=None, email=data.email)
    tenant_id = _tenant_of(actor, delegation)
    tenant = await get_tenant(session, tenant_id)
    words = personal_words(data.email, data.display_name, tenant.domain, tenant.display_name)
    await ensure_strong(data.password, words)
    user = User(
        id=uuid.uuid4(),
        tenant_id=tenant_id,
        email=data.email,
        display_name=data.display_name,
        password_hash=await hash_password(data.password),
        roles=sorted({role.value for role in data.roles}),
    )
    await _add_unique(session, user)
    await events.announce(
        session,
        actor,
        "user_created",
        resource_type="user",
        resource_id=user.id,
        detail={"email": user.email, "roles": user.roles},
        **_audit_scope(delegation),
    )
    emails.user_added(session, settings, tenant, user, actor.display_name)
    return user


async def _active_global_admins(session: AsyncSession, tenant_id: uuid.UUID) -> list[User]:
    users = await session.scalars(
        select(User).where(User.tenant_id == tenant_id, User.is_active.is_(True))
    )
    return [u for u in users if DirectoryRole.global_admin.value in u.roles]


async def _lock_tenant_user(
    session: AsyncSession, tenant_id: uuid.UUID, user_id: uuid.UUID
) -> User:
    # The tenant row is the lock for role changes: two admins demoting each other at once
    # cannot leave the tenant with none.
    await session.execute(select(Tenant.id).where(Tenant.id == tenant_id).with_for_update())
    return await user_in_tenant(session, tenant_id, user_id)


async def _keep_a_global_admin(session: AsyncSession, user: User) -> None:
    admins = await _active_global_admins(session, user.tenant_id)
    if [a.id for a in admins] == [user.id]:
        raise Conflict(
            "A tenant needs at least one active global admin; make someone else one first.",
            code="last_global_admin",
        )


async def _end_sessions(session: AsyncSession, user_id: uuid.UUID) -> None:
    await session.execute(
        update(AccessToken)
        .where(AccessToken.user_id == user_id, AccessToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


async def update_user(
    session: AsyncSession,
    actor: Principal,
    user_id: uuid.UUID,
    data: UserUpdate,
    *,
    delegation: Delegation | None = None,
) -> User:
    """Change a user's name, directory roles or whether they may sign in.

    A tenant always keeps one active global admin: the last one cannot be demoted or
    deactivated. Deactivating a user ends their tokens and sessions at once.
    """
    user = await _lock_tenant_user(session, _tenant_of(actor, delegation), user_id)
    _guard_global_admin(
        actor, user.roles, [r.value for r in data.roles or []], delegation=delegation
    )
    before = {
        "display_name": user.display_name,
        "roles": list(user.roles),
        "is_active": user.is_active,
    }
    new_roles = (
        sorted({role.value for role in data.roles}) if data.roles is not None else user.roles
    )
    new_active = user.is_active if data.is_active is None else data.is_active
    was_admin = DirectoryRole.global_admin.value in user.roles and user.is_active
    stays_admin = DirectoryRole.global_admin.value in new_roles and new_active
    if was_admin and not stays_admin:
        await _keep_a_global_admin(session, user)
    if data.display_name is not None:
        user.display_name = data.display_name
    user.roles = new_roles
    user.is_active = new_active
    if not new_active:
        await _end_sessions(session, user.id)
    await session.flush()
    after = {
        "display_name": user.display_name,
        "roles": list(user.roles),
        "is_active": user.is_active,
    }
    changed = {k: {"from": before[k], "to": after[k]} for k in after if before[k] != after[k]}
    if changed:
        await events.announce(
            session,
            actor,
            "user_updated",
            resource_type="user",
            resource_id=user.id,
            detail={"email": user.email, "changes": changed},
            **_audit_scope(delegation),
        )
    return user


# What packages above the directory hold of a user (commerce: license seats) is given back
# before the user is deleted; they register here, so the directory knows none of them.
UserRemovalHook = Callable[[AsyncSession, uuid.UUID], Awaitable[None]]
_before_user_removed: list[UserRemovalHook] = []


def before_user_removed(hook: UserRemovalHook) -> UserRemovalHook:
    """Register ``hook(session, user_id)`` to run in the transaction that deletes a user."""
    _before_user_removed.append(hook)
    return hook


async def delete_user(
    session: AsyncSession, actor: Principal, user_id: uuid.UUID, *, delegation: Delegation
) -> None:
    """Remove a user from a customer's tenant (never its last global admin)."""
    user = await _lock_tenant_user(session, _tenant_of(actor, delegation), user_id)
    _guard_global_admin(actor, user.roles, delegation=delegation)
    if DirectoryRole.global_admin.value in user.roles and user.is_active:
        await _keep_a_global_admin(session, user)
    await events.announce(
        session,
        actor,
        "user_deleted",
        resource_type="user",
        resource_id=user.id,
        detail={"email": user.email},
        **_audit_scope(delegation),
    )
    for give_back in _before_user_removed:
        await give_back(session, user.id)
    await session.delete(user)
    await session.flush()


async def set_partner_roles(
    session: AsyncSession, principal: Principal, user_id: uuid.UUID, data: PartnerRolesIn
) -> User:
    """A user's partner roles (admin agent...), in a partner's tenant."""
    if principal.partner_account_id is None:
        raise NotFound("Your tenant is not a partner yet.", code="not_a_partner")
    if not principal.can(Permission.manage_partner_roles):
        raise Forbidden(
            "Only global admins and user admins assign partner roles.", code="insufficient_role"
        )
    user = await access_tenant_user(session, principal, user_id)
    before = list(user.partner_roles)
    user.partner_roles = sorted({role.value for role in data.partner_roles})
    await session.flush()
    if before != user.partner_roles:
        await events.announce(
            session,
            principal,
            "partner_roles_updated",
            resource_type="user",
            resource_id=user.id,
            detail={"email": user.email, "from": before, "to": user.partner_roles},
        )
    return user


async def list_users(
    session: AsyncSession,
    principal: Principal,
    params: PageParams,
    *,
    delegation: Delegation | None = None,
) -> tuple[list[User], str | None]:
    """The users of the caller's tenant, or of the customer ``delegation`` acts for."""
    if delegation is None:
        principal.demand(Permission.view_tenant_users)
    return await paginate(
        session,
        select(User).where(User.tenant_id == _tenant_of(principal, delegation)),
        keys=[User.created_at, User.id],
        params=params,
    )


async def get_tenant(session: AsyncSession, tenant_id: uuid.UUID) -> Tenant:
    tenant = await session.get(Tenant, tenant_id)
    if tenant is None:
        raise NotFound()
    return tenant


async def issue_token(
    session: AsyncSession, user_id: uuid.UUID, kind: str, ttl_seconds: int
) -> str:
    token = new_token()
    session.add(
        AccessToken(
            token_hash=token_hash(token),
            user_id=user_id,
            kind=kind,
            expires_at=utcnow() + timedelta(seconds=ttl_seconds),
        )
    )
    await session.flush()
    return token


async def revoke_token(
    session: AsyncSession, token_id: uuid.UUID, *, operation: str = "token_revoked"
) -> None:
    """Revoke one live token, with an audit record (``operation``) when there was one."""
    token = await session.scalar(
        select(AccessToken)
        .where(AccessToken.id == token_id, AccessToken.revoked_at.is_(None))
        .with_for_update()
    )
    if token is None:
        return
    token.revoked_at = utcnow()
    user = await session.get(User, token.user_id)
    await session.flush()
    await events.announce(
        session,
        None,
        operation,
        resource_type="access_token",
        resource_id=token.id,
        actor_user_id=token.user_id,
        actor_tenant_id=user.tenant_id if user else None,
        detail={"kind": token.kind},
    )


async def revoke_token_value(
    session: AsyncSession, token: str, *, operation: str = "token_revoked"
) -> None:
    token_id = await session.scalar(
        select(AccessToken.id).where(AccessToken.token_hash == token_hash(token))
    )
    if token_id is not None:
        await revoke_token(session, token_id, operation=operation)


@dataclass(frozen=True)
class SignInResult:
    user: User
    token: str
    expires_in: int


class TemporaryPasswordExpired(Unauthorized):
    """The right temporary password, after its expiry: only a new reset helps."""

    def __init__(self) -> None:
        super().__init__(
            "This temporary password has expired. Ask your admin to reset your password again.",
            code="temporary_password_expired",
        )


class SignInFailed(Unauthorized):
    """Wrong email or password; the failure counters written before it are kept."""

    keep_changes = True

    def __init__(self) -> None:
        super().__init__("The email or password is incorrect.", code="invalid_credentials")


async def sign_in(
    session: AsyncSession,
    settings: Settings,
    *,
    email: str,
    password: str,
    client: str,
    kind: str,
    device: str | None = None,
) -> SignInResult:
    """Check the throttles (``throttle``; ``device`` is the portal's device cookie), then
    the password (always hashed), then issue a token.

    Unknown email and wrong password answer the same and take the same time.
    """
    email = email.strip().lower()
    user = await session.scalar(select(User).where(User.email == email, User.is_active.is_(True)))
    attempt = await throttle.check(
        session,
        settings,
        email=email,
        client=client,
        device=throttle.trusted_device(settings, device, user),
    )
    ok = await verify_password(user.password_hash if user else None, password)
    if user is None or not ok:
        await throttle.failed(session, attempt)
        # Kept with the counters (SignInFailed keeps changes): the user's tenant sees it.
        await events.announce(
            session,
            None,
            "sign_in_failed",
            resource_type="user",
            resource_id=user.id if user else None,
            actor_user_id=user.id if user else None,
            actor_tenant_id=user.tenant_id if user else None,
            detail={"email": email, "via": kind, "client": client},
        )
        raise SignInFailed()
    expires_at = user.temporary_password_expires_at
    if expires_at is not None and expires_at <= utcnow():
        raise TemporaryPasswordExpired()

    await throttle.succeeded(session, attempt)
    ttl = (
        settings.access_token_ttl_seconds if kind == TokenKind.api else settings.session_ttl_seconds
    )
    token = await issue_token(session, user.id, kind, ttl)
    token_id = await session.scalar(
        select(AccessToken.id).where(AccessToken.token_hash == token_hash(token))
    )
    await events.announce(
        session,
        None,
        "signed_in",
        resource_type="user",
        resource_id=user.id,
        actor_user_id=user.id,
        actor_tenant_id=user.tenant_id,
        detail={"via": kind, "token_id": str(token_id), "client": client},
    )
    return SignInResult(user=user, token=token, expires_in=ttl)
