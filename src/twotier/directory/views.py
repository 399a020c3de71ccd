"""Portal pages of the directory: sign in, create a tenant, sign out, user management,
password resets and changing one's own password."""

from __future__ import annotations

import uuid
from datetime import datetime
from secrets import token_urlsafe
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from twotier.config import Settings
from twotier.directory import passwords, service, throttle
from twotier.directory.access import access_tenant_user
from twotier.directory.auth import SESSION_COOKIE, optional_principal, principal_changing_password
from twotier.directory.models import TokenKind, User
from twotier.directory.principal import PARTNER_ROLE_LABELS, Permission, Principal
from twotier.directory.roles import ROLE_LABELS
from twotier.directory.schemas import (
    PartnerRolesIn,
    PasswordChange,
    TenantCreate,
    UserCreate,
    UserUpdate,
)
from twotier.kit.countries import country_names
from twotier.kit.deps import TransactionalRoute, client_address, get_session, get_settings
from twotier.kit.errors import Conflict, Forbidden, Invalid, TooManyRequests
from twotier.kit.i18n import _
from twotier.kit.pagination import PageParams, page_params
from twotier.kit.passwords import PasswordTooWeak
from twotier.web.forms import form_values, parse
from twotier.web.render import (
    PASSWORD_PAGE,
    check_csrf,
    flashes,
    render,
    safe_next,
    set_csrf_cookie,
    signed_in,
)

router = APIRouter(route_class=TransactionalRoute, include_in_schema=False)

PARTNER_ROLES = {role.value: label for role, label in PARTNER_ROLE_LABELS.items()}

FLASHES = {
    "created": "Your tenant is ready. Sign in with the global admin you just created.",
    "signed_out": "You have signed out.",
    "user_added": "The user was added.",
    "user_updated": "The user was updated.",
}


@router.get("/signin")
async def signin_page(
    request: Request,
    next: str | None = Query(None),
    notice: str | None = Query(None),
    email: str = Query(""),
    principal: Principal | None = Depends(optional_principal),
) -> Response:
    if principal is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    shown = flashes(notice, FLASHES)
    return render(
        request, "signin.html", {"next": safe_next(next), "email": email, "flashes": shown}
    )


@router.post("/signin", dependencies=[Depends(check_csrf)])
async def signin(
    request: Request,
    session: AsyncSession = Depends(get_session),
    settings: Settings = Depends(get_settings),
) -> Response:
    form = await request.form()
    email = str(form.get("email") or "")
    target = safe_next(str(form.get("next") or ""))
    try:
        result = await service.sign_in(
            session,
            settings,
            email=email,
            password=str(form.get("password") or ""),
            client=client_address(request),
            kind=TokenKind.session,
            device=request.cookies.get(throttle.DEVICE_COOKIE),
        )
    except service.TemporaryPasswordExpired as exc:
        return render(
            request,
            "signin.html",
            {"next": target, "email": email, "error": _(exc.detail)},
            status_code=exc.status,
        )
    except service.SignInFailed:
        request.state.keep_changes = True  # the failure counters must stick
        return render(
            request,
            "signin.html",
            {"next": target, "email": email, "error": _("The email or password is incorrect.")},
            status_code=401,
        )
    except TooManyRequests as exc:
        throttled = render(
            request,
            "signin.html",
            {
                "next": target,
                "email": email,
                "error": _("Too many failed sign-ins. Wait %(seconds)s s, then try again.")
                % {"seconds": exc.retry_after},
            },
            status_code=429,
        )
        throttled.headers["Retry-After"] = str(exc.retry_after)
        return throttled
    # A fresh session at every sign-in: a cookie planted before cannot ride along.
    old = request.cookies.get(SESSION_COOKIE)
    if old:
        await service.revoke_token_value(session, old, operation="session_replaced")
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        result.token,
        max_age=result.expires_in,
        httponly=True,
        samesite="lax",
        secure=settings.is_production,
        path="/",
    )
    set_csrf_cookie(request, response, token_urlsafe(32))
    throttle.set_device_cookie(response, settings, result.user.id)  # a fresh nonce each time
    return response


