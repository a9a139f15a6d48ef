"""Inbound worker: validate, dedupe, resolve the customer, re-key by customer id.

Reads ``continuum.inbound.<channel>`` (keyed by sender address) and writes each new message to
``continuum.customer`` keyed by customer id, so one customer's events stay in order whatever
channel they arrive on. The sender address is normalised first (:mod:`orchestrator.addresses`):
the re-keyed event carries the canonical ``from``, and a sender that cannot be normalised is
dead-lettered as ``invalid_address``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from orchestrator.addresses import InvalidAddress, normalize
from orchestrator.errors import BadRecord
from orchestrator.events import (
    MESSAGE_RECEIVED,
    CloudEvent,
    MessageReceived,
    parse_data,
    parse_envelope,
)
from orchestrator.ledger.records import audit
from orchestrator.media import MEDIA
from orchestrator.settings import InboundSettings
from orchestrator.state.protocols import EventPublisher
from orchestrator.workers.base import BatchWorker, Deps, Record, position


@dataclass(frozen=True, slots=True)
class _Valid:
    record: Record
    event: CloudEvent
    data: MessageReceived


class InboundWorker(BatchWorker):
    """Consumes every inbound channel topic."""

    name: ClassVar[str] = "inbound"
    stage: ClassVar[str] = "inbound"

    def __init__(
        self, deps: Deps, publisher: EventPublisher, settings: InboundSettings | None = None
    ) -> None:
        super().__init__(deps, publisher)
        self._settings = settings or InboundSettings()

    def topics(self) -> list[str]:
        """One topic per channel."""
        return [self._deps.topics.inbound(c) for c in MEDIA]

    async def handle(self, records: Sequence[Record]) -> None:
        """Process one batch; durable when this returns."""
        started = time.perf_counter()
        valid = [v for r in records if (v := await self._validate(r)) is not None]
        # One round trip marks every id seen and resolves every sender (a duplicate's sender
        # too: it is already known, or the first copy of the message never got this far).
        seen, resolved = await self._deps.store.admit_inbound(
            [(v.data.channel, v.event.id, position(v.record)) for v in valid],
            self._settings.dedupe_ttl_s,
            [(v.data.channel, v.data.sender, self._deps.new_id()) for v in valid],
        )
        fresh = [(v, res) for v, new, res in zip(valid, seen, resolved, strict=True) if new]
        outcomes: list[tuple[str | None, str]] = []
        for v, new in zip(valid, seen, strict=True):
            if not new:
                await self._duplicate(v)
                outcomes.append((v.data.channel, "duplicate"))
        for v, res in fresh:
            await self._forward(v, res.customer_id, res.created)
        await self._pub.flush()
        outcomes.extend((v.data.channel, "accepted") for v, _ in fresh)
        self.observe(outcomes, started, len(records))

    async def _validate(self, record: Record) -> _Valid | None:
        try:
            event = parse_envelope(record.value or b"", record.headers)
            if event.type != MESSAGE_RECEIVED:
                raise BadRecord("wrong_type", f"expected {MESSAGE_RECEIVED}, got {event.type!r}")
            data = parse_data(event, MessageReceived)
            topic_channel = self._deps.topics.channel_of(record.topic)
            if data.channel != topic_channel:
                raise BadRecord(
                    "channel_mismatch",
                    f"data.channel {data.channel!r} arrived on the {topic_channel} topic",
                )
            try:
                sender = normalize(data.channel, data.sender)
            except InvalidAddress as exc:
                raise BadRecord(exc.reason, f"data.from: {exc}") from None
        except BadRecord as exc:
            await self.reject(record, exc)
            return None
        return _Valid(record, event, data.model_copy(update={"sender": sender}))

    async def _duplicate(self, v: _Valid) -> None:
        await self._pub.audit(
            audit(
                "inbound_duplicate",
                "dropped",
                identity=(position(v.record),),
                at=self._deps.clock(),
                channel=v.data.channel,
                address=v.data.sender,
                event_id=v.event.id,
                reason="the same (channel, id) was received within the dedupe window",
            )
        )

    async def _forward(self, v: _Valid, customer_id: str, created: bool) -> None:
        at = self._deps.clock()
        common: dict[str, Any] = {
            "channel": v.data.channel,
            "address": v.data.sender,
            "event_id": v.event.id,
            "customer_id": customer_id,
        }
        ident = (v.data.channel, v.event.id)
        detail = {"text": v.data.text, "to": v.data.recipient, "source": v.event.source}
        typed = (v.event.data or {}).get("from")
        if typed != v.data.sender:
            detail["from_as_sent"] = typed
        await self._pub.audit(
            audit(
                "inbound_received",
                "accepted",
                identity=ident,
                at=at,
                detail=detail,
                **common,
            )
        )
        await self._pub.audit(
            audit(
                "customer_resolved",
                "created" if created else "existing",
                identity=ident,
                at=at,
                **common,
            )
        )
        data = {**(v.event.data or {}), "from": v.data.sender, "customer_id": customer_id}
        rekeyed = v.event.model_copy(update={"data": data, "customerid": customer_id})
        await self._pub.publish(self._deps.topics.customer, rekeyed, customer_id)
