"""Timers and schedules fire once, from any replica, across restarts and crashed replicas."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
import yaml
from aiokafka import AIOKafkaConsumer
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from orchestrator.engine.catalogue import Catalogue
from orchestrator.engine.model import CustomerState
from orchestrator.engine.spec import Flow
from orchestrator.metrics import Metrics
from orchestrator.service import create_topics
from orchestrator.settings import SchedulerSettings, Settings
from orchestrator.state.store import RedisStateStore
from orchestrator.state.timers import RedisTimerStore, TimerSpec
from orchestrator.topics import Topics
from orchestrator.workers.publisher import Publisher
from orchestrator.workers.runtime import make_broker
from orchestrator.workers.scheduler import Scheduler
from tests.integration.helpers import eventually

DIGEST = """
spec_version: 1
id: weekly_digest
version: 1
stage: renewal
owner: growth
trigger:
  type: schedule
  cron: "* * * * *"
  timezone: Europe/London
  audience: "'vip' in customer.tags"
steps:
  - {id: done, type: end}
"""


@dataclass
class FakeClock:
    """A clock the test moves by hand."""

    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Replica:
    scheduler: Scheduler
    timers: RedisTimerStore


@pytest.fixture
async def topics(settings: Settings) -> Topics:
    topics = Topics(settings.kafka.topic_prefix)
    await create_topics(settings, topics)
    return topics


@contextlib.asynccontextmanager
async def replica(
    settings: Settings,
    topics: Topics,
    clock: Any = None,
    catalogue: Catalogue | None = None,
    *,
    running: bool = True,
    **options: Any,
) -> AsyncIterator[Replica]:
    """One scheduler with its own Redis client and broker, running (or not) until the end."""
    redis = Redis.from_url(settings.redis)
    broker = make_broker(settings, "test-scheduler")
    await broker.connect()
    timers = RedisTimerStore(redis)
    scheduler = Scheduler(
        SchedulerSettings(**options), topics, timers, redis,
        Publisher(broker, topics, "/continuum/scheduler"),
        lambda: catalogue or Catalogue(()),
        clock or (lambda: datetime.now(UTC)),
        Metrics(CollectorRegistry()),
    )  # fmt: skip
    stop = asyncio.Event()
    task = asyncio.create_task(scheduler.run(stop)) if running else None
    try:
        yield Replica(scheduler, timers)
    finally:
        stop.set()
        if task is not None:
            await asyncio.wait_for(task, 10)
        await broker.stop()
        await redis.aclose()


class TopicReader:
    """Reads a topic from the beginning and keeps every record's CloudEvent."""

    def __init__(self, settings: Settings, topic: str) -> None:
        self.events: list[dict[str, Any]] = []
        self._consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=settings.kafka_bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )

    async def __aenter__(self) -> TopicReader:
        await self._consumer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._consumer.stop()

    async def poll(self) -> list[dict[str, Any]]:
        """Everything read so far, after one more fetch."""
        batch = await self._consumer.getmany(timeout_ms=200)
        for records in batch.values():
            self.events.extend(orjson.loads(r.value) for r in records)
        return self.events

    async def wait_for(self, count: int, timeout: float = 20.0) -> list[dict[str, Any]]:
        """At least ``count`` events, then one more fetch to catch any extra."""
        await eventually(self.poll, lambda events: len(events) >= count, timeout)
        return await self.poll()


def timer(timer_id: str, due: datetime, customer: str = "c1") -> TimerSpec:
    return TimerSpec(timer_id, customer, due, "wait", name="nudge", flow_id="f", step="s")


async def test_two_schedulers_fire_each_of_200_timers_once(
    settings: Settings, topics: Topics
) -> None:
    now = datetime.now(UTC)
    async with (
        replica(settings, topics, limit=20) as first,
        replica(settings, topics, limit=20),
        TopicReader(settings, topics.customer) as reader,
    ):
        await first.timers.schedule([timer(f"tmr_{i:03}", now, f"c{i % 7}") for i in range(200)])
        await eventually(first.timers.pending, lambda p: p == [])
        events = await reader.wait_for(200)
    ids = [e["id"] for e in events]
    assert len(ids) == 200
    assert set(ids) == {f"tmr_{i:03}" for i in range(200)}
    sample = next(e for e in events if e["id"] == "tmr_008")
    assert (sample["type"], sample["customerid"]) == ("timer.fired", "c1")
    assert sample["data"] == {"timer_id": "tmr_008", "customer_id": "c1", "purpose": "wait",
                              "name": "nudge", "flow_id": "f", "step": "s",
                              "due": now.isoformat()}  # fmt: skip


