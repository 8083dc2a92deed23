"""Throughput of deposits through the HTTP API: N dossiers of 5 PDFs (about 100 KB each).

    python bench/deposit_throughput.py [-n 200] [-c 8] [--production] [--workers 2] [--json]

All SIP ZIPs are built first (real PDFs made with pikepdf, each carrying an image of
incompressible pixels, so that a document weighs about 100 KB); then a fresh service is started
— the embedded default (``archive serve`` on a temporary data directory: SQLite, filesystem
storage, in-process pipeline) or, with ``--production``, PostgreSQL + ``archive worker``
processes over Redis + SeaweedFS — and C client threads deposit the SIPs through
``POST /api/v1/deposits``, each waiting for its deposit to be archived before sending the next.

The clock runs from the first upload to the last deposit seen ``archived``; dossiers/s, files/s
(documents) and MB/s (10^6 bytes of SIP per second) follow. ``sha256sum`` over the same SIP
bytes, run in the same process tree, is the baseline: the speed of just reading and hashing.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, suppress
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from uuid import NAMESPACE_URL, uuid5

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(REPO_ROOT))

import pikepdf  # noqa: E402
import pikepdf.pdfa  # noqa: E402

from archive_service.formats.convert_pdf import OUTPUT_INTENT, RENDITION_FLAVOUR  # noqa: E402
from archive_service.ingest.client import (  # noqa: E402
    Backoff,
    DepositClient,
    DepositClientError,
    DepositRefused,
)
from archive_service.packages.plain import parse_plain_metadata  # noqa: E402
from archive_service.packages.sip_builder import build_sip  # noqa: E402
from tests.factories import CREATED, FONDS_CODE, bytes_source, sample_metadata  # noqa: E402
from tests.service_stack import (  # noqa: E402
    AGENCY_ID,
    RunningService,
    S3Endpoint,
    embedded_service,
    production_service,
)

TARGET_DOSSIERS_PER_SECOND = 20.0
DOCUMENTS = 5
DOCUMENT_BYTES = 100 * 1024
FIRST_DAY = date(2024, 6, 10)
SEQUENCES_PER_DAY = 9999
#: Polling of each deposit's status: short pauses, so that the clock stops soon after the end.
POLL = Backoff(first=0.05, factor=1.5, longest=0.25)
DEPOSIT_TIMEOUT = 600.0


# --- the dossiers ----------------------------------------------------------------------------


def scanned_pdf(seed: int, size: int = DOCUMENT_BYTES) -> bytes:
    """A real one-page PDF of about ``size`` bytes: an image of random grey pixels, as a scanner
    makes them (no text layer, nothing that keeps it from a lossless PDF/A-2b rendition).

    The pixels are incompressible, so the file keeps its size whatever a writer does with it,
    and each seed gives other pixels, so no two documents share their bytes.
    """
    pdf = pikepdf.new()
    side = max(8, int(max(size - 1500, 64) ** 0.5))
    pixels = random.Random(seed).randbytes(side * side)
    image = pdf.make_stream(
        pixels,
        Type=pikepdf.Name.XObject,
        Subtype=pikepdf.Name.Image,
        Width=side,
        Height=side,
        ColorSpace=pikepdf.Name.DeviceGray,
        BitsPerComponent=8,
    )
    page = pdf.add_blank_page(page_size=(595, 842))
    page.Resources = pikepdf.Dictionary(XObject=pikepdf.Dictionary(Im1=image))
    page.Contents = pdf.make_stream(b"q 400 0 0 400 97 300 cm /Im1 Do Q")
    buffer = io.BytesIO()
    pdf.save(buffer, deterministic_id=True, compress_streams=False)
    return buffer.getvalue()


def dossier_code(index: int) -> str:
    """The ``index``-th dossier code of the run: ``000.00.19.H56-YYMMDD-NNNN``."""
    day, sequence = divmod(index, SEQUENCES_PER_DAY)
    received = FIRST_DAY + timedelta(days=day)
    return f"{AGENCY_ID}-{received:%y%m%d}-{sequence + 1:04d}"


def build_dossier_sip(directory: Path, index: int, document_bytes: int = DOCUMENT_BYTES) -> Path:
    """Write the SIP ZIP of the ``index``-th dossier (5 distinct PDFs) and return its path."""
    code = dossier_code(index)
    metadata = sample_metadata(documents=DOCUMENTS, dossier_code=code, document={"sha256": None})
    deposit = parse_plain_metadata(metadata)
    files = {
        document.name: bytes_source(scanned_pdf(index * DOCUMENTS + ordinal, document_bytes))
        for ordinal, document in enumerate(deposit.documents)
    }
    target = directory / f"{code}.zip"
    build_sip(
        deposit,
        files,
        target,
        object_uuid=uuid5(NAMESPACE_URL, f"bench-deposit:{code}"),
        created=CREATED,
        fonds_code=FONDS_CODE,
    )
    return target


def build_sips(directory: Path, count: int, document_bytes: int = DOCUMENT_BYTES) -> list[Path]:
    """All SIPs of a run, in order."""
    directory.mkdir(parents=True, exist_ok=True)
    return [build_dossier_sip(directory, index, document_bytes) for index in range(count)]


# --- the baseline ----------------------------------------------------------------------------


def sha256sum_seconds(paths: Sequence[Path]) -> float:
    """Seconds ``sha256sum`` takes over all ``paths`` (in batches that fit a command line)."""
    start = time.perf_counter()
    for batch in _batches([str(path) for path in paths], 500):
        subprocess.run(["sha256sum", *batch], check=True, capture_output=True)
    return time.perf_counter() - start


def _batches(items: list[str], size: int) -> Iterator[list[str]]:
    for first in range(0, len(items), size):
        yield items[first : first + size]


# --- the deposits ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """One deposit: its final status and the client's view of its timing (seconds)."""

    path: str
    size: int
    status: str
    started: float
    uploaded: float
    finished: float
    error: str | None = None


