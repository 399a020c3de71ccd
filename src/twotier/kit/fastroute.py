"""A lean request handler for reads and JSON writes: FastAPI's own answer, at less cost.

FastAPI's handler serves any route: it reads bodies and forms, solves dependencies with
scopes, overrides and exit stacks, streams, validates the endpoint's answer again before
serializing it. A reading route (a GET whose dependencies are plain ``async def``
functions of the request, path and query parameters) needs little of that; its handler
costs more than the route's own work (``/me``: two thirds of the request). Nor does a
write whose body is one JSON document (an order).

``lean_handler(route)`` compiles such a route's dependency tree once into a plan and answers
as FastAPI would: the body read as FastAPI reads it (JSON only, before anything else), the
same dependencies called in the same order, each once per request (FastAPI's cache),
parameters and body read and validated by FastAPI's own functions, the answer serialized by
the route's response field. A route the plan cannot serve exactly gets ``None`` and keeps
FastAPI's handler; so does any request with an invalid parameter or body, or a body that is
not plainly JSON (FastAPI then answers: its 422, before the endpoint runs), and any app with
dependency overrides. A write whose answer fails validation raises FastAPI's own error
rather than running again. ``tests/kit/test_fastroute.py`` compares both handlers' answers.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from fastapi import Request, Response, params
from fastapi.datastructures import DefaultPlaceholder
from fastapi.dependencies import utils as dependency_utils
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import request_body_to_args, request_params_to_args
from fastapi.exceptions import ResponseValidationError
from fastapi.routing import APIRoute
from pydantic_core import PydanticUndefined as Undefined
from starlette.datastructures import Headers, ImmutableMultiDict

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class _Invalid(Exception):
    """A parameter did not validate: FastAPI's handler answers (its 422)."""


# FastAPI's own pieces of ``request_params_to_args``, to read each parameter as it does with
# what does not change between requests (aliases, whether it is a list) worked out once.
_utils: Any = dependency_utils
_PIECES = all(
    hasattr(_utils, name)
    for name in (
        "_get_param_model",
        "_get_param_aliases",
        "_is_json_field",
        "_validate_value_with_model_field",
        "field_annotation_is_sequence",
    )
)


@dataclass(frozen=True)
class _Param:
    field: Any
    name: str
    keys: tuple[str, ...]  # the request's names for it, in FastAPI's order of preference
    where: str  # "path", "query"
    many: bool  # read as a list (``getlist``)
    sequence: bool  # an empty list is a missing value


def _param_plan(fields: list[Any]) -> list[_Param] | None:
    """How to read these parameters, or None to leave it to ``request_params_to_args``."""
    if not _PIECES:
        return None
    plan = []
    for field in fields:
        if _utils._get_param_model(field) is not None:
            return None
        sequence = bool(_utils.field_annotation_is_sequence(field.field_info.annotation))
        plan.append(
            _Param(
                field=field,
                name=field.name,
                keys=tuple(key for _alias, key in _utils._get_param_aliases(field)),
                where=field.field_info.in_.value,
                many=sequence and not _utils._is_json_field(field),
                sequence=sequence,
            )
        )
    return plan


def _read_params(plan: list[_Param], received: Any, values: dict[str, Any]) -> None:
    """What ``request_params_to_args`` finds, into ``values``; ``_Invalid`` on an error."""
    lists = isinstance(received, ImmutableMultiDict | Headers)
    for param in plan:
        key = next((k for k in param.keys if k in received), param.keys[0])
        value = received.getlist(key) if param.many and lists else received.get(key, None)
        if value is None or (param.sequence and len(value) == 0):
            value = Undefined
        found, errors = _utils._validate_value_with_model_field(
            field=param.field, value=value, values=values, loc=(param.where, key)
        )
        if errors:
            raise _Invalid
        values[param.name] = found


def _params(
    fields: list[Any], plan: list[_Param] | None, received: Any, values: dict[str, Any]
) -> None:
    """The parameters, by their plan or by FastAPI's ``request_params_to_args``."""
    if plan is not None:
        _read_params(plan, received, values)
        return
    found, errors = request_params_to_args(fields, received)
    if errors:
        raise _Invalid
    values.update(found)


