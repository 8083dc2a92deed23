"""Fixity throughput on the filesystem backend, next to ``sha256sum`` over the same files.

    python bench/fixity_throughput.py [--large-count 4] [--large-size 256MiB]
                                      [--small-count 2000] [--small-size 100KB] [--dir /tmp]
                                      [--json]

Two sets are measured, each in a fresh archive (SQLite database migrated to the current schema,
OCFL storage root in a directory): ``large`` (``--large-count`` objects of ``--large-size``, one
dossier each) and ``small`` (``--small-count`` objects of ``--small-size``, 100 per dossier).
The objects are written as OCFL versions and recorded as stored objects exactly as the deposit
pipeline does (read back after the commit). Then, for each set:

1. ``sha256sum`` hashes every stored file of the set (content files and the OCFL inventories,
   sidecars and declarations: the same keys the fixity run checks), in one process;
2. a fixity run over everything (``FixityEngine.run``) re-reads and re-hashes the same files and
   records one check per object, the run and a PREMIS event per dossier in the database.

Both read files just written (the page cache is warm for both). MB/s is 10^6 bytes per second.
Targets: fixity at least 80 % of ``sha256sum``'s MB/s on large objects, and at least 500
objects/s on 100 KB objects. Nothing fails when a figure is low; the report says whether each
target was met.
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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, BinaryIO, cast

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(REPO_ROOT))

from sqlalchemy import select  # noqa: E402

from archive_service.db.migrate import upgrade  # noqa: E402
from archive_service.db.session import Database  # noqa: E402
from archive_service.dossiers.models import Dossier, StoredObject  # noqa: E402
from archive_service.ingest.readback import read_back_head  # noqa: E402
from archive_service.integrity.fixity import FixityEngine  # noqa: E402
from archive_service.integrity.fixity_models import FixityRun  # noqa: E402
from archive_service.integrity.fixity_targets import FixityScope  # noqa: E402
from archive_service.security.models import Agency  # noqa: E402
from archive_service.storage.filesystem import FilesystemStore  # noqa: E402
from archive_service.storage.ocfl import OcflRepository  # noqa: E402
from archive_service.streams import FileSource  # noqa: E402

AGENCY = "000.00.19.H56"
PER_DOSSIER_SMALL = 100
LARGE_SHARE_TARGET = 0.80
SMALL_OBJECTS_PER_SECOND_TARGET = 500.0
BLOCK = 1024 * 1024
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([KMG]i?B|B)?", re.IGNORECASE)
_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "kib": 2**10, "mib": 2**20, "gib": 2**30}


@dataclass(frozen=True)
class Speed:
    """One measurement: what was read, how long it took."""

    seconds: float
    objects: int
    bytes: int
    status: str = "ok"

    @property
    def mb_per_s(self) -> float:
        return self.bytes / self.seconds / 1e6 if self.seconds else 0.0

    @property
    def objects_per_s(self) -> float:
        return self.objects / self.seconds if self.seconds else 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "mb_per_s": round(self.mb_per_s, 1),
            "objects_per_s": round(self.objects_per_s, 1),
        }


@dataclass(frozen=True)
class SetResult:
    """The figures of one set of objects."""

    name: str
    objects: int
    object_size: int
    fixity: Speed
    sha256sum: Speed

    @property
    def share(self) -> float:
        """Fixity MB/s as a share of sha256sum's."""
        return self.fixity.mb_per_s / self.sha256sum.mb_per_s if self.sha256sum.mb_per_s else 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "objects": self.objects,
            "object_size": self.object_size,
            "fixity": self.fixity.as_json(),
            "sha256sum": self.sha256sum.as_json(),
            "fixity_share_of_sha256sum": round(self.share, 3),
        }


def parse_size(text: str) -> int:
    """``256MiB``, ``100KB`` (10^3), ``4096`` … in bytes."""
    match = _SIZE.fullmatch(text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"not a size: {text!r}")
    number, unit = match.groups()
    return int(float(number) * _UNITS[(unit or "b").lower()])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--large-count", type=int, default=4)
    parser.add_argument("--large-size", type=parse_size, default=parse_size("256MiB"))
    parser.add_argument("--small-count", type=int, default=2000)
    parser.add_argument("--small-size", type=parse_size, default=parse_size("100KB"))
    parser.add_argument("--dir", type=Path, default=None, help="where the temporary archives go")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    if shutil.which("sha256sum") is None:
        parser.error("sha256sum is not installed")
    sets = [
        measure_set("large", args.large_count, args.large_size, 1, args.dir),
        measure_set("small", args.small_count, args.small_size, PER_DOSSIER_SMALL, args.dir),
    ]
    if args.json:
        print(json.dumps({"sets": [s.as_json() for s in sets]}, indent=2))
    else:
        print(describe(sets))
    return 0


def measure_set(
    name: str, count: int, size: int, per_dossier: int, parent: Path | None
) -> SetResult:
    """Build a fresh archive holding ``count`` objects of ``size`` bytes and measure it."""
    with _work_dir(parent) as work:
        database, repository, paths = build_archive(work, count, size, per_dossier)
        try:
            baseline = run_sha256sum(paths)
            fixity = run_fixity(database, repository)
        finally:
            database.dispose()
    return SetResult(name, count, size, fixity, baseline)


