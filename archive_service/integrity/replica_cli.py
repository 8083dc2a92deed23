"""``archive replica sync``: bring the replica up to date (run it from cron, like the daily task).

Every current stored object the replica lacks, or holds with another SHA-256, is copied from the
primary store after being verified against the SHA-256 recorded at ingest. Exit 0 when the
replica holds every object; 1 when any copy failed; 2 when no replica is configured (the
database not migrated: the exit code of ``archive db``).
"""

from __future__ import annotations

import sys

import typer

replica_app = typer.Typer(help="The replica: a second store that repairs draw from.")

EXIT_SYNCED, EXIT_FAILED, EXIT_UNUSABLE = 0, 1, 2


@replica_app.command("sync")
def sync() -> None:
    """Copy to the replica every stored object it lacks, verified; exit 1 on any failure."""
    from archive_service.config import get_settings
    from archive_service.db.cli import open_migrated_database
    from archive_service.integrity.repair import open_replica_store, sync_replica
    from archive_service.storage.setup import open_archive_repository

    settings = get_settings()
    replica = open_replica_store(settings)
    if replica is None:
        print("Chưa cấu hình bản sao (ARCHIVE_REPLICA_STORAGE_URL).", file=sys.stderr)
        raise typer.Exit(EXIT_UNUSABLE)
    database = open_migrated_database(settings)  # says why and exits when not migrated
    try:
        primary = open_archive_repository(settings).store
        result = sync_replica(database, primary, replica)
    finally:
        database.dispose()
    print(f"bản sao: đã chép {result.copied}, đã có sẵn {result.present}, lỗi {len(result.failed)}")
    for key in result.failed:
        print(f"  không chép được: {key}", file=sys.stderr)
    raise typer.Exit(EXIT_FAILED if result.failed else EXIT_SYNCED)
