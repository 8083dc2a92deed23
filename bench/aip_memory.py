"""Memory and speed of ingesting one big document: build SIP → check SIP → build AIP → store (OCFL).

    python bench/aip_memory.py [--size 1GiB] [--dir /tmp] [--json]

The work runs in a fresh Python process, so the peak resident set size it reports
(``resource.getrusage(...).ru_maxrss``) is that of the ingest alone. Each stage is timed and
given in MB/s (10^6 bytes per second of the document's size); ``sha256sum`` over the stored
document, run in the same process tree, gives the machine's hashing speed to compare with.
The target is a peak RSS under 200 MiB for a 1 GiB document: nothing may hold a whole document.
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(REPO_ROOT))

TARGET_RSS = 200 * 1024 * 1024
AIP_UUID = UUID("0F3C2B1A-5D4E-4A6B-9C8D-7E6F5A4B3C2D")
_UNITS = {"": 1, "k": 1024, "kib": 1024, "m": 1024**2, "mib": 1024**2, "g": 1024**3, "gib": 1024**3}

T = TypeVar("T")


def parse_size(text: str) -> int:
    """``1073741824``, ``512MiB``, ``1G`` … → bytes (binary units)."""
    match = re.fullmatch(r"\s*(\d+)\s*([a-zA-Z]*)\s*", text)
    if not match or match.group(2).lower() not in _UNITS:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 1GiB, 64MiB, 1048576)")
    return int(match.group(1)) * _UNITS[match.group(2).lower()]


def _timed(stages: list[dict[str, Any]], name: str, size: int, work: Callable[[], T]) -> T:
    start = time.perf_counter()
    result = work()
    seconds = time.perf_counter() - start
    stages.append({"stage": name, "seconds": seconds, "mb_per_s": size / 1e6 / max(seconds, 1e-9)})
    return result


def run_stages(size: int, directory: Path) -> dict[str, Any]:
    """The measured work (in the child process); returns what was measured."""
    from archive_service import SOFTWARE_NAME, __version__
    from archive_service.config import PackageLimits
    from archive_service.packages.aip_writer import ArchiveIdentity, build_aip
    from archive_service.packages.container import open_package
    from archive_service.packages.sip_builder import build_sip
    from archive_service.packages.sip_reader import read_sip
    from archive_service.storage.filesystem import FilesystemStore
    from archive_service.storage.ocfl import OcflRepository
    from tests.factories import CREATED, FONDS_CODE, big_document_source, sample_deposit

    stages: list[dict[str, Any]] = []
    deposit, _ = sample_deposit(documents=1, document={"sha256": None})
    files = {"file1": big_document_source(size, with_sha256=False)}
    zip_path = directory / "sip.zip"
    manifest = _timed(
        stages,
        "build SIP",
        size,
        lambda: build_sip(deposit, files, zip_path, fonds_code=FONDS_CODE, created=CREATED),
    )
    limits = PackageLimits()
    source = open_package(zip_path, limits)
    try:
        report = _timed(stages, "validate SIP", size, lambda: read_sip(source, limits))
        if report.package is None:
            raise SystemExit(f"the SIP was refused: {[p.message for p in report.errors]}")
        sip = report.package
        archive = ArchiveIdentity("LTDT", "Lưu trữ điện tử", FONDS_CODE, SOFTWARE_NAME, __version__)
        tree = _timed(
            stages,
            "build AIP (document not read)",
            size,
            lambda: build_aip(
                sip,
                source,
                aip_uuid=AIP_UUID,
                created=CREATED,
                archive=archive,
                work_dir=directory / "aip-work",
            ),
        )
        store = FilesystemStore(directory / "ocfl-root")
        repository = OcflRepository(store)
        repository.initialize()
        _timed(
            stages,
            "store AIP (OCFL, filesystem)",
            size,
            lambda: repository.add_version(
                tree.object_id,
                tree.files,
                message="bench",
                user_name="bench",
                user_address="mailto:bench@example.org",
                created=CREATED,
            ),
        )
    finally:
        source.close()
    document = sip.documents[0].file
    stored = store.root / repository.state(tree.object_id)[document.path].content_key
    output = _timed(
        stages,
        "sha256sum (same bytes)",
        size,
        lambda: (
            subprocess.run(
                ["sha256sum", str(stored)], check=True, capture_output=True, text=True
            ).stdout
        ),
    )
    return {
        "size": size,
        "sip_sha256": manifest.sha256,
        "document_sha256": document.sha256,
        "sha256sum_matches": output.split()[0] == document.sha256,
        "stages": stages,
        # Linux reports ru_maxrss in KiB
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }


def measure(size: int, directory: Path | None = None) -> dict[str, Any]:
    """Run the stages in a fresh interpreter and return its measurements."""
    with tempfile.TemporaryDirectory(prefix="aip-bench-", dir=directory) as work:
        command = [sys.executable, __file__, "--child", "--size", str(size), "--dir", work]
        done = subprocess.run(command, check=True, capture_output=True, text=True)
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def report(result: dict[str, Any]) -> str:
    lines = [f"document: {result['size'] / 1024**2:.1f} MiB", f"{'stage':32} {'s':>9} {'MB/s':>9}"]
    for stage in result["stages"]:
        lines.append(f"{stage['stage']:32} {stage['seconds']:9.2f} {stage['mb_per_s']:9.1f}")
    peak = result["peak_rss_bytes"]
    verdict = "ok" if peak < TARGET_RSS else "OVER TARGET"
    lines.append(
        f"peak RSS: {peak / 1024**2:.1f} MiB (target < {TARGET_RSS // 1024**2} MiB: {verdict})"
    )
    lines.append(f"sha256sum agrees with the SIP check: {result['sha256sum_matches']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=parse_size, default=1024**3, help="document size (1GiB)")
    parser.add_argument("--dir", type=Path, default=None, help="where to put temporary files")
    parser.add_argument("--json", action="store_true", help="print the measurements as JSON")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(run_stages(args.size, args.dir)))
        return 0
    result = measure(args.size, args.dir)
    print(json.dumps(result, indent=2) if args.json else report(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
