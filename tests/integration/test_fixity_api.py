"""Fixity for auditors over HTTP and on the command line, and ``/metrics``.

The application runs in-process (``create_app`` behind a ``TestClient``) on the embedded default
or on an S3 bucket; dossiers are deposited over HTTP and damaged in storage, then verified with
``POST /api/v1/dossiers/{code}/verify``, background runs, the report, ``archive verify``.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from minio import Minio
from sqlalchemy import select

from archive_service.integrity.fixity_api import start_fixity_background
from archive_service.integrity.fixity_models import FixityRun
from archive_service.integrity.fixity_service import TASK_FIXITY_TICK, FixityService
from archive_service.integrity.fixity_targets import FixityScope
from archive_service.integrity.replica_sync import sync_replica
from archive_service.storage.filesystem import FilesystemStore
from tests.conftest import S3_PARAMS
from tests.factories import make_sip_zip
from tests.integration.api_client import (
    InProcessArchive,
    archive_environment,
    in_process_archive,
    wait_for_final_status,
)
from tests.integration.fixity_setup import AGENCY, CODES, Damage, document_keys
from tests.integration.prometheus import prometheus_samples
from tests.integration.worker_process import WorkerProcess, redis_database, settings_environment
from tests.s3server.servers import BucketPool, S3Server
from workers.celery_app import create_celery

CODE = CODES[0]
WAIT_SECONDS = 60.0


@dataclass
class Served:
    """The service, and an S3 client of its bucket when it runs on S3 (to damage objects)."""

    archive: InProcessArchive
    s3: Minio | None = None


@pytest.fixture(params=["fs", *S3_PARAMS])
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Served]:
    """The service holding ``CODE`` (4 documents): embedded default, then on each S3 server."""
    settings: dict[str, Any] = {}
    client = None
    if request.param != "fs":
        server: S3Server = request.getfixturevalue("s3_servers")[request.param]
        pool: BucketPool = request.getfixturevalue("s3_bucket_pools")[request.param]
        settings = server.archive_settings(pool.take())
        client = server.client()
    with in_process_archive(tmp_path / "data", **settings) as running:
        deposit(running, tmp_path)
        yield Served(running, client)


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[InProcessArchive]:
    """The embedded default holding ``CODE``."""
    with in_process_archive(tmp_path / "data") as running:
        deposit(running, tmp_path)
        yield running


def deposit(archive: InProcessArchive, work: Path) -> None:
    folder = work / "sip"
    folder.mkdir()
    sip = make_sip_zip(folder, documents=4, dossier_code=CODE)
    client = archive.client_for(archive.create_key("depositor", AGENCY))
    answer = client.post(
        "/api/v1/deposits", content=sip.read_bytes(), headers={"Content-Type": "application/zip"}
    )
    assert answer.status_code == 202, answer.text
    assert wait_for_final_status(client, answer.json()["deposit_id"])["status"] == "archived"


def auditor(archive: InProcessArchive) -> Any:
    return archive.client_for(archive.create_key("auditor"))


def damage_four_ways(archive: InProcessArchive, s3: Minio | None = None) -> dict[str, str]:
    """Flip, truncate, delete and replace one document each; key → the outcome expected."""
    repository = archive.app.state.repository
    flipped, truncated, deleted, replaced = document_keys(archive.database, repository, CODE)
    damage = Damage(repository.store, s3)
    damage.flip_byte(flipped)
    damage.truncate(truncated)
    damage.delete(deleted)
    damage.replace(replaced, flipped)
    return {flipped: "mismatch", truncated: "mismatch", deleted: "missing", replaced: "mismatch"}


def metrics(archive: InProcessArchive) -> dict[str, float]:
    """The samples of ``/metrics`` (name with labels → value), checking the text format."""
    answer = archive.client.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    return prometheus_samples(answer.text)


# --- verify a dossier --------------------------------------------------------------------------


def test_an_auditor_verifies_a_dossier_and_sees_each_damaged_file(served: Served) -> None:
    archive = served.archive
    client = auditor(archive)
    intact = client.post(f"/api/v1/dossiers/{CODE}/verify")
    assert intact.status_code == 200, intact.text
    body = intact.json()
    assert (body["status"], body["scope"], body["scope_value"]) == ("passed", "dossier", CODE)
    assert body["objects_checked"] == body["objects_total"] == len(body["checks"]) > 4
    assert {check["outcome"] for check in body["checks"]} == {"ok"}
    assert all(c["actual_sha256"] == c["expected_sha256"] for c in body["checks"])
    expected = damage_four_ways(archive, served.s3)

    damaged = client.post(f"/api/v1/dossiers/{CODE}/verify").json()

    assert damaged["status"] == "failed"
    found = {c["key"]: c["outcome"] for c in damaged["checks"] if c["outcome"] != "ok"}
    assert found == expected
    assert all(c["repair"] is None for c in damaged["checks"])  # no replica configured
    run = client.get(f"/api/v1/fixity/runs/{damaged['id']}").json()  # failed checks by default
    assert {c["key"] for c in run["checks"]} == set(expected)
    report = client.get("/api/v1/fixity/report").json()
    assert report["failures_total"] == 4
    assert {f["key"]: f["outcome"] for f in report["failures"]} == expected
    assert {d["key"] for d in report["damaged_now"]} == set(expected)
    assert report["coverage_percent"] == 100.0
    samples = metrics(archive)
    assert samples['archive_fixity_checks_total{outcome="missing"}'] == 1
    assert samples["archive_fixity_failures_total"] == 4
    assert samples["archive_fixity_objects_damaged"] == 4


def test_only_auditors_and_admins_may_verify(embedded: InProcessArchive) -> None:
    path = f"/api/v1/dossiers/{CODE}/verify"
    assert embedded.client.post(path).status_code == 401
    for role, agency in (("depositor", AGENCY), ("archivist", None)):
        refused = embedded.client_for(embedded.create_key(role, agency)).post(path)
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "FORBIDDEN"
    admin = embedded.client_for(embedded.create_key("admin"))
    assert admin.post(path).json()["status"] == "passed"
    unknown = auditor(embedded).post("/api/v1/dossiers/000.00.19.H56-999999-9999/verify")
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "DOSSIER_NOT_FOUND"
    assert auditor(embedded).get("/api/v1/fixity/runs/999").json()["error"]["code"] == (
        "FIXITY_RUN_NOT_FOUND"
    )


# --- runs in the background ----------------------------------------------------------------------


def wait_for_run(client: Any, location: str) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT_SECONDS
    while (run := client.get(location).json())["status"] == "running":
        assert time.monotonic() < deadline, run
        time.sleep(0.05)
    return dict(run)


def test_a_run_started_over_http_goes_on_in_the_background(embedded: InProcessArchive) -> None:
    client = auditor(embedded)

    started = client.post("/api/v1/fixity/runs", json={"scope": "agency", "agency_id": AGENCY})

    assert started.status_code == 202, started.text
    assert started.json()["status"] == "running"
    finished = wait_for_run(client, started.headers["Location"])
    assert (finished["status"], finished["scope"], finished["checks"]) == ("passed", "agency", [])
    everything = client.get(started.headers["Location"], params={"checks": "all"}).json()
    assert len(everything["checks"]) == everything["objects_total"] > 0
    listed = client.get("/api/v1/fixity/runs").json()
    assert [run["id"] for run in listed["items"]] == [finished["id"]]
    assert client.get("/api/v1/fixity/runs", params={"status": "failed"}).json()["total"] == 0
    incomplete = client.post("/api/v1/fixity/runs", json={"scope": "dossier"})
    assert incomplete.status_code == 422
    unknown = client.post("/api/v1/fixity/runs", json={"scope": "agency", "agency_id": "X"})
    assert unknown.json()["error"]["code"] == "AGENCY_NOT_FOUND"


def test_the_report_covers_a_period(embedded: InProcessArchive) -> None:
    client = auditor(embedded)
    client.post(f"/api/v1/dossiers/{CODE}/verify")

    now = client.get("/api/v1/fixity/report").json()
    before = client.get(
        "/api/v1/fixity/report", params={"from": "2020-01-01T00:00:00", "to": "2020-12-31"}
    ).json()

    assert now["objects_checked"] == now["objects_in_archive"] > 0
    assert now["bytes_checked"] == now["bytes_in_archive"]
    assert (now["coverage"], now["runs"], now["failures"], now["repairs"]) == (
        1.0,
        {"passed": 1},
        [],
        [],
    )
    assert (before["objects_checked"], before["coverage"], before["runs"]) == (0, 0.0, {})
    assert before["period_to"].startswith("2020-12-31T00:00:00+07:00") or before[
        "period_to"
    ].startswith("2020-12-30T17:00:00")


def test_verify_repairs_from_the_configured_replica(tmp_path: Path) -> None:
    replica_root = tmp_path / "replica"
    with in_process_archive(
        tmp_path / "data", replica_storage_url=replica_root.as_uri()
    ) as running:
        deposit(running, tmp_path)
        sync_replica(running.database, running.app.state.store, FilesystemStore(replica_root))
        expected = damage_four_ways(running)
        client = auditor(running)

        result = client.post(f"/api/v1/dossiers/{CODE}/verify").json()

        repaired = {c["key"]: (c["outcome"], c["repair"]) for c in result["checks"] if c["repair"]}
        assert repaired == {key: (outcome, "repaired") for key, outcome in expected.items()}
        assert result["objects_repaired"] == 4
        assert client.post(f"/api/v1/dossiers/{CODE}/verify").json()["status"] == "passed"
        report = client.get("/api/v1/fixity/report").json()
        assert (report["repairs_total"], report["damaged_now"]) == (4, [])
        assert metrics(running)["archive_fixity_repairs_total"] == 4


# --- metrics -------------------------------------------------------------------------------------


def test_metrics_describe_fixity_and_the_audit_trail(embedded: InProcessArchive) -> None:
    before = metrics(embedded)
    assert before["archive_fixity_objects_checked_total"] == 0
    assert before["archive_fixity_cycle_coverage_ratio"] == 0
    assert before["archive_fixity_oldest_unchecked_age_seconds"] > 0
    assert before["archive_audit_chain_length"] > 0

    auditor(embedded).post(f"/api/v1/dossiers/{CODE}/verify")

    after = metrics(embedded)
    objects = after["archive_stored_objects"]
    assert after["archive_fixity_objects_checked_total"] == objects > 0
    assert after["archive_fixity_bytes_checked_total"] == after["archive_stored_bytes"]
    assert after["archive_fixity_failures_total"] == 0
    assert after["archive_fixity_cycle_coverage_ratio"] == 1.0
    assert after["archive_fixity_oldest_unchecked_age_seconds"] == 0
    assert after['archive_fixity_runs_total{status="passed"}'] == 1
    assert after["archive_audit_chain_length"] > before["archive_audit_chain_length"]


# --- the scheduler started with the application --------------------------------------------------


def test_the_background_hook_runs_scheduled_checks_and_stops(tmp_path: Path) -> None:
    with in_process_archive(tmp_path / "data", fixity_tick_seconds=0.2) as running:
        deposit(running, tmp_path)
        stop = start_fixity_background(running.app)
        try:
            deadline = time.monotonic() + WAIT_SECONDS
            while not (runs := _runs(running)):
                assert time.monotonic() < deadline
                time.sleep(0.05)
        finally:
            stop()
    assert runs[0].scope == "scheduled"
    assert runs[0].objects_total >= 1  # its share of a 90-day cycle: at least one object


def _runs(archive: InProcessArchive) -> list[FixityRun]:
    with archive.database.read_session() as session:
        return list(session.scalars(select(FixityRun).where(FixityRun.status != "running")))


# --- archive verify ------------------------------------------------------------------------------


def archive_verify(archive: InProcessArchive, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "archive_service.cli", "verify", *args],
        env=archive_environment(archive.settings.data_dir),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_archive_verify_exits_non_zero_on_any_failure_and_writes_reports(
    embedded: InProcessArchive, tmp_path: Path
) -> None:
    passed = archive_verify(embedded, CODE)
    assert passed.returncode == 0, passed.stderr
    assert "ĐẠT" in passed.stdout
    expected = damage_four_ways(embedded)
    as_csv, as_json = tmp_path / "report.csv", tmp_path / "report.json"

    failed = archive_verify(embedded, CODE, "--report", str(as_csv))
    everything = archive_verify(embedded, "--all", "--report", str(as_json))

    assert failed.returncode == everything.returncode == 1, failed.stderr
    assert "KHÔNG ĐẠT" in failed.stdout
    assert all(key in failed.stdout for key in expected)
    with as_csv.open(encoding="utf-8") as table:
        rows = list(csv.DictReader(table))
    assert {row["key"]: row["outcome"] for row in rows if row["outcome"] != "ok"} == expected
    report = json.loads(as_json.read_text(encoding="utf-8"))
    assert (report["run"]["scope"], report["run"]["status"]) == ("all", "failed")
    assert len(report["checks"]) == report["run"]["objects_total"] == len(rows)


def test_archive_verify_refuses_what_it_cannot_check(embedded: InProcessArchive) -> None:
    nothing = archive_verify(embedded)
    both = archive_verify(embedded, CODE, "--all")
    unknown = archive_verify(embedded, "000.00.19.H56-999999-9999")
    bad_report = archive_verify(embedded, CODE, "--report", "report.txt")

    for done in (nothing, both, unknown, bad_report):
        assert done.returncode == 2, done.stdout + done.stderr
    assert "Không có hồ sơ" in unknown.stderr
    assert ".csv" in bad_report.stderr


# --- with a broker: Celery workers run the checks ------------------------------------------------


def test_with_a_broker_runs_and_ticks_are_celery_tasks(
    embedded: InProcessArchive, tmp_path: Path
) -> None:
    with redis_database() as broker_url:
        settings = embedded.settings.model_copy(update={"broker_url": broker_url})
        environment = {
            **{k: v for k, v in os.environ.items() if not k.startswith("ARCHIVE_")},
            **settings_environment(settings),
            "PYTHONUNBUFFERED": "1",
        }
        log_path = tmp_path / "worker.log"
        with log_path.open("wb") as log:
            worker = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "workers.celery_app",
                    "worker",
                    "-I",
                    "workers.fixity_tasks",
                    "--pool",
                    "solo",
                    "--loglevel",
                    "INFO",
                ],
                env=environment,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        process = WorkerProcess(worker, log_path)
        service = FixityService(settings, embedded.database, embedded.app.state.repository)
        try:
            process.wait_ready()
            started = service.start_run(FixityScope.everything(), actor="test")
            deadline = time.monotonic() + WAIT_SECONDS
            while (run := service.get_run_view(started.id)).status == "running":
                assert time.monotonic() < deadline, process.log()
                time.sleep(0.05)
            assert run.status == "passed" and run.objects_checked == run.objects_total > 0

            celery = create_celery(settings)
            celery.send_task(TASK_FIXITY_TICK)
            celery.close()
            while not [r for r in _runs(embedded) if r.scope == "scheduled"]:
                assert time.monotonic() < deadline, process.log()
                time.sleep(0.05)
        finally:
            service.close()
            process.stop()
