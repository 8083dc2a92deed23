"""The embedded default signs audit checkpoints on its own clock; a broker leaves it to beat."""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import func, select

from archive_service.config import Settings
from archive_service.db.session import Database
from archive_service.integrity.checkpoint_schedule import start_checkpoint_background
from archive_service.integrity.models import AuditCheckpoint
from archive_service.storage.filesystem import FilesystemStore
from tests.audit_support import fill_trail


def checkpoints(database: Database) -> int:
    with database.read_session() as session:
        return int(session.scalar(select(func.count()).select_from(AuditCheckpoint)) or 0)


def settings_for(tmp_path: Path, **values: object) -> Settings:
    return Settings(data_dir=tmp_path / "data", audit_checkpoint_interval_seconds=0.2, **values)  # type: ignore[arg-type]


def test_checkpoints_are_signed_in_process_without_a_broker(
    database: Database, tmp_path: Path
) -> None:
    fill_trail(database, 5)
    stop = start_checkpoint_background(
        settings_for(tmp_path), database, FilesystemStore(tmp_path / "store")
    )
    try:
        deadline = time.monotonic() + 30
        while checkpoints(database) == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop()
    assert checkpoints(database) == 1  # nothing new after the first: no empty checkpoints


def test_with_a_broker_the_service_leaves_checkpoints_to_beat(
    database: Database, tmp_path: Path
) -> None:
    fill_trail(database, 5)
    stop = start_checkpoint_background(
        settings_for(tmp_path, broker_url="redis://127.0.0.1:6379/15"),
        database,
        FilesystemStore(tmp_path / "store"),
    )
    time.sleep(1.0)
    stop()
    assert checkpoints(database) == 0
