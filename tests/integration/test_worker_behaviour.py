"""The worker behaviours of ``tests/worker_behaviour.py`` again, on real Redis and Tansu.

The same test classes as the unit tier's; here the stores are the Redis ones and the records
really go to the broker (a recording publisher wraps the real one, and each batch waits for the
broker's acknowledgements before it is committed, as in production).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from orchestrator.redis_client import make_redis
from orchestrator.service import create_topics
from orchestrator.settings import Settings
from orchestrator.state.deferred import DeferredSends
from orchestrator.state.policy_counters import PolicyCounters
from orchestrator.state.store import RedisStateStore
from orchestrator.state.timers import RedisTimerStore
from orchestrator.topics import Topics
from orchestrator.workers.publisher import Publisher
from orchestrator.workers.runtime import make_broker
from tests.fakes import FakeClock, RecordingPublisher
from tests.worker_behaviour import (
    DecisionBehaviour,
    DispatcherBehaviour,
    InboundBehaviour,
    StatusBehaviour,
    WorkerTestcase,
    World,
)


class RealServers(WorkerTestcase):
    """Binds the behaviours to the test's Redis (flushed) and broker (its own topics)."""

    @pytest.fixture(autouse=True)
    def _servers(self, settings: Settings) -> None:
        self._settings = settings

    @asynccontextmanager
    async def deps(self) -> AsyncIterator[World]:
        settings = self._settings
        topics = Topics(settings.kafka.topic_prefix)
        await create_topics(settings, topics)
        redis = make_redis(settings.redis)
        broker = make_broker(settings, "worker-behaviour")
        await broker.start()
        try:
            yield World(
                settings=settings,
                topics=topics,
                store=RedisStateStore(redis),
                timers=RedisTimerStore(redis),
                deferred=DeferredSends(redis),
                counters=PolicyCounters(redis),
                publisher=RecordingPublisher(Publisher(broker, topics, "/continuum/test")),
                clock=FakeClock(),
            )
        finally:
            await broker.stop()
            await redis.aclose()


class TestInbound(RealServers, InboundBehaviour):
    pass


class TestDecision(RealServers, DecisionBehaviour):
    pass


class TestStatus(RealServers, StatusBehaviour):
    pass


class TestDispatcher(RealServers, DispatcherBehaviour):
    pass
