from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from twotier.config import Settings
from twotier.directory import passwords, queries, service
from twotier.directory.access import access_tenant_user
from twotier.directory.auth import CurrentPrincipal, PrincipalChangingPassword, require
from twotier.directory.models import TokenKind
from twotier.directory.principal import Permission, Principal
from twotier.directory.schemas import (
    MeOut,
    PasswordChange,
    PasswordResetOut,
    TenantCreate,
    TenantOut,
    TokenOut,
    TokenRequest,
    UserCreate,
    UserOut,
    UserUpdate,
)
from twotier.kit.deps import TransactionalRoute, client_address, get_session, get_settings
from twotier.kit.fastjson import json_response
from twotier.kit.idempotency import create_once
from twotier.kit.openapi import idempotency_key, problems
from twotier.kit.pagination import Page, PageParams, page_params

router = APIRouter(prefix="/api/v1", tags=["directory"], route_class=TransactionalRoute)


@router.post(
    "/tenants",
    status_code=201,
    openapi_extra=idempotency_key(),
    response_model=TenantOut,
    responses=problems(409),
    summary="Create a tenant and its first global admin",
)
async def create_tenant(
    data: TenantCreate,
    request: Request,
    session: AsyncSession = Depends(get_session),
    settings: Settings = Depends(get_settings),
) -> JSONResponse:
    async def make() -> TenantOut:
        tenant, _admin = await service.create_tenant(session, settings, data)
        return TenantOut.model_validate(tenant)

    return await create_once(session, request, scope="public:tenants", body=data, make=make)


@router.post(
    "/auth/token",
    response_model=TokenOut,
    responses=problems(401, 429),
    summary="Exchange email and password for an access token",
)
async def create_token(
    data: TokenRequest,
    request: Request,
    session: AsyncSession = Depends(get_session),
    settings: Settings = Depends(get_settings),
) -> TokenOut:
    result = await service.sign_in(
        session,
        settings,
        email=data.email,
        password=data.password,
        client=client_address(request),
        kind=TokenKind.api,
    )
    return TokenOut(access_token=result.token, expires_in=result.expires_in)


@router.delete("/auth/token", status_code=204, summary="Revoke the presented token")
async def delete_token(
    principal: PrincipalChangingPassword, session: AsyncSession = Depends(get_session)
) -> Response:
    await service.revoke_token(session, principal.token_id)
    return Response(status_code=204)


@router.get("/me", response_model=MeOut, summary="Who am I")
async def me(principal: CurrentPrincipal, session: AsyncSession = Depends(get_session)) -> Response:
    return json_response(await queries.me_dict(session, principal))


@router.get("/tenant/users", response_model=Page[UserOut], summary="Users of my tenant")
async def list_users(
    principal: Principal = require(Permission.view_tenant_users),
    params: PageParams = Depends(page_params),
    session: AsyncSession = Depends(get_session),
) -> Page[UserOut]:
    users, cursor = await service.list_users(session, principal, params)
    return Page[UserOut](items=[UserOut.model_validate(u) for u in users], next_cursor=cursor)


@router.post(
    "/tenant/users",
    status_code=201,
    openapi_extra=idempotency_key(),
    response_model=UserOut,
    responses=problems(409),
    summary="Add a user to my tenant",
)
async def create_user(
    data: UserCreate,
    request: Request,
    principal: Principal = require(Permission.manage_tenant_users),
    session: AsyncSession = Depends(get_session),
    settings: Settings = Depends(get_settings),
) -> JSONResponse:
    async def make() -> UserOut:
        user = await service.create_user(session, settings, principal, data)
        return UserOut.model_validate(user)

    return await create_once(
        session, request, scope=f"user:{principal.user_id}", body=data, make=make
    )


@router.get(
    "/tenant/users/{user_id}",
    response_model=UserOut,
    summary="One user of my tenant",
)
async def get_user(
    user_id: uuid.UUID,
    principal: Principal = require(Permission.view_tenant_users),
    session: AsyncSession = Depends(get_session),
) -> UserOut:
    return UserOut.model_validate(await access_tenant_user(session, principal, user_id))


@router.patch(
    "/tenant/users/{user_id}",
    response_model=UserOut,
    responses=problems(409),
    summary="Change a user's name, directory roles, or whether they may sign in",
)
async def update_user(
    user_id: uuid.UUID,
    data: UserUpdate,
    principal: Principal = require(Permission.manage_tenant_users),
    session: AsyncSession = Depends(get_session),
) -> UserOut:
    return UserOut.model_validate(await service.update_user(session, principal, user_id, data))


@router.post(
    "/me/password",
    status_code=204,
    responses=problems(403, 404, 429),
    summary="Change my password (the one call a reset's temporary password allows)",
)
async def change_my_password(
    data: PasswordChange,
    principal: PrincipalChangingPassword,
    session: AsyncSession = Depends(get_session),
    settings: Settings = Depends(get_settings),
) -> Response:
    await passwords.change_password(
        session,
        settings,
        principal,
        current_password=data.current_password,
        new_password=data.new_password,
    )
    return Response(status_code=204)


@router.post(
    "/tenant/users/{user_id}/password-reset",
    response_model=PasswordResetOut,
    responses=problems(403, 404),
    summary="Reset a user's password (temporary, shown once)",
)
async def reset_user_password(
    user_id: uuid.UUID,
    principal: Principal = require(Permission.reset_passwords),
    session: AsyncSession = Depends(get_session),
    settings: Settings = Depends(get_settings),
) -> PasswordResetOut:
    temporary, expires_at = await passwords.reset_password(session, settings, principal, user_id)
    return PasswordResetOut(user_id=user_id, temporary_password=temporary, expires_at=expires_at)
