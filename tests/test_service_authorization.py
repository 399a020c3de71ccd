"""Services authorize through the permission table themselves, whatever route calls them:
a caller without the permission is refused before anything is read."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from twotier.audit import service as audit
from twotier.customers import queries as customer_queries
from twotier.directory import service as directory
from twotier.directory.models import TenantKind
from twotier.directory.principal import Principal, permissions_for
from twotier.enrollment import service as enrollment
from twotier.kit.errors import AppError, Forbidden
from twotier.kit.pagination import PageParams
from twotier.membership import service as membership

PAGE = PageParams(limit=10, cursor=None)


def principal(
    roles: list[str], *, operator: bool = False, partner_roles: Sequence[str] = ()
) -> Principal:
    kind = TenantKind.operator if operator else TenantKind.organization
    partner = bool(partner_roles)
    return Principal(
        user_id=uuid.uuid4(),
        tenant_id=uuid.uuid4(),
        email="someone@example.test",
        display_name="Someone",
        roles=frozenset(roles),
        tenant_kind=kind,
        token_id=uuid.uuid4(),
        via="bearer",
        partner_account_id=uuid.uuid4() if partner else None,
        partner_roles=frozenset(partner_roles),
        permissions=permissions_for(roles, partner_roles, tenant_kind=kind, is_partner=partner),
    )


Call = Callable[[AsyncSession, Principal], Awaitable[Any]]
CASES: list[tuple[str, Call, list[str], list[str], bool]] = [
    # (name, call, roles refused, roles allowed, the allowed caller is the operator — or,
    # for a partner's reads, a partner whose sales agent holds the allowed roles)
    (
        "tenant users",
        lambda s, p: directory.list_users(s, p, PAGE),
        ["billing_admin"],
        ["helpdesk_admin"],
        False,
    ),
    (
        "enrollment review queue",
        lambda s, p: enrollment.list_for_review(s, p, None, PAGE),
        ["global_admin"],
        ["global_admin"],
        True,
    ),
    (
        "an enrollment under review",
        lambda s, p: enrollment.get_for_operator(s, p, uuid.uuid4()),
        ["global_admin"],
        ["global_admin"],
        True,
    ),
    (
        "membership registry",
        lambda s, p: membership.list_memberships(s, p, None, PAGE),
        ["global_admin"],
        ["global_admin"],
        True,
    ),
    (
        "a partner's customers",
        lambda s, p: customer_queries.customer_page(s, p, None, PAGE),
        ["global_admin"],
        ["sales_agent"],
        False,
    ),
    (
        "what partners did in my tenant",
        lambda s, p: audit.partner_actions_in(s, p),
        ["user_admin"],
        ["global_admin"],
        False,
    ),
]


@pytest.mark.parametrize(
    ("call", "refused", "allowed", "operator"),
    [pytest.param(c, r, a, o, id=name) for name, c, r, a, o in CASES],
)
async def test_the_service_refuses_a_caller_without_the_permission(
    session: AsyncSession, call: Call, refused: list[str], allowed: list[str], operator: bool
) -> None:
    with pytest.raises(Forbidden):
        await call(session, principal(refused))
    # The same call goes past the check for a caller who holds the permission: it answers
    # (an empty page), or a missing object is a 404 — never a 403.
    failure: AppError | None = None
    partner_roles = [r for r in allowed if r.endswith("_agent")]
    roles = [r for r in allowed if not r.endswith("_agent")]
    try:
        await call(session, principal(roles, operator=operator, partner_roles=partner_roles))
    except AppError as exc:
        failure = exc
    assert failure is None or failure.status == 404, failure
