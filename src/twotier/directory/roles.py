"""Directory roles (the tenant's own admin roles)."""

from __future__ import annotations

from enum import StrEnum


class DirectoryRole(StrEnum):
    global_admin = "global_admin"
    user_admin = "user_admin"
    license_admin = "license_admin"
    helpdesk_admin = "helpdesk_admin"
    billing_admin = "billing_admin"


ROLE_LABELS: dict[DirectoryRole, str] = {
    DirectoryRole.global_admin: "Global admin",
    DirectoryRole.user_admin: "User admin",
    DirectoryRole.license_admin: "License admin",
    DirectoryRole.helpdesk_admin: "Helpdesk admin",
    DirectoryRole.billing_admin: "Billing admin",
}
