"""Load directory objects within the caller's reach; outside it, the same 404 as missing."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from twotier.directory.models import User
from twotier.directory.principal import Principal
from twotier.kit.errors import NotFound


async def user_in_tenant(session: AsyncSession, tenant_id: uuid.UUID, user_id: uuid.UUID) -> User:
    user = await session.scalar(select(User).where(User.id == user_id, User.tenant_id == tenant_id))
    if user is None:
        raise NotFound("No such user in this tenant.", code="user_not_found")
    return user


async def access_tenant_user(
    session: AsyncSession, principal: Principal, user_id: uuid.UUID
) -> User:
    """A user of the caller's own tenant."""
    return await user_in_tenant(session, principal.tenant_id, user_id)
