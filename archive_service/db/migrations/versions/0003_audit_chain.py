"""Audit chain: sequence numbers and hashes on audit entries, signed checkpoints.

Existing entries are chained in the order they were written (by id).

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from archive_service.db.base import UtcDateTime
from archive_service.integrity.chain import GENESIS_HASH, EntryContent

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("audit_entries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("seq", _SEQ, nullable=True))
        batch_op.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("entry_hash", sa.String(length=64), nullable=True))
    _chain_existing_entries()
    with op.batch_alter_table("audit_entries", schema=None) as batch_op:
        batch_op.alter_column("seq", existing_type=_SEQ, nullable=False)
        batch_op.alter_column("prev_hash", existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column("entry_hash", existing_type=sa.String(length=64), nullable=False)
        batch_op.create_unique_constraint(batch_op.f("uq_audit_entries_seq"), ["seq"])

    op.create_table(
        "audit_checkpoints",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("archive_code", sa.String(length=50), nullable=False),
        sa.Column("first_seq", _SEQ, nullable=False),
        sa.Column("last_seq", _SEQ, nullable=False),
        sa.Column("merkle_root", sa.String(length=64), nullable=False),
        sa.Column("head_hash", sa.String(length=64), nullable=False),
        sa.Column("signature", sa.String(length=128), nullable=False),
        sa.Column("key_fingerprint", sa.String(length=64), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("storage_key", sa.String(length=300), nullable=False),
        sa.Column("tsa_token", sa.LargeBinary(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_checkpoints")),
        sa.UniqueConstraint("first_seq", name=op.f("uq_audit_checkpoints_first_seq")),
        sa.UniqueConstraint("last_seq", name=op.f("uq_audit_checkpoints_last_seq")),
    )


def downgrade() -> None:
    op.drop_table("audit_checkpoints")
    with op.batch_alter_table("audit_entries", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_audit_entries_seq"), type_="unique")
        batch_op.drop_column("entry_hash")
        batch_op.drop_column("prev_hash")
        batch_op.drop_column("seq")


def _chain_existing_entries() -> None:
    entries = sa.table(
        "audit_entries",
        sa.column("id", sa.Integer()),
        sa.column("at", UtcDateTime()),
        sa.column("actor", sa.String()),
        sa.column("role", sa.String()),
        sa.column("action", sa.String()),
        sa.column("target_type", sa.String()),
        sa.column("target_id", sa.String()),
        sa.column("remote_addr", sa.String()),
        sa.column("detail", sa.JSON()),
        sa.column("seq", sa.Integer()),
        sa.column("prev_hash", sa.String()),
        sa.column("entry_hash", sa.String()),
    )
    connection = op.get_bind()
    rows = connection.execute(sa.select(entries).order_by(entries.c.id)).mappings().all()
    prev_hash = GENESIS_HASH
    for seq, row in enumerate(rows, start=1):
        content = EntryContent(
            seq=seq,
            at=row["at"],
            actor=row["actor"],
            role=row["role"],
            action=row["action"],
            target_type=row["target_type"],
            target_id=row["target_id"],
            remote_addr=row["remote_addr"],
            detail=row["detail"] or {},
            prev_hash=prev_hash,
        )
        entry_hash = content.digest()
        connection.execute(
            entries.update()
            .where(entries.c.id == row["id"])
            .values(seq=seq, prev_hash=prev_hash, entry_hash=entry_hash)
        )
        prev_hash = entry_hash
