"""The executor: the only place the engine's decisions touch the world.

It turns an :class:`~orchestrator.engine.decisions.Outcome` into published commands and audit
records. State is saved by the caller, after everything published here is confirmed.
"""

from __future__ import annotations

from datetime import datetime

from orchestrator.engine.decisions import Note, Outcome, SendMessage
from orchestrator.engine.model import Inbound
from orchestrator.events import MESSAGE_SEND, AuditRecord, CloudEvent, MessageSend
from orchestrator.ledger.records import audit
from orchestrator.topics import Topics
from orchestrator.workers.publisher import Publisher


async def execute(
    outcome: Outcome, event: Inbound, customer_id: str, at: datetime, pub: Publisher, topics: Topics
) -> None:
    """Publish the outcome's commands and its audit trail (durable after ``pub.flush()``)."""
    common = {
        "customer_id": customer_id,
        "channel": event.channel,
        "address": event.sender,
        "event_id": event.event_id,
    }
    for note in outcome.notes:
        await pub.audit(_note_record(note, event, at, common))
    for decision in outcome.decisions:
        match decision:
            case SendMessage():
                await _send(decision, event, customer_id, at, pub, topics, common)


async def _send(
    d: SendMessage,
    event: Inbound,
    customer_id: str,
    at: datetime,
    pub: Publisher,
    topics: Topics,
    common: dict[str, str],
) -> None:
    command = MessageSend(
        message_id=d.message_id,
        customer_id=customer_id,
        channel=d.channel,
        to=d.to,
        sender=d.sender,
        text=d.text,
        purpose=d.purpose,
        in_reply_to=event.event_id,
        flow_id=d.flow_id,
        flow_version=d.flow_version,
        step=d.step,
    )
    envelope = CloudEvent(
        specversion="1.0",
        id=d.message_id,
        source="/continuum/decision",
        type=MESSAGE_SEND,
        time=at,
        data=command.model_dump(mode="json", exclude_none=True),
    )
    await pub.publish(topics.outbound(d.channel), envelope, customer_id)
    await pub.audit(
        audit(
            "message_queued",
            "queued",
            identity=(d.message_id,),
            at=at,
            message_id=d.message_id,
            flow_id=d.flow_id,
            flow_version=d.flow_version,
            flow_step=d.step,
            detail={"text": d.text, "to": d.to, "purpose": d.purpose},
            **{**common, "address": d.to, "channel": d.channel},
        )
    )


def _note_record(note: Note, event: Inbound, at: datetime, common: dict[str, str]) -> AuditRecord:
    return audit(
        "decision",
        note.code,
        identity=(event.event_id, note.code, note.flow_id or "", note.step or ""),
        at=at,
        flow_id=note.flow_id,
        flow_version=note.flow_version,
        flow_step=note.step,
        reason=note.detail or None,
        **common,
    )
