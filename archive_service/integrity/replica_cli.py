"""``archive replica sync``: bring the replica up to date now (the service also does it every
``replica_sync_seconds``: ``replica_schedule.py``).

Every current stored object the replica is not known to hold (``--full``: every one, each
looked up on the replica again) is copied from the primary store when the replica lacks it or
holds other bytes, verified against the SHA-256 recorded at ingest and under the primary's
retention; then the copies whose lock is behind the primary's (a retention extended since) are
extended to it. Exit 0 when every object visited is on the replica under the primary's
retention; 1 when any copy or extension failed; 2 when no replica is configured (the database
not migrated: the exit code of ``archive db``).
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from archive_service.cli_groups import command_group

replica_app = command_group(help="The replica: a second store that repairs draw from.")

EXIT_SYNCED, EXIT_FAILED, EXIT_UNUSABLE = 0, 1, 2


@replica_app.command("sync")
def sync(
    full: Annotated[
        bool,
        typer.Option(
            "--full", help="look up every object on the replica, not only those not synced yet"
        ),
    ] = False,
) -> None:
    """Copy to the replica every stored object it lacks, verified; exit 1 on any failure."""
    from archive_service.config import get_settings
    from archive_service.db.cli import open_migrated_database
    from archive_service.integrity.repair import open_replica_store
    from archive_service.integrity.replica_sync import SyncBusy, one_sync_at_a_time, sync_replica
    from archive_service.storage.setup import open_archive_repository

    settings = get_settings()
    replica = open_replica_store(settings)
    if replica is None:
        print("Chưa cấu hình bản sao (ARCHIVE_REPLICA_STORAGE_URL).", file=sys.stderr)
        raise typer.Exit(EXIT_UNUSABLE)
    database = open_migrated_database(settings)  # says why and exits when not migrated
    try:
        primary = open_archive_repository(settings).store
        with one_sync_at_a_time(database):
            result = sync_replica(database, primary, replica, full=full)
    except SyncBusy as busy:
        print(f"Không đồng bộ được lúc này: {busy}", file=sys.stderr)
        raise typer.Exit(EXIT_FAILED) from None
    finally:
        database.dispose()
    print(f"bản sao: đã chép {result.copied}, đã có sẵn {result.present}, lỗi {len(result.failed)}")
    print(f"khóa trên bản sao: đã gia hạn {result.extended}, lỗi {len(result.not_extended)}")
    for key in result.failed:
        print(f"  không chép được: {key}", file=sys.stderr)
    for key in result.not_extended:
        print(f"  không gia hạn được khóa: {key}", file=sys.stderr)
    raise typer.Exit(EXIT_SYNCED if result.ok else EXIT_FAILED)
