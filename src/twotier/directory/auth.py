"""Resolve the caller: ``Authorization: Bearer`` or the portal session cookie.

One indexed lookup (token hash → user → tenant) per request; no password hashing.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from twotier.config import Settings
from twotier.directory.models import (
    AccessToken,
    PartnerAccount,
    PartnerProgram,
    Tenant,
    TokenKind,
    User,
)
from twotier.directory.principal import Permission, Principal, permissions_for
from twotier.kit.clock import utcnow
from twotier.kit.db import UTCDateTime
from twotier.kit.deps import SAFE_METHODS, get_session, get_settings
from twotier.kit.errors import Forbidden, Unauthorized
from twotier.kit.fastread import Read
from twotier.kit.openapi import answers
from twotier.kit.security import same_hash, token_hash, verify_signature

SESSION_COOKIE = "twotier_session"
CSRF_COOKIE = "twotier_csrf"
CSRF_HEADER = "X-CSRF-Token"
CSRF_PURPOSE = "csrf"


def _principal_query() -> Any:
    """User → tenant (→ partner account → its programs): one row per program, or one row;
    only the columns a principal holds (no password hash, no profiles)."""
    return (
        select(
            User.id,
            User.email,
            User.display_name,
            User.roles,
            User.partner_roles,
            User.temporary_password_expires_at,
            Tenant.id.label("tenant_id"),
            Tenant.kind.label("tenant_kind"),
            PartnerAccount.id.label("partner_account_id"),
            PartnerAccount.partner_id,
            PartnerProgram.program,
        )
        .join(Tenant, Tenant.id == User.tenant_id)
        .outerjoin(PartnerAccount, PartnerAccount.tenant_id == Tenant.id)
        .outerjoin(PartnerProgram, PartnerProgram.partner_account_id == PartnerAccount.id)
        .where(User.is_active.is_(True))
    )


# Built once: every request runs it, and building a statement costs more than running it.
_BY_TOKEN = Read(
    _principal_query()
    .add_columns(AccessToken.id.label("token_id"), AccessToken.token_hash)
    .join(AccessToken, AccessToken.user_id == User.id)
    .where(
        AccessToken.token_hash == bindparam("digest"),
        AccessToken.kind == bindparam("kind"),
        AccessToken.revoked_at.is_(None),
        AccessToken.expires_at > bindparam("now", type_=UTCDateTime()),
    ),
    inline=True,
)


def _principal_from(
    rows: Sequence[Any], *, token_id: uuid.UUID, via: str, request_id: str | None
) -> Principal:
    first = rows[0]
    is_partner = first.partner_account_id is not None
    programs = frozenset(row.program for row in rows if row.program is not None)
    roles = frozenset(first.roles)
    partner_roles = frozenset(first.partner_roles) if is_partner else frozenset()
    return Principal(
        user_id=first.id,
        tenant_id=first.tenant_id,
        email=first.email,
        display_name=first.display_name,
        roles=roles,
        tenant_kind=first.tenant_kind,
        token_id=token_id,
        via=via,
        partner_account_id=first.partner_account_id,
        partner_id=first.partner_id,
        partner_programs=programs,
        partner_roles=partner_roles,
        request_id=request_id,
        permissions=permissions_for(
            roles, partner_roles, tenant_kind=first.tenant_kind, is_partner=is_partner
        ),
        password_change_due=first.temporary_password_expires_at is not None,
    )


async def principal_for_token(
    session: AsyncSession, token: str, kind: str, request_id: str | None = None
) -> Principal | None:
    """One indexed query: token → user → tenant (→ partner account → its programs)."""
    digest = token_hash(token)
    rows = await _BY_TOKEN.all(session, digest=digest, kind=kind, now=utcnow())
    if not rows or not same_hash(rows[0].token_hash, digest):
        return None
    via = "bearer" if kind == TokenKind.api else "session"
    return _principal_from(rows, token_id=rows[0].token_id, via=via, request_id=request_id)


async def principal_for_user(session: AsyncSession, user_id: uuid.UUID) -> Principal:
    """The principal ``user_id`` has when signed in, for work done on its behalf (the demo
    seed, the CLI) without a token."""
    rows = (await session.execute(_principal_query().where(User.id == user_id))).all()
    if not rows:
        raise LookupError(f"no active user {user_id}")
    return _principal_from(rows, token_id=uuid.uuid4(), via="system", request_id=None)


def csrf_ok(request: Request, settings: Settings, presented: str | None) -> bool:
    cookie = request.cookies.get(CSRF_COOKIE)
    if not cookie or not presented:
        return False
    return verify_signature(settings.secret_key, cookie, CSRF_PURPOSE, presented)


class PasswordChangeRequired(Forbidden):
    code = "password_change_required"
    title = "Password change required"

    def __init__(self) -> None:
        super().__init__(
            "Your password was reset: set a new one with POST /api/v1/me/password first."
        )


@answers(401, writes=(403,))  # a bad token; a cookie session's missing CSRF token
async def resolve_principal(
    request: Request,
    session: AsyncSession = Depends(get_session),
    settings: Settings = Depends(get_settings),
) -> Principal | None:
    """The caller, even one whose password change is due (only the change and signing out
    use this directly; everything else goes through ``optional_principal``)."""
    request_id = getattr(request.state, "request_id", None)
    header = request.headers.get("Authorization")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("Use 'Authorization: Bearer <access_token>'.", code="invalid_token")
        principal = await principal_for_token(session, token.strip(), TokenKind.api, request_id)
        if principal is None:
            raise Unauthorized(
                "The access token is invalid, expired or revoked.", code="invalid_token"
            )
        return principal
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        principal = await principal_for_token(session, cookie, TokenKind.session, request_id)
        if principal is None:
            return None
        # A cookie rides along on cross-site requests: unsafe API calls must prove origin.
        if (
            request.method not in SAFE_METHODS
            and request.url.path.startswith("/api/")
            and not csrf_ok(request, settings, request.headers.get(CSRF_HEADER))
        ):
            raise Forbidden("Missing or invalid CSRF token.", code="csrf_failed")
        return principal
    return None


@answers(403)  # the password was reset and must be changed first
async def optional_principal(
    principal: Principal | None = Depends(resolve_principal),
) -> Principal | None:
    # Checked on the row the principal's one query read: no query of its own.
    if principal is not None and principal.password_change_due:
        raise PasswordChangeRequired()
    return principal


@answers(403, authenticates=True)  # 403: as optional_principal, whose check this repeats
async def current_principal(
    principal: Principal | None = Depends(resolve_principal),
) -> Principal:
    # One dependency less per request than through optional_principal.
    if principal is not None and principal.password_change_due:
        raise PasswordChangeRequired()
    return signed_in_only(principal)


def signed_in_only(principal: Principal | None) -> Principal:
    if principal is None:
        raise Unauthorized("Sign in first.", code="not_authenticated")
    return principal


@answers(authenticates=True)
async def principal_changing_password(
    principal: Principal | None = Depends(resolve_principal),
) -> Principal:
    """The signed-in caller, whether or not a password change is due."""
    return signed_in_only(principal)


def require(permission: Permission) -> Any:
    @answers(403)
    async def dependency(principal: Principal = Depends(current_principal)) -> Principal:
        if not principal.can(permission):
            raise Forbidden("Your roles do not allow this.", code="insufficient_role")
        return principal

    return Depends(dependency)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
PrincipalChangingPassword = Annotated[Principal, Depends(principal_changing_password)]
OptionalPrincipal = Annotated[Principal | None, Depends(optional_principal)]
