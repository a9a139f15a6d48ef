"""``support_quiet`` in the engine: what counts as a support conversation, and the note it
leaves (the verdicts themselves are ``tests/policy_cases/support.yaml``)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from orchestrator.engine import customer_view, spec
from orchestrator.engine.catalogue import Catalogue
from orchestrator.engine.customer_view import last_support
from orchestrator.engine.decide import decide
from orchestrator.engine.decisions import SendMessage
from orchestrator.engine.model import Context, CustomerState, Run, message
from orchestrator.flowtools.testing import DEFAULT_NOW
from orchestrator.policy import send_time
from orchestrator.policy.send_time import rule_label
from orchestrator.policy.spec import Policy
from tests.unit.sends import message_send

NOW = DEFAULT_NOW
POLICY = Policy.model_validate(
    {"consent": {"require": {"marketing": "none"}}, "quiet_hours": {"windows": {}}, "caps": []}
)


def _flow(flow_id: str, stage: str, word: str) -> spec.Flow:
    return spec.Flow.model_validate(
        {
            "spec_version": 1,
            "id": flow_id,
            "version": 1,
            "stage": stage,
            "owner": "tests",
            "trigger": {"type": "message", "match": "keyword", "words": [word]},
            "steps": [{"id": "s", "type": "send", "purpose": "marketing", "template": "Sale!"}],
        }
    )


PROMO, HELP = _flow("promo", "purchase", "DEALS"), _flow("care", "support", "HELPME")
CATALOGUE = Catalogue((PROMO, HELP), policy=POLICY)


def _state(**kw: Any) -> CustomerState:
    return CustomerState("c1", identities={"sms": "+15551230001"}, **kw)


def _run(flow_id: str) -> Run:
    return Run(f"run-{flow_id}", flow_id, 1, NOW.isoformat())


def test_an_open_or_suspended_support_run_is_now() -> None:
    assert last_support(_state(run=_run("care")), CATALOGUE.get, NOW, "promo") == NOW
    assert last_support(_state(suspended=_run("care")), CATALOGUE.get, NOW, "promo") == NOW
    assert last_support(_state(run=_run("promo")), CATALOGUE.get, NOW, "promo") is None


def test_otherwise_the_latest_support_flow_start_counts() -> None:
    started = (NOW - timedelta(hours=2)).isoformat()
    history = {"care": started, "promo": NOW.isoformat(), "gone": NOW.isoformat()}
    assert last_support(_state(flow_history=history), CATALOGUE.get, NOW, "x") == NOW - timedelta(
        hours=2
    )
    assert last_support(_state(), CATALOGUE.get, NOW, "x") is None


def test_the_sending_flow_itself_does_not_count() -> None:
    state = _state(run=_run("care"), flow_history={"care": NOW.isoformat()})
    assert last_support(state, CATALOGUE.get, NOW, "care") is None


def _decide(state: CustomerState) -> Any:
    event = message("sms:SM1", "sms", "+15551230001", "DEALS", "+15559990000")
    return decide(CATALOGUE, state, event, Context(NOW))


def test_marketing_soon_after_a_support_conversation_is_blocked_with_a_note() -> None:
    recent = {"care": (NOW - timedelta(hours=1)).isoformat()}
    outcome = _decide(_state(flow_history=recent))
    assert not [d for d in outcome.decisions if isinstance(d, SendMessage)]
    blocked = [n for n in outcome.notes if n.code == "policy_blocked"]
    assert [n.data["rule"] for n in blocked] == ["support_quiet"]
    assert rule_label("support_quiet") == "support_quiet"


def test_marketing_long_after_a_support_conversation_goes() -> None:
    old = {"care": (NOW - timedelta(hours=5)).isoformat()}
    outcome = _decide(_state(flow_history=old))
    assert [d.text for d in outcome.decisions if isinstance(d, SendMessage)] == ["Sale!"]


ALL_WITHOUT_CONSENT = {"marketing": "none", "transactional": "none"}


def _queued(purpose: str = "marketing", flow_id: str = "promo") -> Any:
    return message_send(purpose=purpose, flow_id=flow_id)


def _at_send(state: CustomerState, cmd: Any, now: Any = NOW) -> Any:
    who = customer_view.at_send(state, CATALOGUE.get, now, cmd.flow_id or "")
    return send_time.check(SEND_POLICY, who, cmd, now)


SEND_POLICY = POLICY.model_copy(
    update={"consent": POLICY.consent.model_copy(update={"require": ALL_WITHOUT_CONSENT})}
)


def test_at_send_a_marketing_message_waiting_into_a_support_conversation_is_blocked() -> None:
    verdict = _at_send(_state(run=_run("care")), _queued())
    assert (verdict.action, verdict.rule) == ("block", "support_quiet")
    assert verdict.reason == "a support conversation is open"
    recent = {"care": (NOW - timedelta(hours=3)).isoformat()}
    verdict = _at_send(_state(flow_history=recent), _queued())
    assert (verdict.action, verdict.rule) == ("block", "support_quiet")
    assert "within 4:00:00" in verdict.reason


def test_at_send_what_is_not_held_still_goes() -> None:
    old = {"care": (NOW - timedelta(hours=5)).isoformat()}
    assert _at_send(_state(flow_history=old), _queued()).action == "send"
    assert _at_send(_state(run=_run("care")), _queued(purpose="transactional")).action == "send"
    # the support flow's own offer is its owner's call
    assert _at_send(_state(run=_run("care")), _queued(flow_id="care")).action == "send"


def test_at_send_without_the_flows_the_rule_says_nothing() -> None:
    cmd = _queued()
    who = customer_view.at_send(_state(run=_run("care")))
    assert who.support_at is None
    assert send_time.check(POLICY, who, cmd, NOW).action == "send"
