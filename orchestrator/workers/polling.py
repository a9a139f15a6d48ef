"""The loop of a polling task (the scheduler, the release of deferred sends): one step at a
time, at once again while there is more work, and a growing pause while a dependency fails.
And the pace of the consumers' own polling: short waits while records flow, long when idle."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import chain
from typing import Any, Protocol

from orchestrator.doorbell import Doorbell
from orchestrator.metrics import Metrics
from orchestrator.workers.batch import INFRA_ERRORS

log = logging.getLogger(__name__)
MAX_BACKOFF_S = 30.0
IDLE_WAIT_S = 10.0
"""The longest a polling loop with nothing known to be due sleeps: how late it finds work that
another process added (that process's own loop rings for it and finds it at once)."""


async def poll(
    name: str,
    step: Callable[[], Awaitable[bool]],
    stop: asyncio.Event,
    metrics: Metrics,
    *,
    tick_s: float,
    backoff_s: float,
    idle_wait: Callable[[], Awaitable[float]] | None = None,
    doorbell: Doorbell | None = None,
) -> None:
    """Run ``step`` until ``stop`` is set; ``step`` returns True when more work is waiting.

    When it is not, the loop waits ``tick_s``, or what ``idle_wait`` says (how long until the
    next known item is due, say) and wakes early when ``doorbell`` rings (work was added).
    """
    backoff = backoff_s
    while not stop.is_set():
        if doorbell is not None:
            doorbell.clear()  # what rings from now on is for the next wait
        try:
            busy = await step()
            wait = 0.0 if busy else (await idle_wait() if idle_wait is not None else tick_s)
        except INFRA_ERRORS as exc:
            log.warning("%s: %s; retrying in %.1fs", name, exc, backoff)
            metrics.batch_retries.labels(name).inc()
            await pause(stop, backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_S)
            continue
        backoff = backoff_s
        if wait > 0:
            await pause(stop, wait, doorbell)


async def pause(stop: asyncio.Event, seconds: float, doorbell: Doorbell | None = None) -> None:
    """Wait ``seconds``, or less if ``stop`` is set (or ``doorbell`` rings) meanwhile."""
    if doorbell is None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), seconds)
        return
    waiters = {asyncio.ensure_future(stop.wait()), asyncio.ensure_future(doorbell.wait())}
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


def idle_for(next_due: datetime | None, now: datetime, *, least_s: float, most_s: float) -> float:
    """Seconds a polling loop may sleep until ``next_due``, within ``least_s`` and ``most_s``."""
    if next_due is None:
        return most_s
    return min(most_s, max(least_s, (next_due - now).total_seconds()))


class Every:
    """True at most once per ``period`` of the injected clock (and at the first call): for the
    chores of a polling step that need not run at every tick."""

    def __init__(self, period: timedelta) -> None:
        self._period = period
        self._next: datetime | None = None

    def due(self, now: datetime) -> bool:
        """Whether the chore should run at ``now``; if so, the next one is a period later."""
        if self._next is not None and now < self._next:
            return False
        self._next = now + self._period
        return True


class Paced(Protocol):
    """What a :class:`Pacer` adjusts: a faststream batch subscriber (``batch_timeout_ms``, and
    ``consumer``, the aiokafka consumer whose fetcher holds ``_fetch_max_wait_ms``)."""

    batch_timeout_ms: int
    max_records: int | None
    consumer: Any


@dataclass(frozen=True, slots=True)
class Pace:
    """How long a consumer waits: the broker for an empty fetch, the batch loop for records, and
    aiokafka's fetch routine between wake-ups when nothing happened (its ``consumer_timeout_ms``,
    200 ms by default). That last one must stay short while records flow: the routine sometimes
    notices a partition it may fetch again only at its next wake-up (with 5 s, the decision hop
    stalled for 5 s now and then under load); while idle it is most of a consumer's CPU."""

    fetch_max_wait_ms: int
    batch_timeout_ms: int
    fetcher_wake_ms: int = 200


class Pacer:
    """Short waits while records flow, long ones when idle, for every consumer of a process.

    Tansu answers an empty fetch only when its wait runs out (it does not wake it when records
    arrive), so the wait bounds a hop's latency and sets the idle cost: each consumer sends
    1000/wait fetches a second. Records seen by any consumer of the process switch all of them to
    ``busy`` (the next hop is about to receive work) until ``hot_s`` pass without records; then
    they go back to ``idle``. The first record after a quiet spell waits up to one idle fetch wait
    per hop; everything after it, the busy one.
    """

    def __init__(self, busy: Pace, idle: Pace, hot_s: float) -> None:
        self.busy_pace, self.idle_pace, self._hot_s = busy, idle, hot_s
        self._paced: list[Paced] = []
        self._timer: asyncio.TimerHandle | None = None
        self.current = busy  # consumers start busy: they have a backlog to catch up on, maybe

    def attach(self, subscriber: Paced) -> None:
        """Pace ``subscriber`` too (call from the event loop; its consumer may not exist yet, and
        gets the pace at the next change)."""
        self._paced.append(subscriber)
        self._apply_to(subscriber, self.current)
        if self._timer is None and self.current is self.busy_pace:
            self._timer = asyncio.get_running_loop().call_later(self._hot_s, self.go_idle)

    def records_seen(self) -> None:
        """Records arrived: be busy now and for ``hot_s`` more (call from the event loop)."""
        if self._timer is not None:
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_later(self._hot_s, self.go_idle)
        if self.current is not self.busy_pace:
            self._apply(self.busy_pace)

    def go_idle(self) -> None:
        """No records for a while: wait long."""
        self._timer = None
        self._apply(self.idle_pace)

    def _apply(self, pace: Pace) -> None:
        self.current = pace
        for subscriber in self._paced:
            self._apply_to(subscriber, pace)

    @staticmethod
    def _apply_to(subscriber: Paced, pace: Pace) -> None:
        subscriber.batch_timeout_ms = pace.batch_timeout_ms
        fetcher = getattr(subscriber.consumer, "_fetcher", None)
        if fetcher is None:
            return
        fetcher._fetch_max_wait_ms = pace.fetch_max_wait_ms  # read for each fetch request
        fetcher._fetcher_timeout = pace.fetcher_wake_ms / 1000  # read at each wake-up
        wake = getattr(fetcher, "_wait_consume_future", None)
        if wake is not None and not wake.done():  # end a long idle wait now: the new pace counts
            wake.set_result(None)


def fetch_without_pause(subscriber: Paced) -> None:
    """Make ``subscriber`` poll again at once after an empty batch.

    faststream's batch subscriber sleeps ``batch_timeout_ms`` more after each empty ``getmany``
    (faststream 0.6, ``BatchSubscriber.get_msg``): records that arrive in that sleep wait for it
    to end, up to a second per hop while idle. ``getmany`` itself returns as soon as records
    arrive, so without the sleep a long idle batch timeout costs no latency, only fewer wake-ups.
    The consume loop calls ``self.get_msg`` and skips an empty result, so an instance attribute
    replaces the method.
    """

    async def get_msg(consumer: Any) -> tuple[Any, ...]:
        batches = await consumer.getmany(
            timeout_ms=subscriber.batch_timeout_ms, max_records=subscriber.max_records
        )
        return tuple(chain.from_iterable(batches.values()))

    subscriber.get_msg = get_msg  # type: ignore[attr-defined]
