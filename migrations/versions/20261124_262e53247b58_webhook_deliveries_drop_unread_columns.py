"""webhook deliveries: drop the unread last_attempt_at and last_response_status

The attempts table holds each attempt's time and response; nothing read these copies.

Revision ID: 262e53247b58
Revises: af818644f130
Create Date: 2026-11-24 09:53:00.695269
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "262e53247b58"
down_revision: str | None = "af818644f130"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.drop_column("last_attempt_at")
        batch_op.drop_column("last_response_status")


def downgrade() -> None:
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_response_status", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True))
