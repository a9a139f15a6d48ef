"""Golden: the fast record builders write the very bytes the pydantic round trip wrote."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestrator.events import (
    AUDIT_PREFIX,
    AuditRecord,
    CloudEvent,
    MessageSend,
    audit_event_bytes,
)
from orchestrator.ledger.records import audit
from orchestrator.provenance import Provenance


def before(event: CloudEvent) -> bytes:
    """What ``CloudEvent.to_bytes`` was until issue 8."""
    return orjson.dumps(event.model_dump(mode="json", exclude_none=True))


def audit_before(record: AuditRecord, source: str) -> bytes:
    """What ``Publisher.audit`` built until issue 8."""
    return before(
        CloudEvent(
            specversion="1.0",
            id=record.record_id,
            source=source,
            type=AUDIT_PREFIX + record.step,
            time=record.occurred_at,
            data=record.model_dump(mode="json", exclude_none=True),
        )
    )


class Colour(Enum):
    RED = "red"


AT = datetime(2026, 12, 1, 9, 30, 5, 120000, tzinfo=UTC)
SEND = MessageSend(
    message_id="msg_1",
    customer_id="c1",
    channel="sms",
    to="+15551230001",
    text="Your order has shipped",
    decided_at=AT,
    flow_id="help",
    flow_version=3,
)
EVENTS = [
    CloudEvent(specversion="1.0", id="e1", source="/s", type="message.send", data=None),
    CloudEvent(
        specversion="1.0",
        id="e2",
        source="/continuum/decision",
        type="message.send",
        time=AT,
        subject="c1",
        data=SEND.model_dump(mode="json", exclude_none=True),
    ),
    CloudEvent.model_validate(
        {
            "specversion": "1.0",
            "id": "e3",
            "source": "/partner",
            "type": "event.order_shipped",
            "time": "2026-12-01T10:00:00+01:00",
            "datacontenttype": None,
            "traceparent": "00-abc-def-01",
            "dropped": None,
            "data": {"customer": {"channel": "sms", "address": "+1"}, "n": None, "x": [1, 2.5]},
        }
    ),
    CloudEvent(
        specversion="1.0",
        id="e4",
        source="/s",
        type="t",
        time=datetime(2026, 3, 29, 2, 30, tzinfo=ZoneInfo("Europe/Paris")),
        data={
            "naive": datetime(2026, 1, 1, 12, 0),  # noqa: DTZ001 - a producer may send one
            "offset": datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=-5))),
            "day": date(2026, 1, 2),
            "uuid": UUID(int=7),
            "colour": Colour.RED,
            "money": Decimal("1.50"),
            "tags": {"a"},
            "pair": (1, "b"),
            "model": SEND,
            "ints": {1: "one"},
            "float": 1e-7,
            "unicode": "caf\u00e9 \U0001f600",
        },
    ),
]


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: e.id)
def test_an_event_is_written_as_before(event: CloudEvent) -> None:
    assert event.to_bytes() == before(event)


AUDITS = [
    audit("inbound_received", "ok", identity=("e1",), at=AT),
    audit(
        "provider_accepted",
        "queued",
        identity=("msg_1",),
        at=AT.replace(microsecond=0),
        customer_id="c1",
        channel="sms",
        address="+15551230001",
        message_id="msg_1",
        provenance=Provenance("help", 3, "reply"),
        provider="sms.twilio",
        external_id="SM1",
        reason=None,
        detail={"provider_error_code": "30008", "due": AT, "none": None},
    ),
    # An audit record with an extra field was a case here until issue 10: extras are refused now
    # (tests/unit/test_typed_edges.py).
]


@pytest.mark.parametrize("record", AUDITS, ids=lambda r: r.step)
def test_an_audit_record_is_written_as_before(record: AuditRecord) -> None:
    assert audit_event_bytes(record, "/continuum/dispatcher") == audit_before(
        record, "/continuum/dispatcher"
    )


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
    | st.datetimes(timezones=st.none() | st.just(UTC) | st.timezones()),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(
    data=st.dictionaries(st.text(), json_values, max_size=6),
    time=st.none() | st.datetimes(timezones=st.just(UTC) | st.timezones()),
    subject=st.none() | st.text(min_size=1),
)
def test_any_event_is_written_as_before(
    data: dict[str, Any], time: datetime | None, subject: str | None
) -> None:
    event = CloudEvent(
        specversion="1.0", id="e", source="/s", type="t", time=time, subject=subject, data=data
    )
    assert event.to_bytes() == before(event)
