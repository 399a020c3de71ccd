"""Portal pages of a partner's customers: the Customers page, the two ways to invite a
customer (seed §2.3), the invitation's draft email, and a customer's record.

Thin views: every change goes through ``customers.service`` or, in a customer's directory,
through ``act_for_customer`` and the directory service, exactly as the API does.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from twotier.access import service as access
from twotier.access.models import GRANT_STATUS_LABELS, GrantStatus
from twotier.audit import service as audit
from twotier.channel import service as channel
from twotier.channel.models import Side
from twotier.config import Settings
from twotier.customers import queries, service
from twotier.customers.schemas import (
    DEFAULT_DAYS,
    DEFAULT_ROLES,
    MAX_DAYS,
    CustomerInvitationCreate,
    CustomerOut,
)
from twotier.directory import passwords
from twotier.directory import service as directory
from twotier.directory.models import PartnerAccount, Program, Tenant, User
from twotier.directory.principal import Permission, Principal, require_reseller
from twotier.directory.roles import ROLE_LABELS, DirectoryRole
from twotier.invitations.drafts import render_draft
from twotier.invitations.models import INVITATION_STATUS_LABELS, Invitation
from twotier.kit.deps import TransactionalRoute, get_session, get_settings
from twotier.kit.errors import AppError, Forbidden, NotFound
from twotier.kit.i18n import _
from twotier.kit.pagination import PageParams, every_page
from twotier.web.forms import drop_blank, form_values, parse
from twotier.web.render import check_csrf, flashes, render, signed_in, translated

router = APIRouter(route_class=TransactionalRoute, include_in_schema=False)

PAGE_SIZE = 25
USER_ADMIN = DirectoryRole.user_admin
HELPDESK = DirectoryRole.helpdesk_admin

NOTICES = {
    "sent": "The invitation email is on its way.",
    "revoked": "The invitation was revoked; its link no longer works.",
    "ended": "The relationship has ended. The customer's access for you is revoked.",
}


def _role_labels() -> dict[str, str]:
    return {role.value: _(label) for role, label in ROLE_LABELS.items()}


def _is_reseller(principal: Principal) -> bool:
    return principal.partner_account_id is not None and principal.in_program(
        Program.indirect_reseller
    )


# The Customers page.


@router.get("/customers")
async def customers_page(
    request: Request,
    q: str | None = Query(None, max_length=200),
    cursor: str | None = Query(None),
    inv_cursor: str | None = Query(None),
    notice: str | None = Query(None),
    principal: Principal = Depends(signed_in),
    session: AsyncSession = Depends(get_session),
    settings: Settings = Depends(get_settings),
) -> Response:
    query = (q or "").strip()
    items, next_cursor = await queries.customer_page(
        session, principal, query or None, PageParams(limit=PAGE_SIZE, cursor=cursor)
    )
    reseller = _is_reseller(principal)
    invitations: list[Any] = []
    invitations_next = None
    if reseller:
        invitations, invitations_next = await service.list_customer_invitations(
            session, settings, principal, PageParams(limit=PAGE_SIZE, cursor=inv_cursor)
        )
    return render(
        request,
        "customers.html",
        {
            "customers": items,
            "next_cursor": next_cursor,
            "q": query,
            "is_reseller": reseller,
            "can_request": reseller and principal.can(Permission.request_customer_relationship),
            "invitations": list(reversed(invitations)),
            "invitations_next": invitations_next,
            "status_labels": translated(INVITATION_STATUS_LABELS),
            "role_labels": _role_labels(),
            "flashes": flashes(notice, NOTICES),
        },
        principal=principal,
        section="customers",
    )


# The two ways to invite: "Request a reseller relationship" and "Invite new customer".


def _default_form() -> dict[str, Any]:
    return {
        "email": "",
        "message": "",
        "access.roles": [r.value for r in DEFAULT_ROLES],
        "access.duration_days": str(DEFAULT_DAYS),
    }


async def _invite_form(
    request: Request,
    session: AsyncSession,
    principal: Principal,
    provider_id: uuid.UUID | None,
    *,
    form: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    require_reseller(principal, Permission.request_customer_relationship)
    provider = None
    if provider_id is not None:
        await channel.access_link(session, principal, Side.reseller, provider_id)
        provider = await session.get_one(PartnerAccount, provider_id)
    return render(
        request,
        "customer_request.html",
        {
            "provider": provider,
            "action": (
                f"/indirect-providers/{provider_id}/invite-customer"
                if provider_id
                else "/customers/request"
            ),
            "back_href": "/indirect-providers" if provider_id else "/customers",
            "back_label": _("Indirect providers") if provider_id else _("Customers"),
            "form": form or _default_form(),
            "errors": errors or {},
            "error": error,
            "role_labels": _role_labels(),
            "max_days": MAX_DAYS,
        },
        principal=principal,
        section="indirect" if provider_id else "customers",
        status_code=status_code,
    )


def _invite_errors(errors: dict[str, str]) -> dict[str, str]:
    """Words for the two fields whose validation messages are a library's."""
    out = dict(errors)
    if "access.roles" in out:
        out["access.roles"] = _("Choose at least one role.")
    if "access.duration_days" in out:
        out["access.duration_days"] = _("Enter a number of days from 1 to %(max)s.") % {
            "max": MAX_DAYS
        }
    return out


