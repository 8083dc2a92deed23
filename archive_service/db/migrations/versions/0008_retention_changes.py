"""Retention changes: what each dossier's term was computed from (facts, schedule version and
SHA-256), and the changes written as new AIP versions (schedule recomputation, shortening).

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from archive_service.db.base import UtcDateTime

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PENDING = sa.text("status = 'pending'")


def upgrade() -> None:
    with op.batch_alter_table("dossiers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("retention_facts", sa.JSON(), nullable=True))
        batch_op.add_column(
            sa.Column("retention_schedule_version", sa.String(length=100), nullable=True)
        )
        batch_op.add_column(
            sa.Column("retention_schedule_sha256", sa.String(length=64), nullable=True)
        )
        batch_op.create_index(
            batch_op.f("ix_dossiers_retention_schedule_sha256"),
            ["retention_schedule_sha256"],
            unique=False,
        )

    op.create_table(
        "retention_changes",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("dossier_id", sa.Integer(), nullable=False),
        sa.Column("dossier_code", sa.String(length=100), nullable=False),
        sa.Column("origin", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("base_version", sa.String(length=20), nullable=False),
        sa.Column("aip_version", sa.String(length=20), nullable=True),
        sa.Column("previous", sa.JSON(), nullable=False),
        sa.Column("decision", sa.JSON(), nullable=False),
        sa.Column("event_id", sa.String(length=100), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("reference", sa.String(length=200), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=True),
        sa.Column("remote_addr", sa.String(length=100), nullable=True),
        sa.Column("schedule_version", sa.String(length=100), nullable=True),
        sa.Column("schedule_sha256", sa.String(length=64), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("finished_at", UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["dossier_id"],
            ["dossiers.id"],
            name=op.f("fk_retention_changes_dossier_id_dossiers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_retention_changes")),
    )
    with op.batch_alter_table("retention_changes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_retention_changes_dossier_code"), ["dossier_code"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_retention_changes_dossier_id"), ["dossier_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_retention_changes_status"), ["status"], unique=False)
    op.create_index(
        "uq_retention_changes_dossier_pending",
        "retention_changes",
        ["dossier_id"],
        unique=True,
        sqlite_where=_PENDING,
        postgresql_where=_PENDING,
    )


def downgrade() -> None:
    op.drop_index("uq_retention_changes_dossier_pending", table_name="retention_changes")
    with op.batch_alter_table("retention_changes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_retention_changes_status"))
        batch_op.drop_index(batch_op.f("ix_retention_changes_dossier_id"))
        batch_op.drop_index(batch_op.f("ix_retention_changes_dossier_code"))

    op.drop_table("retention_changes")
    with op.batch_alter_table("dossiers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dossiers_retention_schedule_sha256"))
        batch_op.drop_column("retention_schedule_sha256")
        batch_op.drop_column("retention_schedule_version")
        batch_op.drop_column("retention_facts")
