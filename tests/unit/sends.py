"""A ``message.send`` command for tests of the send-time rules: a marketing SMS to c1."""

from __future__ import annotations

from orchestrator.events import MessageSend


def message_send(**overrides: object) -> MessageSend:
    """The command, with ``overrides`` on top of the defaults."""
    fields: dict[str, object] = {
        "message_id": "msg_1",
        "customer_id": "c1",
        "channel": "sms",
        "to": "+15551230001",
        "text": "20% off this week",
        "purpose": "marketing",
    }
    return MessageSend.model_validate({**fields, **overrides})
