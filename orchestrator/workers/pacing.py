"""The pace of the consumers' polling: short waits while records flow, long ones when idle, and
no fetch at all while asleep.

Tansu answers an empty fetch only when its wait runs out (it does not wake it when records
arrive), so a consumer's fetch wait bounds a hop's latency and sets its idle cost: each consumer
sends 1000/wait fetches a second, and the broker answers each. A :class:`Pacer`, shared by the
consumers of one process, moves them through three paces:

- ``busy`` while records flow (the configured short waits);
- ``idle`` after ``hot_s`` without records (long fetch waits; the first record after a quiet
  spell waits up to one of them per hop);
- ``asleep`` after ``sleep_after_s`` more, for the consumers of topics that only Continuum writes
  to: their partitions are paused, so they send no fetch at all, and every Continuum producer
  rings a bell (:mod:`orchestrator.workers.wakeup`) that wakes them at once, in ``busy`` pace.
  As a safety net for a lost ring they fetch again for ``probe_awake_s`` every ``probe_s``.

Consumers of topics that other clients produce to (the inbound channels, business events) never
sleep, since nothing rings for those records; nor does anyone while the bell is not listening.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, replace
from itertools import chain
from typing import Any, Protocol


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
    stalled for 5 s now and then under load); while idle it is most of a consumer's CPU.
    ``paused``: the consumer's partitions are paused (no fetch at all)."""

    fetch_max_wait_ms: int
    batch_timeout_ms: int
    fetcher_wake_ms: int = 200
    paused: bool = False


@dataclass(slots=True)
class _Member:
    subscriber: Paced
    topics: frozenset[str]
    sleeps: bool


class Pacer:
    """The pace of every consumer of a process (see the module docstring).

    Records seen by any consumer of the process, or a ring for a topic one of them reads, switch
    all of them to ``busy`` (the next hop is about to receive work) until ``hot_s`` pass without
    records; then they go ``idle``, and ``sleep_after_s`` later (0: never) the sleepers go to
    sleep while the bell listens.
    """

    def __init__(
        self,
        busy: Pace,
        idle: Pace,
        hot_s: float,
        *,
        sleep_after_s: float = 0.0,
        probe_s: float = 30.0,
        probe_awake_s: float | None = None,
    ) -> None:
        self.busy_pace, self.idle_pace, self._hot_s = busy, idle, hot_s
        self._sleep_after_s, self._probe_s = sleep_after_s, probe_s
        # awake long enough for two idle fetches, so one that was in flight does not count
        self._probe_awake_s = (
            probe_awake_s if probe_awake_s is not None else 2 * idle.fetch_max_wait_ms / 1000 + 0.5
        )
        probe_ms = max(1, int(probe_s * 1000))
        self.asleep_pace = replace(
            idle, batch_timeout_ms=probe_ms, fetcher_wake_ms=probe_ms, paused=True
        )
        self._members: list[_Member] = []
        self._timer: asyncio.TimerHandle | None = None
        self._listening = False
        self.current = busy  # consumers start busy: they have a backlog to catch up on, maybe

    def attach(
        self, subscriber: Paced, topics: Iterable[str] = (), *, sleeps: bool = False
    ) -> None:
        """Pace ``subscriber`` (reading ``topics``) too; ``sleeps``: it may sleep (only
        Continuum writes to its topics). Call from the event loop; its consumer may not exist
        yet, and gets the pace at the next change."""
        member = _Member(subscriber, frozenset(topics), sleeps)
        self._members.append(member)
        self._apply_to(member, self.current)
        if self._timer is None and self.current is self.busy_pace:
            self._after(self._hot_s, self.go_idle)

    def records_seen(self) -> None:
        """Records arrived: be busy now and for ``hot_s`` more (call from the event loop)."""
        self._after(self._hot_s, self.go_idle)
        if self.current is not self.busy_pace:
            self._apply(self.busy_pace)

    def rung(self, topic: str) -> None:
        """Records are coming to ``topic`` (the bell rang): wake if a consumer here reads it."""
        if any(topic in m.topics for m in self._members):
            self.records_seen()

    def listening(self, on: bool) -> None:
        """Whether the bell is listening; nobody sleeps while it is not (a ring would be lost)."""
        self._listening = on
        if not on and self.current is self.asleep_pace:
            self.go_idle()
        elif on and self.current is self.idle_pace and self._timer is None:
            self._after_idle()

    def go_idle(self) -> None:
        """No records for a while: wait long, and go to sleep later if the sleepers may."""
        self._timer = None
        self._apply(self.idle_pace)
        self._after_idle()

    def go_asleep(self) -> None:
        """Longer without records: the sleepers stop fetching until a ring, or the next probe."""
        self._timer = None
        if not self._may_sleep():
            return
        self._apply(self.asleep_pace)
        self._after(self._probe_s, self._probe)

    def _probe(self) -> None:
        self._apply(self.idle_pace)
        self._after(self._probe_awake_s, self.go_asleep)

    def _after_idle(self) -> None:
        if self._may_sleep():
            self._after(self._sleep_after_s, self.go_asleep)

    def _may_sleep(self) -> bool:
        return self._sleep_after_s > 0 and self._listening and any(m.sleeps for m in self._members)

    def _after(self, delay: float, then: Any) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_later(delay, then)

    def _apply(self, pace: Pace) -> None:
        self.current = pace
        for member in self._members:
            self._apply_to(member, pace)

    def _apply_to(self, member: _Member, pace: Pace) -> None:
        if pace.paused and not member.sleeps:
            pace = self.idle_pace
        subscriber = member.subscriber
        subscriber.batch_timeout_ms = pace.batch_timeout_ms
        consumer = subscriber.consumer
        fetcher = getattr(consumer, "_fetcher", None)
        if fetcher is None:
            return
        if pace.paused:
            consumer.pause(*consumer.assignment())
        elif consumer.paused():
            consumer.resume(*consumer.paused())  # wakes aiokafka's fetch routine at once
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
