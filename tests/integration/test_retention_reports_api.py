"""Retention over HTTP on the embedded default: the daily task from the command line, the due
list, the permanent list as JSON and CSV, the retention report, and who may read them."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from tests.integration.api_client import archive_environment, in_process_archive, run_archive
from tests.integration.retention_setup import EXPIRED_CODE, PERMANENT_CODE, DossierSpec


def test_reports_and_the_daily_command(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with in_process_archive(data_dir) as archive:
        depositor = archive.client_for(archive.create_key("depositor", "000.00.19.H56"))
        for spec in (DossierSpec(PERMANENT_CODE, scheduled=True), DossierSpec(EXPIRED_CODE)):
            sip = spec.sip(tmp_path / "sips")
            answer = depositor.post(
                "/api/v1/deposits",
                content=sip.read_bytes(),
                headers={"Content-Type": "application/zip"},
            )
            assert answer.status_code == 202, answer.text
        assert archive.app.state.dispatcher.wait_idle(120)
        auditor = archive.client_for(archive.create_key("auditor"))
        assert auditor.get("/api/v1/retention/due").json() == []

        daily = run_archive(
            "retention", "daily", "--json", environment=archive_environment(data_dir)
        )
        assert json.loads(daily.stdout)["marked_due"] == [EXPIRED_CODE]
        due = auditor.get("/api/v1/retention/due").json()
        assert [(d["dossier_code"], d["review_status"]) for d in due] == [
            (EXPIRED_CODE, "under_review")
        ]

        listed = auditor.get("/api/v1/retention/permanent", params={"year": 2024})
        assert listed.status_code == 200
        assert [row["dossier_code"] for row in listed.json()] == [PERMANENT_CODE]
        as_csv = auditor.get("/api/v1/retention/permanent", params={"year": 2024, "format": "csv"})
        assert as_csv.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(as_csv.text)))
        assert [row["dossier_code"] for row in rows] == [PERMANENT_CODE]
        by_accept = auditor.get(
            "/api/v1/retention/permanent", params={"year": 2024}, headers={"Accept": "text/csv"}
        )
        assert by_accept.text == as_csv.text
        assert auditor.get("/api/v1/retention/permanent", params={"year": 2010}).json() == []
        assert auditor.get("/api/v1/retention/permanent").status_code == 422

        report = auditor.get("/api/v1/reports/retention").json()
        assert [(c["retention"], c["dossiers"]) for c in report["by_retention"]] == [
            ("01", 1),
            ("06", 1),
        ]
        assert (report["overdue"], report["under_review"], report["active_holds"]) == (1, 1, 0)

        for path in ("/api/v1/reports/retention", "/api/v1/retention/due"):
            refused = depositor.get(path)
            assert refused.status_code == 403 and refused.json()["error"]["code"] == "FORBIDDEN"
