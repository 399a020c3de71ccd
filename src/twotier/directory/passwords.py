"""Password resets and changes: whose password an actor may reset, and the user's own change.

A reset's password is temporary: the user must choose a new one at the next sign-in (every
other call answers 403 ``password_change_required`` until then) and it expires unused.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from enum import IntEnum

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from twotier.config import Settings
from twotier.directory.models import AccessToken, User
from twotier.directory.principal import Permission, Principal
from twotier.directory.roles import DirectoryRole
from twotier.directory.service import (
    Delegation,
    _audit_scope,
    _end_sessions,
    _lock_tenant_user,
    _tenant_of,
    get_tenant,
)
from twotier.events import service as events
from twotier.kit import ratelimit
from twotier.kit.clock import utcnow
from twotier.kit.errors import Forbidden, Invalid, NotFound, TooManyRequests
from twotier.kit.passwords import ensure_strong, personal_words
from twotier.kit.security import hash_password, verify_password


class ResetReach(IntEnum):
    """Whose password an actor may reset, each level reaching the ones below it too."""

    nobody = 0
    users = 1  # users without a directory role (helpdesk work)
    admins = 2  # users holding admin roles, but not global admins
    global_admins = 3  # only the tenant's own global admin


def reach_needed(roles: Iterable[str]) -> ResetReach:
    """The reach a reset of a user holding ``roles`` needs."""
    held = set(roles)
    if DirectoryRole.global_admin.value in held:
        return ResetReach.global_admins
    return ResetReach.admins if held else ResetReach.users


def reset_reach(actor: Principal, delegation: Delegation | None) -> ResetReach:
    """How far ``actor``'s resets reach, in its own tenant or under a partner's grant."""
    if delegation is None:
        own = actor.roles
        if DirectoryRole.global_admin.value in own:
            return ResetReach.global_admins
        if DirectoryRole.user_admin.value in own:
            return ResetReach.admins
        return ResetReach.users if DirectoryRole.helpdesk_admin.value in own else ResetReach.nobody
    granted = delegation.granted_roles
    # A partner never reaches a global admin: that stays with the customer's own global admin.
    admin_grant = {DirectoryRole.user_admin.value, DirectoryRole.global_admin.value}
    if granted & admin_grant and actor.can(Permission.manage_customers):
        return ResetReach.admins
    helpdesk_grant = {DirectoryRole.helpdesk_admin.value, DirectoryRole.global_admin.value}
    if granted & helpdesk_grant and actor.can(Permission.helpdesk_tasks):
        return ResetReach.users
    return ResetReach.nobody


def may_reset(actor: Principal, roles: Iterable[str], delegation: Delegation | None) -> bool:
    """Whether ``actor`` may reset the password of a user holding ``roles``."""
    return reset_reach(actor, delegation) >= reach_needed(roles)


_RESET_REFUSALS = {
    ResetReach.users: "Your roles do not allow resetting passwords.",
    ResetReach.admins: (
        "Resetting the password of a user who holds an admin role needs the user admin role "
        "(a partner: a user_admin grant and the admin agent role)."
    ),
    ResetReach.global_admins: (
        "Only a global admin of the user's own tenant can reset a global admin's password."
    ),
}


async def reset_password(
    session: AsyncSession,
    settings: Settings,
    actor: Principal,
    user_id: uuid.UUID,
    *,
    delegation: Delegation | None = None,
) -> tuple[str, datetime]:
    """A temporary password (shown once to whoever reset it) and its expiry; the user's
    sessions end and the user must choose a new password at the next sign-in.
    """
    # Locked like role changes: a reset cannot race a promotion past the check below.
    user = await _lock_tenant_user(session, _tenant_of(actor, delegation), user_id)
    if user.id == actor.user_id:  # it would end the very session asking, for a temporary one
        raise Forbidden(
            "Change your own password with POST /api/v1/me/password instead.",
            code="own_password_reset",
        )
    if not may_reset(actor, user.roles, delegation):
        raise Forbidden(_RESET_REFUSALS[reach_needed(user.roles)], code="insufficient_role")
    temporary = secrets.token_urlsafe(12)
    user.password_hash = await hash_password(temporary)
    expires_at = utcnow() + timedelta(seconds=settings.temporary_password_ttl_seconds)
    user.temporary_password_expires_at = expires_at
    await _end_sessions(session, user.id)
    await session.flush()
    await events.announce(
        session,
        actor,
        "user_password_reset",
        resource_type="user",
        resource_id=user.id,
        detail={"email": user.email, "expires_at": expires_at.isoformat()},
        **_audit_scope(delegation),
    )
    return temporary, expires_at


class CurrentPasswordIncorrect(Forbidden):
    """The current password given with a change is wrong; the failure counter stays."""

    keep_changes = True

    def __init__(self) -> None:
        super().__init__("The current password is incorrect.", code="current_password_incorrect")


async def change_password(
    session: AsyncSession,
    settings: Settings,
    actor: Principal,
    *,
    current_password: str,
    new_password: str,
) -> None:
    """The signed-in user's own change (the one thing a reset's temporary password allows).

    Wrong current passwords are throttled like sign-ins; the user's other sessions end.
    """
    user = await session.get(User, actor.user_id)
    if user is None:
        raise NotFound()
    window = settings.signin_window_seconds
    key = f"password-change:{user.id}"
    wait = await ratelimit.retry_after(
        session, key, limit=settings.signin_max_failures_per_device, window_seconds=window
    )
    if wait is not None:
        raise TooManyRequests(wait, "Too many wrong current passwords; try again later.")
    if not await verify_password(user.password_hash, current_password):
        await ratelimit.hit(session, key, window_seconds=window)
        raise CurrentPasswordIncorrect()
    if new_password == current_password:
        raise Invalid(
            "Choose a password different from the current one.", code="password_unchanged"
        )
    tenant = await get_tenant(session, user.tenant_id)
    words = personal_words(user.email, user.display_name, tenant.domain, tenant.display_name)
    await ensure_strong(new_password, words)
    was_temporary = user.temporary_password_expires_at is not None
    user.password_hash = await hash_password(new_password)
    user.temporary_password_expires_at = None
    await ratelimit.clear(session, key)
    await session.execute(
        update(AccessToken)
        .where(
            AccessToken.user_id == user.id,
            AccessToken.revoked_at.is_(None),
            AccessToken.id != actor.token_id,
        )
        .values(revoked_at=utcnow())
    )
    await session.flush()
    await events.announce(
        session,
        actor,
        "user_password_changed",
        resource_type="user",
        resource_id=user.id,
        detail={"email": user.email, "was_temporary": was_temporary},
    )
