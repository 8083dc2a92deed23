"""Wake the status requests waiting on a deposit as soon as one of its tasks ends here.

A long-polling ``GET /deposits/{id}?wait=N`` looks at the database every so often (50 ms,
doubling to 400 ms). A deposit reaches its end when a task of it ends, so when tasks run in
this process (the in-process dispatcher, with or without child processes) the dispatcher rings
the bell and the waiting requests look again at once instead of at their next turn: a client
that sends its next dossier after the last one is archived no longer idles the pipeline for up
to 400 ms. With Celery the tasks end in other processes and the requests only poll.

``ring`` may be called from any thread; ``wait`` runs on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading


class StatusBell:
    """Per deposit id, the requests of this process waiting for news (see the module text)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiters: dict[str, set[asyncio.Future[None]]] = {}

    async def wait(self, deposit_id: str, timeout: float) -> bool:
        """Return after ``timeout`` seconds (``False``), or earlier when a task of
        ``deposit_id`` ends (``True``)."""
        loop = asyncio.get_running_loop()
        woken: asyncio.Future[None] = loop.create_future()
        with self._lock:
            self._loop = loop
            self._waiters.setdefault(deposit_id, set()).add(woken)
        try:
            await asyncio.wait_for(woken, timeout)
            return True
        except TimeoutError:
            return False
        finally:
            with self._lock:
                waiting = self._waiters.get(deposit_id)
                if waiting is not None:
                    waiting.discard(woken)
                    if not waiting:
                        del self._waiters[deposit_id]

    def ring(self, deposit_id: str) -> None:
        """A task of ``deposit_id`` ended: wake whoever waits for it (any thread)."""
        with self._lock:
            loop = self._loop
            if loop is None or deposit_id not in self._waiters:
                return
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
            loop.call_soon_threadsafe(self._wake, deposit_id)

    def _wake(self, deposit_id: str) -> None:
        with self._lock:
            waiting = self._waiters.pop(deposit_id, set())
        for woken in waiting:
            if not woken.done():
                woken.set_result(None)
