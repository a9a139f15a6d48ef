"""One outbound message, three shapes: every field of one shape reaches the next, or is listed
here as one that does not travel (so a field added to one shape and forgotten in the mapping
fails this test)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

from channels.base import OutboundMessage
from orchestrator.engine.decisions import Alternate, SendMessage
from orchestrator.events import MessageSend
from orchestrator.provenance import Provenance

AT = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
INBOUND_AT = datetime(2026, 11, 22, 11, 0, tzinfo=UTC)

# A value for every field of the decision, each different from its default: a new field must
# be given one here, and then either travel to the command or be listed in DECISION_ONLY.
DECISION: dict[str, Any] = {
    "message_id": "msg_1",
    "channel": "email",
    "to": "ann@example.com",
    "sender": "shop@example.com",
    "text": "Your order has shipped",
    "purpose": "service",
    "flow_id": "order-status",
    "flow_version": 3,
    "step": "reply",
    "fallback": ("sms",),
    "language": "fr",
    "not_before": datetime(2026, 11, 22, 13, 0, tzinfo=UTC),
    "template_name": "order_update",
    "policy_rule": "consent.service",
    "consent_basis": "service consent granted",
    "content": {"kind": "buttons", "buttons": ["Yes", "No"]},
    "subject": "Shipped",
    "html": "<p>Your order has shipped</p>",
    "alternates": (Alternate("sms", "+15550001", "Your order has shipped", None, None, None),),
    "receipt_timeout_s": 600.0,
}
DECISION_ONLY: frozenset[str] = frozenset()
"""Decision fields that intentionally do not travel to the command."""
COMMAND_ONLY = frozenset(
    {
        "customer_id",
        "attachments",
        "in_reply_to",
        "decided_at",
        "inbound_at",
        "fallback_from",
        "fallback_reason",
    }
)
"""Command fields the decision does not have: the executor supplies them."""

# MessageSend -> OutboundMessage: the command fields the adapter is not given (they are for
# the dispatcher's policy re-check, the ledger and fallback), and the adapter fields made here.
COMMAND_NOT_SENT = frozenset(
    {
        "channel",
        "purpose",
        "in_reply_to",
        "flow_id",
        "flow_version",
        "step",
        "fallback",
        "language",
        "not_before",
        "template_name",
        "policy_rule",
        "decided_at",
        "consent_basis",
        "inbound_at",
        "customer_id",
        "alternates",
        "receipt_timeout_s",
        "fallback_from",
        "fallback_reason",
    }
)
RENAMED = {"customer_id": "thread_id"}
OUTBOUND_ONLY = frozenset({"status_callback"})


def _decision() -> SendMessage:
    return SendMessage(**DECISION)


def _command() -> MessageSend:
    return MessageSend.from_decision(
        _decision(), customer_id="c1", in_reply_to="SM1", decided_at=AT, inbound_at=INBOUND_AT
    )


def test_the_sample_decision_names_every_field() -> None:
    fields = dataclasses.fields(SendMessage)
    assert {f.name for f in fields} == set(DECISION)
    for f in fields:
        assert DECISION[f.name] != f.default, f"give {f.name} a value other than its default"


def test_every_decision_field_reaches_the_command() -> None:
    decision_fields = {f.name for f in dataclasses.fields(SendMessage)}
    assert decision_fields - DECISION_ONLY <= set(MessageSend.model_fields)
    assert set(MessageSend.model_fields) - decision_fields == COMMAND_ONLY
    command = _command()
    for name in decision_fields - DECISION_ONLY:
        value = getattr(command, name)
        expected = DECISION[name]
        if name == "alternates":  # a pydantic model per alternate, from the dataclass
            value = [Alternate(**a.model_dump()) for a in value]
        assert value == (list(expected) if isinstance(expected, tuple) else expected), name
    assert (command.customer_id, command.in_reply_to) == ("c1", "SM1")
    assert (command.decided_at, command.inbound_at) == (AT, INBOUND_AT)
    assert command.provenance == _decision().provenance == Provenance("order-status", 3, "reply")


def test_every_command_field_reaches_the_adapter_or_is_listed() -> None:
    outbound_fields = {f.name for f in dataclasses.fields(OutboundMessage)}
    carried = set(MessageSend.model_fields) - COMMAND_NOT_SENT
    assert carried <= outbound_fields
    assert outbound_fields - carried - set(RENAMED.values()) == OUTBOUND_ONLY
    command = _command().model_copy(update={"attachments": ["https://x.test/a.png"]})
    msg = command.outbound("https://api.test/status")
    for name in carried:
        value = getattr(command, name)
        assert getattr(msg, name) == (tuple(value) if isinstance(value, list) else value), name
    assert msg.thread_id == "c1"
    assert msg.status_callback == "https://api.test/status"


def test_a_template_named_by_the_policy_becomes_the_provider_content() -> None:
    command = _command().model_copy(update={"content": None})
    assert command.outbound(None).content == {
        "kind": "template",
        "name": "order_update",
        "language": "fr",
    }
    plain = command.model_copy(update={"template_name": None})
    assert plain.outbound(None).content is None
