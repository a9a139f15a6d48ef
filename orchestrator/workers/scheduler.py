"""Fires due flow timers and cron-scheduled flows, from any number of replicas.

Timers: every ``tick_s`` (1 s) the scheduler claims due timers (see
:mod:`orchestrator.state.timers`), publishes one ``timer.fired`` CloudEvent each to the customer
topic, waits for the broker's confirmation and only then acknowledges them. A replica that dies
in between loses its lease, and another replica fires those timers again (at-least-once; the
event id is the timer id, so the decision worker applies each once).

Schedules: for each flow with a ``schedule`` trigger, the latest cron tick at or before now (in
the flow's time zone) is run by the one replica whose ``SET NX`` on the tick's key succeeds. It
publishes a ``schedule.fired`` event, with an id derived from flow, tick and customer, for every
customer whose state matches the flow's ``audience``. Only the latest tick is ever considered,
and only within ``grace`` of it: after downtime, missed ticks are skipped, not backfilled, so a
restart never starts a storm of old schedules. A replica that dies mid-tick stops refreshing
its claim; once the claim expires another replica (still within ``grace``) runs the tick again.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from cronsim import CronSim

from orchestrator.engine.catalogue import Catalogue
from orchestrator.engine.decide import audience_matches
from orchestrator.engine.decisions import derive_id
from orchestrator.engine.spec import Flow, ScheduleTrigger
from orchestrator.events import CloudEvent, ScheduleFired, TimerFired, new_event
from orchestrator.metrics import Metrics
from orchestrator.redis_client import RedisClient
from orchestrator.settings import SchedulerSettings
from orchestrator.state import keys
from orchestrator.state.protocols import EventPublisher, TimerQueue
from orchestrator.state.store import RedisStateStore
from orchestrator.state.timers import TimerSpec
from orchestrator.topics import Topics
from orchestrator.workers.polling import IDLE_WAIT_S, Every, idle_for, poll

log = logging.getLogger(__name__)

SOURCE = "/continuum/scheduler"
TIMER_FIRED = "timer.fired"
SCHEDULE_FIRED = "schedule.fired"
_DONE = b"done"


def latest_tick(cron: str, timezone: str, now: datetime) -> datetime | None:
    """The latest tick of ``cron`` in ``timezone`` at or before ``now``, in UTC.

    Wall times skipped by a DST change fire at the end of the gap; repeated ones fire once, at
    their first occurrence (cronsim's Debian-cron rules).
    """
    zone, now_utc = ZoneInfo(timezone), now.astimezone(UTC)
    start = now.astimezone(zone).replace(microsecond=0) + timedelta(seconds=1)
    candidate = next(CronSim(cron, start, reverse=True))
    # Walking back by wall time can stop short across a repeated hour: step forward from there.
    latest = candidate.astimezone(UTC) if candidate.astimezone(UTC) <= now_utc else None
    for tick in CronSim(cron, candidate):
        if tick.astimezone(UTC) > now_utc:
            break
        latest = tick.astimezone(UTC)
    return latest


class Scheduler:
    """The timer and schedule loop of one replica."""

    def __init__(
        self,
        settings: SchedulerSettings,
        topics: Topics,
        timers: TimerQueue,
        redis: RedisClient,
        publisher: EventPublisher,
        catalogue: Callable[[], Catalogue],
        clock: Callable[[], datetime],
        metrics: Metrics,
        *,
        claim_ttl_s: int = 60,
        backoff_s: float = 1.0,
    ) -> None:
        self._topics, self._timers, self._redis = topics, timers, redis
        tick_s, limit, lease_s = settings.tick_s, settings.limit, settings.lease_s
        grace = timedelta(seconds=settings.grace_s)
        self._publisher, self._catalogue, self._clock = publisher, catalogue, clock
        self._metrics = metrics
        self._tick_s, self._limit, self._lease_s = tick_s, limit, lease_s
        self._grace, self._claim_ttl_s, self._backoff_s = grace, claim_ttl_s, backoff_s
        self._token = uuid.uuid4().hex.encode()
        self._handled: dict[str, datetime] = {}  # flow id -> latest tick known to be done
        # Chores that need not run every tick: a dead replica's leases wait up to lease_s anyway.
        self._requeue, self._count = Every(timedelta(seconds=10)), Every(timedelta(seconds=10))
        self._ticks: dict[tuple[str, str, datetime], datetime | None] = {}

    async def run(self, stop: asyncio.Event) -> None:
        """Fire timers and schedules until ``stop`` is set; infrastructure errors are retried."""
        await poll(
            "scheduler",
            self._step,
            stop,
            self._metrics,
            tick_s=self._tick_s,
            backoff_s=self._backoff_s,
            idle_wait=self._idle_wait,
            doorbell=self._timers.added,
        )

    async def _idle_wait(self) -> float:
        """Until the next timer is due, or the next minute when cron flows are loaded (their
        ticks fall on whole minutes), at most :data:`IDLE_WAIT_S`; timers added by this process
        ring the doorbell instead."""
        now = self._clock()
        wake = await self._timers.next_due()
        if any(isinstance(f.trigger, ScheduleTrigger) for f in self._catalogue().flows):
            minute = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
            wake = minute if wake is None else min(wake, minute)
        return idle_for(wake, now, least_s=self._tick_s / 10, most_s=IDLE_WAIT_S)

    async def _step(self) -> bool:
        busy = await self.fire_timers()
        await self.run_schedules()
        now = self._clock()
        if self._count.due(now):
            for state, count in (await self._timers.counts(now)).items():
                self._metrics.timers.labels(state).set(count)
        return busy

    async def fire_timers(self) -> bool:
        """Publish one batch of due timers; True if there may be more due right now."""
        now = self._clock()
        if self._requeue.due(now):
            await self._timers.requeue_expired(now)
        due = await self._timers.claim_due(now, self._limit, self._lease_s)
        if not due:
            return False
        for timer in due:
            await self._publisher.publish(
                self._topics.customer, _timer_event(timer), timer.customer_id
            )
        await self._publisher.flush()
        await self._timers.ack([t.timer_id for t in due])
        return len(due) >= self._limit

    async def run_schedules(self) -> None:
        """Run the latest tick of every scheduled flow, if no replica has and it is recent."""
        now = self._clock()
        for flow in self._catalogue().flows:
            trigger = flow.trigger
            if not isinstance(trigger, ScheduleTrigger):
                continue
            tick = self._latest_tick(trigger, now)
            if tick is None or now - tick > self._grace or self._handled.get(flow.id) == tick:
                continue
            if await self._claim(flow.id, tick):
                await self._fan_out(flow, tick)

    def _latest_tick(self, trigger: ScheduleTrigger, now: datetime) -> datetime | None:
        # Cron ticks fall on whole minutes, so the latest one changes only when the minute does.
        minute = now.astimezone(UTC).replace(second=0, microsecond=0)
        key = (trigger.cron, trigger.timezone, minute)
        if key not in self._ticks:
            if len(self._ticks) > 1000:
                self._ticks.clear()
            self._ticks[key] = latest_tick(trigger.cron, trigger.timezone, now)
        return self._ticks[key]

    async def _claim(self, flow_id: str, tick: datetime) -> bool:
        key = keys.schedule_tick_key(flow_id, tick.isoformat())
        if await self._redis.set(key, self._token, nx=True, ex=self._claim_ttl_s):
            return True
        holder = await self._redis.get(key)
        if holder == _DONE:
            self._handled[flow_id] = tick
        return holder == self._token  # ours: an earlier attempt here failed; run it again

    async def _fan_out(self, flow: Flow, tick: datetime) -> None:
        key, tick_iso = keys.schedule_tick_key(flow.id, tick.isoformat()), tick.isoformat()
        matched = 0
        # SCAN on every node (a cluster's too), then one GET pipeline per chunk: no multi-slot MGET
        async for state in RedisStateStore(self._redis).iter_states():
            if not audience_matches(flow, state, tick):
                continue
            cid = state.customer_id
            event = _schedule_event(flow.id, tick, tick_iso, cid)
            await self._publisher.publish(self._topics.customer, event, cid)
            matched += 1
            if matched % 500 == 0:
                await self._flush_chunk(key)
        await self._publisher.flush()
        ttl = max(3600, int(self._grace.total_seconds()) * 2)
        await self._redis.set(key, _DONE, ex=ttl)
        self._handled[flow.id] = tick
        log.info("scheduler: %s tick %s fired for %d customers", flow.id, tick_iso, matched)

    async def _flush_chunk(self, key: str) -> None:
        await self._publisher.flush()
        await self._redis.expire(key, self._claim_ttl_s)  # still working on it


def _timer_event(timer: TimerSpec) -> CloudEvent:
    data = TimerFired(
        timer_id=timer.timer_id,
        customer_id=timer.customer_id,
        purpose=timer.purpose,
        name=timer.name,
        flow_id=timer.flow_id,
        step=timer.step,
        due=timer.due,
    )
    return new_event(
        TIMER_FIRED, timer.timer_id, SOURCE, data, time=timer.due, customer_id=timer.customer_id
    )


def _schedule_event(flow_id: str, tick: datetime, tick_iso: str, customer_id: str) -> CloudEvent:
    event_id = derive_id("sch", flow_id, tick_iso, customer_id)
    data = ScheduleFired(flow_id=flow_id, tick=tick, customer_id=customer_id)
    return new_event(SCHEDULE_FIRED, event_id, SOURCE, data, time=tick, customer_id=customer_id)
