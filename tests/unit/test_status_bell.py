"""The status bell: a ring from any thread wakes the requests waiting on that deposit only."""

from __future__ import annotations

import asyncio
import threading

from archive_service.ingest.status_bell import StatusBell


def test_a_ring_from_another_thread_wakes_the_waiter() -> None:
    async def scenario() -> bool:
        bell = StatusBell()
        waiting = asyncio.ensure_future(bell.wait("d-1", 60))
        await asyncio.sleep(0)  # the request is now waiting
        threading.Thread(target=bell.ring, args=("d-1",)).start()
        return await waiting

    assert asyncio.run(scenario()) is True


def test_a_ring_for_another_deposit_does_not_wake_it() -> None:
    async def scenario() -> tuple[bool, bool]:
        bell = StatusBell()
        other = asyncio.ensure_future(bell.wait("d-2", 0.2))
        rung = asyncio.ensure_future(bell.wait("d-1", 60))
        await asyncio.sleep(0)
        bell.ring("d-1")
        return await other, await rung

    assert asyncio.run(scenario()) == (False, True)


def test_ringing_with_nobody_waiting_changes_nothing() -> None:
    bell = StatusBell()
    bell.ring("d-1")  # no loop yet

    async def scenario() -> bool:
        bell.ring("d-1")  # a loop, but nobody waiting: the next wait is not pre-woken
        return await bell.wait("d-1", 0.05)

    assert asyncio.run(scenario()) is False
