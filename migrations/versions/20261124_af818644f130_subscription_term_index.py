"""subscription term index

Revision ID: af818644f130
Revises: a910f8452a87
Create Date: 2026-11-24 09:12:24.282888
"""

from collections.abc import Sequence

from alembic import op

revision: str = "af818644f130"
down_revision: str | None = "a910f8452a87"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.create_index("ix_subscriptions_term_end", ["term_ends_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.drop_index("ix_subscriptions_term_end")