@router.post("/signout", dependencies=[Depends(check_csrf)])
async def signout(request: Request, session: AsyncSession = Depends(get_session)) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        await service.revoke_token_value(session, token, operation="signed_out")
    response = RedirectResponse("/signin?notice=signed_out", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def _signup_context(
    next_: str, form: dict[str, Any], errors: dict[str, str], error: str | None = None
) -> dict[str, Any]:
    return {
        "next": next_,
        "form": form,
        "errors": errors,
        "error": error,
        "countries": country_names(),
    }


@router.get("/signup")
async def signup_page(request: Request, next: str | None = Query(None)) -> Response:
    return render(request, "signup.html", _signup_context(safe_next(next), {}, {}))


@router.post("/signup", dependencies=[Depends(check_csrf)])
async def signup(
    request: Request,
    session: AsyncSession = Depends(get_session),
    settings: Settings = Depends(get_settings),
) -> Response:
    form = form_values(await request.form())
    target = safe_next(form.pop("next", ""))
    data, errors = parse(TenantCreate, form)
    if data is None:
        return render(
            request, "signup.html", _signup_context(target, form, errors), status_code=422
        )
    try:
        await service.create_tenant(session, settings, data)
    except PasswordTooWeak as exc:
        errors = {"admin.password": exc.detail}
        return render(
            request, "signup.html", _signup_context(target, form, errors), status_code=exc.status
        )
    except Conflict as exc:
        field = "domain" if exc.code == "domain_taken" else "admin.email"
        return render(
            request,
            "signup.html",
            _signup_context(target, form, {field: exc.detail}),
            status_code=409,
        )
    query = urlencode({"notice": "created", "email": data.admin.email, "next": target})
    return RedirectResponse(f"/signin?{query}", status_code=303)


async def _users_page(
    request: Request,
    session: AsyncSession,
    principal: Principal,
    params: PageParams,
    *,
    form: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    error: str | None = None,
    flashes: list[str] | None = None,
    user_error: str | None = None,
    temporary: tuple[str, str, datetime] | None = None,
    status_code: int = 200,
) -> Response:
    if not principal.can(Permission.view_tenant_users):
        raise Forbidden("Only the tenant's admins see its users.", code="insufficient_role")
    users, next_cursor = await service.list_users(session, principal, params)
    return render(
        request,
        "users.html",
        {
            "users": users,
            "next_cursor": next_cursor,
            "role_labels": {role.value: label for role, label in ROLE_LABELS.items()},
            "partner_role_labels": PARTNER_ROLES if principal.is_partner else {},
            "can_manage": principal.can(Permission.manage_tenant_users),
            "resettable": {
                u.id
                for u in users
                if u.id != principal.user_id and passwords.may_reset(principal, u.roles, None)
            },
            "temporary": temporary,
            "user_error": user_error,
            "form": form or {"roles": []},
            "errors": errors or {},
            "error": error,
            "flashes": flashes or [],
        },
        principal=principal,
        section="account",
        status_code=status_code,
    )


@router.get("/account/users")
async def users_page(
    request: Request,
    notice: str | None = Query(None),
    principal: Principal = Depends(signed_in),
    params: PageParams = Depends(page_params),
    session: AsyncSession = Depends(get_session),
) -> Response:
    shown = flashes(notice, FLASHES)
    return await _users_page(request, session, principal, params, flashes=shown)


@router.post("/account/users", dependencies=[Depends(check_csrf)])
async def add_user(
    request: Request,
    principal: Principal = Depends(signed_in),
    session: AsyncSession = Depends(get_session),
    settings: Settings = Depends(get_settings),
) -> Response:
    if not principal.can(Permission.manage_tenant_users):
        raise Forbidden("Only global and user admins add users.", code="insufficient_role")
    form = form_values(await request.form(), lists=("roles",))
    data, errors = parse(UserCreate, form)
    params = PageParams(limit=50, cursor=None)
    if data is None:
        return await _users_page(
            request, session, principal, params, form=form, errors=errors, status_code=422
        )
    try:
        await service.create_user(session, settings, principal, data)
    except (PasswordTooWeak, Conflict) as exc:
        field = "password" if isinstance(exc, PasswordTooWeak) else "email"
        return await _users_page(
            request,
            session,
            principal,
            params,
            form=form,
            errors={field: exc.detail},
            status_code=exc.status,
        )
    return RedirectResponse("/account/users?notice=user_added", status_code=303)


def _edit_form(user: User) -> dict[str, Any]:
    return {
        "display_name": user.display_name,
        "roles": list(user.roles),
        "partner_roles": list(user.partner_roles),
        "is_active": user.is_active,
    }


def _render_edit(
    request: Request,
    principal: Principal,
    user: User,
    form: dict[str, Any],
    *,
    errors: dict[str, str] | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "user_edit.html",
        {
            "user": user,
            "form": form,
            "errors": errors or {},
            "error": error,
            "role_labels": {role.value: label for role, label in ROLE_LABELS.items()},
            # Partner roles exist in a partner's tenant, for those who may assign them.
            "partner_role_labels": (
                PARTNER_ROLES
                if principal.is_partner and principal.can(Permission.manage_partner_roles)
                else {}
            ),
        },
        principal=principal,
        section="account",
        status_code=status_code,
    )


def _require_manager(principal: Principal) -> None:
    if not principal.can(Permission.manage_tenant_users):
        raise Forbidden("Only global and user admins change users.", code="insufficient_role")


@router.get("/account/users/{user_id}")
async def edit_user_page(
    request: Request,
    user_id: uuid.UUID,
    principal: Principal = Depends(signed_in),
    session: AsyncSession = Depends(get_session),
) -> Response:
    _require_manager(principal)
    user = await access_tenant_user(session, principal, user_id)
    return _render_edit(request, principal, user, _edit_form(user))


@router.post("/account/users/{user_id}", dependencies=[Depends(check_csrf)])
async def edit_user(
    request: Request,
    user_id: uuid.UUID,
    principal: Principal = Depends(signed_in),
    session: AsyncSession = Depends(get_session),
) -> Response:
    _require_manager(principal)
    user = await access_tenant_user(session, principal, user_id)
    raw = form_values(await request.form(), lists=("roles", "partner_roles"))
    form = {
        "display_name": raw.get("display_name", ""),
        "roles": raw["roles"],
        "is_active": raw.get("is_active") == "true",
    }
    data, errors = parse(UserUpdate, form)
    form["partner_roles"] = raw["partner_roles"]
    assign_partner_roles = principal.is_partner and principal.can(Permission.manage_partner_roles)
    roles_in, role_errors = parse(PartnerRolesIn, {"partner_roles": raw["partner_roles"]})
    if data is None or (assign_partner_roles and roles_in is None):
        return _render_edit(
            request, principal, user, form, errors=errors | role_errors, status_code=422
        )
    try:
        await service.update_user(session, principal, user_id, data)
        if assign_partner_roles and roles_in is not None:
            await service.set_partner_roles(session, principal, user_id, roles_in)
    except (Conflict, Forbidden) as exc:
        return _render_edit(
            request, principal, user, form, error=exc.detail, status_code=exc.status
        )
    return RedirectResponse("/account/users?notice=user_updated", status_code=303)


@router.post("/account/users/{user_id}/reset-password", dependencies=[Depends(check_csrf)])
async def reset_user_password(
    request: Request,
    user_id: uuid.UUID,
    principal: Principal = Depends(signed_in),
    session: AsyncSession = Depends(get_session),
    settings: Settings = Depends(get_settings),
) -> Response:
    if not principal.can(Permission.reset_passwords):
        raise Forbidden("Your roles do not allow resetting passwords.", code="insufficient_role")
    user = await access_tenant_user(session, principal, user_id)
    params = PageParams(limit=50, cursor=None)
    try:
        temporary, expires_at = await passwords.reset_password(
            session, settings, principal, user_id
        )
    except Forbidden as exc:
        return await _users_page(
            request, session, principal, params, user_error=exc.detail, status_code=exc.status
        )
    # Shown once, on this answer only: never stored, never in a URL.
    return await _users_page(
        request, session, principal, params, temporary=(user.email, temporary, expires_at)
    )


def _password_page(
    request: Request,
    principal: Principal,
    next_: str,
    *,
    errors: dict[str, str] | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    due = principal.password_change_due
    return render(
        request,
        "password_change.html",
        # While a change is due every other page leads back here: no navigation to offer.
        {"next": next_, "due": due, "errors": errors or {}, "error": error}
        | ({"nav": []} if due else {}),
        principal=principal,
        section="account",
        status_code=status_code,
    )


@router.get(PASSWORD_PAGE)
async def password_page(
    request: Request,
    next: str | None = Query(None),
    principal: Principal = Depends(principal_changing_password),
) -> Response:
    return _password_page(request, principal, safe_next(next))


@router.post(PASSWORD_PAGE, dependencies=[Depends(check_csrf)])
async def change_password(
    request: Request,
    principal: Principal = Depends(principal_changing_password),
    session: AsyncSession = Depends(get_session),
    settings: Settings = Depends(get_settings),
) -> Response:
    form = form_values(await request.form())
    target = safe_next(form.pop("next", ""))
    confirm = form.pop("confirm_password", "")
    data, errors = parse(PasswordChange, form)
    if data is not None and confirm != data.new_password:
        errors["confirm_password"] = _("The two new passwords differ.")
    if data is None or errors:
        return _password_page(request, principal, target, errors=errors, status_code=422)
    try:
        await passwords.change_password(
            session,
            settings,
            principal,
            current_password=data.current_password,
            new_password=data.new_password,
        )
    except passwords.CurrentPasswordIncorrect:
        request.state.keep_changes = True  # the failure counter must stick
        errors = {"current_password": _("The current password is incorrect.")}
        return _password_page(request, principal, target, errors=errors, status_code=403)
    except TooManyRequests as exc:
        throttled = _password_page(
            request,
            principal,
            target,
            error=_("Too many wrong passwords. Wait a few minutes and try again."),
            status_code=429,
        )
        throttled.headers["Retry-After"] = str(exc.retry_after)
        return throttled
    except Invalid as exc:  # too weak, or the same as the current one
        errors = {"new_password": exc.detail}
        return _password_page(request, principal, target, errors=errors, status_code=exc.status)
    return RedirectResponse(target, status_code=303)
