"""Audit: keyed content hashes; rows whose hash does not match are marked and kept out of the chain

Every existing record gets ``hash_version`` 1 (plain SHA-256) and keeps verifying as it did;
new records are written with version 2 (HMAC with the audit key, which the database never
sees, so this migration cannot re-hash anything). Records still waiting for the sealer are
sealed here with the old rules, as the old sealer would have done seconds later: after this,
the sealer accepts only keyed records, and would refuse them.

Revision ID: c0a1e5e11a02
Revises: c0a1e5e11a01
Create Date: 2026-12-01 22:00:00
"""

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "c0a1e5e11a02"
down_revision: str | None = "c0a1e5e11a01"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GENESIS = "0" * 64
BATCH = 1000

records = sa.table(
    "audit_records",
    sa.column("id", sa.Uuid()),
    sa.column("at", sa.DateTime(timezone=True)),
    sa.column("content_hash", sa.String(64)),
    sa.column("seq", sa.BigInteger()),
    sa.column("prev_hash", sa.String(64)),
    sa.column("chain_hash", sa.String(64)),
)
head_table = sa.table(
    "audit_chain_head",
    sa.column("id", sa.Integer()),
    sa.column("seq", sa.BigInteger()),
    sa.column("hash", sa.String(64)),
    sa.column("updated_at", sa.DateTime(timezone=True)),
)


def upgrade() -> None:
    with op.batch_alter_table("audit_records", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "hash_version", sa.SmallInteger(), server_default=sa.text("1"), nullable=False
            )
        )
        batch_op.add_column(sa.Column("refused_at", sa.DateTime(timezone=True), nullable=True))
    _seal_pending_unkeyed()


def _seal_pending_unkeyed() -> None:
    """Chain the records written before this upgrade and not sealed yet (plain SHA-256)."""
    conn = op.get_bind()
    head = conn.execute(
        sa.select(head_table.c.seq, head_table.c.hash).where(head_table.c.id == 1).with_for_update()
    ).first()
    seq, prev = (head.seq, head.hash) if head is not None else (0, GENESIS)
    moved = False
    # A record without a content hash was not written by twotier: the sealer refuses it.
    pending = (
        sa.select(records.c.id, records.c.content_hash)
        .where(records.c.seq.is_(None), records.c.content_hash.is_not(None))
        .order_by(records.c.at, records.c.id)
        .limit(BATCH)
    )
    chain = (
        records.update()
        .where(records.c.id == sa.bindparam("record_id"))
        .values(
            seq=sa.bindparam("new_seq"),
            prev_hash=sa.bindparam("new_prev"),
            chain_hash=sa.bindparam("new_chain"),
        )
    )
    while rows := conn.execute(pending).all():
        changes = []
        for record_id, content_hash in rows:
            seq += 1
            link = hashlib.sha256(f"{seq}:{prev}:{content_hash}".encode()).hexdigest()
            changes.append(
                {"record_id": record_id, "new_seq": seq, "new_prev": prev, "new_chain": link}
            )
            prev = link
        conn.execute(chain, changes)
        moved = True
    if not moved:
        return
    now = datetime.now(UTC)
    if head is None:
        conn.execute(head_table.insert().values(id=1, seq=seq, hash=prev, updated_at=now))
    else:
        conn.execute(
            head_table.update()
            .where(head_table.c.id == 1)
            .values(seq=seq, hash=prev, updated_at=now)
        )


def downgrade() -> None:
    # Keyed records keep their HMAC hashes: the unkeyed code cannot verify them.
    with op.batch_alter_table("audit_records", schema=None) as batch_op:
        batch_op.drop_column("refused_at")
        batch_op.drop_column("hash_version")
