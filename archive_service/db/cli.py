"""``archive db …``: migrate the configured database and show its schema version."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from archive_service.cli_groups import command_group

if TYPE_CHECKING:
    from archive_service.config import Settings
    from archive_service.db.session import Database

db_app = command_group(help="Database: migrations.", no_args_is_help=True)

EXIT_NOT_MIGRATED = 1


def shown_url(url: str) -> str:
    """``url`` with its password hidden."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def sqlite_file(url: str) -> Path | None:
    """The file of an SQLite URL, or ``None`` for other databases and in-memory SQLite."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def open_migrated_database(settings: Settings) -> Database:
    """The configured database, or a message on stderr and exit 1 when it is not migrated.

    An SQLite file that does not exist yet is reported without being created.
    """
    from archive_service.db.migrate import DatabaseNotMigrated, require_up_to_date
    from archive_service.db.session import Database

    url = settings.effective_database_url()
    file = sqlite_file(url)
    if file is not None and not file.exists():
        typer.echo(f"Chưa có cơ sở dữ liệu {file}: chạy `archive db upgrade` trước.", err=True)
        raise typer.Exit(EXIT_NOT_MIGRATED)
    database = Database(url)
    try:
        require_up_to_date(database.engine)
    except DatabaseNotMigrated as exc:
        database.dispose()
        typer.echo(str(exc), err=True)
        raise typer.Exit(EXIT_NOT_MIGRATED) from exc
    return database


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Migrate the configured database to the newest schema (creates the SQLite file)."""
    from archive_service.config import get_settings
    from archive_service.db.migrate import head_revision, upgrade

    url = get_settings().effective_database_url()
    file = sqlite_file(url)
    if file is not None:
        file.parent.mkdir(parents=True, exist_ok=True)
    upgrade(url)
    typer.echo(f"Cơ sở dữ liệu {shown_url(url)} ở phiên bản {head_revision()}.")


@db_app.command("current")
def db_current() -> None:
    """Print the schema version of the configured database; exit 1 unless it is the newest."""
    from archive_service.config import get_settings
    from archive_service.db.migrate import current_revision, head_revision
    from archive_service.db.session import Database

    url = get_settings().effective_database_url()
    file = sqlite_file(url)
    head = head_revision()
    current = None
    if file is None or file.exists():
        database = Database(url)
        try:
            current = current_revision(database.engine)
        finally:
            database.dispose()
    if current == head:
        typer.echo(f"{current} (mới nhất)")
        return
    typer.echo(f"{current or 'chưa khởi tạo'} (cần {head}: chạy `archive db upgrade`)")
    raise typer.Exit(EXIT_NOT_MIGRATED)
