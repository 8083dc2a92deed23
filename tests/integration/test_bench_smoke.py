"""The AIP memory benchmark still runs end to end (on a small document, so it stays fast)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
BENCH = REPO_ROOT / "bench" / "aip_memory.py"


def test_the_benchmark_runs_every_stage_on_a_small_document(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH), "--size", "3MiB", "--dir", str(tmp_path), "--json"],
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    result = json.loads(done.stdout)
    assert result["size"] == 3 * 1024 * 1024
    assert [s["stage"] for s in result["stages"]] == [
        "build SIP",
        "validate SIP",
        "build AIP (document not read)",
        "store AIP (OCFL, filesystem)",
        "sha256sum (same bytes)",
    ]
    assert all(s["seconds"] > 0 and s["mb_per_s"] > 0 for s in result["stages"])
    assert result["sha256sum_matches"] is True
    assert result["peak_rss_bytes"] > 0
    assert list(tmp_path.iterdir()) == []  # the temporary work folder is removed


def test_the_benchmark_prints_a_readable_report(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH), "--size", "1MiB", "--dir", str(tmp_path)],
        check=True,
        capture_output=True,
        text=True,
    )
    assert "document: 1.0 MiB" in done.stdout
    assert "peak RSS:" in done.stdout
    assert "sha256sum agrees with the SIP check: True" in done.stdout
