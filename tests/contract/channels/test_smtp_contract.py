"""Every SMTP provider (case file ``kind: smtp``) passes its cases against a real SMTP server."""

from __future__ import annotations

from typing import Any

import pytest
from harness import SMTP_CASE_FILES, assert_smtp_data, run_smtp_send
from pydantic import SecretStr

from channels import PROVIDERS, errors
from channels.base import OutboundMessage
from channels.errors import ChannelConfigInvalid


def load_cases() -> list[Any]:
    """One pytest param per case of every SMTP provider's case file."""
    return [
        pytest.param(ct, case, id=f"{ct}:{case['label']}")
        for ct, case_file in SMTP_CASE_FILES.items()
        for case in case_file.cases
    ]


def test_smtp_is_run_here() -> None:
    assert "email.smtp" in SMTP_CASE_FILES


@pytest.mark.parametrize(("channel_type", "case"), load_cases())
async def test_case(
    channel_type: str, case: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    base = SMTP_CASE_FILES[channel_type].config
    config = base.model_validate({**base.model_dump(), **case.get("config", {})})
    msg = OutboundMessage(**{"message_id": "msg-1", **case["msg"]})
    outcome = await run_smtp_send(
        channel_type, msg, config, server=case.get("server", True), caplog=caplog
    )
    assert_smtp_data(outcome, case["expected_data"])
    if "expected_error" in case:
        assert type(outcome.error) is getattr(errors, case["expected_error"]), outcome.error
        for name, value in case.get("expected_error_attrs", {}).items():
            assert getattr(outcome.error, name) == value, name
        return
    assert outcome.error is None, outcome.error
    assert outcome.result is not None
    assert list(outcome.result.external_ids) == case["expected_external_ids"]
    if "expected_status" in case:
        assert outcome.result.status == case["expected_status"]
        assert outcome.result.status in PROVIDERS[channel_type].status_map.values()


@pytest.mark.parametrize(
    ("channel_type", "field_name"),
    [(ct, name) for ct, f in sorted(SMTP_CASE_FILES.items()) for name in f.credential_fields],
)
async def test_missing_settings_fail_before_io(
    channel_type: str, field_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    config = SMTP_CASE_FILES[channel_type].config
    blank: object = SecretStr("") if isinstance(getattr(config, field_name), SecretStr) else ""
    outcome = await run_smtp_send(
        channel_type,
        OutboundMessage(message_id="msg-1", to="ada@example.com", text="hi"),
        config.model_copy(update={field_name: blank}),
        caplog=caplog,
    )
    assert type(outcome.error) is ChannelConfigInvalid
    assert outcome.data == []


async def test_a_data_mismatch_fails() -> None:
    config = SMTP_CASE_FILES["email.smtp"].config
    msg = OutboundMessage(message_id="msg-1", to="ada@example.com", text="hi")
    outcome = await run_smtp_send("email.smtp", msg, config)
    with pytest.raises(AssertionError):
        assert_smtp_data(outcome, [{"headers": {"Message-ID": "<other@mail.acme.test>"}}])
    with pytest.raises(AssertionError):
        assert_smtp_data(outcome, [{"text": "hello"}])
    with pytest.raises(AssertionError):
        assert_smtp_data(outcome, [])


async def test_a_leaked_secret_fails() -> None:
    config = SMTP_CASE_FILES["email.smtp"].config
    password = config.password.get_secret_value()  # type: ignore[attr-defined]
    msg = OutboundMessage(message_id="msg-1", to="ada@example.com", text=f"pw {password}")
    with pytest.raises(AssertionError, match="leaked"):
        await run_smtp_send("email.smtp", msg, config)
