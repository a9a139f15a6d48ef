"""The harness itself catches leftover mocks, leaked secrets and mismatched requests."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest
from harness import CONFIGS, DEFAULT_URLS, SMTP_CASE_FILES, run_send

from channels import ADAPTERS
from channels.base import OutboundMessage, SendResult
from channels.twilio.adapter import TwilioSms

OK = {"sid": "SM1", "status": "queued"}


class LeakyTwilio(TwilioSms):
    """A broken adapter that logs its auth token."""

    async def send(self, msg: OutboundMessage) -> SendResult:
        logging.getLogger("leaky").debug("token=%s", self._config.auth_token.get_secret_value())
        return await super().send(msg)


@pytest.fixture
def leaky(monkeypatch: pytest.MonkeyPatch) -> None:
    registry: dict[str, Any] = dict(ADAPTERS)
    registry["sms.twilio"] = LeakyTwilio
    monkeypatch.setattr("harness.ADAPTERS", registry)


async def test_unused_mock_fails() -> None:
    extra = [httpx.Response(201, json=OK), httpx.Response(201, json=OK)]
    with pytest.raises(AssertionError, match="unused HTTP mocks"):
        await run_send("sms.twilio", responses=extra)


@pytest.mark.usefixtures("leaky")
async def test_secret_in_logs_fails(caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(AssertionError, match="leaked"):
        await run_send("sms.twilio", responses=[httpx.Response(201, json=OK)], caplog=caplog)


@pytest.mark.usefixtures("leaky")
async def test_secret_in_logs_fails_without_caplog() -> None:
    with pytest.raises(AssertionError, match="leaked"):
        await run_send("sms.twilio", responses=[httpx.Response(201, json=OK)])


async def test_unexpected_url_fails() -> None:
    with pytest.raises(AssertionError, match="unexpected request"):
        await run_send("sms.twilio", responses={"https://elsewhere.test/": []})


async def test_form_mismatch_fails() -> None:
    with pytest.raises(AssertionError):
        await run_send(
            "sms.twilio",
            responses=[httpx.Response(201, json=OK)],
            expected_requests=[{"form": {"To": "+1", "From": "+15559999", "Body": "hello"}}],
        )


def test_configs_cover_registry() -> None:
    assert set(CONFIGS) | set(SMTP_CASE_FILES) == set(ADAPTERS)
    assert set(CONFIGS) == set(DEFAULT_URLS)
