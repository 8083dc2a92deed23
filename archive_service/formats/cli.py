"""``archive doctor``: which external tools are installed, what each enables, what is missing;
and whether the archive's storage really enforces retention locks (``storage.lock_probe``).

Exit status: 0, or, when the storage is probed, 1 if locks are NOT enforced and 2 if the probe
could not run (storage unreachable, bad configuration).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from archive_service.formats.tools import ToolStatus, detect_tools
from archive_service.storage.lock_probe import LockProbe, LockVerdict, probe_configured_storage

_PROBE_EXIT = {LockVerdict.ENFORCED: 0, LockVerdict.NOT_ENFORCED: 1, LockVerdict.NOT_CHECKED: 2}
_PROBE_MARK = {
    LockVerdict.ENFORCED: ("[CÓ KHÓA]", "enforced"),
    LockVerdict.NOT_ENFORCED: ("[KHÔNG KHÓA]", "NOT enforced"),
    LockVerdict.NOT_CHECKED: ("[CHƯA KIỂM TRA]", "not checked"),
}


def doctor(
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    clamd_socket: Annotated[
        Path | None, typer.Option(help="clamd socket to try instead of the Debian defaults")
    ] = None,
    storage: Annotated[
        bool,
        typer.Option(
            "--storage/--no-storage",
            help="probe whether the archive's storage enforces retention locks "
            "(writes, locks and removes a small object under .doctor/)",
        ),
    ] = True,
) -> None:
    """List the external tools and check that the storage refuses to delete a locked object.

    The tools: Ghostscript, tesseract, LibreOffice, ClamAV, veraPDF …"""
    tools = detect_tools(clamd_socket)
    probe = probe_configured_storage() if storage else None
    if as_json:
        payload = {
            "tools": [asdict(tool) for tool in tools],
            "missing": [tool.key for tool in tools if not tool.found],
            "unusable": [tool.key for tool in tools if tool.found and not tool.usable],
            "storage_locks": asdict(probe) if probe else None,
        }
        typer.echo(json.dumps(payload, ensure_ascii=False, indent=2, default=_json_value))
    else:
        for tool in tools:
            typer.echo(_describe(tool))
        missing = [tool.name for tool in tools if not tool.found]
        unusable = [tool.name for tool in tools if tool.found and not tool.usable]
        typer.echo(f"Thiếu: {', '.join(missing) or 'không'}")
        typer.echo(f"Có nhưng không dùng được: {', '.join(unusable) or 'không'}")
        if probe:
            typer.echo(_describe_probe(probe))
    if probe and _PROBE_EXIT[probe.verdict]:
        raise typer.Exit(_PROBE_EXIT[probe.verdict])


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


def _describe_probe(probe: LockProbe) -> str:
    mark, verdict = _PROBE_MARK[probe.verdict]
    lines = [f"{mark} Khóa lưu giữ của kho lưu trữ {probe.store}: {verdict}"]
    lines.append(f"    kết quả:   {probe.detail}")
    if probe.key:
        state = "còn lại" if probe.leftover_key else "đã xóa"
        lines.append(f"    đối tượng thử: {probe.key} ({state})")
    if probe.leftover_key:
        version = f", phiên bản {probe.leftover_version}" if probe.leftover_version else ""
        until = f"; xóa được sau {probe.retain_until.isoformat()}" if probe.retain_until else ""
        lines.append(
            f"    CÒN LẠI:   {probe.leftover_key}{version} ({probe.cleanup_problem}){until}"
        )
    return "\n".join(lines)


def _json_value(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
