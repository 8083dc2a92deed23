"""Writer locks: one holder per name, across threads and processes, kept by a stopped holder,
gone with a dead one. Each test runs on the lock file of the filesystem store and on
PostgreSQL's advisory locks (the writer locks of an S3 store on the production stack)."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from archive_service.config import Settings
from archive_service.storage.advisory_locks import AdvisoryWriterLocks
from archive_service.storage.base import ExclusiveWriters, StoreBusy
from archive_service.storage.setup import database_locks
from archive_service.storage.writer_locks import WriterLocks

REPO_ROOT = Path(__file__).resolve().parents[2]
OBJECT = "ab1/c23/d45/urn%3aG09%3auuid-1"
OTHER = "ab1/c23/d45/urn%3aG09%3auuid-2"

HOLDER = """
import sys
from pathlib import Path
from archive_service.storage.advisory_locks import AdvisoryWriterLocks
from archive_service.storage.writer_locks import WriterLocks

where = sys.argv[1]
locks = AdvisoryWriterLocks(where) if where.startswith("postgresql") else WriterLocks(Path(where))
with locks.exclusive(sys.argv[2], timeout=5):
    print("holding", flush=True)
    sys.stdin.read()  # until the parent closes our stdin, or kills us
"""


@pytest.fixture
def lock_file(tmp_path: Path) -> WriterLocks:
    return WriterLocks(tmp_path / "sidecar" / "writers.lock")  # the folder is made on first use


@pytest.fixture(params=["file", "postgresql"])
def locks(request: pytest.FixtureRequest) -> Iterator[ExclusiveWriters]:
    if request.param == "file":
        yield request.getfixturevalue("lock_file")
    else:
        yield AdvisoryWriterLocks(request.getfixturevalue("postgres_url"))


def _where(locks: ExclusiveWriters) -> str:
    """What the holder script needs to open the same locks."""
    if isinstance(locks, WriterLocks):
        return str(locks.path)
    assert isinstance(locks, AdvisoryWriterLocks)
    return locks.url


def test_a_second_holder_of_a_name_waits_then_is_refused(locks: ExclusiveWriters) -> None:
    with locks.exclusive(OBJECT, timeout=1):
        outcome: list[BaseException | None] = []

        def second() -> None:
            try:
                with locks.exclusive(OBJECT, timeout=0.2):
                    outcome.append(None)
            except StoreBusy as busy:
                outcome.append(busy)

        thread = threading.Thread(target=second)
        thread.start()
        thread.join()
        assert isinstance(outcome[0], StoreBusy)
        assert OBJECT in str(outcome[0])
        with locks.exclusive(OTHER, timeout=0.2):  # another name is free meanwhile
            pass
    with locks.exclusive(OBJECT, timeout=0.2):  # released at the end of the block
        pass


def test_the_lock_is_released_when_the_block_raises(locks: ExclusiveWriters) -> None:
    with pytest.raises(RuntimeError), locks.exclusive(OBJECT, timeout=1):
        raise RuntimeError("failed while writing")
    with locks.exclusive(OBJECT, timeout=0.2):
        pass


def test_a_waiting_holder_gets_the_lock_once_the_first_lets_go(locks: ExclusiveWriters) -> None:
    release = threading.Event()
    order: list[str] = []

    def first() -> None:
        with locks.exclusive(OBJECT, timeout=1):
            order.append("first in")
            release.wait(5)
            order.append("first out")

    thread = threading.Thread(target=first)
    thread.start()
    while not order:
        pass
    threading.Timer(0.1, release.set).start()
    with locks.exclusive(OBJECT, timeout=5):
        order.append("second in")
    thread.join()
    assert order == ["first in", "first out", "second in"]


def _holder(locks: ExclusiveWriters, name: str) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, _where(locks), name],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=REPO_ROOT,
    )
    assert process.stdout is not None
    assert process.stdout.readline() == b"holding\n"
    return process


def test_another_process_holding_a_name_keeps_this_one_out(locks: ExclusiveWriters) -> None:
    holder = _holder(locks, OBJECT)
    try:
        with pytest.raises(StoreBusy), locks.exclusive(OBJECT, timeout=0.2):
            pass
        with locks.exclusive(OTHER, timeout=0.2):
            pass
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        assert holder.wait(10) == 0
    with locks.exclusive(OBJECT, timeout=0.2):
        pass


def test_a_killed_holder_leaves_no_lock_behind(locks: ExclusiveWriters) -> None:
    holder = _holder(locks, OBJECT)
    os.kill(holder.pid, signal.SIGKILL)
    assert holder.wait(10) == -signal.SIGKILL
    with locks.exclusive(OBJECT, timeout=0.2):
        pass
    if isinstance(locks, WriterLocks):  # one lock file, none per name
        assert [entry.name for entry in locks.path.parent.iterdir()] == ["writers.lock"]


def test_a_stopped_holder_keeps_the_lock_until_it_goes_on(locks: ExclusiveWriters) -> None:
    """A stuck writer is alive: the next one must wait for it, not take over its object."""
    holder = _holder(locks, OBJECT)
    try:
        os.kill(holder.pid, signal.SIGSTOP)
        with pytest.raises(StoreBusy), locks.exclusive(OBJECT, timeout=0.5):
            pass
        os.kill(holder.pid, signal.SIGCONT)
        assert holder.stdin is not None
        holder.stdin.close()
        assert holder.wait(10) == 0
    finally:
        holder.kill()
        holder.wait()
    with locks.exclusive(OBJECT, timeout=0.2):
        pass


def _sleep_until_killed() -> None:
    threading.Event().wait(60)


def test_a_child_forked_while_a_lock_is_held_does_not_keep_it(lock_file: WriterLocks) -> None:
    locks = lock_file
    context = multiprocessing.get_context("fork")
    with locks.exclusive(OBJECT, timeout=1):
        child = context.Process(target=_sleep_until_killed)
        child.start()
    try:
        # the parent let go; the live child holds nothing
        with locks.exclusive(OBJECT, timeout=0.5):
            pass
    finally:
        child.kill()
        child.join()


def test_an_s3_archive_keeps_its_writer_locks_where_all_its_processes_see_them(
    tmp_path: Path,
) -> None:
    s3 = {"data_dir": tmp_path, "storage_url": "s3://archive", "s3_endpoint": "127.0.0.1:9000"}
    url = "postgresql+psycopg2://archive:secret@db.example:5432/archive"
    on_postgres = database_locks(Settings(**s3, database_url=url).effective_database_url())
    assert isinstance(on_postgres, AdvisoryWriterLocks) and on_postgres.url == url
    on_sqlite = database_locks(Settings(**s3).effective_database_url())  # the embedded one
    assert isinstance(on_sqlite, WriterLocks)
    assert on_sqlite.path == (tmp_path / "archive.db-locks").resolve()
    assert database_locks("sqlite://") is None
