"""Publishing without waiting per record: send now, confirm all before the commit.

Records go straight to the broker's aiokafka producer (``acks=all``, its own per-partition
batching with ``linger_ms``): faststream's ``broker.publish`` builds a command, runs its codec
and middleware chain per record, which cost more than the send itself on the hot path. The
futures are kept and awaited together in :meth:`Publisher.flush`, before the consumer commits.
A broker without a real aiokafka producer (faststream's ``TestKafkaBroker``) is published to
through ``broker.publish`` as before. The broker's errors (and the OS's) leave as
:class:`~orchestrator.errors.InfraUnavailable` (:mod:`orchestrator.infra`).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from aiokafka import AIOKafkaProducer
from faststream.exceptions import IncorrectState
from faststream.kafka import KafkaBroker

from orchestrator.events import CONTENT_TYPE, AuditRecord, CloudEvent, audit_event_bytes
from orchestrator.infra import translated
from orchestrator.topics import Topics

if TYPE_CHECKING:  # wakeup imports the polling loop, which imports the workers' base
    from orchestrator.workers.wakeup import Bell

_HEADERS = {"content-type": CONTENT_TYPE}
_RAW_HEADERS = [("content-type", CONTENT_TYPE.encode())]


def aiokafka_producer(broker: KafkaBroker) -> AIOKafkaProducer | None:
    """The started aiokafka producer under ``broker`` (faststream 0.7 keeps it at
    ``config.producer._producer.producer``), or ``None`` when there is none (never connected,
    or stopped: faststream's empty state raises ``IncorrectState`` for it)."""
    fast = getattr(getattr(broker, "config", None), "producer", None)
    try:
        producer = getattr(getattr(fast, "_producer", None), "producer", None)
    except IncorrectState:
        return None
    return producer if isinstance(producer, AIOKafkaProducer) else None


@translated("kafka")
class Publisher:
    """Queues records on a broker's producer and confirms them together in :meth:`flush`."""

    def __init__(
        self, broker: KafkaBroker, topics: Topics, source: str, bell: Bell | None = None
    ) -> None:
        """``bell``: rung for each topic published to, so that sleeping consumers wake."""
        self._broker = broker
        self._topics = topics
        self._source = source
        self._bell = bell
        self._pending: list[asyncio.Future[Any]] = []

    async def publish(self, topic: str, event: CloudEvent, key: str | bytes | None) -> None:
        """Hand ``event`` to the producer; it is durable only after :meth:`flush`."""
        await self._send(topic, event.to_bytes(), key)

    async def publish_confirmed(self, topic: str, event: CloudEvent, key: str | None) -> None:
        """Publish one event and wait for the broker's acknowledgement of it alone."""
        if self._bell is not None:
            self._bell.ring(topic)
        await self._broker.publish(
            event.to_bytes(),
            topic,
            key=key.encode() if key is not None else None,
            headers=_HEADERS,
        )

    async def audit(self, record: AuditRecord) -> None:
        """Queue an audit record for the ledger, keyed by customer (or address)."""
        value = audit_event_bytes(record, self._source)
        await self._send(self._topics.audit, value, record.customer_id or record.address)

    async def flush(self) -> None:
        """Wait until the broker has acknowledged everything queued; raise if any failed."""
        pending, self._pending = self._pending, []
        if pending:
            await asyncio.gather(*pending)

    async def _send(self, topic: str, value: bytes, key: str | bytes | None) -> None:
        raw_key = key.encode() if isinstance(key, str) else key
        if self._bell is not None:
            self._bell.ring(topic)
        producer = aiokafka_producer(self._broker)
        if producer is None:
            future = await self._broker.publish(
                value, topic, key=raw_key, headers=_HEADERS, no_confirm=True
            )
        else:  # waits only for room in the producer's buffer, not for the broker
            future = await producer.send(topic, value, key=raw_key, headers=_RAW_HEADERS)
        self._pending.append(future)