def deposit_all(
    service: RunningService, paths: Sequence[Path], concurrency: int
) -> tuple[list[Outcome], float, float]:
    """Deposit every SIP with ``concurrency`` clients; (outcomes, first start, last finish)."""
    pending = iter(paths)
    lock = threading.Lock()
    outcomes: list[Outcome] = []

    def client_loop() -> None:
        with DepositClient(service.url, service.depositor_key) as client:
            while True:
                with lock:
                    path = next(pending, None)
                if path is None:
                    return
                outcome = _deposit_one(client, path)
                with lock:
                    outcomes.append(outcome)

    with ThreadPoolExecutor(concurrency, thread_name_prefix="depositor") as pool:
        for future in [pool.submit(client_loop) for _ in range(concurrency)]:
            future.result()
    first = min(outcome.started for outcome in outcomes)
    last = max(outcome.finished for outcome in outcomes)
    return outcomes, first, last


def _deposit_one(client: DepositClient, path: Path) -> Outcome:
    size = path.stat().st_size
    started = time.perf_counter()
    uploaded = started
    try:
        receipt = client.submit_zip(path)
        uploaded = time.perf_counter()
        final = client.wait(receipt, timeout=DEPOSIT_TIMEOUT, backoff=POLL)
    except (DepositClientError, DepositRefused) as exc:
        now = time.perf_counter()
        return Outcome(str(path), size, "error", started, uploaded, now, error=str(exc))
    finished = time.perf_counter()
    reason = final.reason or "; ".join(f"{p.code} {p.message}" for p in final.problems[:3])
    return Outcome(str(path), size, final.status, started, uploaded, finished, reason or None)


# --- CPU accounting --------------------------------------------------------------------------


