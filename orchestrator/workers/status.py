"""Status worker: provider delivery receipts from ``continuum.status`` into the ledger."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, ClassVar

from orchestrator.errors import BadRecord
from orchestrator.events import MESSAGE_STATUS, MessageStatus, parse_data, parse_envelope
from orchestrator.ledger.records import audit
from orchestrator.workers.base import Deps, Record, dead_letter
from orchestrator.workers.publisher import Publisher

STAGE = "status"
# A receipt can overtake the dispatcher's own record of the send by a few milliseconds.
LOOKUP_TRIES = 5
LOOKUP_PAUSE_S = 0.1


class StatusWorker:
    """Matches each receipt to the message it is about and records the status change."""

    name: ClassVar[str] = "status"

    def __init__(self, deps: Deps, publisher: Publisher) -> None:
        self._deps = deps
        self._pub = publisher

    def topics(self) -> list[str]:
        """The status topic."""
        return [self._deps.topics.status]

    async def handle(self, records: Sequence[Record]) -> None:
        """Record one batch of receipts; durable when this returns."""
        receipts: list[tuple[str, MessageStatus]] = []
        for record in records:
            try:
                event = parse_envelope(record.value or b"")
                if event.type != MESSAGE_STATUS:
                    raise BadRecord("wrong_type", f"expected {MESSAGE_STATUS}, got {event.type!r}")
                receipts.append((event.id, parse_data(event, MessageStatus)))
            except BadRecord as exc:
                await dead_letter(self._deps, self._pub, STAGE, record, exc)
        sends = await self._lookup([r for _, r in receipts])
        for (event_id, receipt), send in zip(receipts, sends, strict=True):
            await self._record(event_id, receipt, send)
        await self._pub.flush()

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
        outcome = r.status if send else "unmatched"
        self._deps.metrics.observe(STAGE, send.get("channel"), outcome, 0.0)
