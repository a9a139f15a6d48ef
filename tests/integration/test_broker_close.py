"""A broker whose stop the service cancelled (it did not leave its group or flush in time) has
its connections closed all the same: none is left for the garbage collector to find unclosed,
which, under ``filterwarnings = error``, fails whichever later test it happens in."""

from __future__ import annotations

import asyncio
import gc

import pytest
from aiokafka.conn import AIOKafkaConnection

from orchestrator.service import _close_kafka_clients
from orchestrator.settings import Settings
from orchestrator.workers.publisher import aiokafka_producer
from orchestrator.workers.runtime import make_broker


def _open_connections() -> list[AIOKafkaConnection]:
    return [o for o in gc.get_objects() if isinstance(o, AIOKafkaConnection) and o.connected()]


@pytest.mark.parametrize("turns", [0, 1, 4, 16])
async def test_a_cancelled_stop_still_closes_every_connection(
    settings: Settings, turns: int
) -> None:
    before = set(map(id, _open_connections()))
    broker = make_broker(settings, f"close-test-{turns}")
    topic = f"{settings.kafka.topic_prefix}close-test"

    @broker.subscriber(topic, group_id=f"close-test-{turns}", auto_offset_reset="earliest")
    async def handle(body: bytes) -> None: ...

    await broker.start()
    await broker.publish(b"x", topic)  # the producer's connection too
    opened = [c for c in _open_connections() if id(c) not in before]
    assert opened, "the broker opened no connection: the test would prove nothing"

    producer = aiokafka_producer(broker)
    stopping = asyncio.ensure_future(broker.stop())
    for _ in range(turns):  # the stop has begun (or not), and is cancelled there
        await asyncio.sleep(0)
    stopping.cancel()
    await asyncio.gather(stopping, return_exceptions=True)
    await _close_kafka_clients(broker, producer)

    assert [c for c in opened if c.connected()] == []
    del broker, handle, stopping, opened, producer
    gc.collect()  # an unclosed client, consumer or producer warns here: an error in this test
