"""One writer per dossier: at most one deposit per dossier code packaging or storing.

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_WRITING = sa.text("status IN ('packaging', 'storing')")


def upgrade() -> None:
    op.create_index(
        "uq_deposits_dossier_code_writing",
        "deposits",
        ["dossier_code"],
        unique=True,
        sqlite_where=_WRITING,
        postgresql_where=_WRITING,
    )


def downgrade() -> None:
    op.drop_index("uq_deposits_dossier_code_writing", table_name="deposits")
