"""The executor: the only place the engine's decisions touch the world.

For one batch it publishes commands and audit records as outcomes come, performs ``call``
requests, and keeps timer changes; :meth:`Executor.confirm` makes the records durable and gives
back the timer changes, in the order that keeps redelivery safe: broker-confirmed records first,
then the caller writes the timers with (or before) the states, then commits.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, assert_never
from urllib.parse import urlsplit

import httpx

from orchestrator.engine.decisions import (
    CallHttp,
    CancelConversation,
    CancelTimer,
    EmitEvent,
    ForwardToAgent,
    HandOff,
    Note,
    Outcome,
    SendMessage,
    StartTimer,
)
from orchestrator.engine.model import Event
from orchestrator.events import (
    AGENT_CANCEL,
    AGENT_MESSAGE,
    AGENT_TASK,
    BUSINESS_PREFIX,
    CALL_COMPLETED,
    MESSAGE_SEND,
    AgentCancel,
    AgentMessage,
    AgentTask,
    AuditRecord,
    CallCompleted,
    MessageSend,
    new_event,
)
from orchestrator.ledger.records import audit
from orchestrator.state.protocols import EventPublisher, TimerQueue
from orchestrator.state.timers import TimerSpec
from orchestrator.topics import Topics

MAX_BODY_CHARS = 65_536
SOURCE = "/continuum/decision"


@dataclass
class _Pending:
    calls: list[tuple[str, CallHttp, datetime, str]] = field(default_factory=list)
    timers: list[TimerSpec] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)


class Executor:
    """Applies outcomes for one batch of the decision worker."""

    def __init__(
        self,
        pub: EventPublisher,
        topics: Topics,
        timers: TimerQueue,
        http: httpx.AsyncClient,
        allowed_hosts: Sequence[str],
    ) -> None:
        self._pub = pub
        self._topics = topics
        self._timers = timers
        self._http = http
        self._hosts = frozenset(h.lower() for h in allowed_hosts)
        self._pending = _Pending()

    async def apply(self, outcome: Outcome, event: Event, customer_id: str, at: datetime) -> None:
        """Publish the outcome's commands and audit trail; queue its calls and timer changes."""
        common = {
            "customer_id": customer_id,
            "channel": event.channel,
            "address": event.sender,
            "event_id": event.event_id,
        }
        for note in outcome.notes:
            await self._pub.audit(_note_record(note, event, at, common))
        for decision in outcome.decisions:
            match decision:
                case SendMessage():
                    inbound = outcome.state.last_inbound.get(decision.channel)
                    await self._send(decision, event, customer_id, at, inbound)
                case StartTimer():
                    self._pending.timers.append(
                        TimerSpec(
                            decision.timer_id,
                            customer_id,
                            decision.due,
                            decision.purpose,
                            decision.name,
                            decision.flow_id,
                            decision.step,
                        )
                    )
                case CancelTimer():
                    self._pending.cancelled.append(decision.timer_id)
                case CallHttp():
                    self._pending.calls.append((customer_id, decision, at, event.event_id))
                case HandOff():
                    await self._hand_off(decision, customer_id, at, event.event_id)
                case EmitEvent():
                    await self._emit(decision, customer_id, at, event.event_id)
                case ForwardToAgent():
                    await self._forward(decision, customer_id, at, event.event_id)
                case CancelConversation():
                    await self._cancel(decision, customer_id, at, event.event_id)
                case _:
                    assert_never(decision)

    async def confirm(self) -> tuple[list[str], list[TimerSpec]]:
        """Perform the calls and confirm every record with the broker; give back the timers
        to cancel and to start, for the caller to write before (or with) the states
        (:meth:`~orchestrator.state.store.RedisStateStore.save_states`)."""
        pending, self._pending = self._pending, _Pending()
        results = await asyncio.gather(*(self._call(c) for _, c, _, _ in pending.calls))
        for (customer_id, call, at, event_id), data in zip(pending.calls, results, strict=True):
            await self._publish_call_result(customer_id, call, at, data, event_id)
        await self._pub.flush()
        return pending.cancelled, pending.timers

    async def _send(
        self, d: SendMessage, event: Event, customer_id: str, at: datetime, inbound: str | None
    ) -> None:
        command = MessageSend.from_decision(
            d,
            customer_id=customer_id,
            in_reply_to=event.event_id,
            decided_at=at,
            inbound_at=datetime.fromisoformat(inbound) if inbound else None,
        )
        envelope = new_event(
            MESSAGE_SEND, d.message_id, SOURCE, command, time=at, exclude_none=True
        )
        topic = self._topics.outbound_for(d.channel, d.purpose)  # marketing: the bulk lane
        await self._pub.publish(topic, envelope, customer_id)
        await self._pub.audit(
            audit(
                "message_queued",
                "queued",
                identity=(d.message_id,),
                at=at,
                customer_id=customer_id,
                channel=d.channel,
                address=d.to,
                event_id=event.event_id,
                message_id=d.message_id,
                provenance=d.provenance,
                detail={
                    "text": d.text,
                    "to": d.to,
                    "purpose": d.purpose,
                    "policy_rule": d.policy_rule,
                    "template_name": d.template_name,
                    "not_before": d.not_before.isoformat() if d.not_before else None,
                    **_parts(d),
                },
            )
        )

    async def _hand_off(self, d: HandOff, customer_id: str, at: datetime, event_id: str) -> None:
        task = AgentTask(
            task_id=d.task_id,
            customer_id=customer_id,
            queue=d.queue,
            skills=list(d.skills),
            priority=d.priority,
            note=d.note,
            channel=d.channel,
            flow_id=d.flow_id,
            step=d.step,
        )
        event = new_event(AGENT_TASK, d.task_id, SOURCE, task, time=at)
        await self._pub.publish(self._topics.agent_tasks, event, customer_id)
        await self._pub.audit(
            audit(
                "handed_off",
                d.queue,
                identity=(d.task_id,),
                at=at,
                customer_id=customer_id,
                channel=d.channel,
                event_id=event_id,
                provenance=d.provenance,
                detail=event.data,
            )
        )

    async def _forward(
        self, d: ForwardToAgent, customer_id: str, at: datetime, event_id: str
    ) -> None:
        message = AgentMessage(
            conversation_id=d.conversation_id,
            customer_id=customer_id,
            agent=d.agent,
            channel=d.channel,
            sender=d.sender,
            recipient=d.recipient,
            text=d.text,
            locale=d.locale,
            received_id=event_id.partition(":")[2] or event_id,  # the engine's is channel:id
        )
        event = new_event(AGENT_MESSAGE, d.forward_id, SOURCE, message, time=at)
        await self._pub.publish(self._topics.agent_tasks, event, customer_id)
        await self._pub.audit(
            audit(
                "forwarded_to_agent",
                d.agent or "queue",
                identity=(d.forward_id,),
                at=at,
                customer_id=customer_id,
                channel=d.channel,
                address=d.sender,
                event_id=event_id,
                provenance=d.provenance,
                detail={"conversation_id": d.conversation_id, "agent": d.agent},
            )
        )

    async def _cancel(
        self, d: CancelConversation, customer_id: str, at: datetime, event_id: str
    ) -> None:
        data = AgentCancel(
            conversation_id=d.conversation_id, customer_id=customer_id, reason=d.reason
        )
        event = new_event(AGENT_CANCEL, d.cancel_id, SOURCE, data, time=at)
        await self._pub.publish(self._topics.agent_tasks, event, customer_id)
        await self._pub.audit(
            audit(
                "conversation_cancelled",
                d.reason,
                identity=(d.cancel_id,),
                at=at,
                customer_id=customer_id,
                event_id=event_id,
                provenance=d.provenance,
                detail={"conversation_id": d.conversation_id},
            )
        )

    async def _emit(self, d: EmitEvent, customer_id: str, at: datetime, event_id: str) -> None:
        data = {**d.data, "customer": customer_id}  # free fields: a business event's own
        event = new_event(BUSINESS_PREFIX + d.name, d.event_id, SOURCE, data, time=at)
        await self._pub.publish(self._topics.events, event, customer_id)
        await self._pub.audit(
            audit(
                "event_emitted",
                d.name,
                identity=(d.event_id,),
                at=at,
                customer_id=customer_id,
                event_id=event_id,
                provenance=d.provenance,
                detail=dict(d.data),
            )
        )

    async def _call(self, call: CallHttp) -> dict[str, Any]:
        host = (urlsplit(call.url).netloc or "").lower()
        if host not in self._hosts:
            return {"status": None, "json": None, "text": None, "error": "host_not_allowed"}
        try:
            resp = await self._http.request(
                call.method,
                call.url,
                headers=dict(call.headers),
                json=dict(call.body) if call.body else None,
                timeout=call.timeout_s,
            )
        except httpx.TimeoutException:
            return {"status": None, "json": None, "text": None, "error": "timeout"}
        except httpx.HTTPError as exc:
            return {"status": None, "json": None, "text": None, "error": type(exc).__name__}
        try:
            body = resp.json()
        except ValueError:
            body = None
        return {
            "status": resp.status_code,
            "json": body,
            "text": resp.text[:MAX_BODY_CHARS],
            "error": None,
        }

    async def _publish_call_result(
        self, customer_id: str, call: CallHttp, at: datetime, data: dict[str, Any], event_id: str
    ) -> None:
        result = CallCompleted(call_id=call.call_id, customer_id=customer_id, **data)
        event = new_event(
            CALL_COMPLETED, call.call_id, SOURCE, result, time=at, customer_id=customer_id
        )
        await self._pub.publish(self._topics.customer, event, customer_id)
        outcome = data["error"] or str(data["status"])
        await self._pub.audit(
            audit(
                "call_made",
                outcome,
                identity=(call.call_id,),
                at=at,
                customer_id=customer_id,
                event_id=event_id,
                provenance=call.provenance,
                detail={
                    "method": call.method,
                    "url": call.url,
                    "status": data["status"],
                    "error": data["error"],
                },
            )
        )


def _note_record(note: Note, event: Event, at: datetime, common: dict[str, Any]) -> AuditRecord:
    return audit(
        "decision",
        note.code,
        identity=(event.event_id, note.code, note.flow_id or "", note.step or "", note.detail),
        at=at,
        provenance=note.provenance,
        reason=note.detail or None,
        detail=dict(note.data),
        **common,
    )


def _parts(d: SendMessage) -> dict[str, Any]:
    """What the message carries besides its text, for the ledger (only what it has)."""
    parts = {
        "subject": d.subject,
        "html": d.html,
        "content": dict(d.content) if d.content else None,
    }
    return {k: v for k, v in parts.items() if v is not None}