async def _create(
    request: Request,
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    provider_id: uuid.UUID | None,
) -> Response:
    form = form_values(await request.form(), lists=("access.roles",))
    form.setdefault("email", "")
    form.setdefault("message", "")
    form.setdefault("access.duration_days", "")
    values = drop_blank(form, ("email", "message"))
    if not str(values.get("access.duration_days", "")).strip():
        values["access.duration_days"] = "x"  # required: say so rather than take the default
    data, errors = parse(CustomerInvitationCreate, values)
    if data is None:
        return await _invite_form(
            request,
            session,
            principal,
            provider_id,
            form=form,
            errors=_invite_errors(errors),
            status_code=422,
        )
    try:
        out = await service.create_customer_invitation(
            session, settings, principal, data, provider_id
        )
    except AppError as exc:
        if exc.status == 404:
            raise
        return await _invite_form(
            request,
            session,
            principal,
            provider_id,
            form=form,
            error=exc.detail,
            status_code=exc.status,
        )
    return RedirectResponse(f"/customers/invitations/{out.id}", status_code=303)


@router.get("/customers/request")
async def request_page(
    request: Request,
    principal: Principal = Depends(signed_in),
    session: AsyncSession = Depends(get_session),
) -> Response:
    return await _invite_form(request, session, principal, None)


@router.post("/customers/request", dependencies=[Depends(check_csrf)])
async def request_relationship(
    request: Request,
    principal: Principal = Depends(signed_in),
    session: AsyncSession = Depends(get_session),
    settings: Settings = Depends(get_settings),
) -> Response:
    return await _create(request, session, settings, principal, None)


@router.get("/indirect-providers/{provider_id}/invite-customer")
async def invite_customer_page(
    request: Request,
    provider_id: uuid.UUID,
    principal: Principal = Depends(signed_in),
    session: AsyncSession = Depends(get_session),
) -> Response:
    return await _invite_form(request, session, principal, provider_id)


@router.post(
    "/indirect-providers/{provider_id}/invite-customer", dependencies=[Depends(check_csrf)]
)
async def invite_customer(
    request: Request,
    provider_id: uuid.UUID,
    principal: Principal = Depends(signed_in),
    session: AsyncSession = Depends(get_session),
    settings: Settings = Depends(get_settings),
) -> Response:
    return await _create(request, session, settings, principal, provider_id)


# The draft email.


