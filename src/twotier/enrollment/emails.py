"""Emails to the enrolling organization's primary contact."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from twotier.config import Settings
from twotier.enrollment.models import Enrollment
from twotier.kit.email import queue_email
from twotier.kit.i18n import _

PROGRAM_NAMES = {
    "indirect_reseller": "indirect reseller",
    "indirect_provider": "indirect provider",
}


def _contact(enrollment: Enrollment) -> tuple[str, str]:
    contact = enrollment.primary_contact
    return str(contact["email"]), str(contact.get("first_name", ""))


def _program(enrollment: Enrollment) -> str:
    return _(PROGRAM_NAMES.get(enrollment.program, enrollment.program))


def verification(
    session: AsyncSession, settings: Settings, enrollment: Enrollment, token: str
) -> str:
    to, name = _contact(enrollment)
    link = f"{settings.base_url}/enroll/verify?token={token}"
    body = _(
        "Hello %(name)s,\n\n"
        "%(company)s (partner ID %(partner_id)s) asked to enroll in twotier as an "
        "%(program)s, naming you as its primary contact.\n\n"
        "To protect your organization, please confirm that:\n"
        "  1. you registered this account, and\n"
        "  2. this email address belongs to %(company)s.\n\n"
        "Confirm here (the link works once and expires in 7 days):\n%(link)s\n\n"
        "If you did not expect this, ignore this email and nothing will happen.\n"
    ) % {
        "name": name,
        "company": enrollment.company_name,
        "partner_id": enrollment.partner_id,
        "program": _program(enrollment),
        "link": link,
    }
    return queue_email(
        session, settings, to=to, subject=_("Confirm your twotier partner enrollment"), body=body
    )


def in_review(session: AsyncSession, settings: Settings, enrollment: Enrollment) -> str:
    to, name = _contact(enrollment)
    body = _(
        "Hello %(name)s,\n\n"
        "Thank you for confirming. The enrollment of %(company)s as an %(program)s is now "
        "in review. This can take a few days; we will email you when it is decided.\n"
        "Follow its status: %(url)s/enroll/status\n"
    ) % {
        "name": name,
        "company": enrollment.company_name,
        "program": _program(enrollment),
        "url": settings.base_url,
    }
    return queue_email(
        session, settings, to=to, subject=_("Your twotier enrollment is in review"), body=body
    )


def approved(session: AsyncSession, settings: Settings, enrollment: Enrollment) -> str:
    to, name = _contact(enrollment)
    body = _(
        "Hello %(name)s,\n\n"
        "%(company)s is approved as an %(program)s (partner ID %(partner_id)s).\n\n"
        "To finish the set-up, make sure you are in the Admin agent group: Dashboard → "
        "Account settings → User management → select your name → Admin agent → Update.\n"
        "Admin-agent rights are needed to finish the set-up, including adding more users.\n\n"
        "Sign in: %(url)s/signin\n"
    ) % {
        "name": name,
        "company": enrollment.company_name,
        "program": _program(enrollment),
        "partner_id": enrollment.partner_id,
        "url": settings.base_url,
    }
    return queue_email(
        session, settings, to=to, subject=_("Your twotier partner account is ready"), body=body
    )


def rejected(session: AsyncSession, settings: Settings, enrollment: Enrollment) -> str:
    to, name = _contact(enrollment)
    body = _(
        "Hello %(name)s,\n\n"
        "We could not approve the enrollment of %(company)s as an %(program)s.\n\n"
        "Reason: %(reason)s\n\n"
        "You can correct what is needed and enroll again: %(url)s/enroll\n"
    ) % {
        "name": name,
        "company": enrollment.company_name,
        "program": _program(enrollment),
        "reason": enrollment.rejection_reason or "",
        "url": settings.base_url,
    }
    return queue_email(
        session, settings, to=to, subject=_("Your twotier enrollment was not approved"), body=body
    )
