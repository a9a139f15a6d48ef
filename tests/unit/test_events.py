"""The CloudEvents envelope and event data: what is refused, and what is kept."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest
from cloudevents.core.bindings import kafka as ce_kafka
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent as SdkEvent

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


# ------------------------------------------------ the Kafka protocol binding: both content modes
# The official CloudEvents SDK produces the records; parse_envelope must read what it writes.

ENVELOPE_HEADERS = [(f"ce_{k}", v.encode()) for k, v in ENVELOPE.items()]
SMS_DATA = {"channel": "sms", "from": "+15551230001", "to": "+15559990000", "text": "hi"}


def _sdk_event(**extra: object) -> SdkEvent:
    attributes = {
        "id": "SMb1",
        "source": "/knative/twilio",
        "type": MESSAGE_RECEIVED,
        "time": datetime(2026, 11, 22, 12, 0, tzinfo=UTC),
        "datacontenttype": "application/json",
        "subject": "sms",
        "customerid": "cus_1",
        **extra,
    }
    return SdkEvent(attributes=attributes, data=dict(SMS_DATA))


def _headers(message: ce_kafka.KafkaMessage) -> list[tuple[str, bytes]]:
    return list(message.headers.items())  # aiokafka gives (name, bytes) pairs


@pytest.mark.parametrize("mode", ["binary", "structured"])
def test_both_kafka_content_modes_of_the_sdk_decode_to_the_same_event(mode: str) -> None:
    convert = ce_kafka.to_binary if mode == "binary" else ce_kafka.to_structured
    message = convert(_sdk_event(), JSONFormat())
    event = parse_envelope(message.value, _headers(message))
    assert (event.id, event.source, event.type, event.subject) == (
        "SMb1",
        "/knative/twilio",
        MESSAGE_RECEIVED,
        "sms",
    )
    assert event.time == datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    assert event.datacontenttype == "application/json"
    assert event.data == SMS_DATA
    assert event.model_extra == {"customerid": "cus_1"}
    assert parse_data(event, MessageReceived).sender == "+15551230001"


def test_binary_mode_is_chosen_by_content_type_as_the_binding_says() -> None:
    binary = ce_kafka.to_binary(_sdk_event(), JSONFormat())
    assert dict(binary.headers)["content-type"] == b"application/json"
    structured = ce_kafka.to_structured(_sdk_event(), JSONFormat())
    ct = dict(structured.headers)["content-type"]
    assert ct.startswith(b"application/cloudevents+json")
    # ce_* headers beside a structured content-type do not turn it into binary mode.
    mixed = [*structured.headers.items(), ("ce_id", b"other")]
    assert parse_envelope(structured.value, mixed).id == "SMb1"
    # No headers at all: structured, as Continuum and plain producers have always sent.
    assert parse_envelope(ARCHITECTURE_EXAMPLE, []).id == "SM8f1c"


def test_binary_mode_without_data_and_without_content_type_is_an_event_with_no_data() -> None:
    headers = [
        ("ce_specversion", b"1.0"),
        ("ce_id", b"o1"),
        ("ce_source", b"/orders"),
        ("ce_type", b"event.order.shipped"),
    ]
    event = parse_envelope(b"", headers)
    assert (event.type, event.data) == ("event.order.shipped", None)


@pytest.mark.parametrize(
    ("headers", "value", "reason"),
    [
        pytest.param(
            [("ce_specversion", b"1.0"), ("ce_id", b"x")], b"{}", "not_cloudevent", id="no-type"
        ),
        pytest.param(
            [("ce_specversion", b"0.3"), ("ce_id", b"x"), ("ce_source", b"/s"), ("ce_type", b"t")],
            b"{}",
            "not_cloudevent",
            id="old-specversion",
        ),
        pytest.param(
            [*ENVELOPE_HEADERS, ("content-type", b"text/plain")],
            b"hello",
            "invalid_data",
            id="not-json-data",
        ),
        pytest.param(ENVELOPE_HEADERS, b"[1, 2]", "invalid_data", id="data-not-an-object"),
        pytest.param(ENVELOPE_HEADERS, b"{oops", "not_json", id="data-not-json"),
        pytest.param(
            [*ENVELOPE_HEADERS, ("ce_subject", b"\xff")], b"{}", "not_cloudevent", id="bad-utf8"
        ),
    ],
)
def test_bad_binary_records_are_refused_with_a_reason(
    headers: list[tuple[str, bytes]], value: bytes, reason: str
) -> None:
    with pytest.raises(BadRecord) as info:
        parse_envelope(value, headers)
    assert info.value.reason == reason
