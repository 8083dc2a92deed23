"""``archive doctor``: which external tools are installed, what each enables, what is missing."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from archive_service.formats.tools import ToolStatus, detect_tools


def doctor(
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    clamd_socket: Annotated[
        Path | None, typer.Option(help="clamd socket to try instead of the Debian defaults")
    ] = None,
) -> None:
    """List external tools (Ghostscript, tesseract, LibreOffice, ClamAV, veraPDF …)."""
    tools = detect_tools(clamd_socket)
    if as_json:
        payload = {
            "tools": [asdict(tool) for tool in tools],
            "missing": [tool.key for tool in tools if not tool.found],
            "unusable": [tool.key for tool in tools if tool.found and not tool.usable],
        }
        typer.echo(json.dumps(payload, ensure_ascii=False, indent=2))
        return
    for tool in tools:
        typer.echo(_describe(tool))
    missing = [tool.name for tool in tools if not tool.found]
    unusable = [tool.name for tool in tools if tool.found and not tool.usable]
    typer.echo(f"Thiếu: {', '.join(missing) or 'không'}")
    typer.echo(f"Có nhưng không dùng được: {', '.join(unusable) or 'không'}")


def _describe(tool: ToolStatus) -> str:
    if not tool.found:
        return "\n".join(
            [
                f"[THIẾU] {tool.name}",
                f"    dùng để:   {tool.enables}",
                f"    khi thiếu: {tool.when_missing}",
                f"    cài đặt:   {tool.install}",
            ]
        )
    mark = "[CÓ]" if tool.usable else "[KHÔNG DÙNG]"
    lines = [f"{mark} {tool.name} {tool.version or '?'} ({tool.location})"]
    lines.append(f"    dùng để:   {tool.enables}")
    lines += [f"    {key}: {value}" for key, value in tool.details.items()]
    lines += [f"    CẢNH BÁO:  {warning}" for warning in tool.warnings]
    return "\n".join(lines)
