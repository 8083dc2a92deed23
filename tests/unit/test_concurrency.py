"""Independent storage requests run several at a time: results in order, every call ended
before a failure is raised, and the first failure in the items' order is the one raised."""

from __future__ import annotations

import threading
import time

import pytest

from archive_service.storage.concurrency import each, parallel_requests


def test_results_come_in_the_items_order_and_calls_overlap() -> None:
    running, most = 0, 0
    lock = threading.Lock()

    def work(item: int) -> int:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.01 * (5 - item % 5))  # later items finish first
        with lock:
            running -= 1
        return item * 10

    assert each(list(range(10)), work, parallel=4) == [n * 10 for n in range(10)]
    assert 1 < most <= 4


def test_one_at_a_time_unless_asked() -> None:
    threads: set[int] = set()

    def work(item: int) -> int:
        threads.add(threading.get_ident())
        return item

    assert each([1, 2, 3], work) == [1, 2, 3]
    assert threads == {threading.get_ident()}


def test_a_failure_is_raised_only_after_every_call_ended_and_the_first_one_wins() -> None:
    ended: list[int] = []

    def work(item: int) -> int:
        if item == 2:
            raise KeyError("second")
        if item == 5:
            raise ValueError("fifth")
        time.sleep(0.02)
        ended.append(item)
        return item

    with pytest.raises(KeyError, match="second"):
        each(list(range(8)), work, parallel=3)
    assert sorted(ended) == [0, 1, 3, 4, 6, 7]


def test_a_store_says_how_many_requests_it_serves_at_once() -> None:
    class Plain:
        pass

    class Parallel:
        parallel_requests = 6

    assert parallel_requests(Plain()) == 1  # type: ignore[arg-type]
    assert parallel_requests(Parallel()) == 6  # type: ignore[arg-type]