async def test_a_timer_outlives_the_scheduler_that_saw_it(
    settings: Settings, topics: Topics
) -> None:
    due = datetime.now(UTC) + timedelta(seconds=1)
    async with replica(settings, topics) as first:
        await first.timers.schedule([timer("tmr_restart", due)])
        assert [t.timer_id for t in await first.timers.pending()] == ["tmr_restart"]
    async with (
        replica(settings, topics) as second,
        TopicReader(settings, topics.customer) as reader,
    ):
        await eventually(second.timers.pending, lambda p: p == [])
        events = await reader.wait_for(1)
    assert [e["id"] for e in events] == ["tmr_restart"]


async def test_a_cancelled_timer_never_fires(settings: Settings, topics: Topics) -> None:
    clock = FakeClock()
    async with (
        replica(settings, topics, clock) as one,
        TopicReader(settings, topics.customer) as reader,
    ):
        soon = clock.now + timedelta(seconds=5)
        await one.timers.schedule([timer("tmr_cancelled", soon), timer("tmr_kept", soon)])
        await one.timers.cancel(["tmr_cancelled"])
        clock.now += timedelta(seconds=10)
        await eventually(one.timers.pending, lambda p: p == [])
        events = await reader.wait_for(1)
    assert [e["id"] for e in events] == ["tmr_kept"]


async def test_a_lease_left_by_a_crashed_replica_is_fired_after_it_expires(
    settings: Settings, topics: Topics
) -> None:
    clock = FakeClock()
    # A replica claims the timer, then dies before publishing or acknowledging it.
    crashed_redis = Redis.from_url(settings.redis)
    crashed = RedisTimerStore(crashed_redis)
    await crashed.schedule([timer("tmr_orphan", clock.now)])
    claimed = await crashed.claim_due(clock.now, lease_s=5)
    await crashed_redis.aclose()
    assert [t.timer_id for t in claimed] == ["tmr_orphan"]
    async with replica(settings, topics, clock, running=False) as idle:
        assert await idle.timers.claim_due(clock.now) == []  # leased: nobody else claims it
        assert await idle.scheduler.fire_timers() is False  # lease still valid: not requeued
        assert [t.timer_id for t in await idle.timers.pending()] == ["tmr_orphan"]
    clock.now += timedelta(seconds=6)
    async with (
        replica(settings, topics, clock) as one,
        TopicReader(settings, topics.customer) as reader,
    ):
        await eventually(one.timers.pending, lambda p: p == [])
        events = await reader.wait_for(1)
    assert [e["id"] for e in events] == ["tmr_orphan"]


async def test_a_schedule_tick_reaches_the_matching_audience_once(
    settings: Settings, topics: Topics
) -> None:
    catalogue = Catalogue((Flow.model_validate(yaml.safe_load(DIGEST)),))
    redis = Redis.from_url(settings.redis)
    states = [CustomerState("c_vip", tags=("vip",)), CustomerState("c_plain")]
    await RedisStateStore(redis).save_states(states)
    await redis.aclose()
    grace = 20.0  # seconds
    clock = FakeClock(datetime(2026, 11, 22, 11, 4, 30, tzinfo=UTC))
    # Coming up 30 s after the 11:04 tick, past the grace window: that tick is not backfilled.
    async with replica(settings, topics, clock, catalogue, running=False, grace_s=grace) as late:
        await late.scheduler.run_schedules()
    async with (
        replica(settings, topics, clock, catalogue, grace_s=grace),
        replica(settings, topics, clock, catalogue, grace_s=grace),
        TopicReader(settings, topics.customer) as reader,
    ):
        clock.now = datetime(2026, 11, 22, 11, 5, 10, tzinfo=UTC)
        await reader.wait_for(1)
        clock.now = datetime(2026, 11, 22, 11, 6, 5, tzinfo=UTC)
        events = await reader.wait_for(2)
    ticks = [(e["data"]["tick"], e["customerid"]) for e in events]
    vip_ticks = [("2026-11-22T11:05:00+00:00", "c_vip"), ("2026-11-22T11:06:00+00:00", "c_vip")]
    assert ticks == vip_ticks
    assert all(e["type"] == "schedule.fired" for e in events)
    assert all(e["data"]["flow_id"] == "weekly_digest" for e in events)
    assert len({e["id"] for e in events}) == 2
