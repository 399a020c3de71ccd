"""A lean request handler for the routes that read: FastAPI's own answer, at less cost.

FastAPI's handler serves any route: it reads bodies and forms, solves dependencies with
scopes, overrides and exit stacks, streams, validates the endpoint's answer again before
serializing it. A reading route (a GET whose dependencies are plain ``async def``
functions of the request, path and query parameters) needs little of that; its handler
costs more than the route's own work (``/me``: two thirds of the request).

``lean_handler(route)`` compiles such a route's dependency tree once into a plan and answers
as FastAPI would: the same dependencies called in the same order, each once per request
(FastAPI's cache), parameters read and validated by FastAPI's own function, the answer
serialized by the route's response field. A route the plan cannot serve exactly gets
``None`` and keeps FastAPI's handler; so does any request with invalid parameters (FastAPI
then answers its 422) and any app with dependency overrides. ``tests/kit/test_fastroute.py``
compares both handlers' answers.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from fastapi import Request, Response
from fastapi.datastructures import DefaultPlaceholder
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import request_params_to_args
from fastapi.routing import APIRoute

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class _Invalid(Exception):
    """A parameter did not validate: FastAPI's handler answers (its 422)."""


@dataclass(frozen=True)
class _Step:
    call: Callable[..., Coroutine[Any, Any, Any]]
    request_name: str | None
    path_params: list[Any]
    query_params: list[Any]
    dependencies: list[tuple[str, _Step]]

    async def run(self, request: Request, solved: dict[Any, Any]) -> Any:
        values: dict[str, Any] = {}
        for name, step in self.dependencies:
            if step.call in solved:
                values[name] = solved[step.call]
            else:
                value = await step.run(request, solved)
                solved[step.call] = value
                values[name] = value
        if self.path_params:
            found, errors = request_params_to_args(self.path_params, request.path_params)
            if errors:
                raise _Invalid
            values.update(found)
        if self.query_params:
            found, errors = request_params_to_args(self.query_params, request.query_params)
            if errors:
                raise _Invalid
            values.update(found)
        if self.request_name is not None:
            values[self.request_name] = request
        return await self.call(**values)


def _plan(dependant: Dependant) -> _Step | None:
    call = dependant.call
    if (
        call is None
        or not inspect.iscoroutinefunction(call)  # not a generator: nothing to close
        or not dependant.use_cache
        or dependant.header_params
        or dependant.cookie_params
        or dependant.body_params
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
    )


def lean_handler(route: APIRoute, fallback: Handler) -> Handler | None:
    """The lean handler of a reading route, or ``None`` when only FastAPI's will do."""
    field = route.response_field
    if (
        route.methods != {"GET"}
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
    step = _plan(route.dependant)
    if step is None:
        return None
    status_code = route.status_code or 200
    model = route.response_model
    overrides = route.dependency_overrides_provider

    async def handler(request: Request) -> Response:
        if overrides is not None and getattr(overrides, "dependency_overrides", None):
            return await fallback(request)
        try:
            answer = await step.run(request, {})
        except _Invalid:
            return await fallback(request)
        if isinstance(answer, Response):
            return answer
        if type(answer) is not model:
            # Not the model itself (a dict, a subclass): validated as FastAPI would.
            value, errors = field.validate(answer, {}, loc=("response",))
            if errors:
                return await fallback(request)
            answer = value
        # The endpoint's model, built and validated by the endpoint: serialized as is.
        return Response(
            content=field.serialize_json(answer, by_alias=True),
            status_code=status_code,
            media_type="application/json",
        )

    return handler
