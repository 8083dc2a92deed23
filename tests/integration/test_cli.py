"""The ``archive`` command as an operator uses it: real files, real exit codes, real output."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import pytest

from archive_service import SOFTWARE_NAME, __version__
from archive_service.config import PackageLimits, Settings
from archive_service.packages.aip_writer import (
    AipTree,
    ArchiveIdentity,
    build_aip,
    write_aip_folder,
)
from archive_service.packages.container import open_package
from archive_service.packages.plain import parse_plain_metadata
from archive_service.packages.sip_reader import read_sip
from archive_service.storage.setup import open_archive_repository
from tests.factories import make_sip_zip, sample_deposit, sample_metadata

ARCHIVE = [sys.executable, "-m", "archive_service.cli"]
FIXTURE_SIP = Path(__file__).resolve().parents[1] / "fixtures" / "sample_sip"


def run_archive(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ARCHIVE, *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
        check=False,
    )


def test_validate_accepts_a_good_sip(tmp_path: Path) -> None:
    sip = make_sip_zip(tmp_path, documents=2)
    result = run_archive("sip", "validate", str(sip))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "HỢP LỆ" in result.stdout
    assert "000.00.19.H56-240610-0001" in result.stdout


def test_validate_json_lists_every_problem_with_its_code(tmp_path: Path) -> None:
    sip = make_sip_zip(tmp_path, documents=2)
    broken = tmp_path / "broken.zip"
    with zipfile.ZipFile(sip) as src, zipfile.ZipFile(broken, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.endswith("/data/240610-0001.2.pdf"):
                data = data[:-1] + bytes([data[-1] ^ 1])
            dst.writestr(info, data)
    result = run_archive("sip", "validate", "--json", str(broken))
    assert result.returncode == 1, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["valid"] is False
    codes = {(p["code"], p["path"]) for p in report["problems"]}
    assert ("SIP_CHECKSUM_MISMATCH", "representations/rep1/data/240610-0001.2.pdf") in codes


def test_validate_exit_code_2_for_unreadable_input(tmp_path: Path) -> None:
    garbage = tmp_path / "not-a-sip.zip"
    garbage.write_bytes(b"this is not a zip file at all")
    assert run_archive("sip", "validate", str(garbage)).returncode == 2
    assert run_archive("sip", "validate", str(tmp_path / "missing.zip")).returncode == 2


def test_build_then_validate_round_trip(tmp_path: Path) -> None:
    metadata = sample_metadata(documents=3)
    deposit, sources = sample_deposit(documents=3)
    files = tmp_path / "files"
    files.mkdir()
    for document in deposit.documents:
        with sources[document.name].open() as src:
            (files / (document.file_name or document.name)).write_bytes(src.read())
    meta_path = tmp_path / "deposit.json"
    meta_path.write_text(json.dumps(metadata, ensure_ascii=False), encoding="utf-8")
    out = tmp_path / "out" / "sip.zip"
    out.parent.mkdir()

    built = run_archive(
        "sip", "build", "--metadata", str(meta_path), "--files", str(files), "--out", str(out)
    )
    assert built.returncode == 0, built.stdout + built.stderr
    assert run_archive("sip", "validate", str(out)).returncode == 0
    assert (
        parse_plain_metadata(metadata).tthc.dossier_code
        in run_archive("sip", "validate", str(out)).stdout
    )


def test_build_refuses_a_missing_file_and_writes_nothing(tmp_path: Path) -> None:
    meta_path = tmp_path / "deposit.json"
    meta_path.write_text(json.dumps(sample_metadata(documents=2)), encoding="utf-8")
    empty = tmp_path / "files"
    empty.mkdir()
    out = tmp_path / "sip.zip"
    result = run_archive(
        "sip", "build", "--metadata", str(meta_path), "--files", str(empty), "--out", str(out)
    )
    assert result.returncode == 1
    assert "PLAIN_FILE_MISSING" in result.stderr
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deposit.json", "files"]


def _sample_aip(tmp_path: Path) -> AipTree:
    limits = PackageLimits()
    source = open_package(make_sip_zip(tmp_path), limits)
    report = read_sip(source, limits)
    assert report.package is not None, report.errors
    archive = ArchiveIdentity("LTDT", "Lưu trữ tỉnh", "G09", SOFTWARE_NAME, __version__)
    return build_aip(
        report.package,
        source,
        aip_uuid=uuid4(),
        created=datetime.now(UTC),
        archive=archive,
        work_dir=tmp_path / "work",
    )


def test_aip_show_reads_an_aip_folder(tmp_path: Path) -> None:
    folder = write_aip_folder(_sample_aip(tmp_path), tmp_path / "aip")
    result = run_archive("aip", "show", str(folder))
    assert result.returncode == 0, result.stderr
    assert "Đăng ký kết hôn" in result.stdout
    assert "rep1" in result.stdout
    shown = json.loads(run_archive("aip", "show", "--json", str(folder)).stdout)
    assert shown["tthc"]["dossierCode"] == "000.00.19.H56-240610-0001"


def test_aip_show_reads_an_aip_from_the_configured_store(tmp_path: Path) -> None:
    tree = _sample_aip(tmp_path)
    data_dir = tmp_path / "data"
    repository = open_archive_repository(Settings(data_dir=data_dir))
    repository.add_version(
        tree.object_id,
        tree.files,
        message="ingest",
        user_name="test",
        user_address="mailto:test@example.org",
        created=datetime.now(UTC),
    )
    result = run_archive("aip", "show", tree.object_id, env={"ARCHIVE_DATA_DIR": str(data_dir)})
    assert result.returncode == 0, result.stderr
    assert tree.object_id in result.stdout
    assert "Đăng ký kết hôn" in result.stdout


def test_aip_show_unknown_id_in_store(tmp_path: Path) -> None:
    result = run_archive(
        "aip",
        "show",
        "urn:G09:uuid-00000000-0000-0000-0000-000000000000",
        env={"ARCHIVE_DATA_DIR": str(tmp_path / "data")},
    )
    assert result.returncode == 2
    assert "Không có AIP" in result.stderr


@pytest.mark.parametrize("command", [["--help"], ["sip", "--help"], ["aip", "show", "--help"]])
def test_help_texts(command: list[str]) -> None:
    result = run_archive(*command)
    assert result.returncode == 0
    assert "Usage" in result.stdout


def test_help_paragraphs_are_wrapped_to_the_terminal_not_to_the_source_lines() -> None:
    wide = {"COLUMNS": "200"}
    serve = run_archive("serve", "--help", env=wide).stdout
    assert "migrates the SQLite database and prints a first admin key" in serve
    daily = run_archive("retention", "daily", "--help", env=wide).stdout
    assert "extends the locks of permanent dossiers and lists the dossiers due" in daily


def test_serve_listens_on_localhost_port_8000_unless_told_otherwise() -> None:
    result = run_archive("serve", "--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.replace("│", " ").split())
    assert "--host <str> address to listen on [default: 127.0.0.1]" in text
    assert "--port <int> port to listen on [default: 8000]" in text


def test_fixture_sample_is_valid_with_warnings_only(tmp_path: Path) -> None:
    folder = next(FIXTURE_SIP.iterdir())
    copy = tmp_path / folder.name
    shutil.copytree(folder, copy)
    result = run_archive("sip", "validate", str(copy))
    assert result.returncode == 0, result.stdout
    assert "warning" in result.stdout


def test_config_show_hides_every_secret(tmp_path: Path) -> None:
    result = run_archive(
        "config",
        "show",
        env={
            "ARCHIVE_DATA_DIR": str(tmp_path),
            "ARCHIVE_DATABASE_URL": "postgresql+psycopg2://archive:db-s3cret@db:5432/archive",
            "ARCHIVE_BROKER_URL": "redis://:broker-s3cret@redis:6379/0",
            "ARCHIVE_S3_SECRET_KEY": "s3-s3cret",
        },
    )
    assert result.returncode == 0, result.stderr
    assert "s3cret" not in result.stdout
    shown = json.loads(result.stdout)
    assert shown["database_url"] == "postgresql+psycopg2://archive:***@db:5432/archive"
    assert shown["broker_url"] == "redis://:***@redis:6379/0"


def test_config_file_is_read_below_the_environment_and_its_secrets_are_hidden(
    tmp_path: Path,
) -> None:
    config = tmp_path / "archive.toml"
    config.write_text(
        'archive_code = "G09"\n'
        'database_url = "postgresql+psycopg2://archive:file-s3cret@db:5432/archive"\n'
        "workers = 3\n"
        "[limits]\nmax_ratio = 50.0\n",
        encoding="utf-8",
    )
    result = run_archive(
        "config",
        "show",
        env={
            "ARCHIVE_CONFIG_FILE": str(config),
            "ARCHIVE_DATA_DIR": str(tmp_path),
            "ARCHIVE_WORKERS": "5",
        },
    )
    assert result.returncode == 0, result.stderr
    assert "s3cret" not in result.stdout
    shown = json.loads(result.stdout)
    assert shown["archive_code"] == "G09"
    assert shown["database_url"] == "postgresql+psycopg2://archive:***@db:5432/archive"
    assert shown["workers"] == 5  # the environment is stronger than the file
    assert shown["limits"]["max_ratio"] == 50.0


@pytest.mark.parametrize(
    ("file_text", "environment", "message"),
    [
        (None, {}, "ARCHIVE_CONFIG_FILE: không có tệp"),
        ('archive_code = "G09\n', {}, "không đọc được tệp cấu hình TOML"),
        (
            'databse_url = "sqlite://"\n[limits]\nmax_ratoi = 3\n',
            {},
            "databse_url, limits.max_ratoi",
        ),
        ('[limits]\nmax_ratio = "abc"\n', {}, "ARCHIVE_LIMIT_MAX_RATIO (limits.max_ratio)"),
        ("", {"ARCHIVE_WORKERS": "many"}, "ARCHIVE_WORKERS (workers): Input should be"),
        ("", {"ARCHIVE_SIGNATURE_TRUST_ANCHORS": "[bad"}, '"signature_trust_anchors"'),
    ],
    ids=[
        "missing file",
        "not TOML",
        "unknown keys",
        "bad value in file",
        "bad value in env",
        "list not JSON",
    ],
)
def test_a_configuration_that_cannot_be_used_is_one_clear_message(
    tmp_path: Path, file_text: str | None, environment: dict[str, str], message: str
) -> None:
    config = tmp_path / "archive.toml"
    if file_text is not None:
        config.write_text(file_text, encoding="utf-8")
    env = {"ARCHIVE_CONFIG_FILE": str(config), "ARCHIVE_DATA_DIR": str(tmp_path / "data")}
    for command in (["config", "show"], ["db", "upgrade"]):
        result = run_archive(*command, env={**env, **environment})
        assert result.returncode == 2, result.stderr
        assert result.stdout == ""
        assert result.stderr.startswith("Cấu hình không dùng được — ")
        assert message in result.stderr
        assert "Traceback" not in result.stderr
    assert not (tmp_path / "data").exists()  # nothing was created on the way


def test_an_invalid_secret_is_named_but_its_value_never_shown(tmp_path: Path) -> None:
    result = run_archive(
        "config",
        "show",
        env={"ARCHIVE_DATA_DIR": str(tmp_path), "ARCHIVE_S3_SECRET_KEY": "", "ARCHIVE_TSA_URL": ""},
    )
    assert result.returncode == 0, result.stderr  # empty values are valid: nothing to report
    config = tmp_path / "archive.toml"
    config.write_text('database_url = ["postgresql://u:list-s3cret@db/x"]\n', encoding="utf-8")
    result = run_archive("config", "show", env={"ARCHIVE_CONFIG_FILE": str(config)})
    assert result.returncode == 2
    assert "ARCHIVE_DATABASE_URL (database_url)" in result.stderr
    assert "s3cret" not in result.stderr
