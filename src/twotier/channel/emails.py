"""Emails of the provider ↔ reseller channel."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from twotier.config import Settings
from twotier.directory.models import PartnerAccount
from twotier.kit.email import queue_email
from twotier.kit.i18n import _


def reseller_invitation_draft(
    provider: PartnerAccount, invite_url: str, message: str | None
) -> tuple[str, str]:
    """Subject and body of the draft a provider may edit; the body must keep the link."""
    subject = _("%(provider)s invites you to connect as an indirect reseller") % {
        "provider": provider.company_name
    }
    body = _(
        "Hello,\n\n"
        "%(message)s"
        "%(provider)s (partner ID %(partner_id)s) would like to be your indirect provider on "
        "twotier. Open this link, sign in as your global admin or an admin agent, and select "
        '"Authorize indirect provider":\n\n%(link)s\n\n'
        "Authorizing lets %(provider)s submit orders and add subscriptions on behalf of your "
        "customers, and gives it admin access to your tenant. You can end it at any time.\n"
    ) % {
        "message": f"{message}\n\n" if message else "",
        "provider": provider.company_name,
        "partner_id": provider.partner_id,
        "link": invite_url,
    }
    return subject, body


def _contact(partner: PartnerAccount) -> str | None:
    email = partner.primary_contact.get("email")
    return str(email) if email else None


def link_authorized(
    session: AsyncSession, settings: Settings, provider: PartnerAccount, reseller: PartnerAccount
) -> None:
    for to, other, role in (
        (_contact(provider), reseller, _("indirect reseller")),
        (_contact(reseller), provider, _("indirect provider")),
    ):
        if to is None:
            continue
        queue_email(
            session,
            settings,
            to=to,
            subject=_("%(other)s is now your %(role)s")
            % {"other": other.company_name, "role": role},
            body=_(
                "Hello,\n\n%(reseller)s authorized %(provider)s as its indirect provider.\n"
                "%(other)s (partner ID %(partner_id)s) now appears on your %(page)s page: "
                "%(url)s\n"
            )
            % {
                "reseller": reseller.company_name,
                "provider": provider.company_name,
                "other": other.company_name,
                "partner_id": other.partner_id,
                "page": _("Indirect resellers") if other is reseller else _("Indirect providers"),
                "url": settings.base_url
                + ("/indirect-resellers" if other is reseller else "/indirect-providers"),
            },
        )


def link_terminated(
    session: AsyncSession,
    settings: Settings,
    provider: PartnerAccount,
    reseller: PartnerAccount,
    ended_by: PartnerAccount,
) -> None:
    for to in (_contact(provider), _contact(reseller)):
        if to is None:
            continue
        queue_email(
            session,
            settings,
            to=to,
            subject=_("%(provider)s and %(reseller)s are no longer connected")
            % {"provider": provider.company_name, "reseller": reseller.company_name},
            body=_(
                "Hello,\n\n%(by)s ended the indirect provider relationship between "
                "%(provider)s (provider) and %(reseller)s (reseller). The provider no longer "
                "acts for the reseller or its customers, and its admin access to the reseller's "
                "tenant has ended.\n"
            )
            % {
                "by": ended_by.company_name,
                "provider": provider.company_name,
                "reseller": reseller.company_name,
            },
        )
