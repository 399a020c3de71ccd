"""A customer search answers in the order of the key it matched (name, else domain) and
then the id: the search indexes end with the id, so each serves a page in that order

Revision ID: f3a4b5c6d701
Revises: e2f3a4b5c601
Create Date: 2026-12-08 02:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "f3a4b5c6d701"
down_revision: str | None = "e2f3a4b5c601"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEYS = ("search_name", "search_domain")


def _indexes(with_id: bool) -> None:
    with op.batch_alter_table("customer_relationships", schema=None) as batch_op:
        for key in KEYS:
            name = f"ix_relationships_{key}"
            batch_op.drop_index(name)
            columns = ["partner_account_id", "status", key] + (["id"] if with_id else [])
            batch_op.create_index(name, columns)


def upgrade() -> None:
    _indexes(with_id=True)


def downgrade() -> None:
    _indexes(with_id=False)
