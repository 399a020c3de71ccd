"""Portal rendering: Jinja2 with gettext, the navigation, CSRF for every form."""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import jinja2
from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape

from twotier.config import Settings
from twotier.directory.auth import (
    CSRF_COOKIE,
    CSRF_PURPOSE,
    PasswordChangeRequired,
    csrf_ok,
    optional_principal,
)
from twotier.directory.principal import Permission, Principal
from twotier.kit.countries import country_names
from twotier.kit.deps import get_settings
from twotier.kit.errors import AppError, Forbidden, NotFound
from twotier.kit.i18n import _, translations
from twotier.kit.security import sign

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"),
    autoescape=jinja2.select_autoescape(["html"]),
    extensions=["jinja2.ext.i18n"],
)
_env.install_gettext_translations(translations(), newstyle=True)  # type: ignore[attr-defined]
templates = Jinja2Templates(env=_env)

_URL = re.compile(r"https?://[^\s<>\"']+")


def linkify(text: str) -> Markup:
    """Escape ``text`` and make its http(s) links clickable."""
    out: list[str] = []
    last = 0
    for match in _URL.finditer(text):
        out.append(str(escape(text[last : match.start()])))
        url = escape(match.group(0))
        out.append(f'<a href="{url}">{url}</a>')
        last = match.end()
    out.append(str(escape(text[last:])))
    return Markup("".join(out))  # noqa: S704 — every piece was escaped above


def country_label(code: str | None) -> str:
    return country_names().get(code or "", code or "")


def when(value: datetime | None) -> str:
    """A stored UTC time for people: ``2026-11-24 09:30 UTC``."""
    return value.strftime("%Y-%m-%d %H:%M UTC") if value is not None else ""


templates.env.filters["linkify"] = linkify
templates.env.filters["country"] = country_label
templates.env.filters["when"] = when


Key = TypeVar("Key", bound=str)


def label_filter(name: str, labels: Mapping[Key, str]) -> None:
    """A template filter ``|name`` showing a value's label in the reader's language.

    Domains register their own labels (``program``, ``enrollment_status``) so that this
    toolkit knows no domain.
    """

    table = {str(key): text for key, text in labels.items()}

    def label(value: str) -> str:
        return _(table.get(value, value))

    templates.env.filters[name] = label


@dataclass(frozen=True)
class NavItem:
    label: str
    href: str
    section: str


def navigation(request: Request, principal: Principal | None) -> list[NavItem]:
    """The partner-center navigation, shown by what the signed-in user may use."""
    if principal is None:
        return []
    _ = translations().gettext
    items = [NavItem(_("Dashboard"), "/dashboard", "dashboard")]
    if principal.can(Permission.view_tenant_users):
        items.append(NavItem(_("User management"), "/account/users", "account"))
    if principal.is_partner:
        items.append(NavItem(_("Partner profile"), "/partner/profile", "partner"))
    if principal.in_program("indirect_provider"):
        items.append(NavItem(_("Indirect resellers"), "/indirect-resellers", "indirect"))
    if principal.in_program("indirect_reseller"):
        items.append(NavItem(_("Indirect providers"), "/indirect-providers", "indirect"))
    if principal.is_partner and principal.can(Permission.view_customers):
        items.append(NavItem(_("Customers"), "/customers", "customers"))
    if principal.can(Permission.enroll_partner):
        items.append(NavItem(_("Enrollment"), "/enroll", "enroll"))
    if principal.can(Permission.manage_partner_access) and not principal.is_operator:
        items.append(NavItem(_("Partners"), "/partners", "partners"))
    if not (principal.is_partner or principal.is_operator) and principal.can(
        Permission.view_subscriptions
    ):
        items.append(NavItem(_("Subscriptions"), "/subscriptions", "subscriptions"))
    items.append(NavItem(_("Find a provider"), "/providers", "providers"))
    if principal.can(Permission.view_activity_log):
        items.append(NavItem(_("Activity log"), "/activity", "activity"))
    if principal.can(Permission.manage_webhooks):
        items.append(NavItem(_("Webhooks"), "/webhooks", "webhooks"))
    if principal.is_operator:
        items.append(NavItem(_("Enrollment reviews"), "/operator/enrollments", "op-enrollments"))
        items.append(NavItem(_("Membership registry"), "/operator/memberships", "op-memberships"))
        items.append(NavItem(_("Tenants"), "/operator/tenants", "operator"))
        items.append(NavItem(_("Catalog"), "/operator/catalog", "op-catalog"))
    return items


