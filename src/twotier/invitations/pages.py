"""The invitation page of each kind, registered by the kind's package (its portal pages)."""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Protocol

from fastapi import Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from twotier.directory.principal import Principal
from twotier.invitations.models import Invitation, InvitationKind


class RenderInvitation(Protocol):
    def __call__(
        self,
        request: Request,
        session: AsyncSession,
        principal: Principal | None,
        invitation: Invitation,
        here: str,
        *,
        error: str | None,
        status_code: int,
    ) -> Awaitable[Response]: ...


@dataclass(frozen=True)
class InvitationPage:
    render: RenderInvitation
    accepted: str  # where the browser goes once accepted


_pages: dict[InvitationKind, InvitationPage] = {}


def register(kind: InvitationKind, page: InvitationPage) -> None:
    _pages[kind] = page


def page_for(kind: InvitationKind) -> InvitationPage:
    return _pages[kind]
