"""Documents: the outcome of the PDF/A rendition step and why a rendition failed.

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("documents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rendition_status", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("rendition_failure", sa.Text(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_documents_rendition_status"), ["rendition_status"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("documents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_documents_rendition_status"))
        batch_op.drop_column("rendition_failure")
        batch_op.drop_column("rendition_status")