def csrf_token(request: Request) -> str:
    settings: Settings = request.app.state.settings
    cookie = getattr(request.state, "new_csrf_cookie", None) or request.cookies.get(CSRF_COOKIE)
    if not cookie:
        cookie = secrets.token_urlsafe(32)
        request.state.new_csrf_cookie = cookie
    return sign(settings.secret_key, cookie, CSRF_PURPOSE)


def set_csrf_cookie(request: Request, response: Response, value: str | None = None) -> None:
    settings: Settings = request.app.state.settings
    value = value or getattr(request.state, "new_csrf_cookie", None)
    if value:
        response.set_cookie(
            CSRF_COOKIE,
            value,
            httponly=True,
            samesite="lax",
            secure=settings.is_production,
            path="/",
        )


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    principal: Principal | None = None,
    status_code: int = 200,
    section: str | None = None,
) -> HTMLResponse:
    settings: Settings = request.app.state.settings
    ctx: dict[str, Any] = {
        "principal": principal,
        "nav": navigation(request, principal),
        "section": section,
        "csrf_token": csrf_token(request),
        "mailbox_enabled": settings.mailbox_enabled,
    }
    ctx.update(context or {})
    response = templates.TemplateResponse(request, template, ctx, status_code=status_code)
    set_csrf_cookie(request, response)
    return response


async def check_csrf(request: Request, settings: Settings = Depends(get_settings)) -> None:
    """Every portal form posts ``csrf_token``, signed over the browser's CSRF cookie."""
    form = await request.form()
    presented = form.get("csrf_token")
    if not csrf_ok(request, settings, presented if isinstance(presented, str) else None):
        raise Forbidden(
            "This form has expired or did not come from twotier. Reload the page and try again.",
            code="csrf_failed",
        )


# Every page leads here while a password change is due (a reset's temporary password).
PASSWORD_PAGE = "/account/password"  # noqa: S105 — a page's path, not a secret


class SignInRequired(AppError):
    status = 401
    code = "not_authenticated"
    title = "Sign in first"


async def signed_in(principal: Principal | None = Depends(optional_principal)) -> Principal:
    if principal is None:
        raise SignInRequired()
    return principal


def flashes(notice: str | None, notices: Mapping[str, str]) -> list[str]:
    """The translated message a redirect named with ``?notice=``, if ``notices`` has it."""
    return [_(notices[notice])] if notice is not None and notice in notices else []


def translated(labels: Mapping[Key, str]) -> dict[Key, str]:
    """Labels (by value) in the reader's language, for a template."""
    return {key: _(label) for key, label in labels.items()}


def require_operator_page(principal: Principal) -> None:
    """Operator pages do not exist for anyone else (404, as any page out of reach)."""
    if not principal.is_operator:
        raise NotFound()


def safe_next(target: str | None, default: str = "/dashboard") -> str:
    """Only same-site paths: never an open redirect."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return default


def error_page(request: Request, exc: AppError) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if exc.status == 401:
        return RedirectResponse(f"/signin?next={quote(target, safe='')}", status_code=303)
    if isinstance(exc, PasswordChangeRequired):
        back = quote(target if request.method == "GET" else "/dashboard", safe="")
        return RedirectResponse(f"{PASSWORD_PAGE}?next={back}", status_code=303)
    return render(
        request,
        "error.html",
        {"status": exc.status, "title": exc.title, "detail": exc.detail, "code": exc.code},
        status_code=exc.status,
    )
