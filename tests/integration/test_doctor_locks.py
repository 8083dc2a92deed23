"""``archive doctor`` asks the storage whether it really enforces retention locks: a probe
object under ``.doctor/`` is locked and deleted without a bypass. Run on the filesystem store
and on the real S3 servers, with an Object Lock bucket (enforced) and buckets without Object
Lock (NOT enforced, a failing exit status); the probe is always cleaned up, or reported.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from minio.commonconfig import ENABLED
from minio.versioningconfig import VersioningConfig

from archive_service.storage.base import ObjectStore, RetentionMode
from archive_service.storage.filesystem import FilesystemStore
from archive_service.storage.lock_probe import PROBE_PREFIX, LockVerdict, probe_locks
from archive_service.storage.s3 import S3Store
from tests.integration.api_client import ARCHIVE, archive_environment
from tests.s3server.servers import S3Server


def _probes_left(store: ObjectStore) -> list[str]:
    return [info.key for info in store.list_versions(PROBE_PREFIX)]


@pytest.fixture(params=["versioned", "plain"])
def unlocked_bucket(
    request: pytest.FixtureRequest, s3_server: S3Server, s3_store: S3Store
) -> Iterator[str]:
    """A bucket without Object Lock on the same server, with or without versioning."""
    client = s3_server.client()
    bucket = f"{s3_store.bucket}-{request.param}"
    client.make_bucket(bucket)
    if request.param == "versioned":
        client.set_bucket_versioning(bucket, VersioningConfig(ENABLED))
    yield bucket
    client.remove_bucket(bucket)  # fails the test if the probe was left behind


def _doctor(
    data_dir: Path, *options: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ARCHIVE, "doctor", "--clamd-socket", str(data_dir / "no-clamd"), *options],
        capture_output=True,
        text=True,
        env=archive_environment(data_dir, env),
        timeout=120,
        check=False,
    )


def _s3_env(server: S3Server, bucket: str) -> dict[str, str]:
    return {
        "ARCHIVE_STORAGE_URL": f"s3://{bucket}",
        "ARCHIVE_S3_ENDPOINT": server.endpoint,
        "ARCHIVE_S3_ACCESS_KEY": server.access_key,
        "ARCHIVE_S3_SECRET_KEY": server.secret_key,
        "ARCHIVE_S3_REGION": server.region,
    }


# --- the probe itself ---------------------------------------------------------------------------


def test_filesystem_store_enforces_locks_in_code_and_the_probe_is_removed(
    fs_store: FilesystemStore,
) -> None:
    before = datetime.now(UTC)
    probe = probe_locks(fs_store)

    assert probe.verdict is LockVerdict.ENFORCED and probe.ok, probe.detail
    assert probe.enforced_by == "archive code" and "kho tệp" in probe.detail
    assert probe.key is not None and probe.key.startswith(".doctor/lock-probe-")
    assert probe.mode == "GOVERNANCE"
    assert probe.retain_until is not None
    assert (
        before + timedelta(hours=23) < probe.retain_until <= before + timedelta(days=1, minutes=1)
    )
    assert (probe.leftover_key, probe.cleanup_problem) == (None, None)
    assert _probes_left(fs_store) == []
    assert not (fs_store.root / ".doctor").exists()


def test_object_lock_bucket_enforces_locks(s3_store: S3Store) -> None:
    probe = probe_locks(s3_store)

    assert probe.verdict is LockVerdict.ENFORCED, probe.detail
    assert probe.enforced_by == "storage" and probe.leftover_key is None
    assert _probes_left(s3_store) == []  # removed with the governance bypass


def test_bucket_without_object_lock_is_not_enforced(
    s3_server: S3Server, unlocked_bucket: str
) -> None:
    store = S3Store(s3_server.client(), unlocked_bucket)

    probe = probe_locks(store)

    assert probe.verdict is LockVerdict.NOT_ENFORCED and not probe.ok, probe.detail
    assert probe.enforced_by is None and probe.leftover_key is None
    assert _probes_left(store) == []


def test_a_probe_that_cannot_be_removed_is_reported(fs_store: FilesystemStore) -> None:
    probe = probe_locks(fs_store, mode=RetentionMode.COMPLIANCE, hold=timedelta(minutes=5))

    assert probe.verdict is LockVerdict.ENFORCED, probe.detail
    assert probe.leftover_key == probe.key and probe.key is not None
    assert probe.cleanup_problem and "COMPLIANCE" in probe.cleanup_problem
    assert _probes_left(fs_store) == [probe.key]  # really still there, as reported


def test_a_store_that_cannot_be_used_is_not_checked(tmp_path: Path) -> None:
    probe = probe_locks(FilesystemStore(tmp_path / "never-created"))

    assert probe.verdict is LockVerdict.NOT_CHECKED and probe.key is None
    assert not (tmp_path / "never-created").exists()  # the probe created nothing


# --- the command --------------------------------------------------------------------------------


def test_doctor_reports_an_enforcing_filesystem_store(tmp_path: Path) -> None:
    (tmp_path / "storage").mkdir()

    result = _doctor(tmp_path, "--json")

    assert result.returncode == 0, result.stdout + result.stderr
    locks = json.loads(result.stdout)["storage_locks"]
    assert (locks["verdict"], locks["enforced_by"], locks["leftover_key"]) == (
        "enforced",
        "archive code",
        None,
    )
    assert datetime.fromisoformat(locks["retain_until"]) > datetime.now(UTC)
    assert _probes_left(FilesystemStore(tmp_path / "storage")) == []


def test_doctor_fails_on_a_bucket_without_object_lock(
    tmp_path: Path, s3_server: S3Server, s3_store: S3Store, unlocked_bucket: str
) -> None:
    result = _doctor(tmp_path, env=_s3_env(s3_server, unlocked_bucket))

    assert result.returncode == 1, result.stdout + result.stderr
    assert f"[KHÔNG KHÓA] Khóa lưu giữ của kho lưu trữ S3Store(bucket='{unlocked_bucket}')" in (
        result.stdout
    )
    assert "NOT enforced" in result.stdout and "đối tượng thử: .doctor/lock-probe-" in result.stdout


def test_doctor_on_an_object_lock_bucket_passes(
    tmp_path: Path, s3_server: S3Server, s3_store: S3Store
) -> None:
    result = _doctor(tmp_path, "--json", env=_s3_env(s3_server, s3_store.bucket))

    assert result.returncode == 0, result.stdout + result.stderr
    locks = json.loads(result.stdout)["storage_locks"]
    assert (locks["verdict"], locks["enforced_by"], locks["mode"]) == (
        "enforced",
        "storage",
        "GOVERNANCE",
    )
    assert _probes_left(s3_store) == []


def test_doctor_exits_2_when_the_storage_cannot_be_probed(tmp_path: Path) -> None:
    result = _doctor(tmp_path)  # the embedded default, never started: no storage directory

    assert result.returncode == 2, result.stdout + result.stderr
    assert "[CHƯA KIỂM TRA]" in result.stdout and "not checked" in result.stdout
    assert not (tmp_path / "storage").exists()
    skipped = _doctor(tmp_path, "--no-storage", "--json")
    assert skipped.returncode == 0 and json.loads(skipped.stdout)["storage_locks"] is None
