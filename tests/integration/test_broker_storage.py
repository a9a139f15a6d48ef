"""The embedded broker on disk storage keeps its topics, records and committed offsets across a
restart; on memory storage it does not (that mode is for tests and benchmarks)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import OffsetAndMetadata

from orchestrator.servers import free_port, start_kafka

TOPIC = "continuum.durable"
GROUP = "durable-group"
TP = TopicPartition(TOPIC, 0)


async def _produce(bootstrap: str, values: list[bytes]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=False)
    await producer.start()
    try:
        for value in values:
            await producer.send(TOPIC, value, partition=0)
        await producer.flush()
    finally:
        await producer.stop()


async def _consumer(bootstrap: str) -> AIOKafkaConsumer:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=GROUP,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    consumer.assign([TP])
    return consumer


async def _take(consumer: AIOKafkaConsumer, count: int, timeout: float = 20.0) -> list[bytes]:
    got: list[bytes] = []
    deadline = asyncio.get_running_loop().time() + timeout
    while len(got) < count and asyncio.get_running_loop().time() < deadline:
        batch = await consumer.getmany(TP, timeout_ms=500, max_records=count - len(got))
        got += [r.value for r in batch.get(TP, []) if r.value is not None]
    return got


@pytest.mark.timeout(60)
async def test_disk_storage_keeps_records_and_committed_offsets(tmp_path: Path) -> None:
    data, logs = tmp_path / "kafka", tmp_path / "logs"
    values = [f"record-{i}".encode() for i in range(50)]
    server = start_kafka(free_port(), log_dir=logs, data_dir=data)
    try:
        await _produce(server.url, values)
        consumer = await _consumer(server.url)
        try:
            assert await _take(consumer, 20) == values[:20]
            await consumer.commit({TP: OffsetAndMetadata(20, "")})
        finally:
            await consumer.stop()
    finally:
        server.stop()
    assert not server.alive()

    again = start_kafka(free_port(), log_dir=logs, data_dir=data)
    try:
        consumer = await _consumer(again.url)
        try:
            assert await consumer.committed(TP) == 20
            assert await _take(consumer, 30) == values[20:]
        finally:
            await consumer.stop()
        await _produce(again.url, [b"after-restart"])
        consumer = await _consumer(again.url)
        try:
            consumer.seek(TP, 0)
            assert await _take(consumer, 51) == [*values, b"after-restart"]
        finally:
            await consumer.stop()
    finally:
        again.stop()


@pytest.mark.timeout(30)
async def test_memory_storage_starts_empty_after_a_restart(tmp_path: Path) -> None:
    server = start_kafka(free_port(), log_dir=tmp_path)
    try:
        await _produce(server.url, [b"lost"])
    finally:
        server.stop()
    again = start_kafka(free_port(), log_dir=tmp_path)
    try:
        consumer = AIOKafkaConsumer(bootstrap_servers=again.url)
        await consumer.start()
        try:
            assert TOPIC not in await consumer.topics()
        finally:
            await consumer.stop()
    finally:
        again.stop()
