"""Turning form posts into schema input and validation errors into per-field messages."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData

from twotier.kit.i18n import _

M = TypeVar("M", bound=BaseModel)


def form_values(form: FormData, *, lists: tuple[str, ...] = ()) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key in form:
        if key == "csrf_token":
            continue
        values[key] = form.getlist(key) if key in lists else str(form.get(key) or "")
    for key in lists:
        values.setdefault(key, [])
    return values


def nest(flat: dict[str, Any]) -> dict[str, Any]:
    """{"admin.email": x} → {"admin": {"email": x}}."""
    out: dict[str, Any] = {}
    for key, value in flat.items():
        target = out
        *parents, leaf = key.split(".")
        for part in parents:
            target = target.setdefault(part, {})
        target[leaf] = value
    return out


def _friendly(err: Any) -> str:
    """Words for people, not the validation library's."""
    kind = err["type"]
    ctx = err.get("ctx") or {}
    given = err.get("input")
    if kind == "missing" or (kind == "string_too_short" and ctx.get("min_length") == 1):
        return _("This field is required.")
    if given in ("", None) and kind == "value_error":
        return _("This field is required.")
    if kind == "string_too_short":
        return _("Enter at least %(n)s characters.") % {"n": ctx.get("min_length")}
    if kind == "string_too_long":
        return _("Enter at most %(n)s characters.") % {"n": ctx.get("max_length")}
    if kind == "enum":
        return _("Choose one of the listed options.")
    message = str(err["msg"]).removeprefix("Value error, ")
    if "email address" in message:
        return _("Enter a valid email address, such as name@contoso.example.")
    if "country code" in message:
        return _("Choose a country or region.")
    if "domain name" in message:
        return _("Enter a domain such as contoso.example.")
    return message[:1].upper() + message[1:]


def field_errors(exc: ValidationError) -> dict[str, str]:
    errors: dict[str, str] = {}
    for err in exc.errors():
        name = ".".join(str(p) for p in err["loc"] if not isinstance(p, int))
        errors.setdefault(name, _friendly(err))
    return errors


def parse(model: type[M], flat: dict[str, Any]) -> tuple[M | None, dict[str, str]]:
    try:
        return model.model_validate(nest(flat)), {}
    except ValidationError as exc:
        return None, field_errors(exc)
