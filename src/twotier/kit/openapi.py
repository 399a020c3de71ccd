"""What the OpenAPI document says about errors (every one RFC 9457 problem+json) and auth.

Operations declare the error statuses their rules can return with ``problems(...)``; the
ones that follow from an operation's shape are added by ``TransactionalRoute``: what its
dependencies declare with ``@answers(...)`` (401 and the bearer scheme where a caller is
resolved, 403 where a role or a session's CSRF token is checked), 404 for an id in the path,
400 and 413 for a body, 422 for any request (validation, or control characters refused by
``kit.inputguard``). ``install`` adds the ``Problem`` schemas and the bearer scheme to the
document's components.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field

PROBLEM_MEDIA_TYPE = "application/problem+json"
BEARER = "bearer"
SECURITY_SCHEMES = {
    BEARER: {
        "type": "http",
        "scheme": "bearer",
        "description": "An access token from POST /api/v1/auth/token. The portal's session "
        "cookie works too (unsafe methods then need the X-CSRF-Token header).",
    }
}
SCHEMAS = "#/components/schemas/"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

F = TypeVar("F", bound=Callable[..., Any])
Responses = dict[int | str, dict[str, Any]]


class FieldError(BaseModel):
    loc: list[str] = Field(description="Where: body, query, path or header, then the field.")
    msg: str
    type: str


class Problem(BaseModel):
    """An RFC 9457 problem: ``code`` is stable; ``title`` and ``detail`` are for people."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(description="A URI for the kind of problem; it ends in `code`.")
    title: str
    status: int = Field(ge=400, le=599)
    detail: str
    code: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="Stable snake_case identifier.")


class ValidationProblem(Problem):
    """A 422: ``errors`` lists each field that failed validation (``code: validation_error``)."""

    errors: list[FieldError] | None = Field(
        None, description="Present when the path, query, headers or body failed validation."
    )


DESCRIPTIONS = {
    400: "The body could not be read (it is not UTF-8 text)",
    401: "Not signed in, or the token is invalid, expired or revoked",
    403: "Signed in, but the roles (or a missing CSRF token) do not allow this",
    404: "No such object within the caller's reach",
    409: "Conflicts with the current state",
    410: "Gone: the link expired, was used or was revoked",
    412: "If-Match does not match the current ETag",
    413: "The request body is too large",
    422: "The request is not valid",
    428: "A required precondition header is missing",
    429: "Too many attempts; retry after Retry-After seconds",
}
HEADERS: dict[int, dict[str, Any]] = {
    401: {"WWW-Authenticate": {"schema": {"type": "string"}, "description": "`Bearer`"}},
    429: {
        "Retry-After": {
            "schema": {"type": "integer", "minimum": 1},
            "description": "Seconds to wait before trying again.",
        }
    },
}


def problem_response(status: int) -> dict[str, Any]:
    schema = ValidationProblem if status == 422 else Problem
    response: dict[str, Any] = {
        "description": DESCRIPTIONS[status],
        "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": SCHEMAS + schema.__name__}}},
    }
    if status in HEADERS:
        response["headers"] = HEADERS[status]
    return response


def problems(*statuses: int) -> Responses:
    """``responses=`` for an operation or a router: each status as problem+json."""
    return {status: problem_response(status) for status in statuses}


def idempotency_key(*, required: bool = False) -> dict[str, Any]:
    """``openapi_extra=`` for a POST that creates once per ``Idempotency-Key`` (read by
    ``kit.idempotency``; a required one missing is 428, not 422)."""
    return {
        "parameters": [
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": required,
                "description": "A retry with the same key and body gets the first answer; the "
                "same key with another body is 422 `idempotency_key_reused`.",
                "schema": {"type": "string", "minLength": 1, "maxLength": 255},
            }
        ]
    }


def answers(
    *statuses: int, writes: Iterable[int] = (), authenticates: bool = False
) -> Callable[[F], F]:
    """Mark a dependency with the error statuses it raises (``writes``: only for unsafe
    methods), so every operation that depends on it documents them; ``authenticates``: the
    operation needs the bearer token (or a portal session)."""

    def mark(dependency: F) -> F:
        dependency.__problems__ = (tuple(statuses), tuple(writes))  # type: ignore[attr-defined]
        dependency.__authenticates__ = authenticates  # type: ignore[attr-defined]
        return dependency

    return mark


def _calls(dependant: Dependant) -> Iterator[Any]:
    for sub in dependant.dependencies:
        yield sub.call
        yield from _calls(sub)


def inferred_statuses(route: APIRoute) -> set[int]:
    """The error statuses an operation can return because of its shape."""
    statuses: set[int] = set()
    unsafe = bool((route.methods or set()) & UNSAFE_METHODS)
    for call in _calls(route.dependant):
        always, writes = getattr(call, "__problems__", ((), ()))
        statuses.update(always)
        if unsafe:
            statuses.update(writes)
    if route.param_convertors:
        statuses.add(404)
    if route.body_field is not None:
        statuses.update((400, 413))  # a body that is not text; one over the size cap
    # Any request: control characters in the path or query (kit.inputguard), or what
    # FastAPI's validation refuses.
    statuses.add(422)
    return statuses


def document_problems(route: APIRoute) -> None:
    """Add the statuses ``route`` can return by its shape to what it declares, and the
    bearer token to the operations that need one."""
    for status in sorted(inferred_statuses(route)):
        route.responses.setdefault(status, problem_response(status))
    if any(getattr(call, "__authenticates__", False) for call in _calls(route.dependant)):
        route.openapi_extra = {"security": [{BEARER: []}]} | (route.openapi_extra or {})


def install(app: FastAPI) -> None:
    """Serve the document with the problem schemas its responses refer to."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = generate()
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        for model in (Problem, ValidationProblem):
            schema = model.model_json_schema(ref_template=SCHEMAS + "{model}")
            schemas.update(schema.pop("$defs", {}))
            schemas[model.__name__] = schema
        document["components"]["schemas"] = dict(sorted(schemas.items()))
        document["components"]["securitySchemes"] = SECURITY_SCHEMES
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]
