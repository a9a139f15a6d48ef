"""Sending a fallback: the ``message.send`` on the next channel, and its ledger row.

The decisions are pure (:mod:`orchestrator.delivery.fallback`); this is the one place a
fallback is published, by the dispatcher (a provider refused the send permanently), the status
worker (a failed receipt) and the receipt-check loop (no receipt in time). The fallback is a
new ``message.send`` on the other channel's outbound topic, keyed by customer, whose id is
derived from the original's: the dispatcher runs the whole send-time policy on it, and its send
ledger refuses a second one (two paths that both decide to fall back send once). The original
gets a ``fallback_sent`` ledger row (one per fallback id, so a repeat writes the same record).
"""

from __future__ import annotations

from datetime import datetime

from orchestrator.events import MESSAGE_SEND, MessageSend, StatusForFlows, flow_status, new_event
from orchestrator.ledger.records import audit
from orchestrator.metrics import Metrics, channel_label
from orchestrator.state.protocols import EventPublisher
from orchestrator.topics import Topics
from orchestrator.workers.send_guard import command_fields

SOURCE = "/continuum/fallback"


async def publish_fallback(
    pub: EventPublisher,
    topics: Topics,
    metrics: Metrics,
    original: MessageSend,
    fallback: MessageSend,
    *,
    provider: str | None,
    at: datetime,
) -> None:
    """Publish ``fallback`` (made by :func:`~orchestrator.delivery.fallback.next_command`
    from ``original``) and record ``fallback_sent`` on the original."""
    envelope = new_event(
        MESSAGE_SEND, fallback.message_id, SOURCE, fallback, time=at, exclude_none=True
    )
    await pub.publish(topics.outbound(fallback.channel), envelope, fallback.customer_id)
    reason = fallback.fallback_reason or "fallback"
    await pub.audit(
        audit(
            "fallback_sent",
            fallback.channel,
            identity=(original.message_id, fallback.message_id),
            at=at,
            **command_fields(original),
            provider=provider,
            reason=reason,
            detail={
                "fallback_id": fallback.message_id,
                "fallback_channel": fallback.channel,
                "fallback_to": fallback.to,
                "fallback_reason": reason,
            },
        )
    )
    metrics.fallbacks_total.labels(channel_label(original.channel), reason.split(":")[0]).inc()


async def tell_flows(
    pub: EventPublisher,
    topics: Topics,
    event_id: str,
    source: str,
    status: StatusForFlows,
) -> None:
    """Publish ``status`` to the customer's flows (on ``continuum.customer``)."""
    await pub.publish(topics.customer, flow_status(event_id, source, status), status.customer_id)
