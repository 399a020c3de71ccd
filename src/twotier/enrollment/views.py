"""Portal pages of enrollment: the wizard, the emailed confirmation, status, operator review.

The wizard follows the seed's steps: welcome → the tenant's global admin signs in (or creates
a tenant) → how the partner ID is linked → membership username → password → organization
profile → legal profile, primary contact and support → "Enroll now" → check your email.

The membership password. It is needed twice: to list the organization profiles (step 5)
and by ``service.create`` when enrolling (step 7), which signs in to the registry again.
It never goes into a cookie, a URL, a log line or the database: the browser re-posts it
as a hidden field, only inside the wizard's own POST answers (steps 6 and 7, which are
sent ``Cache-Control: no-store``), and every step that receives it checks it again
against the registry (with the registry's sign-in throttling), so a tampered field gets
no further than a wrong password would. Cancelling, or any GET, drops it.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from twotier.config import Settings
from twotier.directory import service as directory
from twotier.directory.auth import optional_principal
from twotier.directory.models import Program, Tenant
from twotier.directory.principal import Permission, Principal
from twotier.enrollment import service
from twotier.enrollment.models import OPEN_ENROLLMENT, STATUS_LABELS, Enrollment, EnrollmentStatus
from twotier.enrollment.schemas import EnrollmentCreate, RejectIn
from twotier.kit.countries import country_names
from twotier.kit.deps import TransactionalRoute, client_address, get_session, get_settings
from twotier.kit.errors import AppError, Conflict, Gone, Invalid, NotFound, TooManyRequests
from twotier.kit.i18n import _
from twotier.kit.pagination import PageParams, page_params
from twotier.membership.schemas import LookupOrganization, MembershipCredentials
from twotier.membership.service import MembershipSignInFailed
from twotier.partners import service as partners
from twotier.web.forms import drop_blank, form_values, parse
from twotier.web.render import (
    check_csrf,
    flashes,
    label_filter,
    render,
    require_operator_page,
    signed_in,
)

router = APIRouter(route_class=TransactionalRoute, include_in_schema=False)
label_filter("enrollment_status", STATUS_LABELS)

S = EnrollmentStatus
OPTIONAL_FIELDS = (
    "legal_profile.address.line2",
    "legal_profile.address.state",
    "support_profile.phone",
    "support_profile.website",
)
FLASHES = {
    "resent": "We sent a new confirmation link. Links in earlier emails no longer work.",
    "approved": "The enrollment is approved. The primary contact gets an email.",
    "rejected": "The enrollment is rejected. The primary contact gets an email with the reason.",
}


def _program(value: str | None) -> str | None:
    return value if value in tuple(Program) else None


def _private(response: Response) -> Response:
    """Wizard answers can carry the membership password in a form: never keep them."""
    response.headers["Cache-Control"] = "no-store"
    return response


def _page(
    request: Request,
    template: str,
    context: dict[str, Any],
    principal: Principal | None,
    *,
    status_code: int = 200,
    section: str = "enroll",
) -> Response:
    return _private(
        render(
            request,
            template,
            context,
            principal=principal,
            section=section,
            status_code=status_code,
        )
    )


async def _refusal(
    request: Request, session: AsyncSession, principal: Principal
) -> Response | None:
    """Only a tenant's global admin enrolls; everyone else reads why, instead of a form."""
    if principal.can(Permission.enroll_partner):
        return None
    tenant = await directory.get_tenant(session, principal.tenant_id)
    return _page(request, "enroll_forbidden.html", {"tenant": tenant}, principal, status_code=403)


async def _latest(session: AsyncSession, principal: Principal) -> Enrollment | None:
    try:
        return await service.current(session, principal)
    except NotFound:
        return None


def _open_program(enrollment: Enrollment | None) -> str | None:
    if enrollment is not None and enrollment.status in OPEN_ENROLLMENT:
        return enrollment.program
    return None


# 1. Welcome.


