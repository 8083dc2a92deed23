"""``archive admin …``: create, list and revoke API keys."""

from __future__ import annotations

import getpass
import json
from typing import TYPE_CHECKING, Annotated

import typer

from archive_service.cli_groups import command_group
from archive_service.db.cli import open_migrated_database

if TYPE_CHECKING:
    from archive_service.security.service import ApiKeyInfo

admin_app = command_group(help="Administration: API keys.", no_args_is_help=True)

EXIT_REFUSED = 1


def cli_actor() -> str:
    """How the audit trail names the operator of the command line: ``cli:<user>``."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


@admin_app.command("create-key")
def create_key(
    role: Annotated[str, typer.Option(help="depositor, archivist, auditor or admin")],
    agency: Annotated[
        str | None, typer.Option(help="agency id (required for, and only for, depositor)")
    ] = None,
    label: Annotated[str, typer.Option(help="free text to recognise the key by")] = "",
) -> None:
    """Create an API key and print it (only the key, once, on standard output)."""
    from archive_service.config import get_settings
    from archive_service.security.service import create_api_key

    database = open_migrated_database(get_settings())
    try:
        with database.session() as session:
            key = create_api_key(
                session, role=role, agency_id=agency, label=label, actor=cli_actor()
            )
    except ValueError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(EXIT_REFUSED) from exc
    finally:
        database.dispose()
    typer.echo(key)


@admin_app.command("list-keys")
def list_keys(
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """List the API keys (id, prefix, role, agency, label, dates); never the keys themselves."""
    from archive_service.config import get_settings
    from archive_service.security.service import list_api_keys

    database = open_migrated_database(get_settings())
    try:
        with database.session() as session:
            keys = list_api_keys(session)
    finally:
        database.dispose()
    if as_json:
        typer.echo(json.dumps([_as_dict(key) for key in keys], ensure_ascii=False, indent=2))
        return
    for key in keys:
        status = "active" if key.active else f"revoked {key.revoked_at:%Y-%m-%d %H:%M}"
        typer.echo(
            f"{key.id:>5}  {key.prefix}…  {key.role.value:9}  {key.agency_id or '-':20}  "
            f"{key.created_at:%Y-%m-%d %H:%M}  {status}  {key.label}"
        )


@admin_app.command("revoke-key")
def revoke_key(key_id: Annotated[int, typer.Argument(help="id shown by list-keys")]) -> None:
    """Revoke an API key for good."""
    from archive_service.config import get_settings
    from archive_service.security.service import ApiKeyNotFound, revoke_api_key

    database = open_migrated_database(get_settings())
    try:
        with database.session() as session:
            revoke_api_key(session, key_id, actor=cli_actor())
    except ApiKeyNotFound as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(EXIT_REFUSED) from exc
    finally:
        database.dispose()
    typer.echo(f"Đã thu hồi khóa API số {key_id}.")


def _as_dict(key: ApiKeyInfo) -> dict[str, object]:
    return {
        "id": key.id,
        "prefix": key.prefix,
        "role": key.role.value,
        "agency_id": key.agency_id,
        "label": key.label,
        "created_at": key.created_at.isoformat(),
        "revoked_at": key.revoked_at.isoformat() if key.revoked_at else None,
        "active": key.active,
    }
