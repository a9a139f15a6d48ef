"""Status worker: provider delivery receipts from ``continuum.status`` into the ledger."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any, ClassVar

from orchestrator.engine.spec import STATUSES
from orchestrator.errors import BadRecord
from orchestrator.events import (
    MESSAGE_STATUS,
    CloudEvent,
    MessageStatus,
    parse_data,
    parse_envelope,
)
from orchestrator.ledger.records import audit
from orchestrator.workers.base import BatchWorker, Record

# A receipt can overtake the dispatcher's own record of the send by a few milliseconds.
LOOKUP_TRIES = 5
LOOKUP_PAUSE_S = 0.1


class StatusWorker(BatchWorker):
    """Matches each receipt to the message it is about and records the status change."""

    name: ClassVar[str] = "status"
    stage: ClassVar[str] = "status"

    def topics(self) -> list[str]:
        """The status topic."""
        return [self._deps.topics.status]

    async def handle(self, records: Sequence[Record]) -> None:
        """Record one batch of receipts; durable when this returns."""
        started = time.perf_counter()
        receipts: list[tuple[str, MessageStatus]] = []
        for record in records:
            try:
                event = parse_envelope(record.value or b"", record.headers)
                if event.type != MESSAGE_STATUS:
                    raise BadRecord("wrong_type", f"expected {MESSAGE_STATUS}, got {event.type!r}")
                receipts.append((event.id, parse_data(event, MessageStatus)))
            except BadRecord as exc:
                await self.reject(record, exc)
        sends = await self._lookup([r for _, r in receipts])
        outcomes: list[tuple[str | None, str]] = []
        for (event_id, receipt), send in zip(receipts, sends, strict=True):
            await self._record(event_id, receipt, send)
            outcomes.append((send["channel"], receipt.status) if send else (None, "unmatched"))
        await self._pub.flush()
        self.observe(outcomes, started, len(records))

    async def _forward(self, event_id: str, r: MessageStatus, send: dict[str, Any]) -> None:
        """Tell the customer's flows (status triggers) what happened to their message."""
        customer_id = str(send["customer_id"])
        event = CloudEvent(
            specversion="1.0",
            id=event_id,
            source="/continuum/status",
            type=MESSAGE_STATUS,
            customerid=customer_id,
            data={
                "status": r.status,
                "channel": send.get("channel"),
                "customer_id": customer_id,
                "message_id": send.get("message_id"),
                "external_id": r.external_id,
                "error_code": r.error_code,
            },
        )
        await self._pub.publish(self._deps.topics.customer, event, customer_id)

    async def _lookup(self, receipts: list[MessageStatus]) -> list[dict[str, Any] | None]:
        keys = [(r.provider, r.external_id) for r in receipts]
        found = await self._deps.store.lookup_external(keys)
        for _ in range(LOOKUP_TRIES):
            if all(found):
                break
            await asyncio.sleep(LOOKUP_PAUSE_S)
            found = await self._deps.store.lookup_external(keys)
        return found

    async def _record(self, event_id: str, r: MessageStatus, send: dict[str, Any] | None) -> None:
        if send and send.get("customer_id") and r.status in STATUSES:
            await self._forward(event_id, r, send)
        send = send or {}
        detail = {
            k: v
            for k, v in (("provider_status", r.provider_status), ("error_code", r.error_code))
            if v
        }
        await self._pub.audit(
            audit(
                "status_changed",
                r.status,
                identity=(r.provider, r.external_id, event_id),
                at=self._deps.clock(),
                customer_id=send.get("customer_id"),
                channel=send.get("channel"),
                address=send.get("to"),
                message_id=send.get("message_id"),
                provider=r.provider,
                external_id=r.external_id,
                reason=r.error_message or (None if send else "no sent message has this id"),
                detail=detail,
            )
        )
