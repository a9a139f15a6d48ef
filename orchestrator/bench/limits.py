"""The ceilings: how fast records pass through this broker when the consumer does no work.

Both passthroughs copy ``N`` 200-byte records from one topic to another on the same broker in
the same run: raw aiokafka with ``getmany`` and ``send_batch`` (one batch per partition per
poll), and a faststream batch subscriber that republishes each batch with ``publish_batch``.
Each is timed from its first consumed batch to its last acknowledged produce.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from faststream.kafka import KafkaBroker

from orchestrator.bench.load import fast_producer
from orchestrator.bench.report import Result, timed_out

RECORD_BYTES = 200
PARTITIONS = 4
MAX_RECORDS = 500
_BATCH_BYTES = 1024 * 1024


async def run(bootstrap: str, count: int, timeout: float, tick: Callable[[int], None]) -> Result:
    """Both passthroughs over ``count`` records; ``tick(n)`` reports progress."""
    tag = uuid.uuid4().hex[:8]
    names = [f"bench.limits.{tag}.{n}" for n in ("src", "raw", "fs")]
    await _create(bootstrap, names)
    await _fill(bootstrap, names[0], count)
    raw, raw_done = await _raw(bootstrap, names[0], names[1], count, timeout, tick)
    fs, fs_done = await _faststream(bootstrap, names[0], names[2], count, timeout, tick)
    result = Result("limits", count=count)
    result.fields["raw_aiokafka_msg_s"] = raw
    result.fields["faststream_batch_msg_s"] = fs
    if raw is None or fs is None:
        result.status = "timed_out"
        result.note = timed_out(
            timeout, f"raw {raw_done} and faststream {fs_done} of {count} records passed through"
        )
    return result


async def _create(bootstrap: str, names: list[str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(n, PARTITIONS, 1) for n in names])
    finally:
        await admin.close()


async def _fill(bootstrap: str, topic: str, count: int) -> None:
    producer = fast_producer(bootstrap)
    await producer.start()
    try:
        value = b"x" * RECORD_BYTES
        futures = [
            await producer.send(topic, value, partition=i % PARTITIONS) for i in range(count)
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def _raw(
    bootstrap: str, src: str, dst: str, count: int, timeout: float, tick: Callable[[int], None]
) -> tuple[float | None, int]:
    consumer = AIOKafkaConsumer(
        src,
        bootstrap_servers=bootstrap,
        group_id=f"{src}.raw",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=20,
        max_partition_fetch_bytes=_BATCH_BYTES,
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks=1, linger_ms=2, max_batch_size=_BATCH_BYTES
    )
    await consumer.start()
    await producer.start()
    try:
        done, started = 0, 0.0
        deadline = time.monotonic() + timeout
        while done < count and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500, max_records=MAX_RECORDS * 4)
            if not batches:
                continue
            started = started or time.perf_counter()
            futures = []
            for tp, records in batches.items():
                batch = producer.create_batch()
                for record in records:
                    if batch.append(key=None, value=record.value, timestamp=None) is None:
                        futures.append(
                            await producer.send_batch(batch, dst, partition=tp.partition)
                        )
                        batch = producer.create_batch()
                        batch.append(key=None, value=record.value, timestamp=None)
                futures.append(await producer.send_batch(batch, dst, partition=tp.partition))
            await asyncio.gather(*futures)
            await consumer.commit()
            n = sum(len(r) for r in batches.values())
            done += n
            tick(n)
        rate = count / (time.perf_counter() - started) if done >= count else None
        return rate, done
    finally:
        await consumer.stop()
        await producer.stop()


async def _send_batches(
    producer: AIOKafkaProducer, topic: str, partition: int, records: list[Any]
) -> list[Any]:
    """``records`` as few produce batches as fit; return their futures."""
    futures = []
    batch = producer.create_batch()
    for record in records:
        if batch.append(key=None, value=record.value, timestamp=None) is None:
            futures.append(await producer.send_batch(batch, topic, partition=partition))
            batch = producer.create_batch()
            batch.append(key=None, value=record.value, timestamp=None)
    futures.append(await producer.send_batch(batch, topic, partition=partition))
    return futures


async def _faststream(
    bootstrap: str, src: str, dst: str, count: int, timeout: float, tick: Callable[[int], None]
) -> tuple[float | None, int]:
    """A faststream batch subscriber republishing each batch in one ``publish_batch``."""
    broker = KafkaBroker(bootstrap, acks=1, linger_ms=2, max_batch_size=_BATCH_BYTES, logger=None)
    finished = asyncio.Event()
    state: dict[str, Any] = {"done": 0, "started": 0.0}
    pending: list[asyncio.Future[Any]] = []

    @broker.subscriber(
        src,
        batch=True,
        group_id=f"{src}.faststream",
        auto_offset_reset="earliest",
        max_records=MAX_RECORDS,
        batch_timeout_ms=20,
        fetch_max_wait_ms=20,
    )
    async def passthrough(bodies: list[bytes]) -> None:
        state["started"] = state["started"] or time.perf_counter()
        # Not awaited one by one (KAFKA_NOTES.md): confirmed together at the end.
        pending.append(await broker.publish_batch(*bodies, topic=dst, no_confirm=True))
        state["done"] += len(bodies)
        tick(len(bodies))
        if state["done"] >= count:
            finished.set()

    await broker.start()
    try:
        await asyncio.wait_for(finished.wait(), timeout)
        await asyncio.gather(*pending)
        ended = time.perf_counter()
    except TimeoutError:
        return None, int(state["done"])
    finally:
        await broker.stop()
    return float(count / (ended - state["started"])), count
