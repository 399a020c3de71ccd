"""Delegated-access grants name their source row in a typed column per kind

Revision ID: d1e2a3c4b501
Revises: c0a1e5e11a04
Create Date: 2026-12-07 11:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "d1e2a3c4b501"
down_revision: str | None = "c0a1e5e11a04"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("delegated_access_grants", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reseller_link_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("relationship_id", sa.Uuid(), nullable=True))
    op.execute(
        "UPDATE delegated_access_grants SET reseller_link_id = source_id "
        "WHERE source = 'reseller_link'"
    )
    op.execute(
        "UPDATE delegated_access_grants SET relationship_id = source_id "
        "WHERE source = 'relationship'"
    )
    with op.batch_alter_table("delegated_access_grants", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_delegated_access_grants_source_id"))
        batch_op.drop_column("source_id")
        batch_op.create_index(
            batch_op.f("ix_delegated_access_grants_reseller_link_id"), ["reseller_link_id"]
        )
        batch_op.create_index(
            batch_op.f("ix_delegated_access_grants_relationship_id"), ["relationship_id"]
        )
        batch_op.create_foreign_key(
            "fk_grants_reseller_link",
            "reseller_links",
            ["reseller_link_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch_op.create_foreign_key(
            "fk_grants_relationship",
            "customer_relationships",
            ["relationship_id"],
            ["id"],
            ondelete="CASCADE",
        )


def downgrade() -> None:
    with op.batch_alter_table("delegated_access_grants", schema=None) as batch_op:
        batch_op.add_column(sa.Column("source_id", sa.Uuid(), nullable=True))
    op.execute(
        "UPDATE delegated_access_grants SET source_id = COALESCE(reseller_link_id, relationship_id)"
    )
    with op.batch_alter_table("delegated_access_grants", schema=None) as batch_op:
        batch_op.drop_constraint(
            "fk_grants_relationship",
            type_="foreignkey",
        )
        batch_op.drop_constraint(
            "fk_grants_reseller_link",
            type_="foreignkey",
        )
        batch_op.drop_index(batch_op.f("ix_delegated_access_grants_relationship_id"))
        batch_op.drop_index(batch_op.f("ix_delegated_access_grants_reseller_link_id"))
        batch_op.drop_column("relationship_id")
        batch_op.drop_column("reseller_link_id")
        batch_op.create_index(
            batch_op.f("ix_delegated_access_grants_source_id"), ["source_id"], unique=False
        )
