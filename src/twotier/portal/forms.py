"""Turning form posts into schema input and validation errors into per-field messages."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData

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


def field_errors(exc: ValidationError) -> dict[str, str]:
    errors: dict[str, str] = {}
    for err in exc.errors():
        name = ".".join(str(p) for p in err["loc"] if not isinstance(p, int))
        message = err["msg"].removeprefix("Value error, ")
        errors.setdefault(name, message[:1].upper() + message[1:])
    return errors


def parse(model: type[M], flat: dict[str, Any]) -> tuple[M | None, dict[str, str]]:
    try:
        return model.model_validate(nest(flat)), {}
    except ValidationError as exc:
        return None, field_errors(exc)
