"""The CloudEvents envelope and event data: what is refused, and what is kept."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from orchestrator.errors import BadRecord
from orchestrator.events import (
    MESSAGE_RECEIVED,
    CloudEvent,
    MessageReceived,
    MessageSend,
    parse_data,
    parse_envelope,
)

# The example in ARCHITECTURE.md ("An inbound message, on continuum.inbound.sms").
ARCHITECTURE_EXAMPLE = b"""
{"specversion": "1.0", "id": "SM8f1c", "source": "/channels/sms/twilio", "type": "message.received",
 "time": "2026-11-22T12:00:00Z", "datacontenttype": "application/json",
 "data": {"channel": "sms", "from": "+15551230001", "to": "+15559990000",
          "text": "Where is my order?", "attachments": [], "locale": "en-US"}}
"""

ENVELOPE = {"specversion": "1.0", "id": "e1", "source": "/test", "type": MESSAGE_RECEIVED}


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        pytest.param(b"not json", "not_json", id="garbage"),
        pytest.param(b"", "not_json", id="empty"),
        pytest.param(b"\xff\xfe", "not_json", id="binary"),
        pytest.param(b"[1, 2]", "not_cloudevent", id="array"),
        pytest.param(b'"a string"', "not_cloudevent", id="string"),
        pytest.param(b'{"id": "e1", "source": "/s", "type": "t"}', "not_cloudevent", id="no-spec"),
        pytest.param(
            b'{"specversion": "0.3", "id": "e1", "source": "/s", "type": "t"}',
            "not_cloudevent",
            id="wrong-spec",
        ),
        pytest.param(
            b'{"specversion": "1.0", "id": "", "source": "/s", "type": "t"}',
            "not_cloudevent",
            id="empty-id",
        ),
    ],
)
def test_parse_envelope_refuses(raw: bytes, reason: str) -> None:
    with pytest.raises(BadRecord) as info:
        parse_envelope(raw)
    assert info.value.reason == reason
    assert info.value.detail
    assert str(info.value).startswith(f"{reason}: ")


def test_missing_specversion_names_the_attribute() -> None:
    with pytest.raises(BadRecord) as info:
        parse_envelope(b'{"id": "e1", "source": "/s", "type": "t"}')
    assert "specversion" in info.value.detail


def test_architecture_example_parses() -> None:
    event = parse_envelope(ARCHITECTURE_EXAMPLE)
    assert (event.id, event.type) == ("SM8f1c", MESSAGE_RECEIVED)
    assert event.time == datetime(2026, 11, 22, 12, tzinfo=UTC)
    data = parse_data(event, MessageReceived)
    assert (data.channel, data.sender, data.recipient) == ("sms", "+15551230001", "+15559990000")
    assert (data.text, data.locale, data.attachments) == ("Where is my order?", "en-US", [])


@pytest.mark.parametrize(
    "data",
    [
        pytest.param({"channel": "sms"}, id="no-from"),
        pytest.param({"channel": "", "from": "+1"}, id="empty-channel"),
        pytest.param({"channel": "sms", "from": "+1", "attachments": "x"}, id="bad-type"),
        pytest.param(None, id="no-data"),
    ],
)
def test_parse_data_refuses_invalid_data(data: dict[str, object] | None) -> None:
    event = CloudEvent(**ENVELOPE, data=data)
    with pytest.raises(BadRecord) as info:
        parse_data(event, MessageReceived)
    assert info.value.reason == "invalid_data"


def test_message_received_accepts_from_and_to_aliases_and_field_names() -> None:
    by_alias = MessageReceived.model_validate({"channel": "sms", "from": "+1", "to": "+2"})
    by_name = MessageReceived.model_validate({"channel": "sms", "sender": "+1", "recipient": "+2"})
    assert by_alias == by_name
    assert by_alias.model_dump(by_alias=True)["from"] == "+1"


def test_unknown_attributes_and_fields_survive_a_round_trip() -> None:
    doc = {
        **ENVELOPE,
        "time": "2026-11-22T12:00:00Z",
        "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "partitionkey": "+15551230001",
        "data": {"channel": "sms", "from": "+1", "text": "hi", "x_campaign": {"id": 7}},
    }
    first = parse_envelope(orjson.dumps(doc))
    again = parse_envelope(first.to_bytes())
    dumped = again.model_dump(mode="json")
    assert dumped["traceparent"] == doc["traceparent"]
    assert dumped["partitionkey"] == "+15551230001"
    assert dumped["data"] == doc["data"]
    assert again == first

    data = parse_data(again, MessageReceived)
    assert data.model_dump(by_alias=True)["x_campaign"] == {"id": 7}
    rebuilt = CloudEvent(**{**ENVELOPE, "data": data.model_dump(by_alias=True, mode="json")})
    assert parse_data(parse_envelope(rebuilt.to_bytes()), MessageReceived) == data


def test_to_bytes_drops_unset_optional_attributes() -> None:
    wire = orjson.loads(CloudEvent(**ENVELOPE).to_bytes())
    assert wire == {**ENVELOPE, "datacontenttype": "application/json"}


def test_message_send_defaults() -> None:
    send = MessageSend(message_id="m1", customer_id="c1", channel="sms", to="+1", text="hi")
    assert (send.purpose, send.attachments, send.sender) == ("service", [], None)
