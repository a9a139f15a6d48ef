"""The send-time contact policy's pure part: the verdict from state, message, policy and now."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from orchestrator.engine import customer_view
from orchestrator.engine.model import CustomerState
from orchestrator.events import MessageSend
from orchestrator.policy import send_time
from orchestrator.policy.consent import record, revoke
from orchestrator.policy.send_time import SendCheck
from orchestrator.policy.spec import CapSpec, Policy
from tests.unit.sends import message_send

NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # a Monday, 15:00 UTC
POLICY = Policy()
GRANTED = {"sms": {"marketing": record("granted", "test", NOW - timedelta(days=3))}}


def msg(**overrides: object) -> MessageSend:
    return message_send(**overrides)


def state(**overrides: Any) -> CustomerState:
    base = CustomerState("c1", identities={"sms": "+15551230001"}, timezone="UTC")
    return replace(base, **{"consent": GRANTED, **overrides})


def check(st: CustomerState, m: MessageSend, now: datetime = NOW) -> SendCheck:
    return send_time.check(POLICY, customer_view.at_send(st), m, now)


def test_a_consented_marketing_message_in_the_daytime_goes() -> None:
    assert check(state(), msg()).action == "send"


def test_an_opt_out_while_the_message_waited_blocks_it() -> None:
    stopped = revoke(GRANTED, "sms", everywhere=True, source="keyword:stop:sms", at=NOW)
    verdict = check(state(consent=stopped), msg())
    assert (verdict.action, verdict.rule) == ("block", "consent.marketing")
    assert "opted out" in verdict.reason


def test_the_opt_out_confirmation_skips_consent() -> None:
    stopped = revoke({}, "sms", everywhere=True, source="keyword:stop:sms", at=NOW)
    confirmation = msg(purpose="transactional", policy_rule="keywords.opt_out.confirmation")
    assert check(state(consent=stopped), confirmation).action == "send"
    assert check(state(consent=stopped), msg(purpose="transactional")).action == "block"


def test_not_before_in_the_future_defers_to_it() -> None:
    due = NOW + timedelta(seconds=2)
    verdict = check(state(), msg(not_before=due.isoformat()))
    assert verdict == SendCheck("defer", "not_before", f"not before {due.isoformat()}", due)
    assert check(state(), msg(not_before=(NOW - timedelta(1)).isoformat())).action == "send"


def test_quiet_hours_defer_marketing_to_the_morning_in_the_customers_zone() -> None:
    verdict = check(state(timezone="America/New_York"), msg(), NOW.replace(hour=3))
    assert (verdict.action, verdict.rule) == ("defer", "quiet_hours.marketing")
    assert verdict.due == datetime(2026, 11, 23, 14, 0, tzinfo=UTC)  # 09:00 in New York
    assert check(state(timezone="America/New_York"), msg(purpose="transactional")).action == "send"


def test_whatsapp_outside_the_window_without_a_template_is_blocked() -> None:
    wa = msg(channel="whatsapp", to="wa:1", purpose="service")
    old = {"whatsapp": (NOW - timedelta(hours=25)).isoformat()}
    assert check(state(last_inbound=old), wa).rule == "whatsapp.window"
    assert (
        check(state(last_inbound=old), msg(**{**wa.model_dump(), "template_name": "t1"})).action
        == "send"
    )
    recent = {"whatsapp": (NOW - timedelta(hours=1)).isoformat()}
    assert check(state(last_inbound=recent), wa).action == "send"


def test_counters_are_the_purposes_caps_then_the_loop_guard() -> None:
    counters = send_time.counters_for(POLICY, msg())
    assert [(c.rule, c.kind, c.limit, c.action) for c in counters] == [
        ("cap.marketing-weekly", "cap", 3, "drop"),
        ("cap.marketing-daily", "cap", 1, "defer"),
        ("loop_guard", "identical", 5, "drop"),
    ]
    assert counters[0].scope == "marketing-weekly:all"
    assert [c.rule for c in send_time.counters_for(POLICY, msg(purpose="service"))] == [
        "loop_guard"
    ]
    each = Policy(caps=(CapSpec(id="per", channel="each", limit=2, window=timedelta(hours=1)),))
    assert send_time.counters_for(each, msg())[0].scope == "per:sms"


def test_a_full_counter_blocks_or_defers_as_its_rule_says() -> None:
    weekly, daily, guard = send_time.counters_for(POLICY, msg())
    until = NOW + timedelta(hours=5)
    assert send_time.over_limit(weekly, until) == SendCheck(
        "block", "cap.marketing-weekly", weekly.reason
    )
    deferred = send_time.over_limit(daily, until)
    assert (deferred.action, deferred.rule, deferred.due) == ("defer", "cap.marketing-daily", until)
    assert send_time.over_limit(guard, until).rule == "loop_guard"


@pytest.mark.parametrize(
    ("rule", "label"),
    [
        ("cap.marketing-weekly", "cap"),
        ("consent.marketing", "consent.marketing"),
        ("consent.whatever", "consent.other"),
        ("quiet_hours.service", "quiet_hours.service"),
        ("not_before", "not_before"),
        ("loop_guard", "loop_guard"),
        ("whatsapp.window", "whatsapp.window"),
        ("surprise", "other"),
    ],
)
def test_rule_labels_are_bounded(rule: str, label: str) -> None:
    assert send_time.rule_label(rule) == label
