"""Virus check of deposited files with ClamAV: through a ``clamd`` Unix socket (INSTREAM) or the
``clamscan`` executable with a configured signature database.

A result is ``clean`` only when the scanner answered that it scanned the file and found
nothing. Anything that prevents a real scan — no scanner, no database, a timeout, a file larger
than the scanner's limit — is ``error`` or ``not-performed``, never ``clean``.

Results carry the engine and signature-database version for the PREMIS ``virus check`` event.
"""

from __future__ import annotations

import re
import socket
import struct
import subprocess
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from subprocess import DEVNULL
from typing import Protocol

from archive_service.config import Settings
from archive_service.streams import iter_chunks

ENGINE = "ClamAV"
NO_SCANNER = "no scanner configured"
#: Largest file clamscan is asked to scan whole (ClamAV's own ceiling is 4000 MB).
CLAMSCAN_MAX_BYTES = 4000 * 1024 * 1024
CLAMD_CHUNK = 1024 * 1024
_REPLY_LIMIT = 64 * 1024
_SUMMARY_START = "----------- SCAN SUMMARY -----------"
_KNOWN_VIRUSES = re.compile(r"^Known viruses:\s*(\d+)", re.MULTILINE)
_ENGINE_VERSION = re.compile(r"^Engine version:\s*(\S+)", re.MULTILINE)


class ScanStatus(StrEnum):
    CLEAN = "clean"
    INFECTED = "infected"
    ERROR = "error"
    NOT_PERFORMED = "not-performed"


@dataclass(frozen=True)
class ScanResult:
    """The virus check of one file."""

    file_name: str
    status: ScanStatus
    signature: str | None = None
    engine: str | None = None
    tool: str | None = None
    engine_version: str | None = None
    database_version: str | None = None
    signature_count: int | None = None
    detail: str = ""

    @property
    def agent(self) -> str | None:
        """``ClamAV 1.4.6`` — the PREMIS agent that performed the check, when one did."""
        if self.engine is None:
            return None
        return f"{self.engine} {self.engine_version}" if self.engine_version else self.engine

    @property
    def database(self) -> str:
        """What is known of the signature database: version and/or signature count."""
        parts = []
        if self.database_version:
            parts.append(f"phiên bản {self.database_version}")
        if self.signature_count is not None:
            parts.append(f"{self.signature_count} chữ ký")
        return ", ".join(parts) or "không rõ"

    def problem_message(self, name_in_package: str) -> str | None:
        """Why this file stops the deposit, in Vietnamese; ``None`` when it does not."""
        if self.status is ScanStatus.INFECTED:
            return (
                f"Tệp '{name_in_package}' nhiễm mã độc: {self.signature} "
                f"(phát hiện bởi {self.agent}, cơ sở dữ liệu chữ ký {self.database})"
            )
        if self.status is ScanStatus.ERROR:
            return f"Không quét được virus cho tệp '{name_in_package}': {self.detail}"
        return None


@dataclass(frozen=True)
class VirusCheckEvent:
    """What the PREMIS ``virus check`` event of one file says."""

    outcome: str
    detail: str
    outcome_detail: str
    agent_name: str | None
    agent_version: str | None


def premis_event(result: ScanResult) -> VirusCheckEvent:
    """Outcome ``success`` (clean), ``failure`` (infected or error) or ``not performed``; the
    detail names the engine, how it was run and its signature database."""
    if result.status is ScanStatus.NOT_PERFORMED:
        outcome = "not performed"
    else:
        outcome = "success" if result.status is ScanStatus.CLEAN else "failure"
    if result.engine is None:
        detail = "không quét virus"
    else:
        detail = f"{result.agent} ({result.tool}), cơ sở dữ liệu chữ ký: {result.database}"
    found = f": {result.signature}" if result.signature else ""
    extra = f" — {result.detail}" if result.detail else ""
    return VirusCheckEvent(
        outcome=outcome,
        detail=detail,
        outcome_detail=f"{result.status}{found}{extra}",
        agent_name=f"{result.engine} ({result.tool})" if result.engine else None,
        agent_version=result.engine_version,
    )


class VirusScanner(Protocol):
    """Scans files; ``scan_many`` lets a scanner load its database once for many files."""

    def scan(self, path: Path) -> ScanResult: ...

    def scan_many(self, paths: Sequence[Path]) -> list[ScanResult]: ...


class _OneByOne(ABC):
    """``scan_many`` as a loop over ``scan``."""

    @abstractmethod
    def scan(self, path: Path) -> ScanResult: ...

    def scan_many(self, paths: Sequence[Path]) -> list[ScanResult]:
        return [self.scan(path) for path in paths]


