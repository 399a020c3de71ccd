"""grant extension requests

Revision ID: 470f186d2e3d
Revises: dce284a3182f
Create Date: 2026-11-24 07:01:58.822069
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "470f186d2e3d"
down_revision: str | None = "dce284a3182f"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    with op.batch_alter_table("delegated_access_grants", schema=None) as batch_op:
        batch_op.add_column(sa.Column("extension_days", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("extension_requested_at", sa.DateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:

    with op.batch_alter_table("delegated_access_grants", schema=None) as batch_op:
        batch_op.drop_column("extension_requested_at")
        batch_op.drop_column("extension_days")
