"""What ``archive deposit`` counts as news while it follows a deposit (``DepositState``)."""

from __future__ import annotations

from archive_service.ingest.client import DepositState


def state(status: str, waiting_for: str | None = None) -> DepositState:
    body = {"deposit_id": "d", "status": status, "waiting_for": waiting_for}
    if waiting_for:
        body["waiting_since"] = "2026-11-29T08:00:00Z"
    return DepositState.from_json(body)


def test_a_new_status_or_a_wait_begun_or_ended_is_news() -> None:
    assert state("checking").progress != state("received").progress
    assert state("storing", "storage").progress != state("storing").progress
    assert state("received").progress != state("received", "dossier").progress
    assert state("received", "dossier").progress != state("received", "storage").progress


def test_the_status_coming_and_going_during_a_wait_is_not_news() -> None:
    # A deposit waiting for its dossier is claimed (checking) and put back at each look.
    assert state("checking", "dossier").progress == state("received", "dossier").progress


def test_the_wait_and_its_start_are_read_from_the_answer() -> None:
    waiting = state("storing", "storage")
    assert (waiting.waiting_for, waiting.waiting_since) == ("storage", "2026-11-29T08:00:00Z")
    old_server = DepositState.from_json({"deposit_id": "d", "status": "storing"})
    assert (old_server.waiting_for, old_server.progress) == (None, ("storing", None))
