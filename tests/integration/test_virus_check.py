"""Virus check with the real ClamAV tools: ``clamscan`` and a ``clamd`` started here on a Unix
socket in a temporary directory.

Official signatures cannot be downloaded here, so each test run makes its own database: the
EICAR test string's MD5 and size in a ``.hdb`` file. ClamAV reports a hash signature from an
unofficial database with an ``.UNOFFICIAL`` suffix.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from archive_service.config import Settings
from archive_service.formats.virus import (
    NO_SCANNER,
    ClamdScanner,
    ClamscanScanner,
    ScanResult,
    ScanStatus,
    parse_version_line,
    premis_event,
    scan,
    scanner_from_settings,
)
from tests import formats_fixtures as fx

SIGNATURE = "Archive.Test.EICAR"
FOUND = f"{SIGNATURE}.UNOFFICIAL"
CLAMD_START_SECONDS = 60  # how long to wait for the socket; clamd normally needs well under 1 s


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("quet-virus")
    container = directory / "ho-so-kem-eicar.zip"
    with zipfile.ZipFile(container, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("tai-lieu/eicar.txt", fx.EICAR)
    empty = directory / "rong.txt"
    empty.write_bytes(b"")
    return {
        "eicar": fx.eicar(directory / "eicar: tệp thử.txt"),
        "pdf": fx.vietnamese_pdf(directory / "quyết định.pdf"),
        "zip": container,
        "empty": empty,
    }


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ClamAV database directory with one hash signature: the EICAR string."""
    directory = tmp_path_factory.mktemp("clamav-db")
    md5 = hashlib.md5(fx.EICAR).hexdigest()
    (directory / "archive-test.hdb").write_text(f"{md5}:{len(fx.EICAR)}:{SIGNATURE}\n")
    return directory


def assert_clamav(result: ScanResult) -> None:
    assert result.engine == "ClamAV"
    assert result.engine_version and re.fullmatch(r"\d+\.\d+(\.\d+)?", result.engine_version)
    assert result.agent == f"ClamAV {result.engine_version}"


# --------------------------------------------------------------------------- no scanner


def test_without_a_scanner_the_check_is_not_performed(files: dict[str, Path]) -> None:
    result = scanner_from_settings(Settings(virus_scanner="none")).scan(files["eicar"])

    assert result.status is ScanStatus.NOT_PERFORMED
    assert result.detail == NO_SCANNER == "no scanner configured"
    assert result.agent is None
    assert result.problem_message("eicar.txt") is None
    event = premis_event(result)
    assert (event.outcome, event.agent_name) == ("not performed", None)
    assert "no scanner configured" in event.outcome_detail


# --------------------------------------------------------------------------- clamscan


def test_clamscan_finds_eicar_and_passes_a_pdf(files: dict[str, Path], database: Path) -> None:
    scanner = ClamscanScanner(database)

    eicar, pdf, container, empty = scanner.scan_many(
        [files["eicar"], files["pdf"], files["zip"], files["empty"]]
    )

    assert (eicar.status, eicar.signature, eicar.file_name) == (
        ScanStatus.INFECTED,
        FOUND,
        files["eicar"].name,
    )
    assert container.status is ScanStatus.INFECTED and container.signature == FOUND
    assert pdf.status is ScanStatus.CLEAN and pdf.signature is None
    assert empty.status is ScanStatus.CLEAN and empty.detail == "tệp rỗng"
    for result in (eicar, pdf, container, empty):
        assert_clamav(result)
        assert result.signature_count == 1
        assert result.database_version is None  # a custom database has no version
        assert result.database == "1 chữ ký"


def test_infected_file_message_names_the_file_and_the_signature(
    files: dict[str, Path], database: Path
) -> None:
    result = scan(files["eicar"], Settings(virus_scanner="clamscan", clamav_database_dir=database))

    message = result.problem_message("representations/rep1/data/eicar.txt")

    assert result.status is ScanStatus.INFECTED
    assert message and "representations/rep1/data/eicar.txt" in message and FOUND in message
    assert "nhiễm mã độc" in message and "ClamAV" in message


def test_premis_event_names_engine_version_and_database(
    files: dict[str, Path], database: Path
) -> None:
    eicar, pdf = ClamscanScanner(database).scan_many([files["eicar"], files["pdf"]])

    infected, clean = premis_event(eicar), premis_event(pdf)

    assert (infected.outcome, clean.outcome) == ("failure", "success")
    assert infected.outcome_detail == f"infected: {FOUND}"
    assert clean.outcome_detail == "clean"
    assert infected.agent_name == "ClamAV (clamscan)"
    assert infected.agent_version == eicar.engine_version
    assert f"ClamAV {eicar.engine_version} (clamscan)" in infected.detail
    assert "1 chữ ký" in infected.detail


