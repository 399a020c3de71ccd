"""provider reseller links

Revision ID: 7f2fdfe56fc1
Revises: ae7c70ed844c
Create Date: 2026-11-24 06:07:13.611056
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7f2fdfe56fc1"
down_revision: str | None = "ae7c70ed844c"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "delegated_access_grants",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("partner_account_id", sa.Uuid(), nullable=False),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("source", sa.String(length=30), nullable=False),
        sa.Column("source_id", sa.Uuid(), nullable=True),
        sa.Column("approved_by_user_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["partner_account_id"],
            ["partner_accounts.id"],
            name=op.f("fk_delegated_access_grants_partner_account_id_partner_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_delegated_access_grants_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delegated_access_grants")),
    )
    with op.batch_alter_table("delegated_access_grants", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_delegated_access_grants_source_id"), ["source_id"], unique=False
        )
        batch_op.create_index(
            "ix_grants_partner_status", ["partner_account_id", "status"], unique=False
        )
        batch_op.create_index(
            "ix_grants_tenant_partner", ["tenant_id", "partner_account_id", "status"], unique=False
        )

    op.create_table(
        "invitations",
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("token_nonce", sa.String(length=64), nullable=False),
        sa.Column("from_partner_account_id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("to_partner_id", sa.String(length=20), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_by_user_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("accepted_by_user_id", sa.Uuid(), nullable=True),
        sa.Column("accepted_by_tenant_id", sa.Uuid(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["from_partner_account_id"],
            ["partner_accounts.id"],
            name=op.f("fk_invitations_from_partner_account_id_partner_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invitations")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_invitations_token_hash")),
    )
    with op.batch_alter_table("invitations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_invitations_from_created",
            ["from_partner_account_id", "kind", "created_at", "id"],
            unique=False,
        )

    op.create_table(
        "reseller_links",
        sa.Column("provider_account_id", sa.Uuid(), nullable=False),
        sa.Column("reseller_account_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("active_pair", sa.String(length=80), nullable=True),
        sa.Column("invitation_id", sa.Uuid(), nullable=True),
        sa.Column("authorized_by_user_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("terminated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("terminated_by_account_id", sa.Uuid(), nullable=True),
        sa.Column("terminated_by_user_id", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["invitation_id"],
            ["invitations.id"],
            name=op.f("fk_reseller_links_invitation_id_invitations"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["provider_account_id"],
            ["partner_accounts.id"],
            name=op.f("fk_reseller_links_provider_account_id_partner_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["reseller_account_id"],
            ["partner_accounts.id"],
            name=op.f("fk_reseller_links_reseller_account_id_partner_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reseller_links")),
        sa.UniqueConstraint("active_pair", name=op.f("uq_reseller_links_active_pair")),
    )
    with op.batch_alter_table("reseller_links", schema=None) as batch_op:
        batch_op.create_index(
            "ix_reseller_links_provider",
            ["provider_account_id", "status", "created_at", "id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_reseller_links_reseller",
            ["reseller_account_id", "status", "created_at", "id"],
            unique=False,
        )


def downgrade() -> None:

    with op.batch_alter_table("reseller_links", schema=None) as batch_op:
        batch_op.drop_index("ix_reseller_links_reseller")
        batch_op.drop_index("ix_reseller_links_provider")

    op.drop_table("reseller_links")
    with op.batch_alter_table("invitations", schema=None) as batch_op:
        batch_op.drop_index("ix_invitations_from_created")

    op.drop_table("invitations")
    with op.batch_alter_table("delegated_access_grants", schema=None) as batch_op:
        batch_op.drop_index("ix_grants_tenant_partner")
        batch_op.drop_index("ix_grants_partner_status")
        batch_op.drop_index(batch_op.f("ix_delegated_access_grants_source_id"))

    op.drop_table("delegated_access_grants")
