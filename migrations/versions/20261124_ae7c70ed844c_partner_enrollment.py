"""partner enrollment

Revision ID: ae7c70ed844c
Revises: 64569ba802a3
Create Date: 2026-11-24 05:58:05.688930
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "ae7c70ed844c"
down_revision: str | None = "64569ba802a3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "membership_accounts",
        sa.Column("username", sa.String(length=320), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_membership_accounts")),
        sa.UniqueConstraint("username", name=op.f("uq_membership_accounts_username")),
    )
    with op.batch_alter_table("membership_accounts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_membership_accounts_created_id", ["created_at", "id"], unique=False
        )

    op.create_table(
        "enrollments",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("program", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=40), nullable=False),
        sa.Column("partner_id", sa.String(length=20), nullable=False),
        sa.Column("company_name", sa.String(length=200), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("legal_profile", sa.JSON(), nullable=False),
        sa.Column("primary_contact", sa.JSON(), nullable=False),
        sa.Column("support_profile", sa.JSON(), nullable=False),
        sa.Column("shortcut", sa.Boolean(), nullable=False),
        sa.Column("rejection_reason", sa.Text(), nullable=True),
        sa.Column("submitted_by_user_id", sa.Uuid(), nullable=True),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by_user_id", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_enrollments_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_enrollments")),
    )
    with op.batch_alter_table("enrollments", schema=None) as batch_op:
        batch_op.create_index(
            "ix_enrollments_partner_id_status", ["partner_id", "status"], unique=False
        )
        batch_op.create_index(
            "ix_enrollments_status_created", ["status", "created_at", "id"], unique=False
        )
        batch_op.create_index(
            "ix_enrollments_tenant_created", ["tenant_id", "created_at", "id"], unique=False
        )

    op.create_table(
        "membership_organizations",
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("partner_id", sa.String(length=20), nullable=False),
        sa.Column("legal_name", sa.String(length=200), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["membership_accounts.id"],
            name=op.f("fk_membership_organizations_account_id_membership_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_membership_organizations")),
        sa.UniqueConstraint("partner_id", name=op.f("uq_membership_organizations_partner_id")),
    )
    with op.batch_alter_table("membership_organizations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_membership_organizations_account_id"), ["account_id"], unique=False
        )

    op.create_table(
        "partner_accounts",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("partner_id", sa.String(length=20), nullable=False),
        sa.Column("company_name", sa.String(length=200), nullable=False),
        sa.Column("company_name_lower", sa.String(length=200), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("legal_profile", sa.JSON(), nullable=False),
        sa.Column("primary_contact", sa.JSON(), nullable=False),
        sa.Column("support_profile", sa.JSON(), nullable=False),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_partner_accounts_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partner_accounts")),
        sa.UniqueConstraint("partner_id", name=op.f("uq_partner_accounts_partner_id")),
        sa.UniqueConstraint("tenant_id", name=op.f("uq_partner_accounts_tenant_id")),
    )
    with op.batch_alter_table("partner_accounts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_partner_accounts_country_name",
            ["country", "company_name_lower", "id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_partner_accounts_name", ["company_name_lower", "id"], unique=False
        )

    op.create_table(
        "enrollment_verifications",
        sa.Column("enrollment_id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["enrollment_id"],
            ["enrollments.id"],
            name=op.f("fk_enrollment_verifications_enrollment_id_enrollments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_enrollment_verifications")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_enrollment_verifications_token_hash")),
    )
    with op.batch_alter_table("enrollment_verifications", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_enrollment_verifications_enrollment_id"), ["enrollment_id"], unique=False
        )

    op.create_table(
        "partner_programs",
        sa.Column("partner_account_id", sa.Uuid(), nullable=False),
        sa.Column("program", sa.String(length=40), nullable=False),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["partner_account_id"],
            ["partner_accounts.id"],
            name=op.f("fk_partner_programs_partner_account_id_partner_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("partner_account_id", "program", name=op.f("pk_partner_programs")),
    )
    with op.batch_alter_table("partner_programs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_partner_programs_program", ["program", "partner_account_id"], unique=False
        )

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("partner_roles", sa.JSON(), nullable=False, server_default=sa.text("'[]'"))
        )


def downgrade() -> None:

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("partner_roles")

    with op.batch_alter_table("partner_programs", schema=None) as batch_op:
        batch_op.drop_index("ix_partner_programs_program")

    op.drop_table("partner_programs")
    with op.batch_alter_table("enrollment_verifications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_enrollment_verifications_enrollment_id"))

    op.drop_table("enrollment_verifications")
    with op.batch_alter_table("partner_accounts", schema=None) as batch_op:
        batch_op.drop_index("ix_partner_accounts_name")
        batch_op.drop_index("ix_partner_accounts_country_name")

    op.drop_table("partner_accounts")
    with op.batch_alter_table("membership_organizations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_membership_organizations_account_id"))

    op.drop_table("membership_organizations")
    with op.batch_alter_table("enrollments", schema=None) as batch_op:
        batch_op.drop_index("ix_enrollments_tenant_created")
        batch_op.drop_index("ix_enrollments_status_created")
        batch_op.drop_index("ix_enrollments_partner_id_status")

    op.drop_table("enrollments")
    with op.batch_alter_table("membership_accounts", schema=None) as batch_op:
        batch_op.drop_index("ix_membership_accounts_created_id")

    op.drop_table("membership_accounts")