@pytest.mark.parametrize("broken", ["missing database", "empty database", "missing program"])
def test_clamscan_failures_are_errors_never_clean(
    broken: str, files: dict[str, Path], database: Path, tmp_path: Path
) -> None:
    empty_dir = tmp_path / "db-trong"
    empty_dir.mkdir()
    scanner = {
        "missing database": ClamscanScanner(tmp_path / "khong-co"),
        "empty database": ClamscanScanner(empty_dir),
        "missing program": ClamscanScanner(database, executable=str(tmp_path / "clamscan")),
    }[broken]

    results = scanner.scan_many([files["pdf"], files["eicar"]])

    for result in results:
        assert result.status is ScanStatus.ERROR, result
        assert result.detail
        assert result.problem_message("x.pdf") is not None


def test_missing_file_is_an_error(database: Path, files: dict[str, Path], tmp_path: Path) -> None:
    missing, pdf = ClamscanScanner(database).scan_many([tmp_path / "khong-co.pdf", files["pdf"]])

    assert missing.status is ScanStatus.ERROR and missing.file_name == "khong-co.pdf"
    assert pdf.status is ScanStatus.CLEAN


def test_clamscan_timeout_is_an_error(files: dict[str, Path], database: Path) -> None:
    result = ClamscanScanner(database, timeout=1e-6).scan(files["pdf"])

    assert result.status is ScanStatus.ERROR and "không trả lời" in result.detail


def test_file_over_the_scan_limit_is_not_performed(files: dict[str, Path], database: Path) -> None:
    large, small = ClamscanScanner(database, max_bytes=1024).scan_many(
        [files["pdf"], files["eicar"]]
    )

    assert large.status is ScanStatus.NOT_PERFORMED and "giới hạn" in large.detail
    assert small.status is ScanStatus.INFECTED


# --------------------------------------------------------------------------- clamd


def start_clamd(directory: Path, database: Path, *extra: str) -> tuple[subprocess.Popen, Path]:
    socket_path = directory / "clamd.sock"
    config = directory / "clamd.conf"
    config.write_text(
        "\n".join(
            [
                f"LocalSocket {socket_path}",
                f"DatabaseDirectory {database}",
                f"TemporaryDirectory {directory}",
                f"LogFile {directory / 'clamd.log'}",
                "Foreground yes",
                *extra,
            ]
        )
        + "\n"
    )
    process = subprocess.Popen(
        ["clamd", f"--config-file={config}"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + CLAMD_START_SECONDS
    while not socket_path.is_socket():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            log = directory / "clamd.log"
            raise RuntimeError(f"clamd did not start: {log.read_text() if log.exists() else ''}")
        time.sleep(0.05)
    return process, socket_path


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="module")
def clamd_socket(tmp_path_factory: pytest.TempPathFactory, database: Path) -> Iterator[Path]:
    process, socket_path = start_clamd(tmp_path_factory.mktemp("clamd"), database)
    try:
        yield socket_path
    finally:
        stop(process)


def test_clamd_finds_eicar_and_passes_a_pdf(files: dict[str, Path], clamd_socket: Path) -> None:
    scanner = scanner_from_settings(Settings(virus_scanner="clamd", clamd_socket=clamd_socket))

    eicar, pdf, container = scanner.scan_many([files["eicar"], files["pdf"], files["zip"]])

    assert eicar.status is ScanStatus.INFECTED and eicar.signature == FOUND
    assert container.status is ScanStatus.INFECTED
    assert pdf.status is ScanStatus.CLEAN
    for result in (eicar, pdf, container):
        assert_clamav(result)
        assert result.tool == "clamd"
    assert premis_event(eicar).agent_name == "ClamAV (clamd)"


def test_clamd_stream_limit_is_an_error_not_clean(
    tmp_path: Path, database: Path, files: dict[str, Path]
) -> None:
    process, socket_path = start_clamd(tmp_path, database, "StreamMaxLength 1K")
    try:
        result = ClamdScanner(socket_path).scan(files["pdf"])
    finally:
        stop(process)

    assert result.status is ScanStatus.ERROR
    assert "limit" in result.detail


def test_clamd_not_running_is_an_error(files: dict[str, Path], tmp_path: Path) -> None:
    result = ClamdScanner(tmp_path / "khong-co.sock").scan(files["pdf"])

    assert result.status is ScanStatus.ERROR and "clamd" in result.detail
    assert result.engine == "ClamAV" and result.engine_version is None


def test_version_line_parsing() -> None:
    assert parse_version_line("ClamAV 1.4.6/27500/Thu Nov 27 09:30:00 2026\n") == (
        "1.4.6",
        "27500",
    )
    assert parse_version_line("ClamAV 1.4.6\0") == ("1.4.6", None)
    assert parse_version_line("something else") == (None, None)
