"""The typed edges of issue 10: provenance, the envelope factory, and no silent extra fields on
anything Continuum writes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from orchestrator.engine.decisions import CallHttp, EmitEvent, HandOff, Note, StartTimer
from orchestrator.events import (
    MESSAGE_STATUS,
    AgentTask,
    AuditRecord,
    BusinessEvent,
    CallCompleted,
    CloudEvent,
    DeadLetter,
    MessageReceived,
    MessageSend,
    MessageStatus,
    ScheduleFired,
    StatusForFlows,
    TimerFired,
    new_event,
)
from orchestrator.ledger.records import audit
from orchestrator.provenance import NO_FLOW, Provenance

AT = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def test_a_misspelt_audit_field_is_an_error_not_a_silent_extra() -> None:
    with pytest.raises(TypeError, match="custmer_id"):
        audit("inbound_received", "accepted", identity=("e1",), at=AT, custmer_id="c1")  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="custmer_id"):
        AuditRecord(record_id="r", occurred_at=AT, step="s", outcome="o", custmer_id="c1")  # type: ignore[call-arg]


def test_provenance_fills_the_ledger_s_flow_columns() -> None:
    record = audit(
        "message_queued", "queued", identity=("m",), at=AT, provenance=Provenance("help", 2, "r")
    )
    assert (record.flow_id, record.flow_version, record.flow_step) == ("help", 2, "r")
    assert record.provenance == Provenance("help", 2, "r")
    bare = audit("inbound_received", "accepted", identity=("e",), at=AT)
    assert bare.provenance == NO_FLOW
    assert (bare.flow_id, bare.flow_version, bare.flow_step) == (None, None, None)


def test_decisions_and_notes_carry_their_provenance() -> None:
    call = CallHttp("c", "GET", "https://x.test", {}, None, 1.0, "f", "s", 4)
    hand_off = HandOff("t", "q", (), 1, None, None, "f", "s", 4)
    emit = EmitEvent("e", "order.shipped", {}, "f", "s", 4)
    for decision in (call, hand_off, emit):
        assert decision.provenance == Provenance("f", 4, "s")
    assert StartTimer("tm", AT, "wait", flow_id="f", step="s").provenance == Provenance(
        "f", None, "s"
    )
    assert Note("matched", "", "f", 4, "s").provenance == Provenance("f", 4, "s")
    assert Note("policy").provenance == NO_FLOW


WRITTEN: list[tuple[type[BaseModel], dict[str, Any]]] = [
    (
        MessageSend,
        {"message_id": "m", "customer_id": "c", "channel": "sms", "to": "+1", "text": ""},
    ),
    (AuditRecord, {"record_id": "r", "occurred_at": AT, "step": "s", "outcome": "o"}),
    (MessageStatus, {"provider": "sms.twilio", "external_id": "SM1", "status": "sent"}),
    (StatusForFlows, {"status": "sent", "customer_id": "c", "external_id": "SM1"}),
    (TimerFired, {"timer_id": "t", "customer_id": "c", "purpose": "wait", "due": AT}),
    (ScheduleFired, {"flow_id": "f", "tick": AT, "customer_id": "c"}),
    (CallCompleted, {"call_id": "k", "customer_id": "c", "status": 200}),
    (AgentTask, {"task_id": "t", "customer_id": "c", "queue": "q", "priority": 1}),
    (
        DeadLetter,
        {
            "reason": "r",
            "detail": "d",
            "stage": "inbound",
            "topic": "t",
            "partition": 0,
            "offset": 0,
            "original_b64": "",
        },
    ),
]


@pytest.mark.parametrize(("model", "fields"), WRITTEN, ids=lambda m: getattr(m, "__name__", ""))
def test_what_continuum_writes_forbids_extra_fields(
    model: type[BaseModel], fields: dict[str, Any]
) -> None:
    model.model_validate(fields)
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        model.model_validate({**fields, "surprise": 1})


def test_what_others_write_keeps_its_extra_fields() -> None:
    received = MessageReceived.model_validate({"channel": "sms", "from": "+1", "campaign": "x"})
    assert received.model_extra == {"campaign": "x"}
    business = BusinessEvent.model_validate({"customer": "c1", "order": 7})
    assert business.model_extra == {"order": 7}
    envelope = CloudEvent.model_validate(
        {"specversion": "1.0", "id": "e", "source": "/s", "type": "t", "traceparent": "00-a"}
    )
    assert envelope.model_extra == {"traceparent": "00-a"}


def test_the_factory_writes_what_the_hand_built_envelope_wrote() -> None:
    status = StatusForFlows(status="failed", customer_id="c1", external_id="SM1", opted_out=True)
    built = new_event(MESSAGE_STATUS, "e1", "/continuum/status", status, customer_id="c1")
    by_hand = CloudEvent(
        specversion="1.0",
        id="e1",
        source="/continuum/status",
        type=MESSAGE_STATUS,
        customerid="c1",
        data=status.model_dump(mode="json"),
    )
    assert built.to_bytes() == by_hand.to_bytes()
    send = MessageSend.model_validate(WRITTEN[0][1])
    built = new_event("message.send", "m", "/continuum/decision", send, time=AT, exclude_none=True)
    assert built.data == send.model_dump(mode="json", exclude_none=True)
    assert built.time == AT
    assert built.model_extra == {}


def test_timer_and_tick_times_keep_their_offset_form_on_the_wire() -> None:
    timer = TimerFired(timer_id="t", customer_id="c", purpose="wait", due=AT)
    assert timer.model_dump(mode="json")["due"] == "2026-11-22T12:00:00+00:00"
    tick = ScheduleFired(flow_id="f", tick=AT, customer_id="c")
    assert tick.model_dump(mode="json")["tick"] == "2026-11-22T12:00:00+00:00"
