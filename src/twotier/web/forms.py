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


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """The inverse of ``nest``, for filling a form: {"address": {"city": x}} →
    {"<prefix>.address.city": x}; None becomes "" (an empty field)."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            out |= flatten(value, name)
        else:
            out[name] = "" if value is None else value
    return out


def drop_blank(values: dict[str, Any], optional: tuple[str, ...]) -> dict[str, Any]:
    """Leave out optional fields left empty, so they take their default (None)."""
    return {
        key: value
        for key, value in values.items()
        if not (key in optional and isinstance(value, str) and not value.strip())
    }


# Fields whose format is a pattern: what to tell people instead of the regular expression.
PATTERN_HINTS = {
    "phone": "Enter a phone number such as +886 2 1234 5678.",
    "partner_id": "A partner ID has 7 digits.",
}


def _friendly(err: Any) -> str:
    """Words for people, not the validation library's."""
    kind = err["type"]
    ctx = err.get("ctx") or {}
    given = err.get("input")
    if kind == "missing" or (kind == "string_too_short" and ctx.get("min_length") == 1):
        return _("This field is required.")
    if given in ("", None) and kind == "value_error":
        return _("This field is required.")
    if isinstance(given, str) and not given.strip() and kind != "enum":
        return _("This field is required.")
    if kind == "string_pattern_mismatch":
        leaf = str(err["loc"][-1]) if err.get("loc") else ""
        return _(PATTERN_HINTS.get(leaf, "Check the format of this value."))
    if kind.startswith("url_"):
        return _("Enter a web address such as https://contoso.example/support.")
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


def field_errors(exc: ValidationError, *, indexed: bool = False) -> dict[str, str]:
    """Messages by dotted field name; ``indexed`` keeps list positions (``orgs.0.name``)."""
    errors: dict[str, str] = {}
    for err in exc.errors():
        name = ".".join(str(p) for p in err["loc"] if indexed or not isinstance(p, int))
        errors.setdefault(name, _friendly(err))
    return errors


def parse(model: type[M], flat: dict[str, Any]) -> tuple[M | None, dict[str, str]]:
    try:
        return model.model_validate(nest(flat)), {}
    except ValidationError as exc:
        return None, field_errors(exc)
