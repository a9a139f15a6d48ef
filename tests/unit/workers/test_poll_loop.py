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


class _Loop:
    """A poll loop whose step only counts, with an idle wait of an hour and a doorbell."""

    def __init__(self, ring_during_first_step: bool = False) -> None:
        self.stop, self.bell, self.steps = asyncio.Event(), Doorbell(), asyncio.Queue[int]()
        self._count, self._ring_first = 0, ring_during_first_step

    async def step(self) -> bool:
        self._count += 1
        if self._count == 1 and self._ring_first:
            self.bell.ring()  # work added while the loop was looking
        self.steps.put_nowait(self._count)
        return False

    @staticmethod
    async def an_hour() -> float:
        return 3600.0

    def start(self) -> asyncio.Task[None]:
        return asyncio.create_task(
            poll(
                "t",
                self.step,
                self.stop,
                Metrics(CollectorRegistry()),
                tick_s=1,
                backoff_s=1,
                idle_wait=self.an_hour,
                doorbell=self.bell,
            )
        )


async def test_a_ring_ends_a_long_idle_wait_and_the_step_runs_again() -> None:
    loop = _Loop()
    task = loop.start()
    try:
        assert await asyncio.wait_for(loop.steps.get(), 5) == 1
        loop.bell.ring()
        assert await asyncio.wait_for(loop.steps.get(), 5) == 2  # not an hour later
        loop.stop.set()
        await asyncio.wait_for(task, 5)  # stop ends the wait too
    finally:
        task.cancel()


async def test_a_ring_during_a_step_is_not_lost() -> None:
    loop = _Loop(ring_during_first_step=True)
    task = loop.start()
    try:
        assert await asyncio.wait_for(loop.steps.get(), 5) == 1
        assert await asyncio.wait_for(loop.steps.get(), 5) == 2
    finally:
        loop.stop.set()
        task.cancel()
