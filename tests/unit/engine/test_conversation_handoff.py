"""A conversation with an agent, in the engine (``engine/conversations.py``): whose messages go
to the agent, an agent's reply through the contact policy, and the flows the router's events
start. Pure: decisions are data."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from orchestrator.engine.decide import decide
from orchestrator.engine.decisions import CancelConversation, ForwardToAgent, HandOff, SendMessage
from orchestrator.engine.model import Context, CustomerState, Event
from orchestrator.flowtools.testing import DEFAULT_NOW
from tests.unit.engine.conversations import ROOT, catalogue

SHIPPED = catalogue(ROOT / "flows", ("127.0.0.1:8090",))
CTX = Context(DEFAULT_NOW)
PHONE, WA = "+15551230001", "15551230001"
GRANTED = {"status": "granted", "source": "test", "at": "2026-01-01T00:00:00+00:00"}


def customer(**kw: Any) -> CustomerState:
    base = CustomerState(
        "c1",
        last_channel="sms",
        identities={"sms": PHONE, "whatsapp": WA},
        last_inbound={"sms": DEFAULT_NOW.isoformat()},
        consent={"all": {"all": GRANTED}},
        message_count=3,
    )
    return replace(base, **kw)


def event(name: str, n: int = 1, **data: Any) -> Event:
    return Event(f"ev-{name}-{n}", "event", name=name, data=data)


def message(text: str, channel: str = "sms", n: int = 1, **kw: Any) -> Event:
    sender = PHONE if channel == "sms" else WA
    return Event(f"{channel}:in-{n}", "message", channel, sender, "+15559990000", text, **kw)


def reply(text: str, conversation: str = "conv-1", n: int = 1) -> Event:
    data = {"conversation_id": conversation, "customer_id": "c1", "agent": "ana", "text": text}
    return Event(f"rpl-{n}", "agent_reply", data=data)


def assigned(state: CustomerState, conversation: str = "conv-1") -> CustomerState:
    ev = event("conversation.assigned", queue="order-support", agent="ana", channel="sms")
    ev = replace(ev, data={**ev.data, "conversation_id": conversation})
    return decide(SHIPPED, state, ev, CTX).state


def test_an_assignment_makes_every_message_of_the_customer_go_to_the_agent() -> None:
    state = assigned(customer())
    assert state.conversation == {
        "id": "conv-1",
        "queue": "order-support",
        "agent": "ana",
        "channel": "sms",
    }
    for n, (channel, text) in enumerate([("sms", "where is my order"), ("whatsapp", "hi")]):
        out = decide(SHIPPED, state, message(text, channel, n), CTX)
        (forward,) = out.decisions
        assert isinstance(forward, ForwardToAgent)
        assert (forward.conversation_id, forward.agent, forward.channel, forward.text) == (
            "conv-1",
            "ana",
            channel,
            text,
        )
        assert out.state.run is None  # no flow saw it ("where is my order" starts one otherwise)
        state = out.state
    without = decide(SHIPPED, customer(), message("where is my order", n=9), CTX)
    assert not any(isinstance(d, ForwardToAgent) for d in without.decisions)


def test_stop_still_applies_first_and_is_not_forwarded() -> None:
    state = assigned(customer())
    out = decide(SHIPPED, state, message("STOP", n=2), CTX)
    assert not any(isinstance(d, ForwardToAgent) for d in out.decisions)
    assert any(n.code == "opt_out" for n in out.notes), out.notes


def test_a_close_returns_the_customer_to_automation_and_starts_the_csat_survey() -> None:
    state = assigned(customer())
    closed = event(
        "conversation.closed", 2, conversation_id="conv-1", agent="ana", disposition="resolved"
    )
    out = decide(SHIPPED, state, closed, CTX)
    assert out.state.conversation is None
    assert out.state.run is not None
    assert out.state.run.flow_id == "csat-survey"
    (ask,) = [d for d in out.decisions if isinstance(d, SendMessage)]
    assert "How did we do?" in ask.text
    assert out.state.fields["csat_agent"] == "ana"


def test_the_close_of_another_conversation_leaves_this_one_owned() -> None:
    state = assigned(customer())
    other = event("conversation.abandoned", 3, conversation_id="conv-0")
    assert decide(SHIPPED, state, other, CTX).state.conversation == state.conversation


def test_a_message_the_router_gave_back_goes_to_flows() -> None:
    state = assigned(customer())
    back = message("where is my order", n=4, data={"returned": True})
    out = decide(SHIPPED, state, back, CTX)
    assert not any(isinstance(d, ForwardToAgent) for d in out.decisions)
    assert out.state.run is not None or out.decisions  # a flow answered it


def test_an_agent_reply_goes_out_on_the_channel_the_customer_last_wrote_on() -> None:
    state = assigned(customer(last_channel="whatsapp", last_inbound={"whatsapp": "2026-01-01"}))
    state = replace(state, last_inbound={"whatsapp": DEFAULT_NOW.isoformat()})
    out = decide(SHIPPED, state, reply("It ships today"), CTX)
    (send,) = out.decisions
    assert isinstance(send, SendMessage)
    assert (send.channel, send.to, send.text, send.purpose) == (
        "whatsapp",
        WA,
        "It ships today",
        "service",
    )
    assert (send.flow_id, send.step) == ("conversation", "agent:ana")
    assert out.state.sent_log[-1]["channel"] == "whatsapp"  # counts for caps and dedupe
    again = decide(SHIPPED, state, reply("It ships today"), CTX)
    assert again.decisions[0] == send  # the same event: the same message id


def test_the_contact_policy_applies_to_an_agent_reply() -> None:
    revoked = {"all": {"all": {**GRANTED, "status": "revoked"}}}
    state = assigned(customer(consent=revoked))
    out = decide(SHIPPED, state, reply("Still there?"), CTX)
    assert out.decisions == ()
    (note,) = out.notes
    assert (note.code, note.data["rule"], note.step) == (
        "policy_blocked",
        "consent.service",
        "agent:ana",
    )


def test_a_reply_to_a_conversation_that_is_not_open_is_refused() -> None:
    out = decide(SHIPPED, assigned(customer()), reply("hello", conversation="conv-9"), CTX)
    assert out.decisions == ()
    assert [n.code for n in out.notes] == ["reply_refused"]


def test_a_closed_queue_starts_the_flow_it_names_whatever_its_trigger() -> None:
    ev = event("conversation.closed_hours", conversation_id="t1", action="flow", flow="help")
    out = decide(SHIPPED, customer(), ev, CTX)
    assert out.state.run is None
    assert out.state.flow_history.get("help")
    (send,) = out.decisions
    assert isinstance(send, SendMessage)
    assert send.flow_id == "help"
    plain = event("conversation.closed_hours", 2, conversation_id="t2", action="queue")
    (sent,) = decide(SHIPPED, customer(), plain, CTX).decisions
    assert isinstance(sent, SendMessage)
    assert sent.flow_id == "out-of-hours"


def test_the_route_step_still_hands_off() -> None:
    """Untouched by the above: a flow's route step hands the customer to a queue."""
    state = customer(tags=(), fields={"last_order": "A1"})
    closed = event("conversation.closed", conversation_id="c", agent="ana", disposition="x")
    out = decide(SHIPPED, state, closed, CTX)
    low = decide(SHIPPED, out.state, message("1", n=5), CTX)
    reason = decide(SHIPPED, low.state, message("too slow", n=6), CTX)
    assert any(isinstance(d, HandOff) for d in reason.decisions)


