"""Instructions per deposit: the pipeline's work counted by valgrind, not timed.

    python bench/deposit_instructions.py [-n 10] [--warm 2] [--dir /dev/shm] [--json]

The throughput benchmark's figures move with whatever else this machine's host is doing (its
own ``sha256sum`` baseline has read anywhere from 160 to 350 MB/s over a day), so a change of a
few per cent in the service's CPU is lost in them. This benchmark counts instructions instead,
which do not depend on the machine's load: to compare two commits, run it on each.

The same SIPs as ``deposit_throughput.py`` (5 scanned-page PDFs of about 100 KB each) are built
first. Then, each under ``valgrind --tool=callgrind``, a Python process deposits them one after
the other in its main thread on the embedded default (SQLite, filesystem storage, the pipeline
called directly, no HTTP server, no threads): one process deposits ``--warm`` dossiers, the
other ``--warm`` plus ``-n``. The difference of their instruction counts is the cost of ``-n``
deposits, start-up, imports and first-use caches left out. The baseline is the instructions
``sha256sum`` spends on the same SIP bytes, counted the same way. Child processes (Ghostscript,
LibreOffice, a virus scanner) are not counted; the bench's documents need none. Compare runs
with the same ``-n`` and ``--warm`` only: the catalogue and storage grow as a run goes.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(REPO_ROOT))

_COLLECTED = re.compile(r"Collected : (\d+)")


def deposit_serially(sips: list[Path], work: Path) -> None:
    """Deposit ``sips`` in order on a fresh embedded archive in ``work``, each to its end."""
    from archive_service.db.migrate import upgrade
    from archive_service.db.session import Database
    from archive_service.ingest.dispatch import InProcessDispatcher
    from archive_service.ingest.service import DepositService
    from archive_service.storage.setup import open_archive_repository
    from tests.integration.deposit_setup import make_settings, principal_for, stage
    from tests.service_stack import AGENCY_ID

    url = f"sqlite:///{work / 'archive.db'}"
    upgrade(url)
    database = Database(url)
    # A lease long enough that its renewal thread, woken by the clock, never runs: under
    # valgrind a deposit's time depends on the host, its instructions must not.
    settings = make_settings(work, url, lease_seconds=24 * 3600.0)
    service = DepositService(
        settings, database, open_archive_repository(settings), InProcessDispatcher(1)
    )  # the dispatcher is never started: each deposit's task runs here, in this thread
    service.pipeline.start()
    depositor = principal_for(database, agency_id=AGENCY_ID)
    for sip in sips:
        deposit_id = service.register_zip(depositor, stage(settings, sip)).deposit_id
        while (delay := service.pipeline.process(deposit_id)) is not None:
            time.sleep(delay)
        status = service.get(depositor, deposit_id).status
        if status != "archived":
            raise SystemExit(f"{sip.name}: {status}, not archived")
    database.dispose()


def counted(command: list[str]) -> int:
    """Instructions ``command`` executes (user space), counted by callgrind."""
    done = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *command],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONHASHSEED": "0"},  # the same hashing of str in every run
    )
    found = _COLLECTED.search(done.stderr)
    if done.returncode != 0 or found is None:
        raise SystemExit(f"{' '.join(command[:3])}… failed:\n{done.stderr[-2000:]}")
    return int(found.group(1))


def inner_command(sips: Path, deposits: int, work: Path) -> list[str]:
    return [
        sys.executable,
        str(Path(__file__).resolve()),
        "--inner",
        str(deposits),
        "--sips",
        str(sips),
        "--dir",
        str(work),
    ]


def measure(dossiers: int, warm: int, directory: Path | None) -> dict[str, float]:
    """Build the SIPs, count both runs and the baseline (two at a time); the figures."""
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is needed (Debian package valgrind)")
    from bench.deposit_throughput import build_sips

    root = Path(tempfile.mkdtemp(prefix="deposit-instructions-", dir=directory))
    try:
        sips = build_sips(root / "sips", warm + dossiers)
        measured = sips[warm:]
        size = sum(path.stat().st_size for path in measured)
        runs = {
            "warm": inner_command(root / "sips", warm, root / "warm"),
            "all": inner_command(root / "sips", warm + dossiers, root / "all"),
            "sha256sum": ["sha256sum", *map(str, measured)],
        }
        for name in ("warm", "all"):
            (root / name).mkdir()
        with ThreadPoolExecutor(2) as pool:
            counts = dict(zip(runs, pool.map(counted, runs.values()), strict=True))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    per_deposit = (counts["all"] - counts["warm"]) / dossiers
    return {
        "dossiers": dossiers,
        "warm": warm,
        "sip_bytes": size,
        "instructions_per_deposit": per_deposit,
        "sha256sum_instructions_per_deposit": counts["sha256sum"] / dossiers,
        "instructions_per_sip_byte": per_deposit * dossiers / size,
    }


def report(figures: dict[str, float]) -> str:
    per = figures["instructions_per_deposit"]
    baseline = figures["sha256sum_instructions_per_deposit"]
    return "\n".join(
        [
            f"{figures['dossiers']:g} deposits of 5 PDF (~100 KB) after {figures['warm']:g} "
            f"to warm up, one at a time, embedded default without HTTP",
            f"  {per / 1e6:9.1f} M instructions per deposit "
            f"({figures['instructions_per_sip_byte']:.0f} per byte of SIP)",
            f"baseline: sha256sum over the same SIP bytes {baseline / 1e6:.1f} M instructions "
            f"per deposit; a deposit costs {per / baseline:.0f}× that",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--dossiers", type=int, default=10, help="dossiers counted (10)")
    parser.add_argument("--warm", type=int, default=2, help="dossiers left out first (2)")
    parser.add_argument("--dir", type=Path, default=None, help="where to put temporary files")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--inner", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--sips", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.inner is not None:  # one counted run: deposit the first N SIPs
        deposit_serially(sorted(args.sips.glob("*.zip"))[: args.inner], args.dir)
        return 0
    if args.dossiers < 1 or args.warm < 0:
        parser.error("-n must be at least 1 and --warm at least 0")
    figures = measure(args.dossiers, args.warm, args.dir)
    print(json.dumps(figures, indent=2) if args.json else report(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
