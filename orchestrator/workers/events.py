"""Events worker: business events from ``continuum.events`` to the customer they are about.

A business event is a CloudEvent of type ``event.<name>`` whose ``data.customer`` names the
customer by id (``"cus_..."``) or by address (``{"channel": "sms", "address": "+1555..."}``).
The address is normalised (:mod:`orchestrator.addresses`; one that cannot be is dead-lettered as
``invalid_address``), and an unknown one becomes a new customer whose identity it is, so a flow
can reach them on it. The event is re-keyed onto ``continuum.customer``, and its
``event_received`` ledger row carries the channel and address.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, ClassVar

from orchestrator.addresses import InvalidAddress, normalize
from orchestrator.errors import BadRecord
from orchestrator.events import BUSINESS_PREFIX, CloudEvent, parse_envelope
from orchestrator.ledger.records import audit
from orchestrator.media import MEDIA
from orchestrator.workers.base import BatchWorker, Record


class EventsWorker(BatchWorker):
    """Resolves and re-keys business events."""

    name: ClassVar[str] = "events"
    stage: ClassVar[str] = "events"

    def topics(self) -> list[str]:
        """The business events topic."""
        return [self._deps.topics.events]

    async def handle(self, records: Sequence[Record]) -> None:
        """Process one batch; durable when this returns."""
        started = time.perf_counter()
        by_id: list[tuple[CloudEvent, str, tuple[str, str] | None]] = []
        by_address: list[tuple[CloudEvent, str, str]] = []
        for record in records:
            try:
                event, who = _decode(record)
            except BadRecord as exc:
                await self.reject(record, exc)
                continue
            if isinstance(who, str):
                by_id.append((event, who, None))
            else:
                by_address.append((event, who[0], who[1]))
        resolved = await self._deps.store.resolve(
            [(channel, address, self._deps.new_id()) for _, channel, address in by_address]
        )
        targets = by_id + [
            (e, r.customer_id, (channel, address))
            for (e, channel, address), r in zip(by_address, resolved, strict=True)
        ]
        for event, customer_id, where in targets:
            await self._forward(event, customer_id, where)
        await self._pub.flush()
        self.observe([(None, "accepted")] * len(targets), started, len(records))

    async def _forward(
        self, event: CloudEvent, customer_id: str, where: tuple[str, str] | None
    ) -> None:
        name = event.type[len(BUSINESS_PREFIX) :]
        data = {**(event.data or {}), "customer_id": customer_id}
        channel, address = where or (None, None)
        if where is not None:
            data["customer"] = {**data["customer"], "channel": channel, "address": address}
        await self._pub.audit(
            audit(
                "event_received",
                name,
                identity=(event.id,),
                at=self._deps.clock(),
                customer_id=customer_id,
                channel=channel,
                address=address,
                event_id=event.id,
                detail={"source": event.source},
            )
        )
        rekeyed = event.model_copy(update={"data": data, "customerid": customer_id})
        await self._pub.publish(self._deps.topics.customer, rekeyed, customer_id)


def _decode(record: Record) -> tuple[CloudEvent, str | tuple[str, str]]:
    event = parse_envelope(record.value or b"", record.headers)
    if not event.type.startswith(BUSINESS_PREFIX) or len(event.type) <= len(BUSINESS_PREFIX):
        raise BadRecord("wrong_type", f"expected event.<name>, got {event.type!r}")
    who: Any = (event.data or {}).get("customer")
    if isinstance(who, str) and who:
        return event, who
    if isinstance(who, dict):
        channel, address = who.get("channel"), who.get("address")
        if channel in MEDIA and isinstance(address, str) and address:
            try:
                return event, (channel, normalize(channel, address))
            except InvalidAddress as exc:
                raise BadRecord(exc.reason, f"data.customer.address: {exc}") from None
    raise BadRecord(
        "invalid_data",
        "data.customer must be a customer id or {channel, address} with a known channel",
    )
