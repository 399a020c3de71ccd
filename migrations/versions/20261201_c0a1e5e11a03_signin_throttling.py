"""Sign-in throttling: rate-limit windows remember their latest event (growing delays)

Revision ID: c0a1e5e11a03
Revises: c0a1e5e11a02
Create Date: 2026-12-01 22:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c0a1e5e11a03"
down_revision: str | None = "c0a1e5e11a02"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("rate_limit_counters", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_hit_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("rate_limit_counters", schema=None) as batch_op:
        batch_op.drop_column("last_hit_at")