class NoScanner(_OneByOne):
    """No scanner configured: every check is ``not-performed``."""

    def scan(self, path: Path) -> ScanResult:
        return ScanResult(Path(path).name, ScanStatus.NOT_PERFORMED, detail=NO_SCANNER)


def parse_version_line(line: str) -> tuple[str | None, str | None]:
    """``ClamAV 1.4.6/27500/Thu …`` → (``1.4.6``, ``27500``); no database part without one."""
    line = line.strip().rstrip("\0")
    if not line.startswith(f"{ENGINE} "):
        return None, None
    parts = line.removeprefix(f"{ENGINE} ").split("/")
    return parts[0].strip() or None, (parts[1].strip() if len(parts) > 1 else None) or None


def _answered(base: ScanResult, answer: str, tool: str) -> ScanResult:
    """The verdict in a ClamAV answer (``OK``, ``<name> FOUND``, ``Empty file``, or an error)."""
    if answer.endswith(" FOUND"):
        return replace(base, status=ScanStatus.INFECTED, signature=answer[:-6].strip())
    if answer == "OK":
        return replace(base, status=ScanStatus.CLEAN)
    if answer == "Empty file":
        return replace(base, status=ScanStatus.CLEAN, detail="tệp rỗng")
    return replace(base, status=ScanStatus.ERROR, detail=f"{tool}: {answer or 'không trả lời'}")


def _failed(base: ScanResult, detail: str) -> ScanResult:
    return replace(base, status=ScanStatus.ERROR, detail=detail)


# --------------------------------------------------------------------------- clamscan


