"""Sleeping consumers (issue 7, B15: idle cost): woken by a ring over Redis, on a real broker.

The consumers of topics only Continuum writes to stop fetching after a quiet spell. These tests
make the probe interval ten minutes, so that only the ring can wake them within the deadline.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from orchestrator.redis_client import make_redis
from orchestrator.service import Service
from orchestrator.settings import Settings
from orchestrator.workers import WORKERS
from orchestrator.workers.wakeup import Bell, BellListener
from tests.integration.helpers import Pipeline, eventually, sms_event

CUSTOMER = "+15551230077"


@pytest.fixture(params=["redis", "cluster"])
def any_redis_url(request: pytest.FixtureRequest) -> str:
    name = "redis_url" if request.param == "redis" else "redis_cluster_url"
    return str(request.getfixturevalue(name))


async def test_a_ring_reaches_every_listener_with_its_topic(any_redis_url: str) -> None:
    redis = make_redis(any_redis_url)
    await redis.ping()
    heard: list[str] = []
    listening = asyncio.Event()
    stop = asyncio.Event()
    listener = BellListener(
        redis, "ct:wake:test.", heard.append, lambda on: listening.set() if on else None
    )
    task = asyncio.create_task(listener.run(stop))
    try:
        await asyncio.wait_for(listening.wait(), 15)
        Bell(redis, "ct:wake:test.").ring("test.customer")
        await eventually(lambda: asyncio.sleep(0, heard), lambda h: h == ["test.customer"])
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)
        await redis.aclose()


def _sleepy(settings: Settings) -> Settings:
    kafka = settings.kafka.model_copy(
        update={"idle_after_s": 0.3, "sleep_after_s": 0.3, "sleep_probe_s": 600.0}
    )
    return settings.model_copy(update={"kafka": kafka})


@pytest.fixture
async def split(settings: Settings) -> AsyncIterator[tuple[Service, Service]]:
    """The inbound worker in one service, every other worker and the sandbox in another, as
    ``continuum up`` runs them in separate processes."""
    s = _sleepy(settings)
    front = Service(s, workers=["inbound"], api=False)
    rest = Service(s, workers=[w for w in WORKERS if w != "inbound"], api=False, sandbox=True)
    try:
        for service in (front, rest):
            await service.start()
            await service.wait_consuming()
        yield front, rest
    finally:
        await asyncio.gather(front.stop(), rest.stop())


async def test_asleep_workers_are_woken_by_the_ring_and_the_reply_goes_out(
    split: tuple[Service, Service],
) -> None:
    front, rest = split
    await eventually(
        lambda: asyncio.sleep(0, rest.pacer.current), lambda p: p is rest.pacer.asleep_pace
    )
    decision = next(r for r in rest.runners if r.worker.name == "decision")
    consumer = decision._subscriber.consumer
    assert consumer is not None
    assert consumer.paused(), "asleep, the decision worker does not fetch"
    assert front.pacer.current is front.pacer.idle_pace  # inbound: other clients, no sleep

    async with Pipeline.open(rest) as pipe:
        topic = front.topics.inbound("sms")
        await pipe.produce(topic, sms_event("SMwake1", CUSTOMER, "HELP"), CUSTOMER)
        sent = await eventually(pipe.sandbox_messages, lambda m: len(m) == 1, timeout=30)
    assert sent[0]["to"] == CUSTOMER
