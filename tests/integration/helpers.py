"""Driving a running pipeline from tests: produce, read topics, look at the sandbox and ledger."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from orchestrator.events import AuditRecord, CloudEvent
from orchestrator.service import Service
from orchestrator.settings import Settings

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T]], check: Callable[[T], bool], timeout: float = 15.0
) -> T:
    """Poll ``probe`` until ``check`` holds for its result, or fail after ``timeout`` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await probe()
        if check(value):
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s; last value: {value!r}")
        await asyncio.sleep(0.05)


async def customer_of(pipe: Pipeline, address: str) -> str:
    """The customer id the ledger gives ``address`` (once it is resolved or evented)."""
    rows = await eventually(
        lambda: pipe.ledger(address),
        lambda rows: any(r.step in ("customer_resolved", "event_received") for r in rows),
        timeout=30,
    )
    cid = next(r.customer_id for r in rows if r.step in ("customer_resolved", "event_received"))
    assert cid is not None
    return cid


def sms_event(event_id: str, sender: str, text: str, **extra: Any) -> bytes:
    """An inbound SMS exactly as ARCHITECTURE.md's wire contract shows it."""
    return orjson.dumps(
        {
            "specversion": "1.0",
            "id": event_id,
            "source": "/channels/sms/twilio",
            "type": "message.received",
            "time": "2026-11-22T12:00:00Z",
            "datacontenttype": "application/json",
            "data": {
                "channel": "sms",
                "from": sender,
                "to": "+15559990000",
                "text": text,
                "attachments": [],
                "locale": "en-US",
                **extra,
            },
        }
    )


@dataclass
class Pipeline:
    """A started :class:`Service` with a plain aiokafka producer and HTTP client beside it."""

    service: Service
    producer: AIOKafkaProducer
    http: httpx.AsyncClient

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, service: Service) -> AsyncIterator[Pipeline]:
        """Producer and client for ``service``, closed on exit."""
        producer = AIOKafkaProducer(bootstrap_servers=service.settings.kafka_bootstrap, acks="all")
        await producer.start()
        try:
            async with httpx.AsyncClient(timeout=10) as http:
                yield cls(service, producer, http)
        finally:
            await producer.stop()

    @classmethod
    @contextlib.asynccontextmanager
    async def running(cls, settings: Settings) -> AsyncIterator[Pipeline]:
        """Every worker, the API and the sandbox on ``settings``, consuming; stopped on exit."""
        service = Service(settings, sandbox=True)
        try:
            await service.start()
            await service.wait_consuming()
            async with cls.open(service) as pipe:
                yield pipe
        finally:
            await service.stop()

    @property
    def sandbox_url(self) -> str:
        """Base URL of the sandbox provider."""
        return f"http://127.0.0.1:{self.service.settings.sandbox.port}"

    @property
    def api_url(self) -> str:
        """Base URL of the API."""
        return self.service.settings.api_public_url

    async def produce(self, topic: str, value: bytes, key: str | None = None) -> None:
        """Produce one record and wait for the broker's ack."""
        await self.producer.send_and_wait(topic, value, key=key.encode() if key else None)

    async def sandbox_messages(self) -> list[dict[str, Any]]:
        """What the sandbox provider has accepted so far."""
        resp = await self.http.get(f"{self.sandbox_url}/_sandbox/messages")
        resp.raise_for_status()
        result: list[dict[str, Any]] = resp.json()
        return result

    async def ledger(self, address: str) -> list[AuditRecord]:
        """The ledger trail of an address."""
        return await self.service.ledger.query(address=address)

    async def ledger_steps(self, address: str) -> list[tuple[str, str]]:
        """(step, outcome) pairs of an address's trail, in order."""
        return [(r.step, r.outcome) for r in await self.ledger(address)]

    async def read_topic(self, topic: str, count: int, timeout: float = 15.0) -> list[Any]:
        """The first ``count`` records of ``topic``, read from the beginning."""
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=self.service.settings.kafka_bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        records: list[Any] = []
        try:
            deadline = asyncio.get_running_loop().time() + timeout
            while len(records) < count and asyncio.get_running_loop().time() < deadline:
                batch = await consumer.getmany(timeout_ms=200)
                for part in batch.values():
                    records.extend(part)
        finally:
            await consumer.stop()
        return records


@dataclass
class FakeRecord:
    """A consumed record, as a worker's ``handle`` takes it."""

    topic: str
    offset: int
    value: bytes
    key: bytes | None = None
    partition: int = 0
    headers: list[tuple[str, bytes]] = field(default_factory=list)


class RecordingPublisher:
    """Keeps what a worker publishes; confirms at once."""

    def __init__(self) -> None:
        self.published: list[tuple[str, CloudEvent]] = []

    async def publish(self, topic: str, event: CloudEvent, key: str | bytes | None) -> None:
        self.published.append((topic, event))

    async def audit(self, record: AuditRecord) -> None:
        pass

    async def flush(self) -> None:
        pass
