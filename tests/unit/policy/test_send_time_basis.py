"""Send time is never stricter than the decision for reasons older than the decision.

A ``message.send`` carries ``decided_at`` (and its consent basis, and the last inbound message
the decision saw); the dispatcher's state may predate the decision, so only a revocation
recorded at or after ``decided_at`` blocks it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from orchestrator.engine import customer_view
from orchestrator.engine.model import CustomerState
from orchestrator.events import MessageSend
from orchestrator.policy import consent, send_time
from orchestrator.policy.spec import Policy
from tests.unit.sends import message_send

DECIDED = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # a Monday, 15:00 UTC: no quiet hours
POLICY = Policy()


def msg(**overrides: object) -> MessageSend:
    decided = {
        "policy_rule": "consent.marketing",
        "decided_at": DECIDED.isoformat(),
        "consent_basis": "marketing consent granted (flow:promo.agree at 2026-11-23T15:00:00)",
    }
    return message_send(**{**decided, **overrides})


def verdict(cons: dict[str, Any], m: MessageSend, **state: Any) -> send_time.SendCheck:
    st_ = CustomerState("c1", identities={"sms": m.to}, timezone="UTC", consent=cons, **state)
    return send_time.check(POLICY, customer_view.at_send(st_), m, DECIDED + timedelta(seconds=1))


def test_a_state_older_than_the_decision_does_not_block_a_consent_granted_in_it() -> None:
    got = verdict({}, msg())  # the grant of the same event is not saved yet
    assert got.action == "send"


def test_a_command_without_decided_at_is_checked_on_the_state_alone() -> None:
    got = verdict({}, msg(decided_at=None))
    assert (got.action, got.rule) == ("block", "consent.marketing")


def test_an_opt_out_recorded_after_the_decision_still_blocks() -> None:
    stopped = consent.revoke({}, "sms", True, "keyword:stop:sms", DECIDED + timedelta(seconds=1))
    got = verdict(stopped, msg())
    assert (got.action, got.rule) == ("block", "consent.marketing")
    assert "opted out" in got.reason


def test_an_opt_out_at_the_decision_instant_blocks() -> None:
    stopped = consent.revoke({}, "sms", False, "keyword:stop:sms", DECIDED)
    assert verdict(stopped, msg()).action == "block"


def test_a_marketing_revocation_after_the_decision_blocks_on_the_channel_or_everywhere() -> None:
    later = DECIDED + timedelta(minutes=1)
    for scope in ("sms", "all"):
        revoked = {scope: {"marketing": consent.record("revoked", "flow:x.no", later)}}
        assert verdict(revoked, msg()).rule == "consent.marketing"


def test_a_revocation_older_than_the_decision_does_not_block() -> None:
    earlier = DECIDED - timedelta(hours=1)  # the decision saw it replaced by a newer grant
    revoked = {"sms": {"marketing": consent.record("revoked", "flow:x.no", earlier)}}
    assert verdict(revoked, msg()).action == "send"


def test_an_unrelated_channel_opt_out_after_the_decision_does_not_block() -> None:
    later = DECIDED + timedelta(minutes=1)
    stopped = consent.revoke({}, "whatsapp", False, "keyword:stop:whatsapp", later)
    assert verdict(stopped, msg()).action == "send"


def test_the_send_time_reason_names_the_decisions_consent_basis() -> None:
    ok, why = send_time.consent_at_send(POLICY, {}, msg())
    assert ok
    assert "flow:promo.agree" in why
    assert DECIDED.isoformat() in why


def test_a_naive_decided_at_is_read_as_utc() -> None:
    stopped = consent.revoke({}, "sms", True, "keyword:stop:sms", DECIDED + timedelta(seconds=1))
    naive = msg(decided_at=DECIDED.replace(tzinfo=None).isoformat())
    assert verdict(stopped, naive).action == "block"
    assert verdict({}, naive).action == "send"


def test_the_whatsapp_window_counts_from_the_inbound_message_the_decision_saw() -> None:
    wa = msg(channel="whatsapp", to="wa:1", purpose="service")
    old = {"whatsapp": (DECIDED - timedelta(hours=30)).isoformat()}
    assert verdict({}, wa, last_inbound=old).rule == "whatsapp.window"
    seen = wa.model_copy(update={"inbound_at": DECIDED - timedelta(minutes=1)})
    assert verdict({}, seen, last_inbound=old).action == "send"


_STATUSES = st.sampled_from(["granted", "confirmed", "revoked", "restored"])
_SCOPES = st.sampled_from(["all", "sms", "whatsapp"])
_PURPOSES = st.sampled_from(["all", "marketing", "service", "transactional"])


@given(
    entries=st.lists(
        st.tuples(_SCOPES, _PURPOSES, _STATUSES, st.integers(-10_000, 10_000)), max_size=6
    ),
    purpose=st.sampled_from(["marketing", "service", "transactional"]),
)
def test_only_a_revocation_since_the_decision_can_block_it(
    entries: list[tuple[str, str, str, int]], purpose: str
) -> None:
    cons: dict[str, Any] = {}
    for scope, what, status, seconds in entries:
        at = DECIDED + timedelta(seconds=seconds)
        cons.setdefault(scope, {})[what] = consent.record(status, "test", at)
    ok, _ = send_time.consent_at_send(POLICY, cons, msg(purpose=purpose))
    newer = consent.revoked_since(cons, "sms", purpose, DECIDED)
    assert ok or newer is not None
