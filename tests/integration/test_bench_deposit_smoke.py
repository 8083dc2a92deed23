"""The deposit throughput benchmark still runs end to end (a couple of small dossiers, so it
stays fast), on the embedded default and on the production stack, and builds what it claims."""

from __future__ import annotations

import importlib.util
import io
import json
import platform
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pikepdf
import pytest

from archive_service.config import PackageLimits
from archive_service.packages.sip_reader import validate_sip
from tests.s3server.servers import S3Server

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[2]
BENCH = REPO_ROOT / "bench" / "deposit_throughput.py"


def load_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("deposit_throughput", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)  # its dataclasses look themselves up there
    spec.loader.exec_module(module)
    return module


def run_bench(tmp_path: Path, *options: str) -> dict[str, Any]:
    small = ["-n", "2", "-c", "2", "--document-kb", "20", "--dir", str(tmp_path), "--json"]
    done = subprocess.run(
        [sys.executable, str(BENCH), *small, *options],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def assert_measured(result: dict[str, Any]) -> None:
    assert result["archived"] == 2 and result["not_archived"] == []
    assert result["dossiers_per_s"] > 0
    assert result["files_per_s"] == pytest.approx(result["dossiers_per_s"] * 5)
    assert result["mb_per_s"] > 0
    assert result["sha256sum_mb_per_s"] > 0
    assert result["service_cpu_seconds"] > 0
    assert result["python"] == f"{platform.python_version()} ({sys.executable})"


def test_the_documents_are_real_pdfs_of_the_asked_size_in_valid_sips(tmp_path: Path) -> None:
    bench = load_bench()
    document = bench.scanned_pdf(7)
    assert abs(len(document) - 100 * 1024) < 5 * 1024
    with pikepdf.open(io.BytesIO(document)) as pdf:
        assert len(pdf.pages) == 1
    assert bench.scanned_pdf(7) == document != bench.scanned_pdf(8)
    sips = bench.build_sips(tmp_path, 2, 30 * 1024)
    codes = []
    for sip in sips:
        report = validate_sip(sip, PackageLimits())
        assert report.problems == [] and report.package is not None
        assert len(report.package.documents) == 5
        codes.append(report.package.dossier_code)
    assert len(set(codes)) == 2


def test_the_benchmark_runs_on_the_embedded_default(tmp_path: Path) -> None:
    result = run_bench(tmp_path)
    assert result["stack"].startswith("embedded")
    assert_measured(result)
    assert list(tmp_path.iterdir()) == []  # the temporary work folder is removed


def test_the_benchmark_runs_on_the_production_stack(tmp_path: Path, s3_server: S3Server) -> None:
    result = run_bench(
        tmp_path,
        "--production",
        "--workers",
        "1",
        "--s3-endpoint",
        s3_server.endpoint,
        "--s3-access-key",
        s3_server.access_key,
        "--s3-secret-key",
        s3_server.secret_key,
    )
    assert result["stack"].startswith("production")
    assert_measured(result)
    assert list(tmp_path.iterdir()) == []
