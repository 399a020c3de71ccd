"""Resolve the caller: ``Authorization: Bearer`` or the portal session cookie.

One indexed lookup (token hash → user → tenant) per request; no password hashing.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from twotier.config import Settings
from twotier.directory.models import AccessToken, Tenant, TokenKind, User
from twotier.directory.principal import Permission, Principal, permissions_for
from twotier.kit.clock import utcnow
from twotier.kit.deps import SAFE_METHODS, get_session, get_settings
from twotier.kit.errors import Forbidden, Unauthorized
from twotier.kit.security import same_hash, token_hash, verify_signature
from twotier.partners.models import PartnerAccount, PartnerProgram

SESSION_COOKIE = "twotier_session"
CSRF_COOKIE = "twotier_csrf"
CSRF_HEADER = "X-CSRF-Token"
CSRF_PURPOSE = "csrf"


async def principal_for_token(
    session: AsyncSession, token: str, kind: str, request_id: str | None = None
) -> Principal | None:
    """One indexed query: token → user → tenant (→ partner account → its programs)."""
    digest = token_hash(token)
    rows = (
        await session.execute(
            select(AccessToken, User, Tenant, PartnerAccount, PartnerProgram.program)
            .join(User, User.id == AccessToken.user_id)
            .join(Tenant, Tenant.id == User.tenant_id)
            .outerjoin(PartnerAccount, PartnerAccount.tenant_id == Tenant.id)
            .outerjoin(PartnerProgram, PartnerProgram.partner_account_id == PartnerAccount.id)
            .where(
                AccessToken.token_hash == digest,
                AccessToken.kind == kind,
                AccessToken.revoked_at.is_(None),
                AccessToken.expires_at > utcnow(),
                User.is_active.is_(True),
            )
        )
    ).all()
    if not rows:
        return None
    access, user, tenant, partner, _program = rows[0]
    if not same_hash(access.token_hash, digest):  # pragma: no cover — the index matched it
        return None
    programs = frozenset(row[4] for row in rows if row[4] is not None)
    roles = frozenset(user.roles)
    partner_roles = frozenset(user.partner_roles) if partner is not None else frozenset()
    return Principal(
        user_id=user.id,
        tenant_id=tenant.id,
        email=user.email,
        display_name=user.display_name,
        roles=roles,
        tenant_kind=tenant.kind,
        token_id=access.id,
        via="bearer" if kind == TokenKind.api else "session",
        partner_account_id=partner.id if partner is not None else None,
        partner_id=partner.partner_id if partner is not None else None,
        partner_programs=programs,
        partner_roles=partner_roles,
        request_id=request_id,
        permissions=permissions_for(
            roles, partner_roles, tenant_kind=tenant.kind, is_partner=partner is not None
        ),
    )


def csrf_ok(request: Request, settings: Settings, presented: str | None) -> bool:
    cookie = request.cookies.get(CSRF_COOKIE)
    if not cookie or not presented:
        return False
    return verify_signature(settings.secret_key, cookie, CSRF_PURPOSE, presented)


async def optional_principal(
    request: Request,
    session: AsyncSession = Depends(get_session),
    settings: Settings = Depends(get_settings),
) -> Principal | None:
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


async def current_principal(
    principal: Principal | None = Depends(optional_principal),
) -> Principal:
    if principal is None:
        raise Unauthorized("Sign in first.", code="not_authenticated")
    return principal


def require(permission: Permission) -> Any:
    async def dependency(principal: Principal = Depends(current_principal)) -> Principal:
        if not principal.can(permission):
            raise Forbidden("Your roles do not allow this.", code="insufficient_role")
        return principal

    return Depends(dependency)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
OptionalPrincipal = Annotated[Principal | None, Depends(optional_principal)]
