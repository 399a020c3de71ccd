"""customer relationships

Revision ID: dce284a3182f
Revises: 7f2fdfe56fc1
Create Date: 2026-11-24 06:42:22.479486
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "dce284a3182f"
down_revision: str | None = "7f2fdfe56fc1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "customer_relationships",
        sa.Column("customer_tenant_id", sa.Uuid(), nullable=False),
        sa.Column("partner_account_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("tier", sa.String(length=20), nullable=False),
        sa.Column("other_tier_account_id", sa.Uuid(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("active_pair", sa.String(length=80), nullable=True),
        sa.Column("invitation_id", sa.Uuid(), nullable=True),
        sa.Column("accepted_by_user_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("terminated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("terminated_by", sa.String(length=20), nullable=True),
        sa.Column("terminated_by_user_id", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_tenant_id"],
            ["tenants.id"],
            name=op.f("fk_customer_relationships_customer_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["invitation_id"],
            ["invitations.id"],
            name=op.f("fk_customer_relationships_invitation_id_invitations"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["other_tier_account_id"],
            ["partner_accounts.id"],
            name=op.f("fk_customer_relationships_other_tier_account_id_partner_accounts"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["partner_account_id"],
            ["partner_accounts.id"],
            name=op.f("fk_customer_relationships_partner_account_id_partner_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_relationships")),
        sa.UniqueConstraint("active_pair", name=op.f("uq_customer_relationships_active_pair")),
    )
    with op.batch_alter_table("customer_relationships", schema=None) as batch_op:
        batch_op.create_index(
            "ix_relationships_customer", ["customer_tenant_id", "status"], unique=False
        )
        batch_op.create_index(
            "ix_relationships_other_tier", ["other_tier_account_id", "status"], unique=False
        )
        batch_op.create_index(
            "ix_relationships_partner",
            ["partner_account_id", "status", "created_at", "id"],
            unique=False,
        )


def downgrade() -> None:

    with op.batch_alter_table("customer_relationships", schema=None) as batch_op:
        batch_op.drop_index("ix_relationships_partner")
        batch_op.drop_index("ix_relationships_other_tier")
        batch_op.drop_index("ix_relationships_customer")

    op.drop_table("customer_relationships")
