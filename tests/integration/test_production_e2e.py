"""End to end on the production stack: PostgreSQL, a real Celery worker over Redis, S3 storage.

``archive serve`` and ``archive worker`` run as subprocesses configured only through
``ARCHIVE_*`` variables (a fresh PostgreSQL database migrated with ``archive db upgrade``, a fresh
versioned Object Lock bucket on the harness's S3 server, a Redis database of this test's own). A
generated SIP is deposited with the real ``archive deposit`` command, followed to ``archived``,
read back over HTTP — metadata, every document byte for byte, the AIP ZIP checked against the
schemas and its METS checksums — and then everything is stopped and cleaned up.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import redis
from sqlalchemy import create_engine, text

from archive_service.packages.aip_writer import aip_root_name
from archive_service.storage.s3 import make_client
from tests.factories import DOSSIER_CODE, make_sip_zip
from tests.integration.retention_setup import eventually
from tests.integration.test_embedded_e2e import DOCUMENTS, check_aip_folder, sip_documents
from tests.s3server.servers import S3Server
from tests.service_stack import S3Endpoint, production_service

pytestmark = pytest.mark.slow

ARCHIVE = [sys.executable, "-m", "archive_service.cli"]
TASK_NAME = "archive.process_deposit"


def test_a_dossier_goes_through_the_production_stack_and_comes_back_exactly(
    postgres_url: str, s3_server: S3Server, tmp_path: Path
) -> None:
    sip = make_sip_zip(tmp_path, documents=DOCUMENTS)
    originals = sip_documents(sip)
    s3 = S3Endpoint(
        s3_server.endpoint, s3_server.access_key, s3_server.secret_key, s3_server.region
    )

    with production_service(tmp_path / "stack", database_url=postgres_url, s3=s3) as service:
        settings = service.server.environment
        broker_url = settings["ARCHIVE_BROKER_URL"]
        bucket = settings["ARCHIVE_STORAGE_URL"].removeprefix("s3://")

        # deposit with the real command line client, configured by its environment variables
        client_env = {k: v for k, v in os.environ.items() if not k.startswith("ARCHIVE_")}
        client_env |= {"ARCHIVE_URL": service.url, "ARCHIVE_API_KEY": service.depositor_key}
        done = subprocess.run(
            [*ARCHIVE, "deposit", str(sip), "--json", "--idempotency-key", "production-e2e"],
            capture_output=True,
            text=True,
            env=client_env,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        receipt = json.loads(done.stdout)
        assert receipt["status"] == "archived"
        assert receipt["dossier_code"] == DOSSIER_CODE
        assert receipt["received"][0]["sha256"] == hashlib.sha256(sip.read_bytes()).hexdigest()
        assert receipt["received"][0]["size"] == sip.stat().st_size

        # a worker process did the work, the catalogue is in PostgreSQL, the AIP in the bucket
        # (the task goes on after the deposit reads archived: it locks the objects, then ends)
        (worker,) = service.workers
        eventually(lambda: f"{TASK_NAME}[" in worker.log() and "succeeded" in worker.log())
        engine = create_engine(postgres_url)
        try:
            with engine.connect() as connection:
                rows = connection.execute(text("SELECT id, status FROM deposits")).all()
                object_id = connection.execute(text("SELECT aip_object_id FROM dossiers")).scalar()
        finally:
            engine.dispose()
        assert [tuple(row) for row in rows] == [(receipt["deposit_id"], "archived")]
        keys = [
            item.object_name
            for item in make_client(s3.endpoint, s3.access_key, s3.secret_key).list_objects(
                bucket, recursive=True
            )
        ]
        (first_version,) = [key for key in keys if key.endswith("/v1/inventory.json")]
        assert first_version.removesuffix("v1/inventory.json") + "inventory.json" in keys
        assert not (Path(settings["ARCHIVE_DATA_DIR"]) / "storage").exists()

        with (
            service.server.client(service.depositor_key) as depositor,
            service.server.client(service.server.create_key("auditor")) as auditor,
        ):
            # the metadata, identity number masked for a depositor
            dossier = depositor.get(f"/api/v1/dossiers/{DOSSIER_CODE}").json()
            assert dossier["aip_object_id"] == object_id
            assert dossier["procedure_name"] == "Đăng ký kết hôn"
            assert dossier["applicant"]["id_number"] == "0380******34"
            assert len(dossier["documents"]) == DOCUMENTS

            # every document, byte for byte, from S3
            for document in dossier["documents"]:
                original = originals[document["file_name"]]
                response = depositor.get(
                    f"/api/v1/dossiers/{DOSSIER_CODE}/documents/{document['doc_id']}"
                )
                assert response.status_code == 200, response.text
                assert response.content == original
                digest = base64.b64encode(hashlib.sha256(original).digest()).decode()
                assert response.headers["Digest"] == f"sha-256={digest}"

            # the AIP as a ZIP: every XML valid, every METS size and checksum right
            aip_zip = tmp_path / "aip.zip"
            with auditor.stream("GET", f"/api/v1/dossiers/{DOSSIER_CODE}/aip") as response:
                assert response.status_code == 200
                with aip_zip.open("wb") as out:
                    for chunk in response.iter_bytes():
                        out.write(chunk)
        unpacked = tmp_path / "aip"
        with zipfile.ZipFile(aip_zip) as archive:
            assert archive.testzip() is None
            archive.extractall(unpacked)
        check_aip_folder(unpacked / aip_root_name(object_id), originals)

    # everything stopped; the Redis database used is empty again
    assert service.server.process.poll() is not None
    assert worker.process.poll() is not None
    with redis.Redis.from_url(broker_url) as broker:
        assert broker.dbsize() == 0