class ClamscanScanner:
    """``clamscan --database=DIR --stdout`` over a batch of files (the database loads once)."""

    def __init__(
        self,
        database_dir: Path | None,
        *,
        executable: str = "clamscan",
        timeout: float = 600.0,
        max_bytes: int = CLAMSCAN_MAX_BYTES,
    ) -> None:
        self.database_dir = database_dir
        self.executable = executable
        self.timeout = timeout
        self.max_bytes = max_bytes

    def scan(self, path: Path) -> ScanResult:
        return self.scan_many([path])[0]

    def scan_many(self, paths: Sequence[Path]) -> list[ScanResult]:
        """One result per path, in order; ``timeout`` applies per file."""
        absolute = [Path(path).resolve() for path in paths]
        too_large = {path for path in absolute if _size(path) > self.max_bytes}
        to_scan = [path for path in absolute if path not in too_large]
        scanned = self._run(to_scan) if to_scan else {}
        return [self._too_large(path) if path in too_large else scanned[path] for path in absolute]

    def _database_arguments(self) -> list[str]:
        return [f"--database={self.database_dir}"] if self.database_dir else []

    def _run(self, paths: list[Path]) -> dict[Path, ScanResult]:
        limit = f"{self.max_bytes // (1024 * 1024)}M"
        command = [
            self.executable,
            *self._database_arguments(),
            "--stdout",
            f"--max-filesize={limit}",
            f"--max-scansize={limit}",
            "--",
            *map(str, paths),
        ]
        timeout = self.timeout * len(paths)
        base = ScanResult("", ScanStatus.ERROR, engine=ENGINE, tool="clamscan")
        try:
            finished = subprocess.run(
                command, capture_output=True, timeout=timeout, check=False, stdin=DEVNULL
            )
        except OSError as problem:
            detail = f"không chạy được chương trình quét '{self.executable}': {problem}"
            return {path: _failed(replace(base, file_name=path.name), detail) for path in paths}
        except subprocess.TimeoutExpired:
            detail = f"clamscan không trả lời trong {timeout:g} giây"
            return {path: _failed(replace(base, file_name=path.name), detail) for path in paths}
        body, _, summary = finished.stdout.decode("utf-8", "replace").partition(_SUMMARY_START)
        errors = finished.stderr.decode("utf-8", "replace").strip()
        base = self._with_engine_facts(base, summary)
        if not base.signature_count:
            detail = "cơ sở dữ liệu chữ ký virus trống hoặc không nạp được"
            detail += f": {errors.splitlines()[-1]}" if errors else ""
            return {path: _failed(replace(base, file_name=path.name), detail) for path in paths}
        answers = _answers(body.splitlines(), paths)
        missing = "clamscan không trả kết quả cho tệp này" + (f": {errors}" if errors else "")
        return {
            path: _answered(replace(base, file_name=path.name), answers[path], "clamscan")
            if path in answers
            else _failed(replace(base, file_name=path.name), missing)
            for path in paths
        }

    def _with_engine_facts(self, base: ScanResult, summary: str) -> ScanResult:
        """Engine version and signature count from the scan summary, database version from
        ``clamscan --version`` (a custom database has none)."""
        known = _KNOWN_VIRUSES.search(summary)
        engine_version = _ENGINE_VERSION.search(summary)
        return replace(
            base,
            engine_version=engine_version.group(1) if engine_version else None,
            database_version=self._database_version(),
            signature_count=int(known.group(1)) if known else None,
        )

    def _database_version(self) -> str | None:
        try:
            finished = subprocess.run(
                [self.executable, *self._database_arguments(), "--version"],
                capture_output=True,
                timeout=60,
                check=False,
                stdin=DEVNULL,
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return parse_version_line(finished.stdout.decode("utf-8", "replace"))[1]

    def _too_large(self, path: Path) -> ScanResult:
        return ScanResult(
            path.name,
            ScanStatus.NOT_PERFORMED,
            engine=ENGINE,
            tool="clamscan",
            detail=f"tệp lớn hơn giới hạn quét của ClamAV ({self.max_bytes} byte)",
        )


def _answers(lines: list[str], paths: list[Path]) -> dict[Path, str]:
    """clamscan's ``<path>: <answer>`` lines by path (matched by prefix: names may hold ':')."""
    answers = {}
    for path in paths:
        prefix = f"{path}: "
        answer = next((line[len(prefix) :] for line in lines if line.startswith(prefix)), None)
        if answer is not None:
            answers[path] = answer
    return answers


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0  # clamscan reports the missing file itself


# --------------------------------------------------------------------------- clamd


class ClamdScanner(_OneByOne):
    """The ``clamd`` daemon over its Unix socket: ``zVERSION`` then ``zINSTREAM``.

    clamd's own limits apply (``StreamMaxLength``, ``MaxFileSize``, ``MaxScanSize`` in
    clamd.conf): set them at least as large as the largest deposited file.
    """

    def __init__(self, socket_path: Path, *, timeout: float = 600.0) -> None:
        self.socket_path = socket_path
        self.timeout = timeout

    def scan(self, path: Path) -> ScanResult:
        base = ScanResult(Path(path).name, ScanStatus.ERROR, engine=ENGINE, tool="clamd")
        try:
            engine_version, database_version = parse_version_line(self._command(b"zVERSION\0"))
            base = replace(base, engine_version=engine_version, database_version=database_version)
            reply = self._instream(Path(path))
        except OSError as problem:
            return _failed(base, f"không quét được qua clamd '{self.socket_path}': {problem}")
        return _answered(base, reply.removeprefix("stream:").strip(), "clamd")

    def _connect(self) -> socket.socket:
        connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        connection.settimeout(self.timeout)
        try:
            connection.connect(str(self.socket_path))
        except OSError:
            connection.close()
            raise
        return connection

    def _command(self, command: bytes) -> str:
        with self._connect() as connection:
            connection.sendall(command)
            return _read_reply(connection)

    def _instream(self, path: Path) -> str:
        """Stream the file in length-prefixed chunks; a zero-length chunk ends it.

        clamd closes the connection early when a limit is exceeded; its reply is still read.
        """
        with self._connect() as connection, open(path, "rb") as stream:
            try:
                connection.sendall(b"zINSTREAM\0")
                for chunk in iter_chunks(stream, CLAMD_CHUNK):
                    connection.sendall(struct.pack(">I", len(chunk)) + chunk)
                connection.sendall(struct.pack(">I", 0))
            except (BrokenPipeError, ConnectionResetError):
                pass
            return _read_reply(connection)


def _read_reply(connection: socket.socket) -> str:
    """A NUL-terminated reply (``z``-prefixed commands)."""
    received = b""
    while b"\0" not in received and len(received) < _REPLY_LIMIT:
        data = connection.recv(4096)
        if not data:
            break
        received += data
    return received.split(b"\0", 1)[0].decode("utf-8", "replace").strip()


# --------------------------------------------------------------------------- configuration


def scanner_from_settings(settings: Settings) -> VirusScanner:
    """The scanner the settings name (``virus_scanner``: none, clamscan or clamd)."""
    kind = settings.virus_scanner
    timeout = settings.virus_scan_timeout_seconds
    if kind == "clamscan":
        return ClamscanScanner(settings.clamav_database_dir, timeout=timeout)
    if kind == "clamd":
        return ClamdScanner(settings.clamd_socket, timeout=timeout)
    return NoScanner()


def scan(path: Path, settings: Settings) -> ScanResult:
    """Scan one file with the configured scanner."""
    return scanner_from_settings(settings).scan(path)
