from __future__ import annotations

import uuid
from typing import Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from twotier.config import Settings
from twotier.directory.auth import CurrentPrincipal, require
from twotier.directory.principal import Permission, Principal
from twotier.enrollment import service
from twotier.enrollment.schemas import (
    EnrollmentCreate,
    EnrollmentOut,
    RejectIn,
    VerifyEmailIn,
    VerifyEmailOut,
)
from twotier.kit.deps import TransactionalRoute, client_address, get_session, get_settings
from twotier.kit.idempotency import create_once
from twotier.kit.openapi import idempotency_key, problems
from twotier.kit.pagination import Page, PageParams, page_params
from twotier.membership.schemas import LookupOut, MembershipCredentials

router = APIRouter(prefix="/api/v1", tags=["enrollment"], route_class=TransactionalRoute)
operator_router = APIRouter(
    prefix="/api/v1/operator/enrollments", tags=["operator"], route_class=TransactionalRoute
)

StatusFilter = Literal["pending_email_verification", "in_review", "approved", "rejected"]


@router.post(
    "/enrollment/membership-lookup",
    response_model=LookupOut,
    responses=problems(401, 403, 429),
    summary="Sign in to the membership registry and list its organization profiles",
)
async def membership_lookup(
    creds: MembershipCredentials,
    request: Request,
    principal: CurrentPrincipal,
    session: AsyncSession = Depends(get_session),
    settings: Settings = Depends(get_settings),
) -> LookupOut:
    orgs = await service.lookup(session, settings, principal, creds, client_address(request))
    return LookupOut(organizations=orgs)


@router.post(
    "/enrollments",
    status_code=201,
    openapi_extra=idempotency_key(),
    response_model=EnrollmentOut,
    responses=problems(401, 403, 409, 429),
    summary="Enroll the tenant as an indirect reseller or provider",
)
async def create_enrollment(
    data: EnrollmentCreate,
    request: Request,
    principal: CurrentPrincipal,
    session: AsyncSession = Depends(get_session),
    settings: Settings = Depends(get_settings),
) -> JSONResponse:
    async def make() -> EnrollmentOut:
        enrollment = await service.create(
            session, settings, principal, data, client_address(request)
        )
        return EnrollmentOut.model_validate(enrollment)

    return await create_once(
        session, request, scope=f"user:{principal.user_id}", body=data, make=make
    )


@router.get(
    "/enrollments/current",
    response_model=EnrollmentOut,
    responses=problems(404),
    summary="My tenant's latest enrollment",
)
async def current_enrollment(
    principal: CurrentPrincipal, session: AsyncSession = Depends(get_session)
) -> EnrollmentOut:
    return EnrollmentOut.model_validate(await service.current(session, principal))


@router.post(
    "/enrollments/current/resend-verification",
    response_model=EnrollmentOut,
    responses=problems(403, 404, 409),
    summary="Send the primary contact a new confirmation link",
)
async def resend_verification(
    principal: CurrentPrincipal,
    session: AsyncSession = Depends(get_session),
    settings: Settings = Depends(get_settings),
) -> EnrollmentOut:
    return EnrollmentOut.model_validate(
        await service.resend_verification(session, settings, principal)
    )


@router.post(
    "/enrollments/verify-email",
    response_model=VerifyEmailOut,
    responses=problems(404, 410),
    summary="Confirm the primary contact's email (the emailed link's button posts this)",
)
async def verify_email(
    data: VerifyEmailIn,
    session: AsyncSession = Depends(get_session),
    settings: Settings = Depends(get_settings),
) -> VerifyEmailOut:
    enrollment = await service.verify_email(session, settings, data.token)
    return VerifyEmailOut(id=enrollment.id, status=enrollment.status)


@operator_router.get(
    "", response_model=Page[EnrollmentOut], summary="Enrollments, oldest first (the review queue)"
)
async def list_enrollments(
    status: StatusFilter | None = Query(None),
    principal: Principal = require(Permission.operate_platform),
    params: PageParams = Depends(page_params),
    session: AsyncSession = Depends(get_session),
) -> Page[EnrollmentOut]:
    rows, cursor = await service.list_for_review(session, principal, status, params)
    return Page[EnrollmentOut](
        items=[EnrollmentOut.model_validate(e) for e in rows], next_cursor=cursor
    )


@operator_router.get("/{enrollment_id}", response_model=EnrollmentOut, responses=problems(404))
async def get_enrollment(
    enrollment_id: uuid.UUID,
    principal: Principal = require(Permission.operate_platform),
    session: AsyncSession = Depends(get_session),
) -> EnrollmentOut:
    return EnrollmentOut.model_validate(
        await service.get_for_operator(session, principal, enrollment_id)
    )


@operator_router.post(
    "/{enrollment_id}/approve",
    response_model=EnrollmentOut,
    responses=problems(404, 409),
    summary="Approve an enrollment in review",
)
async def approve_enrollment(
    enrollment_id: uuid.UUID,
    principal: Principal = require(Permission.operate_platform),
    session: AsyncSession = Depends(get_session),
    settings: Settings = Depends(get_settings),
) -> EnrollmentOut:
    return EnrollmentOut.model_validate(
        await service.approve(session, settings, principal, enrollment_id)
    )


@operator_router.post(
    "/{enrollment_id}/reject",
    response_model=EnrollmentOut,
    responses=problems(404, 409),
    summary="Reject an open enrollment, with the reason the organization will read",
)
async def reject_enrollment(
    enrollment_id: uuid.UUID,
    data: RejectIn,
    principal: Principal = require(Permission.operate_platform),
    session: AsyncSession = Depends(get_session),
    settings: Settings = Depends(get_settings),
) -> EnrollmentOut:
    return EnrollmentOut.model_validate(
        await service.reject(session, settings, principal, enrollment_id, data.reason)
    )
