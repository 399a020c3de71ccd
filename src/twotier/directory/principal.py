"""Who is calling: one principal type, from a bearer token or a portal session.

Permissions come from one table: directory roles (the tenant's own admin roles) and,
in a partner's tenant, partner roles (Partner Center's agent roles).
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from twotier.directory.models import Program, TenantKind
from twotier.directory.roles import DirectoryRole
from twotier.kit.errors import Forbidden


class PartnerRole(StrEnum):
    admin_agent = "admin_agent"
    sales_agent = "sales_agent"
    helpdesk_agent = "helpdesk_agent"
    billing_admin = "billing_admin"


PARTNER_ROLE_LABELS: dict[PartnerRole, str] = {
    PartnerRole.admin_agent: "Admin agent",
    PartnerRole.sales_agent: "Sales agent",
    PartnerRole.helpdesk_agent: "Helpdesk agent",
    PartnerRole.billing_admin: "Billing admin",
}


class Permission(StrEnum):
    # The tenant's directory.
    view_tenant_users = "view_tenant_users"
    manage_tenant_users = "manage_tenant_users"
    # Whose passwords: directory.passwords.reset_reach.
    reset_passwords = "reset_passwords"
    # Becoming and being a partner.
    enroll_partner = "enroll_partner"
    view_partner = "view_partner"
    manage_partner_profile = "manage_partner_profile"
    manage_partner_roles = "manage_partner_roles"
    # A customer's say over partners: accept a relationship, decide on extensions, remove.
    manage_partner_access = "manage_partner_access"
    # The channel.
    invite_resellers = "invite_resellers"
    authorize_provider = "authorize_provider"
    request_customer_relationship = "request_customer_relationship"
    view_customers = "view_customers"
    manage_customers = "manage_customers"
    helpdesk_tasks = "helpdesk_tasks"
    view_billing = "view_billing"
    submit_orders = "submit_orders"
    # A customer's own subscriptions and licenses.
    view_subscriptions = "view_subscriptions"
    manage_licenses = "manage_licenses"
    # The vendor.
    operate_platform = "operate_platform"
    # Audit and webhooks.
    view_activity_log = "view_activity_log"
    manage_webhooks = "manage_webhooks"


P = Permission

# The one role → permission table.
DIRECTORY_ROLE_PERMISSIONS: dict[DirectoryRole, frozenset[Permission]] = {
    DirectoryRole.global_admin: frozenset(
        {
            P.view_tenant_users,
            P.manage_tenant_users,
            P.reset_passwords,
            P.enroll_partner,
            P.view_partner,
            P.manage_partner_profile,
            P.manage_partner_roles,
            P.manage_partner_access,
            P.authorize_provider,
            P.view_billing,
            P.view_subscriptions,
            P.manage_licenses,
            P.view_activity_log,
            P.manage_webhooks,
        }
    ),
    DirectoryRole.user_admin: frozenset(
        {
            P.view_tenant_users,
            P.manage_tenant_users,
            P.reset_passwords,
            P.view_partner,
            P.manage_partner_roles,
            P.view_subscriptions,
            P.manage_licenses,
        }
    ),
    DirectoryRole.license_admin: frozenset(
        {P.view_tenant_users, P.view_subscriptions, P.manage_licenses}
    ),
    DirectoryRole.helpdesk_admin: frozenset({P.view_tenant_users, P.reset_passwords}),
    DirectoryRole.billing_admin: frozenset({P.view_subscriptions}),
}

PARTNER_ROLE_PERMISSIONS: dict[PartnerRole, frozenset[Permission]] = {
    PartnerRole.admin_agent: frozenset(
        {
            P.view_partner,
            P.manage_partner_profile,
            P.invite_resellers,
            P.authorize_provider,
            P.request_customer_relationship,
            P.view_customers,
            P.manage_customers,
            P.helpdesk_tasks,
            P.submit_orders,
            P.view_activity_log,
            P.manage_webhooks,
        }
    ),
    PartnerRole.sales_agent: frozenset(
        {P.view_partner, P.invite_resellers, P.request_customer_relationship, P.view_customers}
    ),
    PartnerRole.helpdesk_agent: frozenset({P.view_partner, P.view_customers, P.helpdesk_tasks}),
    PartnerRole.billing_admin: frozenset({P.view_partner, P.view_billing}),
}

# Permissions that only make sense once the tenant is a partner.
PARTNER_ONLY = frozenset(
    {
        P.view_partner,
        P.manage_partner_profile,
        P.manage_partner_roles,
        P.invite_resellers,
        P.authorize_provider,
        P.request_customer_relationship,
        P.view_customers,
        P.manage_customers,
        P.helpdesk_tasks,
        P.view_billing,
        P.submit_orders,
    }
)


def permissions_for(
    roles: Iterable[str], partner_roles: Iterable[str], *, tenant_kind: str, is_partner: bool
) -> frozenset[Permission]:
    """What these roles allow (the same few combinations every request: remembered)."""
    return _permissions(frozenset(roles), frozenset(partner_roles), str(tenant_kind), is_partner)


@functools.lru_cache(maxsize=1024)
def _permissions(
    roles: frozenset[str], partner_roles: frozenset[str], tenant_kind: str, is_partner: bool
) -> frozenset[Permission]:
    granted: set[Permission] = set()
    for role in roles:
        if role in DirectoryRole.__members__:
            granted |= DIRECTORY_ROLE_PERMISSIONS[DirectoryRole(role)]
    if is_partner:
        for role in partner_roles:
            if role in PartnerRole.__members__:
                granted |= PARTNER_ROLE_PERMISSIONS[PartnerRole(role)]
    else:
        granted -= PARTNER_ONLY
    if tenant_kind == TenantKind.operator:
        granted -= {P.enroll_partner}
        if DirectoryRole.global_admin in roles:
            granted.add(P.operate_platform)
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
    via: str  # "bearer", "session", or "system" (work done for a user without a token)
    partner_account_id: uuid.UUID | None = None
    partner_id: str | None = None
    partner_programs: frozenset[str] = frozenset()
    partner_roles: frozenset[str] = frozenset()
    request_id: str | None = None
    permissions: frozenset[Permission] = field(default_factory=frozenset)
    # Signed in with a temporary password: nothing but the change works until it is made.
    password_change_due: bool = False

    @property
    def is_operator(self) -> bool:
        return Permission.operate_platform in self.permissions

    @property
    def is_partner(self) -> bool:
        return self.partner_account_id is not None

    def in_program(self, program: str) -> bool:
        return program in self.partner_programs

    def can(self, permission: Permission) -> bool:
        return permission in self.permissions

    def demand(
        self,
        permission: Permission,
        detail: str = "Your roles do not allow this.",
        *,
        code: str = "insufficient_role",
    ) -> None:
        """A service's own check, through the permission table: 403 unless granted."""
        if permission not in self.permissions:
            raise Forbidden(detail, code=code)


# The caller as a partner in a program, with a permission from the table; the channel, the
# customers and commerce all ask this of their callers.


def require_provider(principal: Principal, permission: Permission) -> uuid.UUID:
    """The caller's partner account, if it is an approved indirect provider and the caller
    holds ``permission``; 403 otherwise."""
    if principal.partner_account_id is None or not principal.in_program(Program.indirect_provider):
        raise Forbidden(
            "Only an approved indirect provider can do this.", code="not_an_indirect_provider"
        )
    if not principal.can(permission):
        raise Forbidden("Your partner roles do not allow this.", code="insufficient_role")
    return principal.partner_account_id


def require_reseller(principal: Principal, permission: Permission) -> uuid.UUID:
    """The caller's partner account, if it is an approved indirect reseller and the caller
    holds ``permission``; 403 otherwise."""
    if principal.partner_account_id is None or not principal.in_program(Program.indirect_reseller):
        raise Forbidden(
            "Only an approved indirect reseller can do this. Enroll as an indirect reseller "
            "first, at /enroll.",
            code="not_an_indirect_reseller",
        )
    if not principal.can(permission):
        raise Forbidden("Your partner roles do not allow this.", code="insufficient_role")
    return principal.partner_account_id
