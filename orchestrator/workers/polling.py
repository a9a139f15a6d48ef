"""The loop of a polling task (the scheduler, the release of deferred sends): one step at a
time, at once again while there is more work, and a growing pause while a dependency fails.
(The pace of the consumers' own polling is :mod:`orchestrator.workers.pacing`.)"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TypeVar

from orchestrator.doorbell import Doorbell
from orchestrator.errors import InfraUnavailable
from orchestrator.infra import unavailable
from orchestrator.metrics import Metrics

log = logging.getLogger(__name__)
T = TypeVar("T")
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
            with unavailable():  # a loop's own Redis calls too (see orchestrator.infra)
                busy = await step()
                wait = 0.0 if busy else (await idle_wait() if idle_wait is not None else tick_s)
        except InfraUnavailable as exc:
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


async def until_stopped(wait: Awaitable[T], stop: asyncio.Event) -> T | None:
    """What ``wait`` gives, or None as soon as ``stop`` is set (``wait`` is then cancelled)."""
    waiting, stopping = asyncio.ensure_future(wait), asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({waiting, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
        if not waiting.done():
            waiting.cancel()
    return waiting.result() if waiting.done() and not waiting.cancelled() else None
