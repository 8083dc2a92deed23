"""Named points in the deposit pipeline where a test can make the process die on the spot.

A no-op in normal operation. When the environment variable ``ARCHIVE_TEST_CRASH_AT`` names a
point (``store:content``), the process kills itself with ``SIGKILL`` the first time it gets
there; ``name#n`` waits for the n-th time (``store:content#3``: after two content files were
written). Nothing is cleaned up and no ``finally`` block runs — exactly like a power cut — so
the crash tests can show that the next worker finishes the deposit or leaves nothing visible.

Points: ``register:staged`` (upload moved into place, no row yet), ``register:committed`` (row
committed, task not sent), ``check:done``, ``package:done``, ``store:content`` (each content file
opened for upload), ``store:committed`` (OCFL version committed, database not yet),
``index:committed`` (database committed, staged files not yet removed).

With ``ARCHIVE_TEST_CRASH_SIGNAL=SIGSTOP`` the process stops there instead of dying — a worker
that hangs, its locks still held, until a ``SIGCONT`` lets it go on.

With ``ARCHIVE_TEST_CRASH_ONCE`` naming a file, only the first process to reach the point dies
(it creates the file first): the processes started after it — a pool's replacement children,
which inherit the same environment — get past the point.
"""

from __future__ import annotations

import os
import signal
import threading
from collections import Counter

VARIABLE = "ARCHIVE_TEST_CRASH_AT"
ONCE_VARIABLE = "ARCHIVE_TEST_CRASH_ONCE"
SIGNAL_VARIABLE = "ARCHIVE_TEST_CRASH_SIGNAL"

_hits: Counter[str] = Counter()
_lock = threading.Lock()


def armed() -> bool:
    """Whether a crash point is set in this process's environment."""
    return bool(os.environ.get(VARIABLE))


def reached(name: str) -> None:
    """Die here (``SIGKILL``, or the signal ``ARCHIVE_TEST_CRASH_SIGNAL`` names) when
    ``ARCHIVE_TEST_CRASH_AT`` names this point; else nothing."""
    wanted = os.environ.get(VARIABLE)
    if not wanted:
        return
    point, _, count = wanted.partition("#")
    if point != name:
        return
    with _lock:
        _hits[name] += 1
        hit = _hits[name]
    if hit != (int(count) if count else 1):
        return
    once = os.environ.get(ONCE_VARIABLE)
    if once:
        try:
            os.close(os.open(once, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return  # an earlier process died here already
    os.kill(os.getpid(), signal.Signals[os.environ.get(SIGNAL_VARIABLE, "SIGKILL")])
