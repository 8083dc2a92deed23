"""At start, in the background: recompute the terms computed with another schedule than the one
the service loaded (``retention.recompute``), so that starting the service with a new schedule
file is enough for the change to reach every dossier. Stopping the service stops it between two
dossiers; whatever is left is done by the next start or the daily task."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from fastapi import FastAPI

from retention.recompute import recompute_all

log = logging.getLogger(__name__)

#: How long stopping the service waits for the dossier being recomputed.
STOP_WAIT_SECONDS = 30.0


def start_recompute_background(app: FastAPI) -> Callable[[], None]:
    """Start the recomputation thread; return the function that stops it."""
    stop = threading.Event()
    state = app.state

    def run() -> None:
        try:
            report = recompute_all(
                state.database,
                state.repository,
                state.settings,
                state.retention_schedule,
                stop=stop,
            )
        except Exception:
            log.exception("retention terms not recomputed at start; the daily task will")
            return
        if report.examined:
            log.info(
                "retention recomputed under schedule %s: %d longer, %d kept, %d unchanged",
                report.schedule_version,
                len(report.lengthened),
                len(report.kept),
                report.unchanged,
            )

    thread = threading.Thread(target=run, name="retention-recompute", daemon=True)
    thread.start()

    def stop_thread() -> None:
        stop.set()
        thread.join(STOP_WAIT_SECONDS)

    return stop_thread
