"""``decide()`` itself: bookkeeping on every event, priorities, stale inputs, ids, and state."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from orchestrator.engine import spec
from orchestrator.engine.catalogue import Catalogue
from orchestrator.engine.decide import audience_matches, decide
from orchestrator.engine.decisions import CallHttp, SendMessage
from orchestrator.engine.model import (
    APPLIED_EVENTS_KEPT,
    Context,
    CustomerState,
    Event,
    message,
)
from orchestrator.engine.session import STEP_TYPES
from orchestrator.flowtools.testing import DEFAULT_NOW
from tests.unit.engine.conversations import ROOT, catalogue

CTX = Context(DEFAULT_NOW)
ENGINE = catalogue(ROOT / "tests" / "engine_flows", ("127.0.0.1:8090",))


def flow(flow_id: str, words: list[str], priority: int = 0, **extra: Any) -> spec.Flow:
    return spec.Flow.model_validate(
        {
            "spec_version": 1,
            "id": flow_id,
            "version": 1,
            "stage": "support",
            "owner": "tests",
            "priority": priority,
            "trigger": {"type": "message", "match": "keyword", "words": words},
            "steps": [{"id": "say", "type": "send", "template": flow_id}],
            **extra,
        }
    )


def sms(text: str, event_id: str = "sms:SM1") -> Event:
    return message(event_id, "sms", "+15551230001", text, "+15559990000")


def test_every_step_type_of_the_language_has_a_runner() -> None:
    names = {m.model_fields["type"].annotation.__args__[0] for m in spec.Step.__origin__.__args__}  # type: ignore[attr-defined]
    assert set(STEP_TYPES) == names


def test_higher_priority_wins_when_two_flows_match() -> None:
    both = Catalogue(
        tuple(sorted((flow("low", ["GO"]), flow("high", ["GO"], 5)), key=lambda f: -f.priority))
    )
    outcome = decide(both, CustomerState("c1"), sms("go"), CTX)
    assert [d.flow_id for d in outcome.decisions if isinstance(d, SendMessage)] == ["high"]


def test_a_flow_only_matches_on_its_channels() -> None:
    only_whatsapp = Catalogue((flow("w", ["GO"], channels=["whatsapp"]),))
    assert decide(only_whatsapp, CustomerState("c1"), sms("GO"), CTX).decisions == ()


def test_a_message_updates_contact_bookkeeping() -> None:
    state = decide(ENGINE, CustomerState("c1", message_count=2), sms("KW"), CTX).state
    assert state.message_count == 3
    assert state.last_channel == "sms"
    assert state.last_contact == DEFAULT_NOW.isoformat()
    assert state.identities == {"sms": "+15551230001"}
    assert state.applied == ("sms:SM1",)
    assert state.flow_history == {"e-keyword": DEFAULT_NOW.isoformat()}


def test_other_events_only_record_their_id() -> None:
    start = CustomerState("c1", message_count=2)
    state = decide(ENGINE, start, Event("e1", "event", name="e.nothing"), CTX).state
    assert state == replace(start, applied=("e1",))


def test_a_redelivered_event_changes_nothing() -> None:
    first = decide(ENGINE, CustomerState("c1"), sms("KW"), CTX)
    again = decide(ENGINE, first.state, sms("KW"), CTX)
    assert (again.decisions, again.state, [n.code for n in again.notes]) == (
        (),
        first.state,
        ["duplicate_event"],
    )


def test_applied_ids_are_capped() -> None:
    state = CustomerState("c1", applied=tuple(f"old{i}" for i in range(APPLIED_EVENTS_KEPT)))
    applied = decide(ENGINE, state, sms("hello"), CTX).state.applied
    assert len(applied) == APPLIED_EVENTS_KEPT
    assert applied[-1] == "sms:SM1"
    assert "old0" not in applied


def test_ids_are_derived_from_the_event() -> None:
    def message_id(event_id: str) -> str:
        (send,) = decide(ENGINE, CustomerState("c1"), sms("KW", event_id), CTX).decisions
        assert isinstance(send, SendMessage)
        return send.message_id

    assert message_id("sms:A") == message_id("sms:A") != message_id("sms:B")


def test_a_timer_the_run_does_not_wait_for_is_stale() -> None:
    stray = Event("t1", "timer", timer_id="t1")
    assert decide(ENGINE, CustomerState("c1"), stray, CTX).notes == ()
    waiting = decide(ENGINE, CustomerState("c1"), sms("ASK"), CTX).state
    outcome = decide(ENGINE, waiting, stray, CTX)
    assert [n.code for n in outcome.notes] == ["stale_timer"]
    assert outcome.state.run == waiting.run


def test_a_call_result_for_another_call_is_ignored() -> None:
    waiting = decide(ENGINE, CustomerState("c1"), sms("CALL"), CTX)
    assert any(isinstance(d, CallHttp) for d in waiting.decisions)
    stray = Event("r1", "call_result", data={"call_id": "call_other", "status": 200})
    outcome = decide(ENGINE, waiting.state, stray, CTX)
    assert outcome.decisions == ()
    assert outcome.state.run == waiting.state.run


def test_trace_lists_the_steps_run() -> None:
    outcome = decide(ENGINE, CustomerState("c1"), sms("SWITCH red"), CTX)
    assert [s for _, _, s in outcome.trace] == ["pick", "red", "again", "last"]


def test_audience() -> None:
    (scheduled,) = [f for f in ENGINE.flows if f.id == "e-schedule"]
    assert audience_matches(scheduled, CustomerState("c1", tags=("subscriber",)), DEFAULT_NOW)
    assert not audience_matches(scheduled, CustomerState("c1"), DEFAULT_NOW)
    assert not audience_matches(flow("x", ["GO"]), CustomerState("c1"), DEFAULT_NOW)


def test_state_round_trips_through_plain_json() -> None:
    state = decide(ENGINE, CustomerState("c1"), sms("SUB"), CTX).state
    assert state.run is not None
    assert state.run.stack
    assert CustomerState.from_dict(state.to_dict()) == state
