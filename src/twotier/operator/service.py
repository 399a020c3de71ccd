"""The operator tenant and its users."""

from __future__ import annotations

import uuid

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from twotier.directory.models import Tenant, TenantKind, User
from twotier.directory.roles import DirectoryRole
from twotier.directory.schemas import AdminIn
from twotier.events import service as events
from twotier.kit.passwords import PasswordTooWeak, ensure_strong, personal_words
from twotier.kit.security import hash_password

OPERATOR_DOMAIN = "operator.twotier.internal"
OPERATOR_TENANT_NAME = "twotier Operator"


class OperatorExists(Exception):
    pass


async def operator_tenant(session: AsyncSession) -> Tenant:
    tenant = await session.scalar(
        select(Tenant).where(Tenant.kind == TenantKind.operator).order_by(Tenant.created_at)
    )
    if tenant is None:
        tenant = Tenant(
            id=uuid.uuid4(),
            display_name=OPERATOR_TENANT_NAME,
            domain=OPERATOR_DOMAIN,
            country="US",
            kind=TenantKind.operator,
        )
        session.add(tenant)
        await session.flush()
    return tenant


async def create_operator(session: AsyncSession, *, email: str, password: str, name: str) -> User:
    try:
        data = AdminIn(email=email, display_name=name, password=password)
    except ValidationError as exc:
        raise ValueError(exc.errors()[0]["msg"]) from exc
    words = personal_words(data.email, data.display_name, OPERATOR_DOMAIN, OPERATOR_TENANT_NAME)
    try:
        await ensure_strong(data.password, words)
    except PasswordTooWeak as exc:
        raise ValueError(f"the password is too weak. {exc.detail}") from exc
    if await session.scalar(select(User.id).where(User.email == data.email)):
        raise OperatorExists(f"{data.email} is already a user.")
    tenant = await operator_tenant(session)
    user = User(
        id=uuid.uuid4(),
        tenant_id=tenant.id,
        email=data.email,
        display_name=data.display_name,
        password_hash=await hash_password(data.password),
        roles=[DirectoryRole.global_admin.value],
    )
    session.add(user)
    await session.flush()
    await events.announce(
        session,
        None,
        "operator_created",
        resource_type="user",
        resource_id=user.id,
        actor_user_id=user.id,
        actor_tenant_id=tenant.id,
        detail={"email": user.email},
    )
    return user