def _cpu_of(pid: int) -> tuple[int, float]:
    """(parent pid, user + system CPU seconds) of a live process (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(roots: Sequence[int]) -> float:
    """CPU seconds used so far by the processes ``roots`` and all their descendants."""
    table: dict[int, tuple[int, float]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with suppress(OSError, IndexError, ValueError):
                table[int(entry.name)] = _cpu_of(int(entry.name))
    wanted, total = set(roots), 0.0
    changed = True
    while changed:
        changed = False
        for pid, (parent, _) in table.items():
            if parent in wanted and pid not in wanted:
                wanted.add(pid)
                changed = True
    for pid in wanted:
        total += table.get(pid, (0, 0.0))[1]
    return total


def service_pids(service: RunningService) -> list[int]:
    """The server process and every worker process of a running service."""
    return [service.server.process.pid, *(worker.process.pid for worker in service.workers)]


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# --- the ceiling -----------------------------------------------------------------------------


def library_floor_seconds(
    samples: int = 10, document_bytes: int = DOCUMENT_BYTES
) -> dict[str, float]:
    """CPU seconds per document of the two pikepdf calls every bench document must go through,
    called directly (none of the archive's code): the PDF/A-2b conversion (open,
    ``pikepdf.pdfa.prepare``, save with pikepdf's PDF/A settings but without compressing
    streams: the bench's pixels do not compress, and the archive stores them as they are) and
    ``pikepdf.pdfa``'s validation of the written file. The median of ``samples`` documents like
    the bench's."""
    conversion, validation = [], []
    with tempfile.TemporaryDirectory(prefix="deposit-floor-") as folder:
        for seed in range(samples):
            source, output = Path(folder) / f"{seed}.pdf", Path(folder) / f"{seed}-a.pdf"
            source.write_bytes(scanned_pdf(10**6 + seed, document_bytes))
            start = time.process_time()
            with pikepdf.open(source) as pdf:
                pikepdf.pdfa.prepare(pdf, RENDITION_FLAVOUR, output_intent=OUTPUT_INTENT)
                options = pikepdf.pdfa.resolve_save_kwargs(RENDITION_FLAVOUR, deterministic_id=True)
                pdf.save(output, **{**options, "compress_streams": False})
            middle = time.process_time()
            report = pikepdf.pdfa.validate_written(output, RENDITION_FLAVOUR)
            conversion.append(middle - start)
            validation.append(time.process_time() - middle)
            if not report.passed:
                raise RuntimeError(f"pikepdf.pdfa refused a bench rendition: {report.findings}")
    return {
        "conversion_s": statistics.median(conversion),
        "validation_s": statistics.median(validation),
    }


# --- the run ---------------------------------------------------------------------------------


def run(
    *,
    dossiers: int,
    concurrency: int,
    production: bool,
    workers: int,
    directory: Path | None,
    document_bytes: int = DOCUMENT_BYTES,
    s3: S3Endpoint | None = None,
    settings: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Build the SIPs, start the service, deposit them all, and return the measurements."""
    with tempfile.TemporaryDirectory(prefix="deposit-bench-", dir=directory) as work_dir:
        work = Path(work_dir)
        build_start = time.perf_counter()
        paths = build_sips(work / "sips", dossiers, document_bytes)
        build_seconds = time.perf_counter() - build_start
        total_bytes = sum(path.stat().st_size for path in paths)
        hash_seconds = sha256sum_seconds(paths)
        floor = library_floor_seconds(document_bytes=document_bytes)
        stack: AbstractContextManager[RunningService] = (
            production_service(work / "service", workers=workers, s3=s3)
            if production
            else embedded_service(work / "service", settings)
        )
        with stack as service:
            service_cpu, client_cpu = tree_cpu_seconds(service_pids(service)), own_cpu_seconds()
            server_cpu = _cpu_of(service.server.process.pid)[1]
            outcomes, first, last = deposit_all(service, paths, concurrency)
            service_cpu = tree_cpu_seconds(service_pids(service)) - service_cpu
            server_cpu = _cpu_of(service.server.process.pid)[1] - server_cpu
            client_cpu = own_cpu_seconds() - client_cpu
            stack_name = service.description
    elapsed = last - first
    archived = [outcome for outcome in outcomes if outcome.status == "archived"]
    latencies = [outcome.finished - outcome.started for outcome in archived]
    uploads = [outcome.uploaded - outcome.started for outcome in archived]
    return {
        "stack": stack_name,
        "settings": settings or {},
        "production": production,
        "dossiers": dossiers,
        "documents_per_dossier": DOCUMENTS,
        "document_bytes": document_bytes,
        "concurrency": concurrency,
        "workers": workers if production else None,
        "sip_bytes": total_bytes,
        "build_seconds": build_seconds,
        "seconds": elapsed,
        "archived": len(archived),
        "not_archived": [asdict(o) for o in outcomes if o.status != "archived"],
        "dossiers_per_s": len(archived) / elapsed,
        "files_per_s": len(archived) * DOCUMENTS / elapsed,
        "mb_per_s": sum(o.size for o in archived) / 1e6 / elapsed,
        "latency_median_s": statistics.median(latencies) if latencies else None,
        "latency_max_s": max(latencies) if latencies else None,
        "upload_median_s": statistics.median(uploads) if uploads else None,
        "service_cpu_seconds": service_cpu,
        "server_cpu_seconds": server_cpu,
        "client_cpu_seconds": client_cpu,
        "sha256sum_seconds": hash_seconds,
        "sha256sum_mb_per_s": total_bytes / 1e6 / hash_seconds,
        "floor_conversion_s_per_document": floor["conversion_s"],
        "floor_validation_s_per_document": floor["validation_s"],
        "cores": len(os.sched_getaffinity(0)),
        "python": f"{platform.python_version()} ({sys.executable})",
        "target_dossiers_per_s": TARGET_DOSSIERS_PER_SECOND,
    }


def report(result: dict[str, Any]) -> str:
    """The measurements as a few readable lines."""
    archived = max(result["archived"], 1)
    lines = [
        f"stack: {result['stack']}"
        + "".join(f" {name}={value}" for name, value in result["settings"].items())
        + f"; Python {result['python']}",
        f"{result['dossiers']} dossiers × {result['documents_per_dossier']} PDF "
        f"(~{result['document_bytes'] // 1024} KB), {result['sip_bytes'] / 1e6:.1f} MB of SIPs, "
        f"{result['concurrency']} concurrent clients "
        f"(SIPs built beforehand in {result['build_seconds']:.1f} s)",
        f"archived {result['archived']}/{result['dossiers']} in {result['seconds']:.2f} s "
        "(first upload → last archived)",
        f"  {result['dossiers_per_s']:8.2f} dossiers/s",
        f"  {result['files_per_s']:8.2f} files/s",
        f"  {result['mb_per_s']:8.2f} MB/s",
    ]
    if not result["production"]:
        met = result["dossiers_per_s"] >= result["target_dossiers_per_s"]
        lines[3] += (
            f"   (target ≥ {result['target_dossiers_per_s']:g}: {'met' if met else 'NOT MET'})"
        )
    if result["latency_median_s"] is not None:
        lines.append(
            f"per deposit: upload {result['upload_median_s'] * 1000:.0f} ms (median), "
            f"upload → archived {result['latency_median_s']:.2f} s median, "
            f"{result['latency_max_s']:.2f} s max"
        )
    lines.append(
        f"CPU per dossier: service {result['service_cpu_seconds'] / archived * 1000:.0f} ms "
        f"({result['service_cpu_seconds'] / result['seconds']:.2f} cores busy; the HTTP server "
        f"process alone {result['server_cpu_seconds'] / archived * 1000:.0f} ms), "
        f"clients {result['client_cpu_seconds'] / archived * 1000:.0f} ms"
    )
    lines.append(
        f"baseline: sha256sum over the same SIP bytes {result['sha256sum_mb_per_s']:.1f} MB/s "
        f"({result['sha256sum_seconds']:.2f} s); the pipeline runs at "
        f"{result['mb_per_s'] / result['sha256sum_mb_per_s'] * 100:.1f} % of that"
    )
    lines.append(ceiling_line(result))
    for failure in result["not_archived"][:5]:
        lines.append(
            f"NOT ARCHIVED {Path(failure['path']).name}: {failure['status']} {failure['error']}"
        )
    return "\n".join(lines)


def ceiling_line(result: dict[str, Any]) -> str:
    """The dossiers/s this machine could reach if nothing but the two pikepdf calls every
    document needs cost any CPU (and every core did only that)."""
    conversion = result["floor_conversion_s_per_document"]
    validation = result["floor_validation_s_per_document"]
    per_dossier = (conversion + validation) * result["documents_per_dossier"]
    return (
        f"ceiling: pikepdf alone spends {per_dossier * 1000:.0f} ms CPU per dossier "
        f"({conversion * 1000:.1f} ms PDF/A-2b conversion + {validation * 1000:.1f} ms "
        f"pikepdf.pdfa validation per document) → at most "
        f"{result['cores'] / per_dossier:.1f} dossiers/s on {result['cores']} cores, "
        "were everything else free"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--dossiers", type=int, default=200, help="dossiers (200)")
    parser.add_argument("-c", "--concurrency", type=int, default=8, help="clients (8)")
    parser.add_argument(
        "--production",
        action="store_true",
        help="PostgreSQL + Celery workers over Redis + SeaweedFS instead of the embedded default",
    )
    parser.add_argument("--workers", type=int, default=2, help="worker processes (production)")
    parser.add_argument("--document-kb", type=int, default=100, help="size of each PDF (100)")
    parser.add_argument("--dir", type=Path, default=None, help="where to put temporary files")
    parser.add_argument("--s3-endpoint", help="use this S3 server instead of starting SeaweedFS")
    parser.add_argument("--s3-access-key", default="")
    parser.add_argument("--s3-secret-key", default="")
    parser.add_argument(
        "--setting",
        action="append",
        default=[],
        metavar="ARCHIVE_NAME=VALUE",
        help="a setting of the embedded service (repeatable), e.g. ARCHIVE_PIPELINE_PROCESSES=4",
    )
    parser.add_argument("--json", action="store_true", help="print the measurements as JSON")
    args = parser.parse_args(argv)
    s3 = (
        S3Endpoint(args.s3_endpoint, args.s3_access_key, args.s3_secret_key)
        if args.s3_endpoint
        else None
    )
    result = run(
        dossiers=args.dossiers,
        concurrency=args.concurrency,
        production=args.production,
        workers=args.workers,
        directory=args.dir,
        document_bytes=args.document_kb * 1024,
        s3=s3,
        settings=dict(setting.split("=", 1) for setting in args.setting),
    )
    print(json.dumps(result, indent=2) if args.json else report(result))
    return 0 if result["archived"] == args.dossiers else 1


if __name__ == "__main__":
    sys.exit(main())
