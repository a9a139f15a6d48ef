"""The rate plan: which buckets a message takes from, its cost (segments for SMS) and its lane."""

from __future__ import annotations

import pytest

from orchestrator.delivery.rate_plan import (
    ProviderLimit,
    burst_of,
    lane_of,
    plan,
    sender_kind,
)
from orchestrator.vocabulary import PURPOSES

TWILIO = ProviderLimit(
    "sms.twilio",
    "AC1",
    account_rate=100,
    sender_rates={"long_code": 1, "toll_free": 3},
    default_sender="+15559990000",
    unit="segment",
)


def test_only_marketing_is_bulk() -> None:
    assert {p: lane_of(p) for p in PURPOSES} == {
        "transactional": "reply",
        "service": "reply",
        "marketing": "bulk",
    }
    assert lane_of(None) == "reply"


@pytest.mark.parametrize(
    ("sender", "kind"),
    [
        ("+15559990000", "long_code"),
        ("447700900000", "long_code"),
        ("+18005550100", "toll_free"),
        ("+1 888 555 0100", "toll_free"),
        ("12345", "short_code"),
        ("ACME", "alphanumeric"),
    ],
)
def test_sender_kinds(sender: str, kind: str) -> None:
    assert sender_kind(sender) == kind


def test_a_long_code_sms_takes_from_the_account_and_its_sender_in_segments() -> None:
    take = plan(TWILIO, sender=None, text="a" * 161, purpose="service")
    assert take is not None
    assert (take.cost, take.lane) == (2, "reply")
    assert [(b.scope, b.rate) for b in take.buckets] == [
        ("account", 100),
        ("sender:+15559990000", 1),
    ]
    assert [b.ident for b in take.buckets] == [
        "sms.twilio:AC1:account",
        "sms.twilio:AC1:sender:+15559990000",
    ]


def test_the_message_sender_wins_over_the_default_and_its_kind_sets_the_rate() -> None:
    take = plan(TWILIO, sender="+18005550100", text="hi", purpose="marketing")
    assert take is not None
    assert take.lane == "bulk"
    assert take.buckets[1].scope == "sender:+18005550100"
    assert take.buckets[1].rate == 3


def test_a_short_code_shares_the_account_rate() -> None:
    take = plan(TWILIO, sender="12345", text="hi", purpose="service")
    assert take is not None
    assert [b.kind for b in take.buckets] == ["account"]


def test_without_rates_a_provider_is_not_limited() -> None:
    assert (
        plan(ProviderLimit("email.sendgrid", "default"), sender=None, text="x", purpose=None)
        is None
    )


def test_a_message_provider_counts_one_per_message() -> None:
    meta = ProviderLimit("whatsapp.meta", "1234", account_rate=80)
    take = plan(meta, sender=None, text="☺" * 500, purpose="service")
    assert take is not None
    assert take.cost == 1
    assert [(b.scope, b.burst) for b in take.buckets] == [("account", 80)]


def test_a_bucket_holds_its_burst_and_always_room_for_a_bulk_unit_and_a_reserve() -> None:
    assert burst_of(80, 1.0, 0.8) == 80
    assert burst_of(80, 0.5, 0.8) == 40
    assert burst_of(1, 1.0, 0.8) == pytest.approx(1.25)  # bulk takes 1 and leaves 0.25
    assert burst_of(0.5, 1.0, 1.0) == 1
