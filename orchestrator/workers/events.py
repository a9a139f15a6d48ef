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
from orchestrator.engine.model import CustomerState
from orchestrator.errors import BadRecord
from orchestrator.events import BUSINESS_PREFIX, CloudEvent, parse_envelope
from orchestrator.ledger.records import audit
from orchestrator.media import MEDIA
from orchestrator.workers.base import BatchWorker, Record

LINK_TYPE = f"{BUSINESS_PREFIX}identity.link"
"""The business event that links an address to a customer (and may merge its owner in)."""


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
        # an id merged into another customer goes to the survivor (ct:merged:{id})
        survivors = await self._deps.store.redirects([cid for _, cid, _ in by_id])
        targets = [(e, survivors[cid], w) for e, cid, w in by_id] + [
            (e, r.customer_id, (channel, address))
            for (e, channel, address), r in zip(by_address, resolved, strict=True)
        ]
        outcomes: list[tuple[str | None, str]] = []
        for event, customer_id, where in targets:
            if event.type == LINK_TYPE:
                outcomes.append((None, await self._link(event, customer_id)))
            else:
                await self._forward(event, customer_id, where)
                outcomes.append((None, "accepted"))
        await self._pub.flush()
        self.observe(outcomes, started, len(records))

    async def _link(self, event: CloudEvent, customer_id: str) -> str:
        """``event.identity.link``: the address becomes the customer's; when another customer
        owns it and ``data.merge`` is true, that customer is merged into this one, else the
        link is refused (``conflict``: the API answers 409 first, this is the race after)."""
        data = event.data or {}
        channel, address = str(data["channel"]), str(data["address"])
        store, at = self._deps.store, self._deps.clock()
        [owner] = await store.owners([(channel, address)])
        owner = (await store.redirects([owner]))[owner] if owner else None
        common: dict[str, Any] = {"channel": channel, "address": address, "event_id": event.id}
        detail: dict[str, Any] = {"source": event.source}
        merged: CustomerState | None = None
        if owner is not None and owner != customer_id:
            if data.get("merge") is not True:
                await self._pub.audit(
                    audit(
                        "identity_linked",
                        "conflict",
                        identity=(event.id,),
                        at=at,
                        customer_id=customer_id,
                        reason=f"the address belongs to {owner}; merge was not asked for",
                        detail={**detail, "owner": owner},
                        **common,
                    )
                )
                return "conflict"
            merged = await store.merge(customer_id, owner)
            await self._pub.audit(
                audit(
                    "customer_merged",
                    "merged",
                    identity=(event.id,),
                    at=at,
                    customer_id=customer_id,
                    detail={**detail, "merged": owner, "identities": merged.identities},
                    **common,
                )
            )
            gone = {"customer": owner, "customer_id": owner, "survivor": customer_id}
            await self._publish_system(event, "merged", owner, gone)
        await store.link(customer_id, channel, address)
        outcome = "merged" if merged else "already" if owner == customer_id else "linked"
        await self._pub.audit(
            audit(
                "identity_linked",
                outcome,
                identity=(event.id,),
                at=at,
                customer_id=customer_id,
                detail=detail,
                **common,
            )
        )
        body: dict[str, Any] = {
            "customer": customer_id,
            "customer_id": customer_id,
            "channel": channel,
            "address": address,
        }
        if merged is not None:
            body["merged"] = merged.to_dict()
        await self._publish_system(event, "link", customer_id, body)
        return outcome

    async def _publish_system(
        self, event: CloudEvent, what: str, customer_id: str, data: dict[str, Any]
    ) -> None:
        update = {
            "id": f"{event.id}:{what}",
            "type": f"{BUSINESS_PREFIX}identity.{what}",
            "data": data,
            "customerid": customer_id,
        }
        rekeyed = event.model_copy(update=update)
        await self._pub.publish(self._deps.topics.customer, rekeyed, customer_id)

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
    if event.type in SYSTEM_TYPES:
        raise BadRecord("wrong_type", f"{event.type} is Continuum's own; send event.identity.link")
    who: Any = (event.data or {}).get("customer")
    if event.type == LINK_TYPE:
        event = _link_event(event)
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


SYSTEM_TYPES = frozenset({f"{BUSINESS_PREFIX}identity.merged"})


def _link_event(event: CloudEvent) -> CloudEvent:
    """``event.identity.link`` with its address normalised; it must name the customer by id."""
    data = event.data or {}
    channel, address = data.get("channel"), data.get("address")
    if not isinstance(data.get("customer"), str) or not data["customer"]:
        raise BadRecord("invalid_data", "identity.link: data.customer must be a customer id")
    if channel not in MEDIA or not isinstance(address, str) or not address:
        raise BadRecord("invalid_data", "identity.link: data.channel and data.address are needed")
    try:
        canonical = normalize(channel, address)
    except InvalidAddress as exc:
        raise BadRecord(exc.reason, f"data.address: {exc}") from None
    return event.model_copy(update={"data": {**data, "address": canonical}})
