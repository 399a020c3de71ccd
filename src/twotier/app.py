"""The application: API routers, portal pages, static files, the in-process outbox worker."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Scope

import twotier
from twotier import health
from twotier import jobs as _jobs  # noqa: F401 — registers outbox handlers and periodic jobs
from twotier.audit import routes as audit_routes
from twotier.audit import service as audit_service
from twotier.audit import views as audit_views
from twotier.channel import routes as channel_routes
from twotier.channel import views as channel_views
from twotier.commerce import routes as commerce_routes
from twotier.commerce import views as commerce_views
from twotier.config import Settings, get_settings
from twotier.customers import grant_routes
from twotier.customers import routes as customer_routes
from twotier.customers import views as customer_views
from twotier.directory import routes as directory_routes
from twotier.directory import views as directory_views
from twotier.enrollment import routes as enrollment_routes
from twotier.enrollment import views as enrollment_views
from twotier.kit import openapi, routeindex
from twotier.kit.db import Database
from twotier.kit.edge import EdgeMiddleware
from twotier.kit.errors import (
    AppError,
    NotFound,
    app_error_problem,
    http_error_problem,
    install_error_handlers,
    internal_error_problem,
)
from twotier.kit.headers import DOCS_CDN, DOCS_PATH, security_headers
from twotier.kit.outbox import Worker
from twotier.mail import routes as mail_routes
from twotier.mail import views as mail_views
from twotier.membership import routes as membership_routes
from twotier.membership import views as membership_views
from twotier.operator import routes as operator_routes
from twotier.operator import views as operator_views
from twotier.partners import routes as partner_routes
from twotier.partners import views as partner_views
from twotier.portal import customer_record, invitation
from twotier.portal import views as portal_views
from twotier.web.render import STATIC_DIR, error_page
from twotier.webhooks import routes as webhook_routes
from twotier.webhooks import views as webhook_views

log = logging.getLogger(__name__)

# The collector's thresholds once the app has started (young, middle, old generations).
GC_THRESHOLDS = (20_000, 20, 20)

DESCRIPTION = """\
twotier runs a two-tier cloud channel: partner enrollment and review, provider ↔ reseller
invitations and links, customer relationships with time-bound delegated admin access,
orders on behalf of customers, subscriptions, licenses, audit and events.

Errors are RFC 9457 `application/problem+json` with a stable `code`. Lists are
keyset-paginated: `?limit=` (default 50, max 200) and `?cursor=`, answered with
`{"items": [...], "next_cursor": ...}`.
"""


def _is_portal(request: Request) -> bool:
    path = request.url.path
    return not (path.startswith("/api/") or path in {"/healthz", "/readyz"})


DOCS_PAGE = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>twotier API</title>
<link rel="stylesheet" href="{DOCS_CDN}/npm/swagger-ui-dist@5/swagger-ui.css">
<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
<script src="{DOCS_CDN}/npm/swagger-ui-dist@5/swagger-ui-bundle.js" defer></script>
<script src="/static/api-docs.js" defer></script>
</head>
<body><div id="swagger-ui"></div></body>
</html>
"""


async def api_docs() -> HTMLResponse:
    """Swagger UI, started by a static script (the CSP forbids inline script)."""
    return HTMLResponse(DOCS_PAGE)


