"""Emails the directory sends (through the outbox, so only for committed changes)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from twotier.config import Settings
from twotier.directory.models import Tenant, User
from twotier.kit.email import queue_email
from twotier.kit.i18n import _


def tenant_created(session: AsyncSession, settings: Settings, tenant: Tenant, admin: User) -> str:
    body = _(
        "Hello %(name)s,\n\n"
        "The tenant %(tenant)s (%(domain)s) is ready, and you are its global admin.\n"
        "Sign in: %(url)s/signin\n\n"
        "If you did not create it, reply to this email.\n"
    ) % {
        "name": admin.display_name,
        "tenant": tenant.display_name,
        "domain": tenant.domain,
        "url": settings.base_url,
    }
    return queue_email(
        session,
        settings,
        to=admin.email,
        subject=_("Your twotier tenant %(tenant)s is ready") % {"tenant": tenant.display_name},
        body=body,
    )


def user_added(
    session: AsyncSession, settings: Settings, tenant: Tenant, user: User, added_by: str
) -> str:
    body = _(
        "Hello %(name)s,\n\n"
        "%(admin)s added you to %(tenant)s on twotier.\n"
        "Sign in with this email address and the password they gave you: %(url)s/signin\n"
    ) % {
        "name": user.display_name,
        "admin": added_by,
        "tenant": tenant.display_name,
        "url": settings.base_url,
    }
    return queue_email(
        session,
        settings,
        to=user.email,
        subject=_("You were added to %(tenant)s") % {"tenant": tenant.display_name},
        body=body,
    )
