"""Matching an unknown send to the provider's messages, and when to look again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from channels.base import FoundSend
from orchestrator.delivery.reconcile import look_after_error, match, next_look
from orchestrator.delivery.resend import RESEND_OF, resend_event, resend_id, still_unknown

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
SINCE, UNTIL = T0, T0 + timedelta(seconds=10)


def found(ext: str, *, to: str = "+15550001", text: str = "Hi", at: datetime = T0, marker=None):
    return FoundSend(ext, "sent", to, text, at + timedelta(seconds=2), marker)


def look(candidates, taken=()):
    return match("msg_1", "+15550001", "Hi", SINCE, UNTIL, candidates, taken=taken)


def test_one_message_to_the_address_with_the_text_in_the_window_is_found() -> None:
    verdict = look([found("SM1"), found("SM2", text="Other"), found("SM3", to="+15550002")])
    assert verdict.result == "found"
    assert verdict.found is not None
    assert verdict.found.external_id == "SM1"


def test_our_marker_wins_over_everything_else() -> None:
    ours = FoundSend("SG9", "delivered", "x@example.com", "changed", None, "msg_1")
    verdict = look([found("SM1"), ours])
    assert verdict.found == ours


def test_a_message_carrying_another_marker_is_not_ours() -> None:
    assert look([found("SG1", marker="msg_2")]).result == "not_found"


def test_outside_the_window_and_its_slack_it_is_not_ours() -> None:
    early = found("SM1", at=T0 - timedelta(minutes=5))
    late = found("SM2", at=UNTIL + timedelta(minutes=5))
    assert look([early, late]).result == "not_found"
    assert look([found("SM3", at=T0 - timedelta(seconds=30))]).result == "found"  # clock skew


def test_an_id_already_mapped_to_another_send_is_excluded() -> None:
    verdict = look([found("SM1"), found("SM2")], taken={"SM1"})
    assert verdict.found is not None
    assert verdict.found.external_id == "SM2"


def test_two_that_fit_are_ambiguous_and_nothing_is_guessed() -> None:
    verdict = look([found("SM1"), found("SM2")])
    assert (verdict.result, verdict.found, verdict.candidates) == ("ambiguous", None, 2)


def test_no_candidate_is_not_found() -> None:
    assert look([]).result == "not_found"


def test_looks_again_every_interval_until_keep_then_gives_up() -> None:
    assert next_look(T0, T0 + timedelta(seconds=30), interval_s=60, keep_s=3600) == T0 + timedelta(
        seconds=90
    )
    assert next_look(T0, T0 + timedelta(seconds=3590), interval_s=60, keep_s=3600) is None


def test_a_resend_gets_a_derived_id_and_names_the_original() -> None:
    original = {
        "specversion": "1.0",
        "id": "msg_1",
        "source": "/continuum/decision",
        "type": "message.send",
        "time": T0.isoformat(),
        "dispatchattempt": 3,
        "data": {"message_id": "msg_1", "customer_id": "c1", "text": "Hi"},
    }
    event = resend_event(original, UNTIL)
    assert event["id"] == resend_id("msg_1") == "msg_1.r1"
    assert event["data"] == {"message_id": "msg_1.r1", "customer_id": "c1", "text": "Hi"}
    assert event[RESEND_OF] == "msg_1"
    assert "dispatchattempt" not in event  # the re-send's attempts start again
    assert event["time"] == UNTIL.isoformat()
    assert original["data"]["message_id"] == "msg_1"  # the original is left as it was


def test_only_an_entry_still_unknown_may_be_resent() -> None:
    entries = [{"state": "unknown"}, {"state": "accepted"}, None]
    assert still_unknown(entries) == [True, False, False]


def test_a_retryable_look_up_failure_looks_again_after_the_longer_of_interval_and_retry_after() -> (
    None
):
    now = T0 + timedelta(seconds=30)
    again = look_after_error(
        T0, now, retryable=True, retry_after_s=None, interval_s=60, keep_s=3600
    )
    assert again == now + timedelta(seconds=60)
    # SendGrid's Email Activity API allows 6 requests a minute: its Retry-After wins
    later = look_after_error(T0, now, retryable=True, retry_after_s=90, interval_s=60, keep_s=3600)
    assert later == now + timedelta(seconds=90)


def test_a_look_up_failure_gives_up_when_permanent_or_past_keep() -> None:
    now = T0 + timedelta(seconds=30)
    common: dict[str, Any] = {"retry_after_s": None, "interval_s": 60, "keep_s": 3600}
    assert look_after_error(T0, now, retryable=False, **common) is None
    assert look_after_error(T0, T0 + timedelta(seconds=3590), retryable=True, **common) is None
