"""Each provider's limits from CONTINUUM_RATE_LIMITS__* and its own settings."""

from __future__ import annotations

import pytest

from orchestrator.delivery.rate_plan import plan
from orchestrator.settings import Settings
from orchestrator.workers.dispatch_limits import provider_limits


def test_the_defaults_are_the_published_limits() -> None:
    limits = provider_limits(Settings())
    twilio = limits["sms.twilio"]
    assert (twilio.account_rate, twilio.unit) == (100, "segment")
    assert twilio.sender_rates == {"long_code": 1, "toll_free": 3}
    assert twilio.default_sender == "+15559990000"
    assert limits["whatsapp.meta"].account_rate == 80
    assert limits["sms.vonage"].account_rate == 30
    assert plan(limits["email.sendgrid"], sender=None, text="x", purpose=None) is None


def test_a_test_can_set_the_sandbox_number_to_ten_a_second(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CONTINUUM_RATE_LIMITS__TWILIO_LONG_CODE_MPS", "10")
    monkeypatch.setenv("CONTINUUM_RATE_LIMITS__TWILIO_ACCOUNT_MPS", "0")
    monkeypatch.setenv("CONTINUUM_RATE_LIMITS__BULK_SHARE", "0.5")
    settings = Settings()
    take = plan(
        provider_limits(settings)["sms.twilio"],
        sender=None,
        text="hello",
        purpose="service",
        burst_s=settings.rate_limits.burst_s,
        bulk_share=settings.rate_limits.bulk_share,
    )
    assert take is not None
    assert [(b.scope, b.rate, b.burst) for b in take.buckets] == [("sender:+15559990000", 10, 10)]


def test_a_messaging_service_picks_its_sender_so_only_the_account_is_limited(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CONTINUUM_TWILIO__MESSAGING_SERVICE_SID", "MG123")
    twilio = provider_limits(Settings())["sms.twilio"]
    take = plan(twilio, sender=None, text="hi", purpose="service")
    assert take is not None
    assert [b.kind for b in take.buckets] == ["account"]


def test_a_bulk_share_outside_zero_to_one_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONTINUUM_RATE_LIMITS__BULK_SHARE", "0")
    with pytest.raises(ValueError, match="bulk_share"):
        Settings()
