"""What the router tells the customer's flows (``workers/conversation_events.py``), and a
message it gives back decoding as one the engine must not forward again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from orchestrator.events import AgentMessage
from orchestrator.routing import decisions as d
from orchestrator.workers.conversation_events import customer_events, returned_message
from orchestrator.workers.decision import decode

AT = datetime(2026, 12, 8, 10, 0, tzinfo=UTC)
CUSTOMERS = {"c1": ("cus_1", "sms"), "c2": ("cus_2", "whatsapp")}


def events(out: list[d.Step]) -> list[tuple[str, str, dict[str, object]]]:
    told = customer_events(
        out,
        lambda c: CUSTOMERS.get(c, (None, None))[0],
        lambda c: CUSTOMERS.get(c, (None, None))[1],
    )
    return [(key, e.type, dict(e.data or {})) for key, e in told]


def test_assignments_closes_abandonments_and_closed_queues_are_told_nothing_else() -> None:
    out: list[d.Step] = [
        d.Queued("c1", "desk", AT, "default", 3),
        d.Offered("c1", "desk", AT, "ana", "default", "any", AT + timedelta(seconds=30)),
        d.Assigned("c1", "desk", AT, "ana", "default", "any", timedelta(seconds=12)),
        d.WrappedUp("c1", "desk", AT, "ana", "resolved"),
        d.Closed("c1", "desk", AT, "ana", "resolved"),
        d.Abandoned("c2", "desk", AT, timedelta(minutes=3)),
        d.ClosedHours("c2", "night", AT, "flow", "out-of-hours"),
        d.Closed("unknown", "desk", AT, None, None),  # no customer known: nothing to tell
    ]
    told = events(out)
    assert [(key, kind) for key, kind, _ in told] == [
        ("cus_1", "event.conversation.assigned"),
        ("cus_1", "event.conversation.closed"),
        ("cus_2", "event.conversation.abandoned"),
        ("cus_2", "event.conversation.closed_hours"),
    ]
    assert told[0][2] == {
        "conversation_id": "c1",
        "customer_id": "cus_1",
        "queue": "desk",
        "channel": "sms",
        "agent": "ana",
        "rule": "default",
        "waited_s": 12.0,
    }
    assert told[1][2]["disposition"] == "resolved"
    assert told[3][2]["action"] == "flow"
    assert told[3][2]["flow"] == "out-of-hours"


def test_an_event_s_id_is_the_decision_s_so_a_second_publish_is_the_same_event() -> None:
    step = d.Closed("c1", "desk", AT, "ana", "resolved")
    first = customer_events([step], lambda c: "cus_1", lambda c: "sms")
    again = customer_events([step], lambda c: "cus_1", lambda c: "sms")
    assert first[0][1].id == again[0][1].id
    other = customer_events(
        [d.Closed("c1", "desk", AT + timedelta(seconds=1), "ana", "x")],
        lambda c: "cus_1",
        lambda c: "sms",
    )
    assert other[0][1].id != first[0][1].id


def test_a_message_given_back_decodes_as_returned_under_a_new_id() -> None:
    m = AgentMessage(
        conversation_id="c1",
        customer_id="cus_1",
        agent="ana",
        channel="sms",
        sender="+15551230001",
        recipient="+15559990000",
        text="still there?",
        received_id="SM1",
    )
    envelope = returned_message(m)
    customer, event = decode(envelope)
    assert customer == "cus_1"
    assert (event.kind, event.channel, event.sender, event.text) == (
        "message",
        "sms",
        "+15551230001",
        "still there?",
    )
    assert event.data == {"returned": True}
    assert event.event_id != "sms:SM1"  # not the first copy's id: it is not a duplicate
