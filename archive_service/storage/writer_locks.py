"""One writer at a time per name (an OCFL object's root) on a local file system.

Every name maps, by its SHA-256, to one byte of a single lock file; a writer holds a Linux
open-file-description lock (``F_OFD_SETLK``) on that byte. Such a lock belongs to the open file,
not to the process: two threads of one process exclude each other as two processes do, and the
kernel drops the lock when the holder closes the file or dies, so a crashed writer never leaves
a lock behind and no lock file is ever created per name. Two names that share a byte (one
chance in 2^62) merely wait for each other. Where the kernel has no such locks, the whole file
is ``flock``-ed instead: every writer then waits for every other, which is slower but as safe.

A child forked while a lock is held would share the lock's open file, and keep the lock after
the parent let go: the child closes its copies at once (``os.register_at_fork``), which leaves
the parent's lock as it was.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import struct
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from archive_service.storage.base import HeldLock, StoreBusy

# struct flock on Linux: l_type, l_whence, l_start, l_len, l_pid (0 for OFD locks), padding.
_FLOCK = "hhqqi4x"
_RANGE_BITS = 62  # l_start is a signed 64-bit offset
_FIRST_PAUSE, _LONGEST_PAUSE = 0.005, 0.1

_held: set[int] = set()  # the descriptors of the locks this process holds


def _close_inherited() -> None:
    """In a forked child: close the lock files inherited from the parent."""
    for descriptor in list(_held):
        with contextlib.suppress(OSError):
            os.close(descriptor)
    _held.clear()


os.register_at_fork(after_in_child=_close_inherited)


class WriterLocks:
    """The writer locks kept in the lock file ``path`` (created with its folder when missing)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @contextlib.contextmanager
    def exclusive(self, name: str, *, timeout: float) -> Iterator[HeldLock]:
        """Be the only holder of ``name`` until the block ends; ``StoreBusy`` when another
        holder keeps it for ``timeout`` seconds."""
        descriptor = self._open()
        _held.add(descriptor)
        try:
            wait_to_take(lambda: _try_lock(descriptor, _offset(name)), name, timeout=timeout)
            yield _KernelLock()
        finally:
            _held.discard(descriptor)
            os.close(descriptor)  # releases the lock

    def _open(self) -> int:
        try:
            return os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except FileNotFoundError:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            return os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)


class _KernelLock:
    """A lock on an open file: nothing takes it away while the file stays open."""

    def confirm(self) -> None:
        """Always still held."""


def wait_to_take(take: Callable[[], bool], name: str, *, timeout: float) -> None:
    """Call ``take`` until it takes the lock of ``name``, pausing longer each time (up to
    0.1 s); ``StoreBusy`` once ``timeout`` seconds have passed."""
    deadline, pause = time.monotonic() + timeout, _FIRST_PAUSE
    while not take():
        if time.monotonic() >= deadline:
            raise StoreBusy(f"{name}: another writer is changing it")
        time.sleep(pause)
        pause = min(pause * 2, _LONGEST_PAUSE)


def _offset(name: str) -> int:
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") >> (64 - _RANGE_BITS)


def _try_lock(descriptor: int, offset: int) -> bool:
    """Take the exclusive lock on byte ``offset`` (or the whole file) if nobody holds it."""
    command = getattr(fcntl, "F_OFD_SETLK", None)
    try:
        if command is None:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        else:
            request = struct.pack(_FLOCK, fcntl.F_WRLCK, os.SEEK_SET, offset, 1, 0)
            fcntl.fcntl(descriptor, command, request)
    except (BlockingIOError, PermissionError):  # EAGAIN / EACCES: held by another
        return False
    return True
