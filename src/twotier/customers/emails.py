"""Emails about customer relationships."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from twotier.config import Settings
from twotier.directory.models import PartnerAccount, Tenant
from twotier.kit.email import queue_email
from twotier.kit.i18n import _

ROLE_WORDS = {
    "global_admin": "global administration",
    "user_admin": "user administration",
    "license_admin": "license administration",
    "helpdesk_admin": "helpdesk administration",
    "billing_admin": "billing administration",
}


def roles_in_words(roles: list[str]) -> str:
    return ", ".join(_(ROLE_WORDS.get(r, r)) for r in roles)


def customer_invitation_draft(
    reseller: PartnerAccount,
    provider: PartnerAccount | None,
    invite_url: str,
    message: str | None,
    roles: list[str],
    days: int,
) -> tuple[str, str]:
    if provider is None:
        subject = _("%(reseller)s requests a reseller relationship") % {
            "reseller": reseller.company_name
        }
        who = reseller.company_name
    else:
        subject = _("%(reseller)s and %(provider)s invite you to a reseller relationship") % {
            "reseller": reseller.company_name,
            "provider": provider.company_name,
        }
        who = _("%(reseller)s (your reseller) and %(provider)s (its provider)") % {
            "reseller": reseller.company_name,
            "provider": provider.company_name,
        }
    body = _(
        "Hello,\n\n%(message)s"
        "%(who)s would like a reseller relationship with your organization, so they can "
        "manage your subscriptions and services%(orders)s.\n\n"
        "They ask for %(roles)s in your tenant for %(days)s days. Only your global admin can "
        "accept; you can see and end their access at any time on your Partners page.\n\n"
        "Review and accept here:\n%(link)s\n"
    ) % {
        "message": f"{message}\n\n" if message else "",
        "who": who,
        "orders": _(", and the provider can submit orders for you") if provider else "",
        "roles": roles_in_words(roles),
        "days": days,
        "link": invite_url,
    }
    return subject, body


def relationship_accepted(
    session: AsyncSession,
    settings: Settings,
    customer: Tenant,
    partner: PartnerAccount,
    roles: list[str],
) -> None:
    to = partner.primary_contact.get("email")
    if not to:
        return
    queue_email(
        session,
        settings,
        to=str(to),
        subject=_("%(customer)s accepted your reseller relationship")
        % {"customer": customer.display_name},
        body=_(
            "Hello,\n\n%(customer)s (%(domain)s) accepted a reseller relationship with "
            "%(partner)s and granted %(roles)s. It now appears on your Customers page: "
            "%(url)s/customers\n"
        )
        % {
            "customer": customer.display_name,
            "domain": customer.domain,
            "partner": partner.company_name,
            "roles": roles_in_words(roles),
            "url": settings.base_url,
        },
    )


def relationship_ended(
    session: AsyncSession,
    settings: Settings,
    customer: Tenant,
    partner: PartnerAccount,
    by_customer: bool,
) -> None:
    to = partner.primary_contact.get("email")
    if not to:
        return
    queue_email(
        session,
        settings,
        to=str(to),
        subject=_("Your relationship with %(customer)s has ended")
        % {"customer": customer.display_name},
        body=_(
            "Hello,\n\nThe reseller relationship between %(partner)s and %(customer)s was "
            "ended by %(by)s. Your access to its tenant has ended too.\n"
        )
        % {
            "partner": partner.company_name,
            "customer": customer.display_name,
            "by": customer.display_name if by_customer else partner.company_name,
        },
    )
