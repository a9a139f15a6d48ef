"""Status worker: provider delivery receipts from ``continuum.status`` into the ledger.

A receipt is matched to its message by the provider's id (``(provider, external id)`` in the
send ledger) and applied only when it moves the message forward
(:mod:`orchestrator.state.message_status`). A ``delivered`` one records the time since the
provider accepted the message (``continuum_time_to_delivered_seconds``, and
``time_to_delivered_s`` on the ledger row). A ``failed``/``undelivered`` one that is permanent
for its channel (:func:`orchestrator.delivery.fallback.permanent`) sends the message's next
fallback channel (:mod:`orchestrator.workers.fallbacks`). The customer's flows hear each applied
status with whether it is ``final`` and the fallback it led to (``fallback_to``) or came from
(``fallback_from``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar

from orchestrator.delivery import fallback
from orchestrator.engine.spec import STATUSES
from orchestrator.errors import BadRecord
from orchestrator.events import (
    MESSAGE_STATUS,
    CloudEvent,
    MessageSend,
    MessageStatus,
    StatusForFlows,
    flow_status,
    parse_data,
    parse_envelope,
)
from orchestrator.ledger.records import audit
from orchestrator.metrics import channel_label
from orchestrator.settings import StatusSettings
from orchestrator.state.message_status import Advance
from orchestrator.state.protocols import EventPublisher
from orchestrator.workers.base import BatchWorker, Deps, Record
from orchestrator.workers.fallbacks import publish_fallback
from orchestrator.workers.unknown_outcomes import make_known

log = logging.getLogger(__name__)

# A receipt can overtake the dispatcher's own record of the send by a few milliseconds.
LOOKUP_TRIES = 5
LOOKUP_PAUSE_S = 0.1
# ... or, under load, by longer: then it is parked, and the dispatcher hands it back marked.
LATE_MATCH = "latematch"
UNMATCHED = "no sent message has this id (kept a day, in case its send is not recorded yet)"
LOST = "no sent message has this id, though the dispatcher handed it back as matched"


def _is_late(event: CloudEvent) -> bool:
    return bool((event.model_extra or {}).get(LATE_MATCH))


def _late(event: CloudEvent) -> CloudEvent:
    """``event`` marked as handed back: its second ledger row gets an id of its own."""
    return CloudEvent.model_validate(
        {**event.model_dump(mode="json", exclude_none=True), LATE_MATCH: "true"}
    )


async def hand_back(pub: EventPublisher, topic: str, raws: Sequence[bytes]) -> None:
    """Publish parked receipts (raw events, marked ``latematch``) back to the status topic, now
    that their sends are recorded; one that cannot be read is logged and dropped (it was parsed
    once before it was parked, so that is never expected)."""
    for raw in raws:
        try:
            event = parse_envelope(raw)
        except BadRecord:
            log.exception("status: an unreadable parked receipt was dropped")
            continue
        await pub.publish(topic, event, str((event.data or {}).get("external_id")))


class StatusWorker(BatchWorker):
    """Matches each receipt to the message it is about and records the status change."""

    name: ClassVar[str] = "status"
    stage: ClassVar[str] = "status"

    def __init__(
        self, deps: Deps, publisher: EventPublisher, settings: StatusSettings | None = None
    ) -> None:
        super().__init__(deps, publisher)
        self._settings = settings or StatusSettings()

    def topics(self) -> list[str]:
        """The status topic."""
        return [self._deps.topics.status]

    async def handle(self, records: Sequence[Record]) -> None:
        """Record one batch of receipts; durable when this returns."""
        started = time.perf_counter()
        receipts: list[tuple[str, MessageStatus]] = []
        envelopes: list[CloudEvent] = []
        for record in records:
            try:
                event = parse_envelope(record.value or b"", record.headers)
                if event.type != MESSAGE_STATUS:
                    raise BadRecord("wrong_type", f"expected {MESSAGE_STATUS}, got {event.type!r}")
                receipts.append((event.id, parse_data(event, MessageStatus)))
                envelopes.append(event)
            except BadRecord as exc:
                await self.reject(record, exc)
        statuses = [r for _, r in receipts]
        sends = await self._lookup(statuses)
        d = self._deps  # a receipt that names an unknown send makes it known:
        sends, taken = await make_known(d.store, self._pub, d.metrics, d.clock, statuses, sends)
        await hand_back(self._pub, self._deps.topics.status, taken)
        verdicts = await self._advance(receipts, sends)
        await self._park(envelopes, receipts, sends)
        outcomes: list[tuple[str | None, str]] = []
        for (event_id, receipt), send, event in zip(receipts, sends, envelopes, strict=True):
            verdict = verdicts.get(id(receipt))
            await self._record(event_id, receipt, send, verdict, late=_is_late(event))
            if not send:
                outcomes.append((None, "unmatched"))
            else:
                stale = verdict is not None and not verdict.applied
                outcomes.append((send["channel"], "stale" if stale else receipt.status))
        await self._pub.flush()
        self.observe(outcomes, started, len(records))

    async def _park(
        self,
        envelopes: list[CloudEvent],
        receipts: list[tuple[str, MessageStatus]],
        sends: list[dict[str, Any] | None],
    ) -> None:
        """Keep the receipts that matched no send: one may have come before the dispatcher
        recorded its send, which then hands it back (``latematch``) to be matched. A receipt
        whose send was recorded while it was being parked is handed back at once."""
        parked = [
            (r.provider, r.external_id, _late(event).to_bytes())
            for event, (_, r), send in zip(envelopes, receipts, sends, strict=True)
            if send is None and not _is_late(event)
        ]
        taken = await self._deps.store.park_receipts(parked, self._settings.park_ttl_s)
        await hand_back(self._pub, self._deps.topics.status, taken)

    async def _forward(
        self, event_id: str, r: MessageStatus, send: dict[str, Any], fallback_to: str | None
    ) -> None:
        """Tell the customer's flows (status triggers) what happened to their message."""
        customer_id = str(send["customer_id"])
        status = StatusForFlows(
            status=r.status,
            channel=send.get("channel"),
            customer_id=customer_id,
            message_id=send.get("message_id"),
            external_id=r.external_id,
            error_code=r.error_code,
            opted_out=r.opted_out,
            opt_out_purpose=r.opt_out_purpose,
            provider=r.provider,
            address=send.get("to"),
            final=fallback.is_final(r.status, fallback_to is not None),
            fallback_to=fallback_to,
            fallback_from=send.get("fallback_from"),
        )
        event = flow_status(event_id, "/continuum/status", status)
        await self._pub.publish(self._deps.topics.customer, event, customer_id)

    async def _fall_back(self, r: MessageStatus, send: dict[str, Any]) -> str | None:
        """Send the next fallback of a message this receipt failed permanently; its channel."""
        channel, doc = str(send.get("channel")), send.get("command")
        if not doc or not fallback.permanent(channel, r.status, r.error_code, r.provider_status):
            return None
        try:
            cmd = MessageSend.model_validate(doc)
        except ValueError:  # written by the dispatcher: only a bug gets here
            log.error(
                "status: the send ledger's command of %s is unreadable", send.get("message_id")
            )
            return None
        next_cmd = fallback.next_command(
            cmd, fallback.permanent_reason(r.error_code, r.provider_status)
        )
        if next_cmd is None:
            return None
        await publish_fallback(
            self._pub,
            self._deps.topics,
            self._deps.metrics,
            cmd,
            next_cmd,
            provider=r.provider,
            at=self._deps.clock(),
        )
        return next_cmd.channel

    def _time_to_delivered(self, r: MessageStatus, send: dict[str, Any]) -> dict[str, float]:
        """Observe the time from the provider's acceptance to this delivered receipt."""
        accepted = send.get("accepted_at")
        if not isinstance(accepted, str):
            return {}
        seconds = max((self._deps.clock() - datetime.fromisoformat(accepted)).total_seconds(), 0.0)
        channel = channel_label(send.get("channel"))
        self._deps.metrics.time_to_delivered.labels(channel, r.provider).observe(seconds)
        return {"time_to_delivered_s": round(seconds, 3)}

    async def _lookup(self, receipts: list[MessageStatus]) -> list[dict[str, Any] | None]:
        keys = [(r.provider, r.external_id) for r in receipts]
        found = await self._deps.store.lookup_external(keys)
        for _ in range(LOOKUP_TRIES):
            if all(found):
                break
            await asyncio.sleep(LOOKUP_PAUSE_S)
            found = await self._deps.store.lookup_external(keys)
        return found

    async def _advance(
        self, receipts: list[tuple[str, MessageStatus]], sends: list[dict[str, Any] | None]
    ) -> dict[int, Advance]:
        """Each matched receipt's verdict (keyed by ``id(receipt)``): whether it moves its
        message forward; receipts of one message in one batch are applied in batch order."""
        matched = [
            (receipt, str(send["message_id"]))
            for (_, receipt), send in zip(receipts, sends, strict=True)
            if send and send.get("message_id")
        ]
        found = await self._deps.store.advance_statuses([(m, r.status) for r, m in matched])
        return {id(r): v for (r, _), v in zip(matched, found, strict=True)}

    async def _record(
        self,
        event_id: str,
        r: MessageStatus,
        send: dict[str, Any] | None,
        verdict: Advance | None = None,
        *,
        late: bool = False,
    ) -> None:
        stale = verdict is not None and not verdict.applied
        applied = send is not None and not stale
        fallback_to = await self._fall_back(r, send) if applied and send else None
        # An opt-out comes after the delivery (a spam report is "delivered" again): forwarded
        # even when its status does not move the message, so that the customer is opted out.
        forward = r.opted_out or (r.status in STATUSES and not stale)
        if send and send.get("customer_id") and forward:
            await self._forward(event_id, r, send, fallback_to)
        send = send or {}
        detail: dict[str, Any] = {
            k: v
            for k, v in (
                ("provider_status", r.provider_status),
                ("error_code", r.error_code),
                ("opted_out", r.opted_out),
                ("opt_out_purpose", r.opt_out_purpose),
            )
            if v
        }
        reason = r.error_message or (None if send else UNMATCHED if not late else LOST)
        if late and send:
            detail["late"] = True  # it came before its send was recorded: matched now
        if applied and r.status == "delivered":
            detail.update(self._time_to_delivered(r, send))
        if fallback_to:
            detail["fallback_to"] = fallback_to
        if stale and verdict is not None:
            detail["current"] = verdict.current
            reason = f"the message is already {verdict.current}: its status does not move back"
        await self._pub.audit(
            audit(
                "status_stale" if stale else "status_changed",
                r.status,
                identity=(r.provider, r.external_id, event_id, *(("late",) if late else ())),
                at=self._deps.clock(),
                customer_id=send.get("customer_id"),
                channel=send.get("channel"),
                address=send.get("to"),
                message_id=send.get("message_id"),
                provider=r.provider,
                external_id=r.external_id,
                reason=reason,
                detail=detail,
            )
        )
