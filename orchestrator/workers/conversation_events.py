"""What the routing board's decisions tell the customer's flows, and a message given back.

An assignment, a close, an abandonment and a closed queue each become a business event on the
customer topic (``event.conversation.assigned`` and so on, see
:mod:`orchestrator.engine.conversations`), keyed by the customer, so the decision worker knows
whose messages go to an agent, and flows can trigger on them (a CSAT survey after a close).
Their ids derive from the decision, so a decision committed once is announced once however
often it is published.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from orchestrator.engine.conversations import ABANDONED, ASSIGNED, CLOSED, CLOSED_HOURS
from orchestrator.engine.decisions import derive_id
from orchestrator.events import (
    BUSINESS_PREFIX,
    MESSAGE_RECEIVED,
    RETURNED,
    AgentMessage,
    CloudEvent,
    new_event,
)
from orchestrator.routing import decisions as d

SOURCE = "/continuum/router"
_NAMES: dict[type[d.Step], str] = {
    d.Assigned: ASSIGNED,
    d.Closed: CLOSED,
    d.Abandoned: ABANDONED,
    d.ClosedHours: CLOSED_HOURS,
}


def customer_events(
    out: Sequence[d.Step],
    customer_of: Callable[[str], str | None],
    channel_of: Callable[[str], str | None],
) -> list[tuple[str, CloudEvent]]:
    """(customer id, event) for each decision the customer's flows hear about, in order."""
    events = []
    for step in out:
        name = _NAMES.get(type(step))
        if name is None or not isinstance(step, d.Decision):
            continue
        customer = customer_of(step.conversation)
        if not customer:
            continue
        fields = step.fields()
        data: dict[str, Any] = {
            "conversation_id": step.conversation,
            "customer_id": customer,
            "queue": step.queue,
            "channel": channel_of(step.conversation),
            "agent": fields.get("agent"),
        }
        for key in ("rule", "disposition", "waited", "action", "flow"):
            if key in fields:
                data["waited_s" if key == "waited" else key] = fields[key]
        event_id = derive_id("cev", step.conversation, step.step, fields["at"])
        event = new_event(
            BUSINESS_PREFIX + name, event_id, SOURCE, data, time=step.at, customer_id=customer
        )
        events.append((customer, event))
    return events


def returned_message(message: AgentMessage) -> CloudEvent:
    """The customer's message again, for flows: its conversation had ended by the time the
    router had it (``returned``, so the engine does not forward it to an agent again)."""
    data: dict[str, Any] = {
        "channel": message.channel,
        "from": message.sender,
        "to": message.recipient,
        "text": message.text,
        "attachments": [],
    }
    if message.locale:
        data["locale"] = message.locale
    event = new_event(
        MESSAGE_RECEIVED,
        derive_id("ret", message.received_id, message.conversation_id),
        SOURCE,
        data,
        customer_id=message.customer_id,
    )
    return event.model_copy(update={RETURNED: "agent"})
