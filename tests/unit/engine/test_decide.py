"""``decide()``: which flow an inbound message starts, what it sends, and the next state."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.engine.decide import decide
from orchestrator.engine.decisions import Note, SendMessage
from orchestrator.engine.flowfile import Catalogue, load_flows
from orchestrator.engine.model import APPLIED_EVENTS_KEPT, Context, CustomerState, Inbound
from orchestrator.engine.templates import MAX_OUTPUT_CHARS

ROOT = Path(__file__).resolve().parents[3]
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
CTX = Context(now=NOW)
CATALOGUE = load_flows(ROOT / "flows")


def inbound(text: str, channel: str = "sms", event_id: str = "SM1") -> Inbound:
    return Inbound(event_id, channel, "+15551230001", "+15559990000", text)


def flow_ids(text: str, channel: str = "sms") -> list[str | None]:
    outcome = decide(CATALOGUE, CustomerState("c1"), inbound(text, channel), CTX)
    return [d.flow_id for d in outcome.decisions]


def one_step_catalogue(tmp_path: Path, template: str, channels: str = "[sms]") -> Catalogue:
    (tmp_path / "t.yaml").write_text(
        "spec_version: 1\nid: t\nversion: 3\n"
        f"channels: {channels}\ntrigger: {{keywords: [GO]}}\n"
        f"steps:\n  - {{id: s, type: send, template: {template!r}}}\n",
        encoding="utf-8",
    )
    return load_flows(tmp_path)


@pytest.mark.parametrize("text", ["help", "HELP", "help!", "  Help me", "Info.", "(help)"])
def test_keyword_is_the_first_word_in_any_case(text: str) -> None:
    assert flow_ids(text) == ["help"]


@pytest.mark.parametrize("text", ["helpme", "I need help", "", "   ", "hel p"])
def test_keyword_elsewhere_or_glued_does_not_match(text: str) -> None:
    assert flow_ids(text) == []


@pytest.mark.parametrize("text", ["Where is my ORDER?", "parcel late", "tracking: 123"])
def test_regex_trigger(text: str) -> None:
    assert flow_ids(text) == ["order-status"]


def test_regex_needs_a_whole_word() -> None:
    assert flow_ids("I want to reorder shoes") == []


def test_higher_priority_wins_when_both_match() -> None:
    assert flow_ids("HELP order") == ["help"]
    assert flow_ids("order HELP") == ["order-status"]


def test_channel_restriction(tmp_path: Path) -> None:
    catalogue = one_step_catalogue(tmp_path, "hi", channels="[whatsapp]")
    state = CustomerState("c1")
    assert decide(catalogue, state, inbound("go", "whatsapp"), CTX).decisions
    assert decide(catalogue, state, inbound("go", "sms"), CTX).decisions == ()


def test_no_match_notes_it_and_decides_nothing() -> None:
    state = CustomerState("c1", current_flow="help")
    outcome = decide(CATALOGUE, state, inbound("thanks"), CTX)
    assert outcome.decisions == ()
    assert outcome.notes == (Note("no_flow_matched"),)
    assert outcome.state.current_flow is None
    assert outcome.state.message_count == 1


def test_a_match_sends_on_the_channel_it_came_from() -> None:
    outcome = decide(CATALOGUE, CustomerState("c1"), inbound("HELP", "whatsapp"), CTX)
    (send,) = outcome.decisions
    assert isinstance(send, SendMessage)
    assert (send.channel, send.to, send.sender) == ("whatsapp", "+15551230001", "+15559990000")
    assert (send.flow_id, send.flow_version, send.step, send.purpose) == (
        "help", 1, "reply", "transactional"
    )  # fmt: skip
    assert send.text.startswith("Continuum Demo Store:")
    assert outcome.notes == (Note("flow_matched", flow_id="help", flow_version=1),)


def test_state_changes() -> None:
    state = CustomerState("c1", last_channel="email", message_count=4, applied=("old",))
    outcome = decide(CATALOGUE, state, inbound("order?", "webchat", "E9"), CTX)
    assert outcome.state == replace(
        state,
        last_channel="webchat",
        last_contact="2026-11-22T12:00:00+00:00",
        message_count=5,
        current_flow="order-status",
        applied=("old", "E9"),
    )
    assert state.message_count == 4  # the input is not modified


def test_applied_ids_are_capped() -> None:
    applied = tuple(f"e{i}" for i in range(APPLIED_EVENTS_KEPT))
    outcome = decide(
        CATALOGUE, CustomerState("c1", applied=applied), inbound("hi", "sms", "new"), CTX
    )
    assert len(outcome.state.applied) == APPLIED_EVENTS_KEPT
    assert outcome.state.applied == (*applied[1:], "new")


def test_redelivered_event_decides_nothing() -> None:
    state = CustomerState("c1", message_count=3, applied=("SM1",))
    outcome = decide(CATALOGUE, state, inbound("HELP", event_id="SM1"), CTX)
    assert outcome.decisions == ()
    assert outcome.state is state
    assert outcome.notes == (Note("duplicate_event", "SM1"),)


def test_same_inputs_give_the_same_outcome() -> None:
    state = CustomerState("c1", fields={"name": "Ada"})
    first = decide(CATALOGUE, state, inbound("order?"), CTX)
    second = decide(CATALOGUE, state, inbound("order?"), CTX)
    assert first == second
    assert first.decisions[0].message_id == second.decisions[0].message_id


def test_message_id_depends_on_the_event_id() -> None:
    state = CustomerState("c1")
    a = decide(CATALOGUE, state, inbound("HELP", event_id="SM1"), CTX).decisions[0]
    b = decide(CATALOGUE, state, inbound("HELP", event_id="SM2"), CTX).decisions[0]
    assert a.message_id != b.message_id
    assert a.message_id.startswith("msg_")


def test_template_sees_customer_event_and_flow(tmp_path: Path) -> None:
    template = (
        "{{ customer.name }} {{ customer.message_count }} {{ event.text }} {{ flow.version }}"
    )
    catalogue = one_step_catalogue(tmp_path, template)
    state = CustomerState("c1", message_count=1, fields={"name": "Ada"})
    (send,) = decide(catalogue, state, inbound("go now"), CTX).decisions
    assert send.text == "Ada 2 go now 3"


@pytest.mark.parametrize(
    "template",
    [
        pytest.param("Hi {{ customer.nickname }}", id="unknown-variable"),
        pytest.param("{{ 1 / 0 }}", id="runtime-error"),
        pytest.param("{{ customer.message_count + event.text }}", id="type-error"),
        pytest.param("{{ event.__class__.__mro__ }}", id="sandbox"),
        pytest.param(f"{{{{ 'x' * {MAX_OUTPUT_CHARS + 1} }}}}", id="too-long"),
    ],
)
def test_template_errors_are_notes_not_exceptions(tmp_path: Path, template: str) -> None:
    catalogue = one_step_catalogue(tmp_path, template)
    outcome = decide(catalogue, CustomerState("c1"), inbound("go"), CTX)
    assert outcome.decisions == ()
    codes = [(n.code, n.flow_id, n.flow_version, n.step) for n in outcome.notes]
    assert codes == [("flow_matched", "t", 3, None), ("template_error", "t", 3, "s")]
    assert outcome.notes[1].detail
    assert outcome.state.current_flow == "t"


def test_template_at_the_size_limit_renders(tmp_path: Path) -> None:
    catalogue = one_step_catalogue(tmp_path, f"{{{{ 'x' * {MAX_OUTPUT_CHARS} }}}}")
    (send,) = decide(catalogue, CustomerState("c1"), inbound("go"), CTX).decisions
    assert len(send.text) == MAX_OUTPUT_CHARS


@settings(max_examples=60, deadline=None, database=None, derandomize=True)
@given(text=st.text(max_size=200), event_id=st.text(min_size=1, max_size=40))
def test_decide_is_deterministic(text: str, event_id: str) -> None:
    state = CustomerState("c1", message_count=2)
    event = inbound(text, event_id=event_id)
    first = decide(CATALOGUE, state, event, CTX)
    assert first == decide(CATALOGUE, state, event, CTX)
    assert first.state.applied == (event_id,)
