"""Retention: the dossier's term, disposal date, review status and storage lock; holds;
disposal proposals and their items; destruction records.

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from archive_service.db.base import UtcDateTime

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "disposal_proposals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("proposed_by", sa.String(length=200), nullable=False),
        sa.Column("proposed_at", UtcDateTime(), nullable=False),
        sa.Column("decision_number", sa.String(length=100), nullable=True),
        sa.Column("decision_date", sa.Date(), nullable=True),
        sa.Column("signer", sa.String(length=200), nullable=True),
        sa.Column("approved_by", sa.String(length=200), nullable=True),
        sa.Column("approved_at", UtcDateTime(), nullable=True),
        sa.Column("executed_by", sa.String(length=200), nullable=True),
        sa.Column("execution_started_at", UtcDateTime(), nullable=True),
        sa.Column("executed_at", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disposal_proposals")),
    )
    with op.batch_alter_table("disposal_proposals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_disposal_proposals_status"), ["status"], unique=False)

    op.create_table(
        "destruction_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("proposal_id", sa.Integer(), nullable=False),
        sa.Column("dossier_code", sa.String(length=100), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("agency_id", sa.String(length=100), nullable=False),
        sa.Column("file_code", sa.String(length=100), nullable=False),
        sa.Column("procedure_code", sa.String(length=50), nullable=False),
        sa.Column("aip_object_id", sa.String(length=200), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=False),
        sa.Column("retention_code", sa.String(length=10), nullable=False),
        sa.Column("retention_years", sa.Integer(), nullable=True),
        sa.Column("disposal_date", sa.Date(), nullable=False),
        sa.Column("retention_basis", sa.JSON(), nullable=False),
        sa.Column("decision_number", sa.String(length=100), nullable=False),
        sa.Column("decision_date", sa.Date(), nullable=False),
        sa.Column("signer", sa.String(length=200), nullable=False),
        sa.Column("proposed_by", sa.String(length=200), nullable=False),
        sa.Column("approved_by", sa.String(length=200), nullable=False),
        sa.Column("executed_by", sa.String(length=200), nullable=False),
        sa.Column("objects", sa.JSON(), nullable=False),
        sa.Column("object_count", sa.Integer(), nullable=False),
        sa.Column("total_bytes", sa.BigInteger(), nullable=False),
        sa.Column("started_at", UtcDateTime(), nullable=False),
        sa.Column("destroyed_at", UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["proposal_id"],
            ["disposal_proposals.id"],
            name=op.f("fk_destruction_records_proposal_id_disposal_proposals"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_destruction_records")),
        sa.UniqueConstraint(
            "proposal_id",
            "dossier_code",
            name=op.f("uq_destruction_records_proposal_id_dossier_code"),
        ),
    )
    with op.batch_alter_table("destruction_records", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_destruction_records_dossier_code"), ["dossier_code"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_destruction_records_proposal_id"), ["proposal_id"], unique=False
        )

    op.create_table(
        "disposal_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("proposal_id", sa.Integer(), nullable=False),
        sa.Column("dossier_code", sa.String(length=100), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("retention_code", sa.String(length=10), nullable=False),
        sa.Column("disposal_date", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("skip_reason", sa.Text(), nullable=True),
        sa.Column("processed_at", UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["proposal_id"],
            ["disposal_proposals.id"],
            name=op.f("fk_disposal_items_proposal_id_disposal_proposals"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disposal_items")),
        sa.UniqueConstraint(
            "proposal_id", "dossier_code", name=op.f("uq_disposal_items_proposal_id_dossier_code")
        ),
    )
    with op.batch_alter_table("disposal_items", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_disposal_items_dossier_code"), ["dossier_code"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_disposal_items_proposal_id"), ["proposal_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_disposal_items_status"), ["status"], unique=False)

    op.create_table(
        "dossier_holds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dossier_id", sa.Integer(), nullable=False),
        sa.Column("dossier_code", sa.String(length=100), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("reference", sa.String(length=200), nullable=False),
        sa.Column("placed_by", sa.String(length=200), nullable=False),
        sa.Column("placed_at", UtcDateTime(), nullable=False),
        sa.Column("released_by", sa.String(length=200), nullable=True),
        sa.Column("released_at", UtcDateTime(), nullable=True),
        sa.Column("release_reason", sa.Text(), nullable=True),
        sa.Column("storage_synced_at", UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["dossier_id"],
            ["dossiers.id"],
            name=op.f("fk_dossier_holds_dossier_id_dossiers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dossier_holds")),
    )
    with op.batch_alter_table("dossier_holds", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_dossier_holds_dossier_code"), ["dossier_code"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_dossier_holds_dossier_id"), ["dossier_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_dossier_holds_released_at"), ["released_at"], unique=False
        )

    with op.batch_alter_table("dossiers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("retention_code", sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column("retention_years", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("disposal_date", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("retention_basis", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("review_status", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("locks_applied_at", UtcDateTime(), nullable=True))
        batch_op.add_column(sa.Column("locked_until", UtcDateTime(), nullable=True))
        batch_op.add_column(sa.Column("lock_mode", sa.String(length=20), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_dossiers_disposal_date"), ["disposal_date"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_dossiers_locks_applied_at"), ["locks_applied_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_dossiers_retention_code"), ["retention_code"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_dossiers_review_status"), ["review_status"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("dossiers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dossiers_review_status"))
        batch_op.drop_index(batch_op.f("ix_dossiers_retention_code"))
        batch_op.drop_index(batch_op.f("ix_dossiers_locks_applied_at"))
        batch_op.drop_index(batch_op.f("ix_dossiers_disposal_date"))
        batch_op.drop_column("lock_mode")
        batch_op.drop_column("locked_until")
        batch_op.drop_column("locks_applied_at")
        batch_op.drop_column("review_status")
        batch_op.drop_column("retention_basis")
        batch_op.drop_column("disposal_date")
        batch_op.drop_column("retention_years")
        batch_op.drop_column("retention_code")

    with op.batch_alter_table("dossier_holds", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dossier_holds_released_at"))
        batch_op.drop_index(batch_op.f("ix_dossier_holds_dossier_id"))
        batch_op.drop_index(batch_op.f("ix_dossier_holds_dossier_code"))

    op.drop_table("dossier_holds")
    with op.batch_alter_table("disposal_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_disposal_items_status"))
        batch_op.drop_index(batch_op.f("ix_disposal_items_proposal_id"))
        batch_op.drop_index(batch_op.f("ix_disposal_items_dossier_code"))

    op.drop_table("disposal_items")
    with op.batch_alter_table("destruction_records", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_destruction_records_proposal_id"))
        batch_op.drop_index(batch_op.f("ix_destruction_records_dossier_code"))

    op.drop_table("destruction_records")
    with op.batch_alter_table("disposal_proposals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_disposal_proposals_status"))

    op.drop_table("disposal_proposals")
