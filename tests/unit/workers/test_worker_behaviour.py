"""The worker behaviours of ``tests/worker_behaviour.py`` against the in-memory fakes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from orchestrator.settings import Settings
from orchestrator.topics import Topics
from tests.fakes import FakeClock, FakePolicyCounters, FakeStateStore, RecordingPublisher
from tests.worker_behaviour import (
    DecisionBehaviour,
    DispatcherBehaviour,
    InboundBehaviour,
    StatusBehaviour,
    WorkerTestcase,
    World,
)


class InMemory(WorkerTestcase):
    """Binds the behaviours to ``tests/fakes.py``."""

    @asynccontextmanager
    async def deps(self) -> AsyncIterator[World]:
        store = FakeStateStore()
        yield World(
            settings=Settings(),
            topics=Topics(),
            store=store,
            timers=store.timers,
            deferred=store.deferred,
            counters=FakePolicyCounters(),
            publisher=RecordingPublisher(),
            clock=FakeClock(),
        )


class TestInbound(InMemory, InboundBehaviour):
    pass


class TestDecision(InMemory, DecisionBehaviour):
    pass


class TestStatus(InMemory, StatusBehaviour):
    pass


class TestDispatcher(InMemory, DispatcherBehaviour):
    pass
