"""Fixity: runs, one row per object check, and each stored object's last check.

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from archive_service.db.base import UtcDateTime

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("stored_objects", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_checked_at", UtcDateTime(), nullable=True))
        batch_op.add_column(sa.Column("last_outcome", sa.String(length=20), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_stored_objects_last_checked_at"), ["last_checked_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_stored_objects_last_outcome"), ["last_outcome"], unique=False
        )

    op.create_table(
        "fixity_runs",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("scope", sa.String(length=20), nullable=False),
        sa.Column("scope_value", sa.String(length=200), nullable=True),
        sa.Column("requested_by", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("started_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.Column("finished_at", UtcDateTime(), nullable=True),
        sa.Column("objects_total", sa.Integer(), nullable=False),
        sa.Column("bytes_total", sa.BigInteger(), nullable=False),
        sa.Column("objects_ok", sa.Integer(), nullable=False),
        sa.Column("objects_mismatch", sa.Integer(), nullable=False),
        sa.Column("objects_missing", sa.Integer(), nullable=False),
        sa.Column("objects_error", sa.Integer(), nullable=False),
        sa.Column("objects_repaired", sa.Integer(), nullable=False),
        sa.Column("bytes_checked", sa.BigInteger(), nullable=False),
        sa.Column("coverage", sa.Float(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fixity_runs")),
    )
    with op.batch_alter_table("fixity_runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_fixity_runs_started_at"), ["started_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_fixity_runs_status"), ["status"], unique=False)

    op.create_table(
        "fixity_checks",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("run_id", _BIG_ID, nullable=False),
        sa.Column("stored_object_id", sa.Integer(), nullable=True),
        sa.Column("dossier_id", sa.Integer(), nullable=True),
        sa.Column("storage", sa.String(length=50), nullable=False),
        sa.Column("key", sa.String(length=1024), nullable=False),
        sa.Column("version_id", sa.String(length=200), nullable=False),
        sa.Column("aip_version", sa.String(length=20), nullable=False),
        sa.Column("expected_sha256", sa.String(length=64), nullable=False),
        sa.Column("expected_size", sa.BigInteger(), nullable=False),
        sa.Column("inventory_sha256", sa.String(length=64), nullable=True),
        sa.Column("actual_sha256", sa.String(length=64), nullable=True),
        sa.Column("actual_size", sa.BigInteger(), nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("checked_at", UtcDateTime(), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("repair", sa.String(length=20), nullable=True),
        sa.Column("repair_detail", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["dossier_id"],
            ["dossiers.id"],
            name=op.f("fk_fixity_checks_dossier_id_dossiers"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["fixity_runs.id"],
            name=op.f("fk_fixity_checks_run_id_fixity_runs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["stored_object_id"],
            ["stored_objects.id"],
            name=op.f("fk_fixity_checks_stored_object_id_stored_objects"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fixity_checks")),
    )
    with op.batch_alter_table("fixity_checks", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_fixity_checks_checked_at"), ["checked_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_fixity_checks_dossier_id"), ["dossier_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_fixity_checks_outcome"), ["outcome"], unique=False)
        batch_op.create_index(batch_op.f("ix_fixity_checks_repair"), ["repair"], unique=False)
        batch_op.create_index(batch_op.f("ix_fixity_checks_run_id"), ["run_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_fixity_checks_stored_object_id"), ["stored_object_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("fixity_checks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_fixity_checks_stored_object_id"))
        batch_op.drop_index(batch_op.f("ix_fixity_checks_run_id"))
        batch_op.drop_index(batch_op.f("ix_fixity_checks_repair"))
        batch_op.drop_index(batch_op.f("ix_fixity_checks_outcome"))
        batch_op.drop_index(batch_op.f("ix_fixity_checks_dossier_id"))
        batch_op.drop_index(batch_op.f("ix_fixity_checks_checked_at"))
    op.drop_table("fixity_checks")
    with op.batch_alter_table("fixity_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_fixity_runs_status"))
        batch_op.drop_index(batch_op.f("ix_fixity_runs_started_at"))
    op.drop_table("fixity_runs")
    with op.batch_alter_table("stored_objects", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_stored_objects_last_outcome"))
        batch_op.drop_index(batch_op.f("ix_stored_objects_last_checked_at"))
        batch_op.drop_column("last_outcome")
        batch_op.drop_column("last_checked_at")
