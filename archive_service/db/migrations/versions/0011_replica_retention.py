"""Replica retention: per stored object, how far the replica's copy follows its dossier's
storage lock, so that a sync extends the copies whose lock is behind the primary's (D-39).

Existing copies get no row: the next sync looks each copy of a locked dossier up once.

Revision ID: 0011
Revises: 0010
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from archive_service.db.base import UtcDateTime

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "replica_retention",
        sa.Column("stored_object_id", sa.Integer(), nullable=False),
        sa.Column("retained_until", UtcDateTime(), nullable=True),
        sa.Column("recorded_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["stored_object_id"],
            ["stored_objects.id"],
            name=op.f("fk_replica_retention_stored_object_id_stored_objects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("stored_object_id", name=op.f("pk_replica_retention")),
    )


def downgrade() -> None:
    op.drop_table("replica_retention")
