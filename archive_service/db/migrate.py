"""Schema migrations (Alembic), run programmatically: upgrade, and the up-to-date check."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
#: Alembic's table of the revision a database is at.
VERSION_TABLE = "alembic_version"


class DatabaseNotMigrated(Exception):
    """The database schema is missing or older than this version of the service expects."""


def alembic_config(url: str) -> Config:
    """Alembic configuration for ``url`` (no ini file needed)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` up to ``revision``."""
    command.upgrade(alembic_config(url), revision)


@cache
def head_revision() -> str:
    """The newest migration this code knows (read from the migration scripts once)."""
    head = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()
    if head is None:  # pragma: no cover - the project always ships migrations
        raise RuntimeError("no migrations found")
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or ``None`` when it was never migrated.

    Read from Alembic's version table directly: Alembic's own reader logs two lines at INFO
    each time, and ``/readyz`` asks at every probe. Several rows (branches, which these
    linear migrations never make) read as their names joined, never as the head."""
    with engine.connect() as connection:
        if not inspect(connection).has_table(VERSION_TABLE):
            return None
        revisions = connection.scalars(text(f"SELECT version_num FROM {VERSION_TABLE}")).all()
    return " + ".join(sorted(revisions)) or None


def require_up_to_date(engine: Engine) -> None:
    """Raise ``DatabaseNotMigrated`` unless the schema is at the head revision."""
    current, head = current_revision(engine), head_revision()
    if current != head:
        raise DatabaseNotMigrated(
            f"Cơ sở dữ liệu ở phiên bản lược đồ {current or 'chưa khởi tạo'}, cần {head}: "
            "chạy `archive db upgrade` trước khi khởi động dịch vụ."
        )
