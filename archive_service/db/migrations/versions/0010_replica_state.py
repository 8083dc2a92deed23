"""Stored objects: the SHA-256 the replica was last seen or made to hold, so that a sync visits
only the objects the replica has not caught up with.

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("stored_objects", schema=None) as batch_op:
        batch_op.add_column(sa.Column("replica_sha256", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("stored_objects", schema=None) as batch_op:
        batch_op.drop_column("replica_sha256")
