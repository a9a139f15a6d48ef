"""Every adapter in ADAPTERS passes its data-driven cases and the generic send contract."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from harness import (
    ALL_CASE_FILES,
    CASE_FILES,
    CASES_DIR,
    CONFIGS,
    CREDENTIAL_FIELDS,
    HTTP_CASE_FILES,
    blank_credential,
    case_path,
    queued_response,
    run_send,
)

from channels import ADAPTERS, PROVIDERS, errors
from channels.base import OutboundMessage
from channels.errors import (
    ChannelConfigInvalid,
    ConnectionFailed,
    OutcomeUnknown,
    ResponseStatus,
    SendError,
    Throttled,
)


def load_cases() -> list[Any]:
    """Return one pytest param per case of every registered provider's case file."""
    return [
        pytest.param(ct, case, id=f"{ct}:{case['label']}")
        for ct, case_file in CASE_FILES.items()
        for case in case_file.cases
    ]


@pytest.mark.parametrize("channel_type", sorted(PROVIDERS))
def test_every_provider_has_a_case_file(channel_type: str) -> None:
    assert case_path(channel_type).is_file(), f"{channel_type} has no case file"
    case_file = ALL_CASE_FILES[channel_type]
    assert isinstance(case_file.config, PROVIDERS[channel_type].settings)
    assert case_file.cases, "at least one case"
    assert ADAPTERS[channel_type].channel_type == channel_type


def test_every_case_file_names_a_provider() -> None:
    assert {path.stem for path in CASES_DIR.glob("*.yaml")} <= set(PROVIDERS)


@pytest.mark.parametrize(("channel_type", "case"), load_cases())
async def test_case(
    channel_type: str, case: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    base = CONFIGS[channel_type]  # a case's config overrides, validated (secrets as SecretStr)
    config = type(base).model_validate({**base.model_dump(), **case.get("config", {})})
    msg_data = {"message_id": "msg-1", **case["msg"]}
    msg_data["attachments"] = tuple(msg_data.get("attachments", ()))
    responses = {
        url: [queued_response(i) for i in items] for url, items in case.get("responses", {}).items()
    }
    outcome = await run_send(
        channel_type,
        responses=responses,
        msg=OutboundMessage(**msg_data),
        config=config,
        expected_requests=case.get("expected_requests"),
        caplog=caplog,
        expected_writes=case.get("expected_writes"),
        redis_error=case.get("redis_error") == "connect",
    )
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


@pytest.mark.parametrize(
    ("status", "error"),
    [
        pytest.param(503, ConnectionFailed, id="5xx-retryable"),
        pytest.param(429, Throttled, id="429-throttled"),
        pytest.param(400, ResponseStatus, id="4xx-permanent"),
    ],
)
@pytest.mark.parametrize("channel_type", sorted(HTTP_CASE_FILES))
async def test_http_status_mapping(
    channel_type: str, status: int, error: type[SendError], caplog: pytest.LogCaptureFixture
) -> None:
    outcome = await run_send(
        channel_type, responses=[httpx.Response(status, json={})], caplog=caplog
    )
    assert type(outcome.error) is error
    assert outcome.error.retryable is error.retryable


@pytest.mark.parametrize("channel_type", sorted(HTTP_CASE_FILES))
async def test_transport_error_is_connection_failed(
    channel_type: str, caplog: pytest.LogCaptureFixture
) -> None:
    outcome = await run_send(
        channel_type, responses=[httpx.ConnectError("connection refused")], caplog=caplog
    )
    assert type(outcome.error) is ConnectionFailed
    assert outcome.error.retryable


@pytest.mark.parametrize(
    "exc",
    [httpx.ReadTimeout("read timed out"), httpx.RemoteProtocolError("peer closed")],
    ids=["read-timeout", "protocol-error"],
)
@pytest.mark.parametrize("channel_type", sorted(HTTP_CASE_FILES))
async def test_failure_after_sending_is_outcome_unknown_and_not_retried(
    channel_type: str, exc: httpx.TransportError, caplog: pytest.LogCaptureFixture
) -> None:
    outcome = await run_send(channel_type, responses=[exc], caplog=caplog)
    assert type(outcome.error) is OutcomeUnknown
    assert not outcome.error.retryable


@pytest.mark.parametrize(
    ("channel_type", "field_name"),
    [(ct, name) for ct in sorted(CASE_FILES) for name in CREDENTIAL_FIELDS[ct]],
)
async def test_missing_credentials_fail_before_io(
    channel_type: str, field_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    config = blank_credential(channel_type, field_name)
    outcome = await run_send(channel_type, config=config, expected_requests=[], caplog=caplog)
    assert type(outcome.error) is ChannelConfigInvalid
    assert outcome.requests == []
