"""Deposits: what a deposit waits for (another deposit of its dossier, another writer of its
OCFL object) and since when, so that a wait that does not end shows on the deposit.

Revision ID: 0012
Revises: 0011
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from archive_service.db.base import UtcDateTime

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("deposits", sa.Column("waiting_for", sa.String(length=20), nullable=True))
    op.add_column("deposits", sa.Column("waiting_since", UtcDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deposits") as batch:
        batch.drop_column("waiting_since")
        batch.drop_column("waiting_for")
