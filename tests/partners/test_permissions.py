"""The one role → permission table, checked over every role."""

from __future__ import annotations

import pytest

from twotier.directory.models import TenantKind
from twotier.directory.principal import PartnerRole, Permission, permissions_for
from twotier.directory.roles import DirectoryRole

ORG = TenantKind.organization
P = Permission

# What each role alone may do in an approved partner's tenant. ("billing_admin" is both a
# directory role and a partner role: two tables, so neither hides the other.)
EXPECTED_DIRECTORY: dict[DirectoryRole, set[P]] = {
    DirectoryRole.global_admin: {
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
    },
    DirectoryRole.user_admin: {
        P.view_tenant_users,
        P.manage_tenant_users,
        P.reset_passwords,
        P.view_partner,
        P.manage_partner_roles,
        P.view_subscriptions,
        P.manage_licenses,
    },
    DirectoryRole.license_admin: {P.view_tenant_users, P.view_subscriptions, P.manage_licenses},
    DirectoryRole.helpdesk_admin: {P.view_tenant_users, P.reset_passwords},
    DirectoryRole.billing_admin: {P.view_subscriptions},
}
EXPECTED_PARTNER: dict[PartnerRole, set[P]] = {
    PartnerRole.admin_agent: {
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
    },
    PartnerRole.sales_agent: {
        P.view_partner,
        P.invite_resellers,
        P.request_customer_relationship,
        P.view_customers,
    },
    PartnerRole.helpdesk_agent: {P.view_partner, P.view_customers, P.helpdesk_tasks},
    PartnerRole.billing_admin: {P.view_partner, P.view_billing},
}


@pytest.mark.parametrize("role", list(DirectoryRole), ids=str)
def test_each_directory_role_grants_exactly_its_permissions(role: DirectoryRole) -> None:
    granted = permissions_for([role], [], tenant_kind=ORG, is_partner=True)
    assert granted == EXPECTED_DIRECTORY[role]


@pytest.mark.parametrize("role", list(PartnerRole), ids=str)
def test_each_partner_role_grants_exactly_its_permissions(role: PartnerRole) -> None:
    granted = permissions_for([], [role], tenant_kind=ORG, is_partner=True)
    assert granted == EXPECTED_PARTNER[role]


@pytest.mark.parametrize("role", list(PartnerRole), ids=str)
def test_partner_roles_grant_nothing_before_the_tenant_is_a_partner(role: PartnerRole) -> None:
    assert permissions_for([], [role], tenant_kind=ORG, is_partner=False) == frozenset()


def test_global_admin_of_a_plain_tenant_manages_users_and_may_enroll() -> None:
    granted = permissions_for([DirectoryRole.global_admin], [], tenant_kind=ORG, is_partner=False)
    assert granted == {
        P.view_tenant_users,
        P.manage_tenant_users,
        P.reset_passwords,
        P.enroll_partner,
        P.manage_partner_access,
        P.view_subscriptions,
        P.manage_licenses,
        P.view_activity_log,
        P.manage_webhooks,
    }


def test_only_the_operators_global_admin_operates_the_platform() -> None:
    operator = permissions_for(
        [DirectoryRole.global_admin], [], tenant_kind=TenantKind.operator, is_partner=False
    )
    assert P.operate_platform in operator
    assert P.enroll_partner not in operator
    assert P.operate_platform not in permissions_for(
        [DirectoryRole.user_admin], [], tenant_kind=TenantKind.operator, is_partner=False
    )
    assert P.operate_platform not in permissions_for(
        [DirectoryRole.global_admin], [], tenant_kind=ORG, is_partner=True
    )


def test_roles_combine() -> None:
    granted = permissions_for(
        [DirectoryRole.license_admin],
        [PartnerRole.helpdesk_agent, PartnerRole.billing_admin],
        tenant_kind=ORG,
        is_partner=True,
    )
    assert granted == {
        P.view_tenant_users,
        P.view_subscriptions,
        P.manage_licenses,
        P.view_partner,
        P.view_customers,
        P.helpdesk_tasks,
        P.view_billing,
    }


def test_unknown_role_names_grant_nothing() -> None:
    assert permissions_for(["root"], ["god_mode"], tenant_kind=ORG, is_partner=True) == frozenset()
