"""Customer relationships keep the customer's name and domain as search keys, indexed per
partner, so that q= reads a range of one index instead of every tenant; and an index for
the customers a partner shares with another tier, in list order

Revision ID: e2f3a4b5c601
Revises: d1e2a3c4b501
Create Date: 2026-12-07 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "e2f3a4b5c601"
down_revision: str | None = "d1e2a3c4b501"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEY = sa.String(253).with_variant(sa.String(253, collation="C"), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("customer_relationships", schema=None) as batch_op:
        batch_op.add_column(sa.Column("search_name", KEY, nullable=True))
        batch_op.add_column(sa.Column("search_domain", KEY, nullable=True))
    # Lower-cased here as the application does (SQL's lower() is ASCII-only on SQLite).
    connection = op.get_bind()
    rows = connection.execute(
        sa.text(
            "SELECT r.id, t.display_name, t.domain FROM customer_relationships r "
            "JOIN tenants t ON t.id = r.customer_tenant_id"
        )
    ).all()
    if rows:
        connection.execute(
            sa.text(
                "UPDATE customer_relationships SET search_name = :name, search_domain = :domain "
                "WHERE id = :id"
            ),
            [
                {
                    "id": row.id,
                    "name": row.display_name.strip().lower(),
                    "domain": row.domain.strip().lower(),
                }
                for row in rows
            ],
        )
    with op.batch_alter_table("customer_relationships", schema=None) as batch_op:
        batch_op.alter_column("search_name", existing_type=KEY, nullable=False)
        batch_op.alter_column("search_domain", existing_type=KEY, nullable=False)
        batch_op.create_index(
            "ix_relationships_search_name", ["partner_account_id", "status", "search_name"]
        )
        batch_op.create_index(
            "ix_relationships_search_domain", ["partner_account_id", "status", "search_domain"]
        )
        batch_op.create_index(
            "ix_relationships_shared",
            ["partner_account_id", "other_tier_account_id", "status", "created_at", "id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("customer_relationships", schema=None) as batch_op:
        batch_op.drop_index("ix_relationships_shared")
        batch_op.drop_index("ix_relationships_search_domain")
        batch_op.drop_index("ix_relationships_search_name")
        batch_op.drop_column("search_domain")
        batch_op.drop_column("search_name")