def routed(state: CustomerState) -> CustomerState:
    """The customer asks for a person: the shipped order-status flow hands them off."""
    out = decide(SHIPPED, state, message("where is my order", n=20), CTX)
    out = decide(SHIPPED, out.state, message("no idea", n=21), CTX)
    (handoff,) = [d for d in out.decisions if isinstance(d, HandOff)]
    assert out.state.conversation == {
        "id": handoff.task_id,
        "queue": "order-support",
        "agent": None,
        "channel": "sms",
    }
    return out.state


def test_while_it_waits_for_an_agent_the_customer_s_messages_still_reach_flows() -> None:
    state = routed(customer(fields={}))
    out = decide(SHIPPED, state, message("HELP", n=22), CTX)
    assert not any(isinstance(d, ForwardToAgent) for d in out.decisions)
    assert any(isinstance(d, SendMessage) and d.flow_id == "help" for d in out.decisions)


def test_stop_ends_a_waiting_or_an_assigned_conversation_from_the_customer_s_side() -> None:
    state = routed(customer(fields={}))
    waiting_id = state.conversation["id"] if state.conversation else None
    out = decide(SHIPPED, state, message("STOP", n=23), CTX)
    (cancel,) = [d for d in out.decisions if isinstance(d, CancelConversation)]
    assert (cancel.conversation_id, cancel.reason) == (waiting_id, "opted_out")
    assert out.state.conversation is None
    owned = decide(SHIPPED, assigned(customer()), message("STOP", n=24), CTX)
    (cancel,) = [d for d in owned.decisions if isinstance(d, CancelConversation)]
    assert (cancel.conversation_id, cancel.reason) == ("conv-1", "opted_out")
    nothing = decide(SHIPPED, customer(), message("STOP", n=25), CTX)  # no conversation
    assert not any(isinstance(d, CancelConversation) for d in nothing.decisions)


def test_a_cancel_event_says_the_customer_left() -> None:
    out = decide(SHIPPED, assigned(customer()), event("conversation.cancel", 4), CTX)
    (cancel,) = out.decisions
    assert isinstance(cancel, CancelConversation)
    assert (cancel.conversation_id, cancel.reason) == ("conv-1", "customer_left")
    again = decide(SHIPPED, out.state, event("conversation.cancel", 5), CTX)
    assert not any(isinstance(d, CancelConversation) for d in again.decisions)


def test_a_closed_queue_that_keeps_the_place_keeps_the_conversation() -> None:
    state = routed(customer(fields={}))
    conversation_id = state.conversation["id"] if state.conversation else ""
    kept = event("conversation.closed_hours", 6, conversation_id=conversation_id, action="queue")
    assert decide(SHIPPED, state, kept, CTX).state.conversation == state.conversation
    handed = event(
        "conversation.closed_hours", 7, conversation_id=conversation_id, action="flow", flow="x"
    )
    assert decide(SHIPPED, state, handed, CTX).state.conversation is None
