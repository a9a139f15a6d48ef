"""Quiet hours do not hold a reply: a service or transactional message within ``reply_window``
of the customer's own message goes at night, at decision time and at send time; marketing waits.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from orchestrator.engine import customer_view
from orchestrator.engine.model import CustomerState
from orchestrator.events import MessageSend
from orchestrator.policy import quiet_hours, send_time
from orchestrator.policy.spec import Policy, QuietHoursSpec
from tests.unit.sends import message_send

NIGHT = datetime(2026, 11, 23, 23, 0, tzinfo=UTC)  # 23:00 UTC: service and marketing are quiet
POLICY = Policy()


def msg(**overrides: object) -> MessageSend:
    service = {"text": "Your order 12345 has shipped", "purpose": "service"}
    return message_send(**{**service, **overrides})


def at_send(m: MessageSend, inbound: datetime | None = None, now: datetime = NIGHT) -> str:
    last = {"sms": inbound.isoformat()} if inbound else {}
    st = CustomerState("c1", identities={"sms": m.to}, timezone="UTC", last_inbound=last)
    return send_time.check(POLICY, customer_view.at_send(st), m, now).action


def test_is_reply_within_the_window_for_service_and_transactional_only() -> None:
    asked = NIGHT - timedelta(minutes=5)
    assert quiet_hours.is_reply(POLICY, "service", asked, NIGHT)
    assert quiet_hours.is_reply(POLICY, "transactional", asked, NIGHT)
    assert not quiet_hours.is_reply(POLICY, "marketing", asked, NIGHT)
    assert not quiet_hours.is_reply(POLICY, "service", NIGHT - timedelta(minutes=16), NIGHT)
    assert not quiet_hours.is_reply(POLICY, "service", None, NIGHT)
    assert not quiet_hours.is_reply(POLICY, "service", NIGHT + timedelta(minutes=1), NIGHT)


def test_a_reply_goes_at_send_time_at_night() -> None:
    assert at_send(msg(), inbound=NIGHT - timedelta(minutes=2)) == "send"
    assert at_send(msg()) == "defer"
    assert at_send(msg(purpose="marketing"), inbound=NIGHT - timedelta(minutes=2)) == "block"


def test_send_time_counts_the_reply_from_the_decision_and_the_commands_inbound_at() -> None:
    decided = NIGHT - timedelta(minutes=14)
    late = msg(decided_at=decided.isoformat(), inbound_at=(decided - timedelta(minutes=1)))
    # the dispatcher's state has no inbound yet, and it runs 20 minutes after the message
    assert at_send(late, now=NIGHT + timedelta(minutes=6)) == "send"
    stale = msg(decided_at=decided.isoformat(), inbound_at=(decided - timedelta(minutes=30)))
    assert at_send(stale) == "defer"


def test_a_message_released_from_a_deferral_is_judged_at_its_release() -> None:
    held = msg(not_before=(NIGHT - timedelta(minutes=1)).isoformat(), decided_at=NIGHT.isoformat())
    assert at_send(held, inbound=NIGHT - timedelta(hours=2)) == "defer"


def test_the_console_line_says_what_is_held_now_and_when_it_goes() -> None:
    line = quiet_hours.describe_held(POLICY, NIGHT)
    assert line == (
        "quiet hours now (UTC): holding back marketing until 09:00; "
        "service until 08:00, except replies within 15m"
    )
    assert quiet_hours.describe_held(POLICY, NIGHT.replace(hour=12)) is None
    tokyo = quiet_hours.describe_held(POLICY, NIGHT, ["Asia/Tokyo"])  # 08:00 there
    assert tokyo == "quiet hours now (Asia/Tokyo): holding back marketing until 09:00"


def test_the_reply_window_and_purposes_come_from_the_policy() -> None:
    strict = Policy(quiet_hours=QuietHoursSpec(reply_window="2m", reply_purposes=()))
    asked = NIGHT - timedelta(minutes=1)
    assert not quiet_hours.is_reply(strict, "service", asked, NIGHT)
    short = Policy(quiet_hours=QuietHoursSpec(reply_window="2m"))
    assert quiet_hours.is_reply(short, "service", asked, NIGHT)
    assert not quiet_hours.is_reply(short, "service", NIGHT - timedelta(minutes=3), NIGHT)
