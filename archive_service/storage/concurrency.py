"""Independent requests to one store, several at a time where the store serves them so (S3).

A store says how many requests it usefully serves at once with a ``parallel_requests``
attribute (``S3Store``: 8); a store without it (the filesystem store, whose work
is local I/O and hashing) gets one at a time, as before. ``each`` returns only once every call
has ended, so a caller that cleans up after a failure never races a request still running.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from typing import TypeVar

from archive_service.storage.base import ObjectStore

Item = TypeVar("Item")
Result = TypeVar("Result")


def parallel_requests(store: ObjectStore) -> int:
    """How many requests ``store`` usefully serves at once (1 unless it says otherwise)."""
    return max(1, int(getattr(store, "parallel_requests", 1)))


def each(items: Sequence[Item], work: Callable[[Item], Result], parallel: int = 1) -> list[Result]:
    """``work`` on every item, on up to ``parallel`` threads; the results in the items' order.

    When any call fails, the others still run to their end; then the failure of the first
    failing item (in the items' order) is raised.
    """
    if parallel <= 1 or len(items) <= 1:
        return [work(item) for item in items]
    pool = ThreadPoolExecutor(max_workers=min(parallel, len(items)))
    try:
        futures = [pool.submit(work, item) for item in items]
        wait(futures)
    finally:  # interrupted here: the calls not started are dropped, the running ones awaited
        pool.shutdown(wait=True, cancel_futures=True)
    for future in futures:
        error = future.exception()
        if error is not None:
            raise error
    return [future.result() for future in futures]