def create_app(settings: Settings | None = None, *, db: Database | None = None) -> FastAPI:
    settings = settings or get_settings()
    settings.apply_password_hashing()
    audit_service.use_key(settings.audit_hash_key)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        database = db or Database(
            settings.database_url,
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
        )
        app.state.db = database
        worker_task: asyncio.Task[None] | None = None
        if settings.outbox_in_process:
            worker = Worker(database, settings, name="in-process")
            app.state.outbox_wakeup = worker.wakeup.set
            worker_task = asyncio.create_task(worker.run_forever())
        # What start-up made (modules, routes, compiled templates) lives as long as the
        # process: out of the collector's sight, a full collection no longer walks it
        # (pauses of tens of milliseconds, the p99 of every request that waits behind one).
        gc.collect()
        gc.freeze()
        # A request makes thousands of short-lived objects: collecting the young generation
        # every 700 allocations (the default) ran it several times per order; every
        # 20,000 costs as much per collection and a tenth as often (orders/s at 32
        # connections up ≈ 15 %, BENCHMARKS.md).
        gc.set_threshold(*GC_THRESHOLDS)
        try:
            yield
        finally:
            if worker_task is not None:
                worker.stop()
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.wait_for(worker_task, timeout=10)
            if db is None:
                await database.dispose()

    app = FastAPI(
        title="twotier",
        version=twotier.__version__,
        summary="A self-hostable partner center for two-tier cloud distribution",
        description=DESCRIPTION,
        openapi_url="/api/v1/openapi.json",
        docs_url=None,  # served below without inline script
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.outbox_wakeup = None
    if db is not None:
        app.state.db = db

    install_error_handlers(app)
    openapi.install(app)

    async def app_error(request: Request, exc: Exception) -> Response:
        if _is_portal(request) and isinstance(exc, AppError):
            return error_page(request, exc)
        return await app_error_problem(request, exc)

    async def http_error(request: Request, exc: Exception) -> Response:
        if _is_portal(request) and isinstance(exc, StarletteHTTPException):
            if exc.status_code == 404:
                return error_page(request, NotFound("There is no page at this address."))
            return error_page(request, AppError(str(exc.detail), code="error"))
        return await http_error_problem(request, exc)

    async def unexpected_error(request: Request, exc: Exception) -> Response:
        # Logged by Starlette with its traceback; the caller learns only the request id.
        request_id = getattr(request.state, "request_id", None)
        response = internal_error_problem(request_id)
        # Answered outside the middleware stack, so the headers are added here.
        response.headers.update(
            security_headers(request.url.path, production=settings.is_production)
        )
        return response

    async def refused_input(scope: Scope, exc: AppError) -> Response:
        return await app_error(Request(scope), exc)

    app.add_exception_handler(AppError, app_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected_error)
    app.add_middleware(
        EdgeMiddleware,
        production=settings.is_production,
        max_body_bytes=settings.max_body_bytes,
        render_error=refused_input,
    )

    # FastAPI tries routes in the order they were added, one by one: the routers partners
    # call most (their customers, subscriptions and themselves) first, the API before the
    # portal (whose paths never start with /api/).
    app.include_router(directory_routes.router)
    app.include_router(customer_routes.router)
    app.include_router(commerce_routes.router)
    app.include_router(customer_routes.channel_router)
    app.include_router(grant_routes.router)
    app.include_router(channel_routes.router)
    app.include_router(health.router)
    app.include_router(operator_routes.router)
    app.include_router(membership_routes.router)
    app.include_router(enrollment_routes.router)
    app.include_router(enrollment_routes.operator_router)
    app.include_router(partner_routes.router)
    app.include_router(audit_routes.router)
    app.include_router(webhook_routes.router)
    if settings.mailbox_enabled:
        app.include_router(mail_routes.router)
        app.include_router(mail_views.router)
    app.include_router(portal_views.router)
    app.include_router(directory_views.router)
    app.include_router(operator_views.router)
    app.include_router(channel_views.router)
    app.include_router(invitation.router)
    app.include_router(customer_views.router)
    app.include_router(commerce_views.router)
    # After the pages above: its /customers/{customer_id} must not shadow /customers/request.
    app.include_router(customer_record.router)
    app.include_router(enrollment_views.router)
    app.include_router(membership_views.router)
    app.include_router(partner_views.router)
    app.include_router(audit_views.router)
    app.include_router(webhook_views.router)
    app.add_api_route(DOCS_PATH, api_docs, include_in_schema=False, methods=["GET"])
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    routeindex.install(app.router)
    return app
