"""The polling loop of the scheduler and the release: it sleeps until the next item is due
(at most IDLE_WAIT_S) and wakes at once when its process adds work."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from prometheus_client import CollectorRegistry

from orchestrator.doorbell import Doorbell
from orchestrator.metrics import Metrics
from orchestrator.workers.polling import idle_for, poll

NOW = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)


def test_idle_for_sleeps_until_the_next_item_within_bounds() -> None:
    assert idle_for(NOW + timedelta(seconds=3), NOW, least_s=0.1, most_s=10) == 3.0
    assert idle_for(NOW + timedelta(hours=1), NOW, least_s=0.1, most_s=10) == 10
    assert idle_for(NOW - timedelta(seconds=5), NOW, least_s=0.1, most_s=10) == 0.1  # no spin
    assert idle_for(None, NOW, least_s=0.1, most_s=10) == 10


async def test_a_ring_ends_a_long_idle_wait_and_the_step_runs_again() -> None:
    stop, bell, steps = asyncio.Event(), Doorbell(), asyncio.Queue[int]()
    count = 0

    async def step() -> bool:
        nonlocal count
        count += 1
        steps.put_nowait(count)
        return False

    async def an_hour() -> float:
        return 3600.0

    loop = asyncio.create_task(
        poll(
            "t",
            step,
            stop,
            Metrics(CollectorRegistry()),
            tick_s=1,
            backoff_s=1,
            idle_wait=an_hour,
            doorbell=bell,
        )
    )
    try:
        assert await asyncio.wait_for(steps.get(), 5) == 1
        bell.ring()
        assert await asyncio.wait_for(steps.get(), 5) == 2  # not an hour later
        stop.set()
        await asyncio.wait_for(loop, 5)  # stop ends the wait too
    finally:
        loop.cancel()


async def test_a_ring_during_a_step_is_not_lost() -> None:
    stop, bell, steps = asyncio.Event(), Doorbell(), asyncio.Queue[int]()
    count = 0

    async def step() -> bool:
        nonlocal count
        count += 1
        if count == 1:
            bell.ring()  # work added while the loop was looking
        steps.put_nowait(count)
        return False

    async def an_hour() -> float:
        return 3600.0

    loop = asyncio.create_task(
        poll(
            "t",
            step,
            stop,
            Metrics(CollectorRegistry()),
            tick_s=1,
            backoff_s=1,
            idle_wait=an_hour,
            doorbell=bell,
        )
    )
    try:
        assert await asyncio.wait_for(steps.get(), 5) == 1
        assert await asyncio.wait_for(steps.get(), 5) == 2
    finally:
        stop.set()
        loop.cancel()
