"""Links and merges in the engine (``engine/identity.py``): pure, decisions are data."""

from __future__ import annotations

from dataclasses import replace

import pytest

from orchestrator.engine.decide import decide
from orchestrator.engine.decisions import CancelTimer, SendMessage
from orchestrator.engine.identity import merge_consent, merge_states
from orchestrator.engine.model import Context, CustomerState, Event, Run
from orchestrator.flowtools.testing import DEFAULT_NOW
from tests.unit.engine.conversations import ROOT, catalogue

CTX = Context(DEFAULT_NOW)
ENGINE = catalogue(ROOT / "tests" / "engine_flows", ("127.0.0.1:8090",))
OLD, NEW = "2026-01-01T10:00:00+00:00", "2026-01-04T10:00:00+00:00"


def rec(status: str, at: str = OLD) -> dict[str, str]:
    return {"status": status, "source": "test", "at": at}


def test_consent_takes_the_strictest_record_per_scope_and_purpose() -> None:
    a = {"all": {"all": rec("revoked")}, "sms": {"marketing": rec("confirmed")}}
    b = {
        "all": {"all": rec("restored", NEW)},
        "sms": {"marketing": rec("granted")},
        "email": {"marketing": rec("granted")},
    }
    merged = merge_consent(a, b)
    assert merged["all"]["all"]["status"] == "revoked"  # an opt-out beats a later opt-in
    assert merged["sms"]["marketing"]["status"] == "granted"  # single beats double opt-in
    assert merged["email"]["marketing"] == rec("granted")  # one side only: kept
    assert merge_consent(b, a) == merged  # whichever survives


def test_same_status_keeps_the_newer_record() -> None:
    merged = merge_consent({"sms": {"all": rec("revoked")}}, {"sms": {"all": rec("revoked", NEW)}})
    assert merged["sms"]["all"]["at"] == NEW


def test_the_newer_state_wins_fields_and_the_survivor_keeps_its_runs() -> None:
    run = Run("run_1", "e-ask", 1, OLD, step="ask", waiting="reply")
    survivor = CustomerState(
        "cus_a",
        last_contact=OLD,
        last_channel="sms",
        message_count=2,
        fields={"plan": "basic", "city": "Lisbon"},
        identities={"sms": "+15551230001", "email": "a@example.com"},
        tags=("vip",),
        language="pt",
        last_inbound={"sms": OLD},
        run=run,
    )
    other = CustomerState(
        "cus_b",
        last_contact=NEW,
        last_channel="email",
        message_count=3,
        fields={"plan": "pro"},
        identities={"email": "b@example.com", "webchat": "web-1"},
        tags=("new", "vip"),
        last_inbound={"email": NEW, "sms": "2025-12-01T00:00:00+00:00"},
        run=Run("run_2", "e-ask", 1, NEW),
    )
    merged = merge_states(survivor, other)
    assert merged.customer_id == "cus_a"
    assert merged.fields == {"plan": "pro", "city": "Lisbon"}
    assert merged.identities == {
        "sms": "+15551230001",
        "email": "a@example.com",  # the survivor's address on a channel both have
        "webchat": "web-1",
    }
    assert (merged.last_channel, merged.last_contact) == ("email", NEW)
    assert merged.language == "pt"  # the newer state has none: the older one's fills in
    assert merged.tags == ("vip", "new")
    assert merged.last_inbound == {"sms": OLD, "email": NEW}
    assert merged.message_count == 5
    assert merged.run == run


def test_a_link_event_adds_the_identity_and_starts_no_flow() -> None:
    state = CustomerState("cus_a", identities={"sms": "+15551230001"})
    data = {"customer": "cus_a", "channel": "email", "address": "a@example.com"}
    event = Event("lnk_1", "event", name="identity.link", data=data)
    outcome = decide(ENGINE, state, event, CTX)
    assert outcome.state.identities == {"sms": "+15551230001", "email": "a@example.com"}
    assert outcome.decisions == ()
    assert [n.code for n in outcome.notes] == ["identity_linked"]
    again = decide(ENGINE, outcome.state, event, CTX)  # redelivered: a no-op
    assert again.state == outcome.state
    assert [n.code for n in again.notes] == ["duplicate_event"]


def test_a_merging_link_merges_the_other_state_in() -> None:
    state = CustomerState("cus_a", identities={"sms": "+15551230001"})
    other = CustomerState(
        "cus_b",
        identities={"email": "b@example.com"},
        consent={"all": {"all": rec("revoked")}},
    )
    data = {"channel": "email", "address": "b@example.com", "merged": other.to_dict()}
    outcome = decide(ENGINE, state, Event("lnk_2", "event", name="identity.link", data=data), CTX)
    assert outcome.state.identities == {"sms": "+15551230001", "email": "b@example.com"}
    assert outcome.state.consent["all"]["all"]["status"] == "revoked"
    assert [n.code for n in outcome.notes] == ["customer_merged", "identity_linked"]


