"""Holds in the AIP: each hold names the PREMIS events of its placing and release and the AIP
version whose ``PREMIS.xml`` first carries each. Holds placed before are linked to their events
in the catalogue (by the detail the archive wrote), so the daily task writes them into the AIP.

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_EVENT = sa.text(
    "SELECT event_id FROM premis_events WHERE dossier_id = :dossier_id "
    "AND event_type = 'policy assignment' AND detail LIKE :prefix ORDER BY id LIMIT 1"
)


def upgrade() -> None:
    with op.batch_alter_table("dossier_holds", schema=None) as batch_op:
        batch_op.add_column(sa.Column("placed_event_id", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("placed_in_aip", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("released_event_id", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("released_in_aip", sa.String(length=20), nullable=True))
    _link_existing_events()


def _link_existing_events() -> None:
    """Find the catalogue events of holds placed before this version (their detail begins
    ``Đặt lệnh giữ số <id> đối với`` / ``Gỡ lệnh giữ số <id> đối với``)."""
    connection = op.get_bind()
    holds = connection.execute(
        sa.text("SELECT id, dossier_id, released_at FROM dossier_holds ORDER BY id")
    ).all()
    for hold_id, dossier_id, released_at in holds:
        values = {
            "placed": _event(connection, dossier_id, f"Đặt lệnh giữ số {hold_id} đối với%"),
            "released": (
                _event(connection, dossier_id, f"Gỡ lệnh giữ số {hold_id} đối với%")
                if released_at is not None
                else None
            ),
        }
        connection.execute(
            sa.text(
                "UPDATE dossier_holds SET placed_event_id = :placed, "
                "released_event_id = :released WHERE id = :id"
            ),
            {**values, "id": hold_id},
        )


def _event(connection: sa.Connection, dossier_id: int, prefix: str) -> str | None:
    found = connection.execute(_EVENT, {"dossier_id": dossier_id, "prefix": prefix}).scalar()
    return None if found is None else str(found)


def downgrade() -> None:
    with op.batch_alter_table("dossier_holds", schema=None) as batch_op:
        batch_op.drop_column("released_in_aip")
        batch_op.drop_column("released_event_id")
        batch_op.drop_column("placed_in_aip")
        batch_op.drop_column("placed_event_id")
