"""The audit export: a JSON Lines file a third party verifies offline, without the service.

Line 1 is the header (``type`` ``header``: format, archive, export time, the public key in PEM
and its fingerprint); then one line per checkpoint (``type`` ``checkpoint``, oldest first); then
one line per entry (``type`` ``entry``, by ``seq``), each with the fields of its canonical form
and its stored ``entry_hash`` (see ``integrity.chain``).

Which key to trust: verifying with the key inside the file only proves that the file is
consistent — whoever rewrote the entries could also have re-signed them with a key of their own
and put that key into the header. An auditor compares the printed fingerprint with the one the
archive published, or passes the archive's public key obtained separately (``--public-key``);
checkpoints signed by any other key then fail.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, TextIO

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy.orm import Session

from archive_service.db.base import utcnow
from archive_service.integrity.audit_log import iter_chain_entries, load_checkpoints
from archive_service.integrity.chain import (
    ChainEntry,
    ChainProblem,
    ChainVerifier,
    MalformedRecord,
    ProblemKind,
    SignedCheckpoint,
    VerificationReport,
    format_timestamp,
    key_fingerprint,
    parse_timestamp,
)
from archive_service.integrity.checkpoints import load_public_key, public_key_pem

EXPORT_FORMAT = "archive-audit-export/1"


class ExportUnreadable(Exception):
    """The file is not an audit export (no readable header or key)."""


@dataclass(frozen=True)
class ExportSummary:
    """What an export holds."""

    entries: int
    checkpoints: int
    key_fingerprint: str


def write_export(
    session: Session, public_key: Ed25519PublicKey, archive_code: str, out: TextIO
) -> ExportSummary:
    """Write the whole trail of ``session``'s database to ``out`` (one consistent read)."""
    checkpoints = load_checkpoints(session)  # before the entries: every span is then present
    fingerprint = key_fingerprint(public_key)
    header = {
        "type": "header",
        "format": EXPORT_FORMAT,
        "archive": archive_code,
        "exported_at": format_timestamp(utcnow()),
        "public_key": public_key_pem(public_key),
        "key_fingerprint": fingerprint,
    }
    _write_line(out, header)
    for checkpoint in checkpoints:
        _write_line(out, {"type": "checkpoint", **checkpoint.as_json()})
    entries = 0
    for entry in iter_chain_entries(session):
        _write_line(out, {"type": "entry", **entry.as_json()})
        entries += 1
    return ExportSummary(entries, len(checkpoints), fingerprint)


def _write_line(out: TextIO, record: dict[str, Any]) -> None:
    out.write(json.dumps(record, ensure_ascii=False, sort_keys=True, separators=(",", ":")))
    out.write("\n")


@dataclass(frozen=True)
class ExportVerification:
    """The outcome of verifying an export, and with which key."""

    report: VerificationReport
    archive: str
    exported_at: datetime
    key_fingerprint: str  # of the key used
    key_from_file: bool  # True: the key in the header was used (see module doc)
    file_key_fingerprint: str


def verify_export(
    lines: Iterable[str], public_key: Ed25519PublicKey | None = None
) -> ExportVerification:
    """Verify an export read line by line; with ``public_key``, ignore the file's own key."""
    numbered = enumerate(lines, start=1)
    header = _header(numbered)
    file_key = _file_key(header)
    key = public_key or file_key
    checkpoints: list[SignedCheckpoint] = []
    verifier: ChainVerifier | None = None
    malformed: ChainProblem | None = None
    for number, line in numbered:
        try:
            record = _record(line)
            kind = record.get("type")
            if kind == "checkpoint" and verifier is None:
                checkpoints.append(SignedCheckpoint.from_json(record))
            elif kind == "entry":
                verifier = verifier or ChainVerifier(checkpoints, key)
                verifier.add(ChainEntry.from_json(record))
            else:
                raise MalformedRecord(f"bản ghi loại {kind!r} không đúng chỗ")
        except MalformedRecord as exc:
            malformed = ChainProblem(None, ProblemKind.MALFORMED, f"dòng {number}: {exc}")
            break
    report = (verifier or ChainVerifier(checkpoints, key)).finish()
    if malformed is not None:
        report = replace(report, problems=[malformed, *report.problems])
    return ExportVerification(
        report=report,
        archive=header["archive"],
        exported_at=header["exported_at"],
        key_fingerprint=key_fingerprint(key),
        key_from_file=public_key is None,
        file_key_fingerprint=key_fingerprint(file_key),
    )


def _record(line: str) -> dict[str, Any]:
    try:
        record = json.loads(line)
    except ValueError as exc:
        raise MalformedRecord(f"không phải JSON: {exc}") from exc
    if not isinstance(record, dict):
        raise MalformedRecord("không phải đối tượng JSON")
    return record


def _header(numbered: Iterator[tuple[int, str]]) -> dict[str, Any]:
    first = next(numbered, None)
    if first is None:
        raise ExportUnreadable("tệp xuất nhật ký kiểm toán trống")
    try:
        header = _record(first[1])
    except MalformedRecord as exc:
        raise ExportUnreadable(f"dòng đầu của tệp xuất: {exc}") from exc
    if header.get("type") != "header" or header.get("format") != EXPORT_FORMAT:
        raise ExportUnreadable(f"tệp không phải bản xuất nhật ký kiểm toán {EXPORT_FORMAT}")
    try:
        header["exported_at"] = parse_timestamp(str(header.get("exported_at")))
    except MalformedRecord as exc:
        raise ExportUnreadable(f"dòng đầu: exported_at {exc}") from exc
    if not isinstance(header.get("archive"), str):
        raise ExportUnreadable("dòng đầu thiếu mã kho lưu trữ (archive)")
    return header


def _file_key(header: dict[str, Any]) -> Ed25519PublicKey:
    try:
        return load_public_key(str(header["public_key"]).encode())
    except (KeyError, ValueError) as exc:
        raise ExportUnreadable(f"dòng đầu không có khóa công khai Ed25519 đọc được: {exc}") from exc
