"""A conversation with an agent: where the customer's messages go, and the agent's replies. PURE.

The router tells a customer's state about its conversation with business events on the customer
topic, as any business event: ``event.conversation.assigned`` (an agent owns it),
``event.conversation.closed`` and ``event.conversation.abandoned`` (back to automation), and
``event.conversation.closed_hours`` (its queue was closed when it arrived). Flows may trigger on
each of them too (the shipped CSAT survey starts on ``conversation.closed``).

A flow's hand-off marks the conversation as waiting (no agent yet); an assignment names its
agent. While an agent owns it, every message from the customer, on any of their channels, is
forwarded to the agent (:class:`ForwardToAgent`) instead of reaching flows. A message the router
gives back (the conversation had ended by the time it got there) carries ``returned`` and goes
to flows.

The customer can end it from their side (:class:`CancelConversation`): an opt-out (applied
before this runs, by :mod:`orchestrator.engine.opt_outs`) or an ``event.conversation.cancel``
(a web chat closed, your own system) ends a waiting conversation as abandoned, and an assigned
one as closed (disposition ``opted_out`` or ``customer_left``).

An ``agent_reply`` event is one of the agent's messages: it goes on the channel the customer
last wrote on (else the conversation's), through the contact policy like a flow's send, and is
refused (a note) when the conversation it names is not the customer's open one.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from orchestrator.engine.decisions import (
    CancelConversation,
    ForwardToAgent,
    HandOff,
    Note,
    SendMessage,
    derive_id,
)
from orchestrator.policy.evaluate import Candidate, evaluate
from orchestrator.policy.history import text_hash

if TYPE_CHECKING:
    from orchestrator.engine.handling import Handling

ASSIGNED = "conversation.assigned"
CLOSED = "conversation.closed"
ABANDONED = "conversation.abandoned"
CLOSED_HOURS = "conversation.closed_hours"
CANCEL = "conversation.cancel"
ENDED = (CLOSED, ABANDONED)
OPTED_OUT, LEFT = "opted_out", "customer_left"
"""Why a conversation ended on the customer's side (:class:`CancelConversation`)."""
FLOW_ID = "conversation"
"""The provenance of what a conversation (not a flow) sent: ``conversation`` / ``agent:<id>``."""
PURPOSE = "service"
"""An agent's reply is a service message: the customer is talking to us."""


def handle(s: Handling) -> bool:
    """Track the conversation, forward a message to its agent, or send an agent's reply; say
    whether the event is done with (True: no flow sees it)."""
    ev = s.event
    if ev.kind == "event" and ev.name in (ASSIGNED, CLOSED_HOURS, *ENDED):
        _track(s, ev.name, ev.data)
        return False  # a flow may trigger on it as well
    if ev.kind == "event" and ev.name == CANCEL:
        return cancel(s, LEFT)
    if ev.kind == "agent_reply":
        _reply(s, ev.data)
        return True
    conversation = s.state.conversation
    owned = conversation is not None and conversation.get("agent")
    if (
        ev.kind == "message"
        and conversation
        and owned
        and ev.channel
        and not ev.data.get("returned")
    ):
        s.decide(
            ForwardToAgent(
                derive_id("fwd", ev.event_id, str(conversation["id"])),
                str(conversation["id"]),
                conversation.get("agent"),
                ev.channel,
                ev.sender,
                ev.recipient,
                ev.text,
                ev.locale,
            )
        )
        return True
    return False


def waiting(handoff: HandOff) -> dict[str, Any]:
    """The conversation a hand-off starts, as the state keeps it until an agent has it."""
    return {
        "id": handoff.task_id,
        "queue": handoff.queue,
        "agent": None,
        "channel": handoff.channel,
    }


def cancel(s: Handling, reason: str) -> bool:
    """End the customer's conversation from their side, if they have one; whether they had."""
    conversation = s.state.conversation
    if conversation is None:
        return False
    conversation_id = str(conversation["id"])
    s.decide(
        CancelConversation(
            derive_id("cnl", s.event.event_id, conversation_id), conversation_id, reason
        )
    )
    s.state = replace(s.state, conversation=None)
    return True


def named_flow(data: Any) -> str | None:
    """The flow a ``conversation.closed_hours`` event asks to start (the queue's
    ``when_closed.flow``), if any."""
    flow = data.get("flow") if hasattr(data, "get") else None
    return flow if isinstance(flow, str) and flow else None


def _track(s: Handling, name: str, data: Any) -> None:
    conversation_id = str(data.get("conversation_id") or "")
    if not conversation_id:
        s.notes.append(Note("conversation_ignored", f"{name} without a conversation_id"))
        return
    current = s.state.conversation
    if name == ASSIGNED:
        owned = {
            "id": conversation_id,
            "queue": data.get("queue"),
            "agent": data.get("agent"),
            "channel": data.get("channel"),
        }
        s.state = replace(s.state, conversation=owned)
    elif name == CLOSED_HOURS and data.get("action") != "flow":
        return  # it keeps its place in the queue, or waits for its callback
    elif current is not None and current.get("id") == conversation_id:
        s.state = replace(s.state, conversation=None)


def _reply(s: Handling, data: Any) -> None:
    conversation = s.state.conversation
    conversation_id, agent = str(data.get("conversation_id", "")), str(data.get("agent", ""))
    text = str(data.get("text") or "")
    if conversation is None or conversation.get("id") != conversation_id:
        s.notes.append(
            Note("reply_refused", f"conversation {conversation_id!r} is not open for the customer")
        )
        return
    channel = s.state.last_channel or conversation.get("channel")
    to = s.state.identities.get(channel) if channel else None
    if not channel or not to:
        s.notes.append(Note("unreachable", f"no address on {channel or 'any channel'}"))
        return
    step = f"agent:{agent}"
    template = f"{FLOW_ID}.{agent}"
    cand = Candidate(channel, to, PURPOSE, template, text_hash(text), conversation_id, None)
    verdict = evaluate(s.catalogue.policy, s.customer(FLOW_ID), cand, s.now)
    if not verdict.sends or verdict.action != "allow":
        s.policy_note(verdict, None, step)
    if not verdict.sends:
        return
    sent_on = verdict.channel
    s.decide(
        SendMessage(
            message_id=derive_id("msg", s.event.event_id, conversation_id),
            channel=sent_on,
            to=s.state.identities.get(sent_on, to),
            sender=None,
            text=text,
            purpose=PURPOSE,
            flow_id=FLOW_ID,
            flow_version=0,
            step=step,
            language=s.state.language,
            not_before=verdict.not_before,
            template_name=verdict.template_name,
            policy_rule=verdict.rule,
            consent_basis=verdict.consent_basis,
        )
    )
    s.remember_send(sent_on, PURPOSE, template, text, verdict.not_before or s.now, conversation_id)
