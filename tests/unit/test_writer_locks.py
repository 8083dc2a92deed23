"""Writer locks: one holder per name, across threads and processes, gone with a dead holder."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from archive_service.storage.base import StoreBusy
from archive_service.storage.writer_locks import WriterLocks

REPO_ROOT = Path(__file__).resolve().parents[2]
OBJECT = "ab1/c23/d45/urn%3aG09%3auuid-1"
OTHER = "ab1/c23/d45/urn%3aG09%3auuid-2"

HOLDER = """
import sys
from pathlib import Path
from archive_service.storage.writer_locks import WriterLocks

with WriterLocks(Path(sys.argv[1])).hold(sys.argv[2], timeout=5):
    print("holding", flush=True)
    sys.stdin.read()  # until the parent closes our stdin, or kills us
"""


@pytest.fixture
def locks(tmp_path: Path) -> WriterLocks:
    return WriterLocks(tmp_path / "sidecar" / "writers.lock")  # the folder is made on first use


def test_a_second_holder_of_a_name_waits_then_is_refused(locks: WriterLocks) -> None:
    with locks.hold(OBJECT, timeout=1):
        outcome: list[BaseException | None] = []

        def second() -> None:
            try:
                with locks.hold(OBJECT, timeout=0.2):
                    outcome.append(None)
            except StoreBusy as busy:
                outcome.append(busy)

        thread = threading.Thread(target=second)
        thread.start()
        thread.join()
        assert isinstance(outcome[0], StoreBusy)
        assert OBJECT in str(outcome[0])
        with locks.hold(OTHER, timeout=0.2):  # another name is free meanwhile
            pass
    with locks.hold(OBJECT, timeout=0.2):  # released at the end of the block
        pass


def test_the_lock_is_released_when_the_block_raises(locks: WriterLocks) -> None:
    with pytest.raises(RuntimeError), locks.hold(OBJECT, timeout=1):
        raise RuntimeError("failed while writing")
    with locks.hold(OBJECT, timeout=0.2):
        pass


def test_a_waiting_holder_gets_the_lock_once_the_first_lets_go(locks: WriterLocks) -> None:
    release = threading.Event()
    order: list[str] = []

    def first() -> None:
        with locks.hold(OBJECT, timeout=1):
            order.append("first in")
            release.wait(5)
            order.append("first out")

    thread = threading.Thread(target=first)
    thread.start()
    while not order:
        pass
    threading.Timer(0.1, release.set).start()
    with locks.hold(OBJECT, timeout=5):
        order.append("second in")
    thread.join()
    assert order == ["first in", "first out", "second in"]


def _holder(locks: WriterLocks, name: str) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(locks.path), name],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=REPO_ROOT,
    )
    assert process.stdout is not None
    assert process.stdout.readline() == b"holding\n"
    return process


def test_another_process_holding_a_name_keeps_this_one_out(locks: WriterLocks) -> None:
    holder = _holder(locks, OBJECT)
    try:
        with pytest.raises(StoreBusy), locks.hold(OBJECT, timeout=0.2):
            pass
        with locks.hold(OTHER, timeout=0.2):
            pass
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        assert holder.wait(10) == 0
    with locks.hold(OBJECT, timeout=0.2):
        pass


def test_a_killed_holder_leaves_no_lock_behind(locks: WriterLocks) -> None:
    holder = _holder(locks, OBJECT)
    os.kill(holder.pid, signal.SIGKILL)
    assert holder.wait(10) == -signal.SIGKILL
    with locks.hold(OBJECT, timeout=0.2):
        pass
    assert [entry.name for entry in locks.path.parent.iterdir()] == ["writers.lock"]


def _sleep_until_killed() -> None:
    threading.Event().wait(60)


def test_a_child_forked_while_a_lock_is_held_does_not_keep_it(locks: WriterLocks) -> None:
    context = multiprocessing.get_context("fork")
    with locks.hold(OBJECT, timeout=1):
        child = context.Process(target=_sleep_until_killed)
        child.start()
    try:
        with locks.hold(OBJECT, timeout=0.5):  # the parent let go; the live child holds nothing
            pass
    finally:
        child.kill()
        child.join()