async def _draft_page(
    request: Request,
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    invitation_id: uuid.UUID,
    *,
    subject: str | None = None,
    body: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    invitation = await service.access_customer_invitation(session, principal, invitation_id)
    out = await service.customer_invitation_out(session, settings, invitation)
    return render_draft(
        request,
        principal,
        out,
        send_action=f"/customers/invitations/{invitation_id}/send",
        back_href="/customers",
        back_label=_("Customers"),
        section="customers",
        subject=subject,
        body=body,
        error=error,
        status_code=status_code,
        link_note=_(
            "Anyone with this link can see the request; only the customer's global admin "
            "can accept it. It works once, until %(date)s."
        )
        % {"date": out.expires_at.strftime("%Y-%m-%d")},
        can_send=bool(out.email),
    )


@router.get("/customers/invitations/{invitation_id}")
async def draft_page(
    request: Request,
    invitation_id: uuid.UUID,
    principal: Principal = Depends(signed_in),
    session: AsyncSession = Depends(get_session),
    settings: Settings = Depends(get_settings),
) -> Response:
    return await _draft_page(request, session, settings, principal, invitation_id)


@router.post("/customers/invitations/{invitation_id}/send", dependencies=[Depends(check_csrf)])
async def send_draft(
    request: Request,
    invitation_id: uuid.UUID,
    principal: Principal = Depends(signed_in),
    session: AsyncSession = Depends(get_session),
    settings: Settings = Depends(get_settings),
) -> Response:
    form = form_values(await request.form())
    try:
        await service.send_customer_invitation(
            session,
            settings,
            principal,
            invitation_id,
            form.get("subject") or None,
            form.get("body") or None,
        )
    except AppError as exc:
        if exc.status == 404:
            raise
        return await _draft_page(
            request,
            session,
            settings,
            principal,
            invitation_id,
            subject=form.get("subject"),
            body=form.get("body"),
            error=exc.detail,
            status_code=exc.status,
        )
    return RedirectResponse("/customers?notice=sent", status_code=303)


@router.post("/customers/invitations/{invitation_id}/revoke", dependencies=[Depends(check_csrf)])
async def revoke(
    invitation_id: uuid.UUID,
    principal: Principal = Depends(signed_in),
    session: AsyncSession = Depends(get_session),
    settings: Settings = Depends(get_settings),
) -> Response:
    await service.revoke_customer_invitation(session, settings, principal, invitation_id)
    return RedirectResponse("/customers?notice=revoked", status_code=303)


# A customer's record.


@dataclass(frozen=True)
class RecordSection:
    """The customer record's own part: the customer, its delegated access and users."""

    customer: CustomerOut
    held_roles: frozenset[str]  # the partner's roles in the customer's tenant right now
    users: list[User] | None  # the page of users shown, or None when they may not be seen
    context: dict[str, Any]


async def record_section(
    session: AsyncSession,
    principal: Principal,
    customer_id: uuid.UUID,
    *,
    form: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    error: str | None = None,
    user_error: str | None = None,
    temporary: tuple[str, str, datetime] | None = None,
    users_cursor: str | None = None,
) -> RecordSection:
    """The account, delegated access and users of the customer record (``portal``
    composes the page)."""
    customer, grants = await service.customer_detail(session, principal, customer_id)
    users: list[Any] = []
    users_next = None
    users_blocked = manage_blocked = None
    held = await access.delegated_roles(session, principal, customer_id)
    try:
        delegation = access.delegation_for(principal, customer_id, held, HELPDESK)
        users, users_next = await directory.list_users(
            session, principal, PageParams(limit=50, cursor=users_cursor), delegation=delegation
        )
    except Forbidden as exc:
        users_blocked = access.refusal_text(exc, HELPDESK, customer.company_name)
    try:
        access.delegation_for(principal, customer_id, held, USER_ADMIN)
    except Forbidden as exc:
        manage_blocked = access.refusal_text(exc, USER_ADMIN, customer.company_name)
    acting = directory.Delegation(customer_id, held)
    resettable = {u.id for u in users if passwords.may_reset(principal, u.roles, acting)}
    context = {
        "customer": customer,
        "grants": sorted(grants, key=lambda g: g.created_at, reverse=True),
        "grant_labels": translated(GRANT_STATUS_LABELS),
        "users": users,
        "users_next": users_next,
        "users_blocked": users_blocked,
        "resettable": resettable,
        "manage_blocked": manage_blocked,
        "can_end": principal.can(Permission.manage_customers),
        # Only a global-admin grant reaches the customer's global admins.
        "admin_ok": any(
            g.status == GrantStatus.active and DirectoryRole.global_admin.value in g.roles
            for g in grants
        ),
        "role_labels": _role_labels(),
        "form": form or {"roles": []},
        "errors": errors or {},
        "error": error,
        "user_error": user_error,
        "temporary": temporary,
    }
    return RecordSection(customer, held, None if users_blocked else users, context)


# The invitation link, as a customer reads it.


async def customer_invitation_page(
    request: Request,
    session: AsyncSession,
    principal: Principal | None,
    invitation: Invitation,
    here: str,
    *,
    error: str | None,
    status_code: int,
) -> Response:
    """A customer's view: who asks, which roles, until when; only its global admin accepts."""
    view = await service.view_customer_invitation(session, invitation)
    reseller = await session.get_one(PartnerAccount, invitation.from_partner_account_id)
    provider_ref = view.from_.get("indirect_provider")
    provider = (
        await session.get(PartnerAccount, uuid.UUID(provider_ref["id"])) if provider_ref else None
    )
    blocked = None
    my_company = None
    if principal is not None:
        if not principal.can(Permission.manage_partner_access):
            blocked = _(
                "Only your organization's global admin can accept a reseller relationship. "
                "Send this link to them."
            )
        else:
            mine = await session.get(Tenant, principal.tenant_id)
            my_company = mine.display_name if mine else None
    return render(
        request,
        "customer_invitation.html",
        {
            "reseller": reseller,
            "provider": provider,
            "grants": view.grants,
            "consent_text": view.consent_text,
            "role_labels": {r.value: label for r, label in ROLE_LABELS.items()},
            "here": here,
            "blocked": blocked,
            "my_company": my_company,
            "error": error,
        },
        principal=principal,
        status_code=status_code,
    )


# The customer's side: its Partners page.

PARTNER_NOTICES = {
    "accepted": "The reseller relationship is accepted. Your partners are listed below.",
    "removed": "The partner was removed; its access to your tenant has ended.",
    "extension_approved": "The extension is approved.",
    "extension_declined": "The extension was declined; the access ends as planned.",
}


@router.get("/partners")
async def my_partners_page(
    request: Request,
    notice: str | None = Query(None),
    principal: Principal = Depends(signed_in),
    session: AsyncSession = Depends(get_session),
) -> Response:
    partners = await every_page(lambda page: service.my_partners(session, principal, page))
    activity = await audit.partner_actions_in(session, principal)
    return render(
        request,
        "partners.html",
        {
            "partners": partners,
            "activity": activity,
            "partner_names": {p.partner.partner_id: p.partner.company_name for p in partners},
            "role_labels": {r.value: label for r, label in ROLE_LABELS.items()},
            "flashes": flashes(notice, PARTNER_NOTICES),
        },
        principal=principal,
        section="partners",
    )


@router.post("/partners/grants/{grant_id}/extension/{decision}", dependencies=[Depends(check_csrf)])
async def decide_extension(
    grant_id: uuid.UUID,
    decision: str,
    principal: Principal = Depends(signed_in),
    session: AsyncSession = Depends(get_session),
) -> Response:
    if decision not in ("approve", "decline"):
        raise NotFound()
    await access.decide_extension(session, principal, grant_id, approve=decision == "approve")
    return RedirectResponse(f"/partners?notice=extension_{decision}d", status_code=303)


@router.post("/partners/{partner_account_id}/remove", dependencies=[Depends(check_csrf)])
async def remove_partner(
    partner_account_id: uuid.UUID,
    principal: Principal = Depends(signed_in),
    session: AsyncSession = Depends(get_session),
    settings: Settings = Depends(get_settings),
) -> Response:
    await service.revoke_partner(session, settings, principal, partner_account_id)
    return RedirectResponse("/partners?notice=removed", status_code=303)


# "View customers" from the Indirect resellers / Indirect providers pages.


def _shared_pages(page: str, side: Side, label: str) -> None:
    @router.get(f"/{page}/{{other_id}}/customers", name=f"{side}_shared_customers_page")
    async def shared_customers_page(
        request: Request,
        other_id: uuid.UUID,
        principal: Principal = Depends(signed_in),
        session: AsyncSession = Depends(get_session),
    ) -> Response:
        await channel.access_link(session, principal, side, other_id)
        other = await session.get_one(PartnerAccount, other_id)
        shared, _cursor = await queries.customer_page(
            session,
            principal,
            None,
            PageParams(limit=200, cursor=None),
            shared_with=(side, other_id),
        )
        return render(
            request,
            "shared_customers.html",
            {"other": other, "customers": shared, "back_href": f"/{page}", "back_label": _(label)},
            principal=principal,
            section="indirect",
        )


_shared_pages("indirect-resellers", Side.provider, "Indirect resellers")
_shared_pages("indirect-providers", Side.reseller, "Indirect providers")