def _welcome(
    request: Request,
    principal: Principal | None,
    program: str | None,
    latest: Enrollment | None,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    open_program = _open_program(latest)
    choice = program or next(p for p in tuple(Program) if p != open_program)
    return _page(
        request,
        "enroll_welcome.html",
        {
            "programs": tuple(Program),
            "choice": choice,
            "open_enrollment": latest if open_program else None,
            "error": error,
        },
        principal,
        status_code=status_code,
    )


@router.get("/enroll")
async def welcome(
    request: Request,
    program: str | None = Query(None),
    principal: Principal | None = Depends(optional_principal),
    session: AsyncSession = Depends(get_session),
) -> Response:
    latest = None
    if principal is not None:
        if (refused := await _refusal(request, session, principal)) is not None:
            return refused
        if principal.is_partner:
            return await _shortcut_page(request, session, principal)
        latest = await _latest(session, principal)
    return _welcome(request, principal, _program(program), latest)


# 2. The tenant: sign in as its global admin, or create one, and come back.


@router.get("/enroll/account")
async def account_step(
    request: Request,
    program: str | None = Query(None),
    principal: Principal | None = Depends(optional_principal),
    session: AsyncSession = Depends(get_session),
) -> Response:
    chosen = _program(program)
    if chosen is None:
        latest = await _latest(session, principal) if principal is not None else None
        return _welcome(
            request,
            principal,
            None,
            latest,
            error=_("Choose the program to enroll in."),
            status_code=422,
        )
    onward = f"/enroll/partner-id?program={chosen}"
    if principal is not None:
        return RedirectResponse(onward, status_code=303)
    return _page(
        request,
        "enroll_account.html",
        {"program": chosen, "onward": quote(onward, safe="")},
        None,
    )


async def _wizard_guard(
    request: Request, session: AsyncSession, principal: Principal, program: str | None
) -> tuple[Response | None, Tenant | None, str]:
    """Steps 3 to 7: a global admin, not yet a partner, with a program chosen."""
    if (refused := await _refusal(request, session, principal)) is not None:
        return refused, None, ""
    chosen = _program(program)
    if principal.is_partner or chosen is None:
        return RedirectResponse("/enroll", status_code=303), None, ""
    return None, await directory.get_tenant(session, principal.tenant_id), chosen


# 3. How the partner ID is linked.


@router.get("/enroll/partner-id")
async def link_step(
    request: Request,
    program: str | None = Query(None),
    principal: Principal = Depends(signed_in),
    session: AsyncSession = Depends(get_session),
) -> Response:
    stop, tenant, chosen = await _wizard_guard(request, session, principal, program)
    if stop is not None:
        return stop
    return _page(request, "enroll_link.html", {"program": chosen, "tenant": tenant}, principal)


# 4. The membership username.


def _username_step(
    request: Request,
    principal: Principal,
    tenant: Tenant | None,
    program: str,
    username: str = "",
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    errors = {"username": error} if error else {}
    return _page(
        request,
        "enroll_username.html",
        {"program": program, "tenant": tenant, "username": username, "errors": errors},
        principal,
        status_code=status_code,
    )


@router.get("/enroll/membership")
async def username_step(
    request: Request,
    program: str | None = Query(None),
    principal: Principal = Depends(signed_in),
    session: AsyncSession = Depends(get_session),
) -> Response:
    stop, tenant, chosen = await _wizard_guard(request, session, principal, program)
    if stop is not None:
        return stop
    return _username_step(request, principal, tenant, chosen)


# 5. The membership password.


def _password_step(
    request: Request,
    principal: Principal,
    tenant: Tenant | None,
    program: str,
    username: str,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    errors = {"password": error} if error else {}
    return _page(
        request,
        "enroll_password.html",
        {"program": program, "tenant": tenant, "username": username, "errors": errors},
        principal,
        status_code=status_code,
    )


@router.post("/enroll/membership", dependencies=[Depends(check_csrf)])
async def username_submitted(
    request: Request,
    principal: Principal = Depends(signed_in),
    session: AsyncSession = Depends(get_session),
) -> Response:
    form = form_values(await request.form())
    stop, tenant, chosen = await _wizard_guard(request, session, principal, form.get("program"))
    if stop is not None:
        return stop
    username = form.get("username", "").strip()
    if not username:
        return _username_step(
            request,
            principal,
            tenant,
            chosen,
            error=_("Enter your membership username."),
            status_code=422,
        )
    return _password_step(request, principal, tenant, chosen, username)


async def _organizations(
    request: Request,
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    tenant: Tenant | None,
    program: str,
    username: str,
    password: str,
) -> tuple[list[LookupOrganization] | None, Response | None]:
    """Sign in to the registry (again); on failure, the password step saying why."""
    if not password:
        return None, _password_step(
            request,
            principal,
            tenant,
            program,
            username,
            error=_("Enter your membership password."),
            status_code=422,
        )
    try:
        orgs = await service.lookup(
            session,
            settings,
            principal,
            MembershipCredentials(username=username, password=password),
            client_address(request),
        )
    except MembershipSignInFailed:
        request.state.keep_changes = True  # the failure counters must stick
        return None, _password_step(
            request,
            principal,
            tenant,
            program,
            username,
            error=_("The membership username or password is incorrect."),
            status_code=401,
        )
    except TooManyRequests as exc:
        throttled = _password_step(
            request,
            principal,
            tenant,
            program,
            username,
            error=_("Too many failed membership sign-ins. Wait a few minutes and try again."),
            status_code=429,
        )
        throttled.headers["Retry-After"] = str(exc.retry_after)
        return None, throttled
    return orgs, None


# 6. Choose the organization profile (partner ID).


def _organization_step(
    request: Request,
    principal: Principal,
    tenant: Tenant | None,
    program: str,
    username: str,
    password: str,
    orgs: list[LookupOrganization],
    *,
    selected: str = "",
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    return _page(
        request,
        "enroll_organization.html",
        {
            "program": program,
            "tenant": tenant,
            "username": username,
            "password": password,
            "organizations": orgs,
            "any_eligible": any(o.eligible for o in orgs),
            "selected": selected,
            "error": error,
        },
        principal,
        status_code=status_code,
    )


@router.post("/enroll/membership/sign-in", dependencies=[Depends(check_csrf)])
async def password_submitted(
    request: Request,
    principal: Principal = Depends(signed_in),
    session: AsyncSession = Depends(get_session),
    settings: Settings = Depends(get_settings),
) -> Response:
    form = form_values(await request.form())
    stop, tenant, chosen = await _wizard_guard(request, session, principal, form.get("program"))
    if stop is not None:
        return stop
    username, password = form.get("username", "").strip(), form.get("password", "")
    if not username:
        return _username_step(request, principal, tenant, chosen)
    orgs, failed = await _organizations(
        request, session, settings, principal, tenant, chosen, username, password
    )
    if failed is not None:
        return failed
    assert orgs is not None  # noqa: S101 — no failure means the lookup answered
    return _organization_step(request, principal, tenant, chosen, username, password, orgs)


# 7. Legal profile, primary contact, customer support; "Enroll now".


def _split_name(display_name: str) -> tuple[str, str]:
    first, _sep, last = display_name.strip().partition(" ")
    return first, last


def _profile_step(
    request: Request,
    principal: Principal,
    tenant: Tenant | None,
    form: dict[str, Any],
    *,
    errors: dict[str, str] | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    return _page(
        request,
        "enroll_profile.html",
        {
            "tenant": tenant,
            "form": form,
            "errors": errors or {},
            "error": error,
            "countries": country_names(),
        },
        principal,
        status_code=status_code,
    )


@router.post("/enroll/organization", dependencies=[Depends(check_csrf)])
async def organization_chosen(
    request: Request,
    principal: Principal = Depends(signed_in),
    session: AsyncSession = Depends(get_session),
    settings: Settings = Depends(get_settings),
) -> Response:
    form = form_values(await request.form())
    stop, tenant, chosen = await _wizard_guard(request, session, principal, form.get("program"))
    if stop is not None:
        return stop
    assert tenant is not None  # noqa: S101 — no stop means the guard loaded it
    username = form.get("membership.username", "").strip()
    password = form.get("membership.password", "")
    if not username:
        return _username_step(request, principal, tenant, chosen)
    orgs, failed = await _organizations(
        request, session, settings, principal, tenant, chosen, username, password
    )
    if failed is not None:
        return failed
    assert orgs is not None  # noqa: S101 — no failure means the lookup answered
    partner_id = form.get("membership.partner_id", "")
    org = next((o for o in orgs if o.partner_id == partner_id), None)
    if org is None or not org.eligible:
        return _organization_step(
            request,
            principal,
            tenant,
            chosen,
            username,
            password,
            orgs,
            error=(org.reason if org else None) or _("Choose the organization profile to link."),
            status_code=422,
        )
    first, last = _split_name(principal.display_name)
    prefill = {
        "program": chosen,
        "membership.username": username,
        "membership.password": password,
        "membership.partner_id": org.partner_id,
        "legal_profile.company_name": org.legal_name,
        "legal_profile.address.country": tenant.country,
        "primary_contact.first_name": first,
        "primary_contact.last_name": last,
        "primary_contact.email": principal.email,
    }
    return _profile_step(request, principal, tenant, prefill)


@router.post("/enroll", dependencies=[Depends(check_csrf)])
async def enroll(
    request: Request,
    principal: Principal = Depends(signed_in),
    session: AsyncSession = Depends(get_session),
    settings: Settings = Depends(get_settings),
) -> Response:
    form = form_values(await request.form())
    stop, tenant, chosen = await _wizard_guard(request, session, principal, form.get("program"))
    if stop is not None:
        return stop
    data, errors = parse(EnrollmentCreate, drop_blank(form, OPTIONAL_FIELDS))
    if data is None:
        if any(key.startswith("membership.") for key in errors):
            # The hidden sign-in is gone (edited, or the form was rebuilt): sign in again.
            return _username_step(
                request,
                principal,
                tenant,
                chosen,
                error=_("Sign in to the membership registry again."),
                status_code=422,
            )
        return _profile_step(request, principal, tenant, form, errors=errors, status_code=422)
    try:
        await service.create(session, settings, principal, data, client_address(request))
    except MembershipSignInFailed:
        request.state.keep_changes = True
        return _password_step(
            request,
            principal,
            tenant,
            chosen,
            form.get("membership.username", ""),
            error=_("The membership username or password is incorrect."),
            status_code=401,
        )
    except Conflict as exc:
        if exc.code == "enrollment_open":  # a second click on "Enroll now"
            return RedirectResponse("/enroll/status", status_code=303)
        return _profile_step(
            request, principal, tenant, form, error=exc.detail, status_code=exc.status
        )
    except (Invalid, TooManyRequests) as exc:
        return _profile_step(
            request, principal, tenant, form, error=exc.detail, status_code=exc.status
        )
    return RedirectResponse("/enroll/check-email", status_code=303)


# 8. Check your email; the emailed link; the status page.


@router.get("/enroll/check-email")
async def check_email(
    request: Request,
    principal: Principal = Depends(signed_in),
    session: AsyncSession = Depends(get_session),
) -> Response:
    enrollment = await _latest(session, principal)
    if enrollment is None:
        return RedirectResponse("/enroll", status_code=303)
    return _page(
        request,
        "enroll_check_email.html",
        {
            "enrollment": enrollment,
            "can_resend": principal.can(Permission.enroll_partner),
        },
        principal,
    )


@router.get("/enroll/status")
async def status_page(
    request: Request,
    notice: str | None = Query(None),
    principal: Principal = Depends(signed_in),
    session: AsyncSession = Depends(get_session),
) -> Response:
    return _page(
        request,
        "enroll_status.html",
        {
            "enrollment": await _latest(session, principal),
            "can_enroll": principal.can(Permission.enroll_partner),
            "flashes": [_(FLASHES[notice])] if notice == "resent" else [],
        },
        principal,
    )


@router.post("/enroll/status/resend", dependencies=[Depends(check_csrf)])
async def resend(
    request: Request,
    principal: Principal = Depends(signed_in),
    session: AsyncSession = Depends(get_session),
    settings: Settings = Depends(get_settings),
) -> Response:
    if (refused := await _refusal(request, session, principal)) is not None:
        return refused
    try:
        await service.resend_verification(session, settings, principal)
    except (NotFound, Conflict):
        return RedirectResponse("/enroll/status", status_code=303)
    return RedirectResponse("/enroll/status?notice=resent", status_code=303)


def _verify_page(
    request: Request,
    principal: Principal | None,
    token: str,
    enrollment: Enrollment | None,
    problem: AppError | None,
) -> Response:
    return _page(
        request,
        "enroll_verify.html",
        {
            "token": token,
            "enrollment": enrollment,
            "problem": problem.detail if problem else None,
            "problem_code": problem.code if problem else None,
        },
        principal,
        status_code=problem.status if problem else 200,
    )


@router.get("/enroll/verify")
async def verify_page(
    request: Request,
    token: str = Query(""),
    principal: Principal | None = Depends(optional_principal),
    session: AsyncSession = Depends(get_session),
) -> Response:
    """Opening the emailed link only shows what it confirms: mail scanners follow links."""
    try:
        enrollment = await service.preview_verification(session, token.strip())
    except (NotFound, Gone) as exc:
        return _verify_page(request, principal, token, None, exc)
    return _verify_page(request, principal, token, enrollment, None)


@router.post("/enroll/verify", dependencies=[Depends(check_csrf)])
async def verify(
    request: Request,
    principal: Principal | None = Depends(optional_principal),
    session: AsyncSession = Depends(get_session),
    settings: Settings = Depends(get_settings),
) -> Response:
    token = str((await request.form()).get("token") or "").strip()
    try:
        enrollment = await service.verify_email(session, settings, token)
    except (NotFound, Gone) as exc:
        return _verify_page(request, principal, token, None, exc)
    return _page(request, "enroll_verified.html", {"enrollment": enrollment}, principal)


# The shortcut: an approved partner adds the other program with only its support profile.


async def _shortcut_page(
    request: Request,
    session: AsyncSession,
    principal: Principal,
    *,
    form: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    partner = await partners.require_partner(session, principal)
    held = sorted(principal.partner_programs)
    missing = [p for p in tuple(Program) if p not in held]
    if form is None:
        support = partner.support_profile
        form = {
            "program": missing[0] if missing else "",
            "support_profile.email": support.get("email", ""),
            "support_profile.phone": support.get("phone") or "",
            "support_profile.website": support.get("website") or "",
        }
    return _page(
        request,
        "enroll_shortcut.html",
        {
            "partner": partner,
            "held": held,
            "missing": missing,
            "form": form,
            "errors": errors or {},
            "error": error,
        },
        principal,
        status_code=status_code,
    )


@router.post("/enroll/shortcut", dependencies=[Depends(check_csrf)])
async def shortcut(
    request: Request,
    principal: Principal = Depends(signed_in),
    session: AsyncSession = Depends(get_session),
    settings: Settings = Depends(get_settings),
) -> Response:
    if (refused := await _refusal(request, session, principal)) is not None:
        return refused
    if not principal.is_partner:
        return RedirectResponse("/enroll", status_code=303)
    raw = form_values(await request.form())
    form = {
        key: raw.get(key, "")
        for key in (
            "program",
            "support_profile.email",
            "support_profile.phone",
            "support_profile.website",
        )
    }
    data, errors = parse(EnrollmentCreate, drop_blank(form, OPTIONAL_FIELDS))
    if data is None:
        return await _shortcut_page(
            request, session, principal, form=form, errors=errors, status_code=422
        )
    try:
        await service.create(session, settings, principal, data, client_address(request))
    except (Conflict, Invalid) as exc:
        return await _shortcut_page(
            request, session, principal, form=form, error=exc.detail, status_code=exc.status
        )
    return RedirectResponse("/partner/profile?notice=program_added", status_code=303)


# Operator review.

STATUS_FILTERS = ("in_review", "pending_email_verification", "approved", "rejected", "all")


@router.get("/operator/enrollments")
async def review_queue(
    request: Request,
    status: str = Query("in_review"),
    params: PageParams = Depends(page_params),
    principal: Principal = Depends(signed_in),
    session: AsyncSession = Depends(get_session),
) -> Response:
    require_operator_page(principal)
    if status not in STATUS_FILTERS:
        status = "in_review"
    rows, next_cursor = await service.list_for_review(
        session, principal, None if status == "all" else status, params
    )
    more = urlencode({"status": status, "cursor": next_cursor}) if next_cursor else None
    return render(
        request,
        "operator_enrollments.html",
        {
            "enrollments": rows,
            "status": status,
            "filters": STATUS_FILTERS,
            "next_page": f"/operator/enrollments?{more}" if more else None,
        },
        principal=principal,
        section="op-enrollments",
    )


async def _review_page(
    request: Request,
    session: AsyncSession,
    principal: Principal,
    enrollment: Enrollment,
    *,
    reason: str = "",
    errors: dict[str, str] | None = None,
    error: str | None = None,
    flashes: list[str] | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "operator_enrollment.html",
        {
            "enrollment": enrollment,
            "tenant": await directory.get_tenant(session, enrollment.tenant_id),
            "reason": reason,
            "errors": errors or {},
            "error": error,
            "flashes": flashes or [],
        },
        principal=principal,
        section="op-enrollments",
        status_code=status_code,
    )


@router.get("/operator/enrollments/{enrollment_id}")
async def review_page(
    request: Request,
    enrollment_id: uuid.UUID,
    notice: str | None = Query(None),
    principal: Principal = Depends(signed_in),
    session: AsyncSession = Depends(get_session),
) -> Response:
    require_operator_page(principal)
    enrollment = await service.get_for_operator(session, principal, enrollment_id)
    review = {k: FLASHES[k] for k in ("approved", "rejected")}
    return await _review_page(
        request, session, principal, enrollment, flashes=flashes(notice, review)
    )


@router.post("/operator/enrollments/{enrollment_id}/approve", dependencies=[Depends(check_csrf)])
async def approve(
    request: Request,
    enrollment_id: uuid.UUID,
    principal: Principal = Depends(signed_in),
    session: AsyncSession = Depends(get_session),
    settings: Settings = Depends(get_settings),
) -> Response:
    require_operator_page(principal)
    try:
        await service.approve(session, settings, principal, enrollment_id)
    except Conflict as exc:
        enrollment = await service.get_for_operator(session, principal, enrollment_id)
        return await _review_page(
            request, session, principal, enrollment, error=exc.detail, status_code=exc.status
        )
    return RedirectResponse(
        f"/operator/enrollments/{enrollment_id}?notice=approved", status_code=303
    )


@router.post("/operator/enrollments/{enrollment_id}/reject", dependencies=[Depends(check_csrf)])
async def reject(
    request: Request,
    enrollment_id: uuid.UUID,
    principal: Principal = Depends(signed_in),
    session: AsyncSession = Depends(get_session),
    settings: Settings = Depends(get_settings),
) -> Response:
    require_operator_page(principal)
    form = form_values(await request.form())
    reason = form.get("reason", "")
    data, errors = parse(RejectIn, {"reason": reason})
    if data is None:
        enrollment = await service.get_for_operator(session, principal, enrollment_id)
        if not reason.strip():
            errors = {"reason": _("Give the reason: the organization reads it in the email.")}
        return await _review_page(
            request, session, principal, enrollment, reason=reason, errors=errors, status_code=422
        )
    try:
        await service.reject(session, settings, principal, enrollment_id, data.reason)
    except Conflict as exc:
        enrollment = await service.get_for_operator(session, principal, enrollment_id)
        return await _review_page(
            request,
            session,
            principal,
            enrollment,
            reason=reason,
            error=exc.detail,
            status_code=exc.status,
        )
    return RedirectResponse(
        f"/operator/enrollments/{enrollment_id}?notice=rejected", status_code=303
    )
