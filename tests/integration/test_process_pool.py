"""The embedded default's pipeline processes start with the service, before the first deposit."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from archive_service.db.session import Database
from archive_service.ingest.process_pool import BROKEN_POOL_DELAY_SECONDS, ProcessPipeline
from tests.integration.api_client import in_process_archive
from tests.integration.deposit_setup import make_settings


def _children() -> set[int]:
    return {child.pid for child in multiprocessing.active_children() if child.pid is not None}


def test_start_returns_once_every_child_has_initialised(
    tmp_path: Path, sqlite_database: Database
) -> None:
    """Every child answers before ``start`` returns: a child takes calls only once its
    initializer (imports, database, repository, warm-up) has finished."""
    before = _children()
    pipeline = ProcessPipeline(make_settings(tmp_path, sqlite_database.url), 2)
    try:
        ready = pipeline.start()
        started = _children() - before
        assert len(ready) == 2
        assert ready == started
    finally:
        pipeline.close()
    assert not _children() - before


def test_children_that_cannot_start_are_reported_and_tried_again_by_the_next_task(
    tmp_path: Path, sqlite_database: Database
) -> None:
    """A child whose initializer fails (its storage cannot be opened) breaks the pool: ``start``
    neither raises nor hangs, and the next task starts a new pool (which fails the same way and
    asks to be run again later)."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    settings = make_settings(
        tmp_path, sqlite_database.url, storage_url=(blocker / "storage").as_uri()
    )
    pipeline = ProcessPipeline(settings, 1)
    try:
        assert pipeline.start() == frozenset()
        assert pipeline.process("any-deposit") == BROKEN_POOL_DELAY_SECONDS
    finally:
        pipeline.close()


def test_the_service_starts_its_pipeline_processes_before_it_serves(tmp_path: Path) -> None:
    before = _children()
    with in_process_archive(tmp_path / "data", pipeline_processes=1) as archive:
        assert len(_children() - before) == 1
        assert archive.client.get("/healthz").status_code == 200
    assert not _children() - before


def test_start_waits_no_longer_than_its_timeout(tmp_path: Path, sqlite_database: Database) -> None:
    """With no time to wait, ``start`` returns before any child can have initialised (a child
    imports the pipeline's libraries first); the children go on starting and serve tasks."""
    before = _children()
    pipeline = ProcessPipeline(make_settings(tmp_path, sqlite_database.url), 2)
    try:
        assert pipeline.start(timeout=0.0) == frozenset()
        assert len(_children() - before) == 2
        assert len(pipeline.start()) == 2
    finally:
        pipeline.close()


def test_start_after_close_starts_nothing(tmp_path: Path, sqlite_database: Database) -> None:
    before = _children()
    pipeline = ProcessPipeline(make_settings(tmp_path, sqlite_database.url), 1)
    pipeline.close()
    assert pipeline.start() == frozenset()
    assert not _children() - before
