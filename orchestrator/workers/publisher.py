"""Publishing without waiting per record: send now, confirm all before the commit."""

from __future__ import annotations

import asyncio
from typing import Any

from faststream.kafka import KafkaBroker

from orchestrator.events import AUDIT_PREFIX, CONTENT_TYPE, AuditRecord, CloudEvent
from orchestrator.topics import Topics

_HEADERS = {"content-type": CONTENT_TYPE}


class Publisher:
    """Queues records on a broker's producer and confirms them together in :meth:`flush`."""

    def __init__(self, broker: KafkaBroker, topics: Topics, source: str) -> None:
        self._broker = broker
        self._topics = topics
        self._source = source
        self._pending: list[asyncio.Future[Any]] = []

    async def publish(self, topic: str, event: CloudEvent, key: str | bytes | None) -> None:
        """Hand ``event`` to the producer; it is durable only after :meth:`flush`."""
        future = await self._broker.publish(
            event.to_bytes(),
            topic,
            key=key.encode() if isinstance(key, str) else key,
            headers=_HEADERS,
            no_confirm=True,
        )
        self._pending.append(future)

    async def publish_confirmed(self, topic: str, event: CloudEvent, key: str | None) -> None:
        """Publish one event and wait for the broker's acknowledgement of it alone."""
        await self._broker.publish(
            event.to_bytes(),
            topic,
            key=key.encode() if key is not None else None,
            headers=_HEADERS,
        )

    async def audit(self, record: AuditRecord) -> None:
        """Queue an audit record for the ledger, keyed by customer (or address)."""
        event = CloudEvent(
            specversion="1.0",
            id=record.record_id,
            source=self._source,
            type=AUDIT_PREFIX + record.step,
            time=record.occurred_at,
            data=record.model_dump(mode="json", exclude_none=True),
        )
        await self.publish(self._topics.audit, event, record.customer_id or record.address)

    async def flush(self) -> None:
        """Wait until the broker has acknowledged everything queued; raise if any failed."""
        pending, self._pending = self._pending, []
        if pending:
            await asyncio.gather(*pending)
