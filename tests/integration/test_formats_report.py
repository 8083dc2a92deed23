"""The formats report (``bench/formats_report.py``) runs over every fixture and its figures
hold what the format checks promise: every fixture identified, the archive's PDF/A verdict
right on every PDF fixture, and no validator ever calling a non-PDF/A file valid."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.formats_fixtures import FIXTURES

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_the_formats_report_counts_every_fixture_and_never_a_false_valid(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(REPO_ROOT / "bench" / "formats_report.py"), "--json"],
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    result = json.loads(done.stdout)
    assert result["identified"] == result["fixtures"] == len(FIXTURES)
    pdf_fixtures = [f for f in FIXTURES if f.pdfa_verdict is not None]
    assert len(result["pdfa"]) == len(pdf_fixtures)
    for row in result["pdfa"]:
        assert row["archive"] == row["expected"], row
        for verdict in row["opinions"].values():
            assert verdict != "valid" or row["expected"] == "valid", row
    counted = sum(n for counts in result["renditions"].values() for n in counts.values())
    assert counted == len(FIXTURES)
    assert {row["fixture"] for row in result["failed"]} >= {"pdf-truncated", "pdf-header-garbage"}
    assert list(tmp_path.iterdir()) == []
