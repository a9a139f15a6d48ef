"""A step's WhatsApp template: sent with its parameters when the window is closed, never inside
it; and the parts of a send reach the decision whatever the step type."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from orchestrator.engine import spec
from orchestrator.engine.catalogue import Catalogue
from orchestrator.engine.decide import decide
from orchestrator.engine.decisions import SendMessage
from orchestrator.engine.model import Context, CustomerState, message
from orchestrator.flowtools.testing import DEFAULT_NOW
from orchestrator.policy.spec import Policy

POLICY = Policy.model_validate(
    {
        "consent": {"require": {"transactional": "none", "service": "none", "marketing": "none"}},
        "quiet_hours": {"windows": {}},
        "caps": [],
        "whatsapp": {"enforce": True, "fallback_channels": []},
    }
)


def _flow(**step: Any) -> spec.Flow:
    return spec.Flow.model_validate(
        {
            "spec_version": 1,
            "id": "orders",
            "version": 1,
            "stage": "support",
            "owner": "tests",
            "trigger": {"type": "message", "match": "keyword", "words": ["ORDER"]},
            "steps": [
                {
                    "id": "update",
                    "type": "send",
                    "channel": ["whatsapp"],
                    "template": "Order {{ customer.fields.order }} ships {{ customer.fields.day }}",
                    **step,
                }
            ],
        }
    )


TEMPLATE = {
    "name": "order_update_v2",
    "language": "en_US",
    "params": ["{{ customer.fields.order }}", "{{ customer.fields.day }}"],
}


def _send(flow: spec.Flow, whatsapp_inbound_ago: timedelta | None) -> SendMessage:
    last = {} if whatsapp_inbound_ago is None else {"whatsapp": DEFAULT_NOW - whatsapp_inbound_ago}
    state = CustomerState(
        "c1",
        identities={"whatsapp": "+15551230001", "sms": "+15551230001"},
        fields={"order": "A12", "day": "Tuesday"},
        last_inbound={k: v.isoformat() for k, v in last.items()},
    )
    event = message("sms:SM1", "sms", "+15551230001", "ORDER", "+15559990000")
    outcome = decide(Catalogue((flow,), policy=POLICY), state, event, Context(DEFAULT_NOW))
    sends = [d for d in outcome.decisions if isinstance(d, SendMessage)]
    assert len(sends) == 1, outcome.notes
    return sends[0]


def test_a_closed_window_sends_the_step_s_template_with_its_rendered_parameters() -> None:
    sent = _send(_flow(whatsapp_template=TEMPLATE), timedelta(days=3))
    assert sent.template_name == "order_update_v2"
    assert sent.content == {
        "kind": "template",
        "name": "order_update_v2",
        "language": "en_US",
        "params": ["A12", "Tuesday"],
    }


def test_inside_the_window_the_step_sends_free_form() -> None:
    sent = _send(_flow(whatsapp_template=TEMPLATE), timedelta(hours=2))
    assert sent.template_name is None
    assert sent.content is None
    assert sent.text == "Order A12 ships Tuesday"


def test_a_template_without_its_own_language_takes_the_message_s() -> None:
    sent = _send(_flow(whatsapp_template={"name": "order_update_v2"}), None)
    assert sent.content == {
        "kind": "template",
        "name": "order_update_v2",
        "language": "en",
        "params": [],
    }


def test_a_step_without_a_template_is_dropped_by_the_closed_window() -> None:
    flow = _flow()
    state = CustomerState("c1", identities={"whatsapp": "+15551230001"})
    event = message("sms:SM1", "sms", "+15551230001", "ORDER", "+15559990000")
    outcome = decide(Catalogue((flow,), policy=POLICY), state, event, Context(DEFAULT_NOW))
    assert not [d for d in outcome.decisions if isinstance(d, SendMessage)]
    blocked = [n for n in outcome.notes if n.code == "policy_blocked"]
    assert [n.data["rule"] for n in blocked] == ["whatsapp.window"]


def test_buttons_reach_the_decision_on_an_ask_too() -> None:
    flow = _flow(
        type="ask",
        template="Still want it?",
        buttons=[{"id": "y", "title": "Yes"}, {"id": "n", "title": "No"}],
    )
    sent = _send(flow, timedelta(minutes=5))
    assert sent.content == {
        "kind": "buttons",
        "buttons": [{"id": "y", "title": "Yes"}, {"id": "n", "title": "No"}],
    }