@dataclass(frozen=True)
class _Step:
    call: Callable[..., Coroutine[Any, Any, Any]]
    request_name: str | None
    path_params: list[Any]
    query_params: list[Any]
    dependencies: list[tuple[str, _Step]]
    path_plan: list[_Param] | None = None
    query_plan: list[_Param] | None = None
    body: Any = None  # the route's one JSON body field (only a route's own step has one)

    async def run(self, request: Request, solved: dict[Any, Any], document: Any = None) -> Any:
        values: dict[str, Any] = {}
        for name, step in self.dependencies:
            if step.call in solved:
                values[name] = solved[step.call]
            else:
                value = await step.run(request, solved)
                solved[step.call] = value
                values[name] = value
        if self.path_params:
            _params(self.path_params, self.path_plan, request.path_params, values)
        if self.query_params:
            _params(self.query_params, self.query_plan, request.query_params, values)
        if self.body is not None:
            found, errors = await request_body_to_args(
                [self.body], document, embed_body_fields=False
            )
            if errors:
                raise _Invalid
            values.update(found)
        if self.request_name is not None:
            values[self.request_name] = request
        return await self.call(**values)


def _plan(dependant: Dependant, body: Any = None) -> _Step | None:
    """``body``: the route's body field, for the route's own dependant (one JSON body)."""
    call = dependant.call
    if (
        call is None
        or not inspect.iscoroutinefunction(call)  # not a generator: nothing to close
        or not dependant.use_cache
        or dependant.header_params
        or dependant.cookie_params
        or (dependant.body_params and (body is None or len(dependant.body_params) != 1))
        or dependant.websocket_param_name
        or dependant.http_connection_param_name
        or dependant.response_param_name
        or dependant.background_tasks_param_name
        or dependant.security_scopes_param_name
        or dependant.own_oauth_scopes
    ):
        return None
    dependencies = []
    for sub in dependant.dependencies:
        step = _plan(sub)
        if step is None or sub.name is None:
            return None
        dependencies.append((sub.name, step))
    return _Step(
        call=call,
        request_name=dependant.request_param_name,
        path_params=list(dependant.path_params),
        query_params=list(dependant.query_params),
        dependencies=dependencies,
        path_plan=_param_plan(list(dependant.path_params)),
        query_plan=_param_plan(list(dependant.query_params)),
        body=body if dependant.body_params else None,
    )


def _json_body_field(route: APIRoute) -> Any:
    """The route's body field when it is one JSON document (not a form, not embedded)."""
    field = route.body_field
    if (
        field is None
        or len(route.dependant.body_params) != 1
        or getattr(route, "_embed_body_fields", True)
        or isinstance(field.field_info, params.Form)
    ):
        return None
    return route.dependant.body_params[0]


def _json_media(content_type: str | None) -> bool:
    if not content_type:
        return False  # FastAPI's strict content type: not read as JSON
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


def lean_handler(route: APIRoute, fallback: Handler) -> Handler | None:
    """The lean handler of a route, or ``None`` when only FastAPI's will do: a read, or a
    write whose body is one JSON document."""
    field = route.response_field
    methods = route.methods or set()
    if (
        len(methods) != 1
        or field is None
        or not isinstance(route.response_class, DefaultPlaceholder)
        or route.response_model_include is not None
        or route.response_model_exclude is not None
        or not route.response_model_by_alias
        or route.response_model_exclude_unset
        or route.response_model_exclude_defaults
        or route.response_model_exclude_none
    ):
        return None
    body = None
    if route.dependant.body_params:
        body = _json_body_field(route)
        if body is None or methods == {"GET"}:
            return None
    elif methods != {"GET"}:
        return None  # a write without a body: FastAPI's handler
    step = _plan(route.dependant, body)
    if step is None:
        return None
    status_code = route.status_code or 200
    model = route.response_model
    overrides = route.dependency_overrides_provider

    reads = methods == {"GET"}

    async def handler(request: Request) -> Response:
        if overrides is not None and getattr(overrides, "dependency_overrides", None):
            return await fallback(request)
        document = None
        if body is not None:
            # As FastAPI reads it before solving anything; what is not plainly a JSON
            # document (no body, another type, bad JSON) FastAPI's handler answers.
            raw = await request.body()
            if not raw or not _json_media(request.headers.get("content-type")):
                return await fallback(request)
            try:
                document = json.loads(raw)
            except (ValueError, RecursionError):
                return await fallback(request)
        try:
            answer = await step.run(request, {}, document)
        except _Invalid:  # raised before the endpoint runs: nothing was done
            return await fallback(request)
        if isinstance(answer, Response):
            return answer
        if type(answer) is not model:
            # Not the model itself (a dict, a subclass): validated as FastAPI would.
            value, errors = field.validate(answer, {}, loc=("response",))
            if errors and reads:
                return await fallback(request)
            if errors:  # a write has run: FastAPI's own error, not a second run
                raise ResponseValidationError(errors=errors, body=answer)
            answer = value
        # The endpoint's model, built and validated by the endpoint: serialized as is.
        return Response(
            content=field.serialize_json(answer, by_alias=True),
            status_code=status_code,
            media_type="application/json",
        )

    return handler