def build_archive(
    work: Path, count: int, size: int, per_dossier: int
) -> tuple[Database, OcflRepository, list[Path]]:
    """OCFL objects of random bytes, recorded as the pipeline records them; the stored files."""
    url = f"sqlite:///{work / 'archive.db'}"
    upgrade(url)
    database = Database(url)
    store = FilesystemStore(work / "storage")
    repository = OcflRepository(store)
    repository.initialize()
    with database.session() as session:
        session.add(Agency(id=AGENCY, name="Bench"))
    for first in range(0, count, per_dossier):
        files = range(first, min(first + per_dossier, count))
        object_id = f"urn:BENCH:uuid-{first:08d}-0000-0000-0000-000000000000"
        changes = {f"data/{number:06d}.bin": _random_source(size) for number in files}
        repository.add_version(
            object_id,
            changes,
            message="bench",
            user_name="bench",
            user_address="mailto:bench@example.org",
            created=datetime.now(UTC),
        )
        _record(database, repository, object_id, first)
    with database.read_session() as session:
        keys = list(session.scalars(select(StoredObject.key).order_by(StoredObject.key)))
    return database, repository, [store.root / key for key in keys]


def run_sha256sum(paths: list[Path]) -> Speed:
    started = time.perf_counter()
    done = subprocess.run(
        ["sha256sum", "--", *map(str, paths)], check=True, capture_output=True, text=True
    )
    seconds = time.perf_counter() - started
    assert len(done.stdout.splitlines()) == len(paths)
    return Speed(seconds, len(paths), sum(path.stat().st_size for path in paths))


def run_fixity(database: Database, repository: OcflRepository) -> Speed:
    engine = FixityEngine(database, repository)
    started = time.perf_counter()
    outcome = engine.run(FixityScope.everything(), requested_by="bench")
    seconds = time.perf_counter() - started
    with database.read_session() as session:
        run = session.get(FixityRun, outcome.run_id)
        assert run is not None
        checked = run.objects_ok + run.objects_mismatch + run.objects_missing
        return Speed(seconds, checked, run.bytes_checked, outcome.status.value)


def describe(sets: list[SetResult]) -> str:
    lines = []
    for result in sets:
        fixity, baseline = result.fixity, result.sha256sum
        lines += [
            f"{result.name}: {result.objects} objects of {_human(result.object_size)} "
            f"({fixity.objects} stored files with the OCFL inventories, "
            f"{fixity.bytes / 1e6:.1f} MB)",
            f"  fixity run  {fixity.seconds:8.2f} s  {fixity.mb_per_s:8.1f} MB/s  "
            f"{fixity.objects_per_s:8.1f} objects/s  ({fixity.status})",
            f"  sha256sum   {baseline.seconds:8.2f} s  {baseline.mb_per_s:8.1f} MB/s  "
            f"{baseline.objects_per_s:8.1f} objects/s",
            f"  fixity / sha256sum: {result.share:.0%}",
        ]
        if result.name == "large":
            met = result.share >= LARGE_SHARE_TARGET
            lines.append(f"  target ≥ {LARGE_SHARE_TARGET:.0%} of sha256sum: {_met(met)}")
        else:
            met = fixity.objects_per_s >= SMALL_OBJECTS_PER_SECOND_TARGET
            lines.append(f"  target ≥ {SMALL_OBJECTS_PER_SECOND_TARGET:.0f} objects/s: {_met(met)}")
    return "\n".join(lines)


def _record(database: Database, repository: OcflRepository, object_id: str, number: int) -> None:
    """The dossier and stored-object rows the pipeline writes, from a read-back of the version."""
    stored = read_back_head(repository, object_id)
    day = date(2024, 6, 10)
    moment = datetime(2024, 6, 10, tzinfo=UTC)
    with database.session() as session:
        dossier = Dossier(
            dossier_code=f"{AGENCY}-240610-{number:04d}",
            agency_id=AGENCY,
            aip_object_id=object_id,
            aip_version=stored.version,
            file_code=f"BENCH.{number}",
            title="Bench",
            procedure_code="1.000000",
            procedure_name="Bench",
            sector_code="BENCH",
            final_status="approved",
            received_at=moment,
            settled_at=moment,
            start_date=day,
            end_date=day,
            maintenance="01",
            mode="01",
            applicant_name="Bench",
            total_doc=0,
        )
        session.add(dossier)
        session.flush()
        session.add_all(
            StoredObject(
                dossier_id=dossier.id,
                key=item.key,
                version_id=item.version_id,
                aip_version=stored.version,
                size=item.size,
                sha256=item.sha256,
            )
            for item in stored.keys
        )


def _random_source(size: int) -> FileSource:
    @contextmanager
    def open_random() -> Iterator[BinaryIO]:
        yield cast(BinaryIO, _RandomStream(size))

    return FileSource(open=open_random, size=size)


class _RandomStream:
    """``size`` random bytes, read in blocks (never all in memory)."""

    def __init__(self, size: int) -> None:
        self._left = size

    def read(self, n: int = -1) -> bytes:
        count = self._left if n < 0 else min(n, self._left, BLOCK)
        self._left -= count
        return os.urandom(count)


@contextmanager
def _work_dir(parent: Path | None) -> Iterator[Path]:
    work = Path(tempfile.mkdtemp(prefix="fixity-bench-", dir=parent))
    try:
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _human(size: int) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if size >= scale and size % scale == 0:
            return f"{size // scale} {unit}"
    if size >= 1000 and size % 1000 == 0:
        return f"{size // 1000} KB"
    return f"{size} B"


def _met(met: bool) -> str:
    return "met" if met else "NOT met"


if __name__ == "__main__":
    sys.exit(main())
