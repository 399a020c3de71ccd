"""Who is calling: one principal type, from a bearer token or a portal session."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from enum import StrEnum

from twotier.directory.models import TenantKind
from twotier.directory.roles import DirectoryRole


class Permission(StrEnum):
    manage_tenant_users = "manage_tenant_users"
    view_tenant_users = "view_tenant_users"
    operate_platform = "operate_platform"


# The one role → permission table for directory roles (partner roles join it later).
ROLE_PERMISSIONS: dict[DirectoryRole, frozenset[Permission]] = {
    DirectoryRole.global_admin: frozenset(
        {Permission.manage_tenant_users, Permission.view_tenant_users}
    ),
    DirectoryRole.user_admin: frozenset(
        {Permission.manage_tenant_users, Permission.view_tenant_users}
    ),
    DirectoryRole.license_admin: frozenset({Permission.view_tenant_users}),
    DirectoryRole.helpdesk_admin: frozenset({Permission.view_tenant_users}),
    DirectoryRole.billing_admin: frozenset(),
}


def permissions_for(roles: frozenset[str], tenant_kind: str) -> frozenset[Permission]:
    granted: set[Permission] = set()
    for role in roles:
        if role in DirectoryRole.__members__:
            granted |= ROLE_PERMISSIONS[DirectoryRole(role)]
    if tenant_kind == TenantKind.operator and DirectoryRole.global_admin in roles:
        granted.add(Permission.operate_platform)
    return frozenset(granted)


@dataclass(frozen=True)
class Principal:
    user_id: uuid.UUID
    tenant_id: uuid.UUID
    email: str
    display_name: str
    roles: frozenset[str]
    tenant_kind: str
    token_id: uuid.UUID
    via: str  # "bearer" | "session"
    partner_id: str | None = None
    request_id: str | None = None
    permissions: frozenset[Permission] = field(default_factory=frozenset)

    @property
    def is_operator(self) -> bool:
        return Permission.operate_platform in self.permissions

    def can(self, permission: Permission) -> bool:
        return permission in self.permissions