def test_the_merged_customer_ends_its_runs_and_their_timers() -> None:
    run = Run("run_1", "e-ask", 1, OLD, step="ask", waiting="reply", timer_id="tmr_1")
    state = CustomerState("cus_b", run=run, current_flow="e-ask")
    data = {"customer": "cus_b", "survivor": "cus_a"}
    event = Event("lnk_3:merged", "event", name="identity.merged", data=data)
    outcome = decide(ENGINE, state, event, CTX)
    assert (outcome.state.run, outcome.state.current_flow) == (None, None)
    assert outcome.state.merged_into == "cus_a"
    assert CancelTimer("tmr_1") in outcome.decisions
    assert not [d for d in outcome.decisions if isinstance(d, SendMessage)]
    [ended] = [n for n in outcome.notes if n.code == "run_ended"]
    assert "merged into cus_a" in ended.detail


MERGED_AWAY = CustomerState("cus_b", merged_into="cus_a", identities={"sms": "+15551230001"})


@pytest.mark.parametrize(
    "event",
    [
        Event("st_1", "status", name="delivered", channel="sms", data={"customer_id": "cus_b"}),
        Event("tmr_1", "timer", timer_id="tmr_1"),
        Event("tmr_2", "timer", timer_id="tmr_2", name="e-nudge"),
        Event("call_1", "call_result", data={"call_id": "call_1", "status": 200}),
        Event("shop-1", "event", name="order.delayed", data={"order_id": "A-1"}),
        Event("sms:SM1", "message", channel="sms", sender="+15551230001", text="HELP"),
    ],
    ids=lambda e: e.kind,
)
def test_events_for_a_merged_away_customer_are_forwarded_to_the_survivor(event: Event) -> None:
    outcome = decide(ENGINE, MERGED_AWAY, event, CTX)
    assert (outcome.decisions, outcome.state) == ((), MERGED_AWAY)  # not applied here
    [note] = outcome.notes
    assert (note.code, note.detail, dict(note.data)) == (
        "merged_away",
        "merged into cus_a",
        {"survivor": "cus_a"},
    )


def test_a_schedule_for_a_merged_away_customer_is_not_forwarded() -> None:
    # the scheduler fans a tick out to the survivor as well: forwarding would run it twice
    event = Event("sch_1", "schedule", name="e-schedule")
    outcome = decide(ENGINE, replace(MERGED_AWAY, tags=("subscriber",)), event, CTX)
    assert outcome.decisions == ()
    assert [(n.code, dict(n.data)) for n in outcome.notes] == [("merged_away", {})]


def test_an_event_is_never_forwarded_to_the_customer_it_came_to() -> None:
    state = replace(MERGED_AWAY, merged_into="cus_b")  # a broken record: merged into itself
    outcome = decide(ENGINE, state, Event("tmr_1", "timer", timer_id="tmr_1"), CTX)
    assert [(n.code, dict(n.data)) for n in outcome.notes] == [("merged_away", {})]


def test_identity_events_still_apply_to_a_merged_away_customer() -> None:
    data = {"customer": "cus_b", "survivor": "cus_a"}
    event = Event("lnk_9:merged", "event", name="identity.merged", data=data)
    outcome = decide(ENGINE, MERGED_AWAY, event, CTX)
    assert "merged_away" not in [n.code for n in outcome.notes]
    assert event.event_id in outcome.state.applied


def test_the_survivor_ignores_a_forwarded_timer_of_a_run_it_does_not_have() -> None:
    """The merged-away customer's run timers are cancelled at the merge; one that fired first
    and is forwarded resumes nothing of the survivor's (docs/architecture.md)."""
    waiting = Run("run_s", "e-ask", 1, OLD, step="question", waiting="reply", timer_id="tmr_s")
    survivor = CustomerState("cus_a", run=waiting, current_flow="e-ask")
    stray = Event("tmr_old", "timer", timer_id="tmr_old", data={"purpose": "ask_timeout"})
    outcome = decide(ENGINE, survivor, stray, CTX)
    assert outcome.decisions == ()
    assert outcome.state.run == waiting
    assert [n.code for n in outcome.notes] == ["stale_timer"]
    idle = decide(ENGINE, CustomerState("cus_a"), stray, CTX)  # no run at all: nothing either
    assert (idle.decisions, idle.state.run, idle.notes) == ((), None, ())


def test_a_forwarded_named_timer_starts_the_survivors_flow() -> None:
    survivor = CustomerState("cus_a", identities={"sms": "+15551230001"}, last_channel="sms")
    named = Event("tmr_n", "timer", timer_id="tmr_n", name="e-nudge")
    outcome = decide(ENGINE, survivor, named, CTX)
    [sent] = [d for d in outcome.decisions if isinstance(d, SendMessage)]
    assert (sent.flow_id, sent.to) == ("e-timer", "+15551230001")
