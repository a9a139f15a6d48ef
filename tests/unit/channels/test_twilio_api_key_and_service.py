"""Twilio API-key auth and Messaging Service sending: settings checks, the adapter against the
sandbox fake, and no secret in results or logs."""

from __future__ import annotations

import base64
import logging

import httpx
import pytest
from pydantic import SecretStr, ValidationError
from sandbox_harness import Sandbox

from channels.base import OutboundMessage
from channels.errors import RejectedWithReason
from channels.sandbox.config import (
    SANDBOX_API_KEY_SECRET,
    SANDBOX_API_KEY_SID,
    SANDBOX_MESSAGING_SERVICE_SID,
    SANDBOX_SERVICE_SENDER,
)
from channels.twilio.adapter import TwilioSms
from channels.twilio.settings import TwilioConfig, TwilioSettings
from orchestrator.cli import main
from orchestrator.settings import Settings, describe_error

KEY_SID, KEY_SECRET = SANDBOX_API_KEY_SID, SANDBOX_API_KEY_SECRET  # SandboxConfig's defaults
SERVICE, SERVICE_SENDER = SANDBOX_MESSAGING_SERVICE_SID, SANDBOX_SERVICE_SENDER


def _config(sandbox: Sandbox, **extra: object) -> TwilioConfig:
    sid, token = sandbox.auth
    fields: dict[str, object] = {
        "account_sid": sid,
        "auth_token": SecretStr(token),
        "base_url": "http://sandbox",
        "from_number": "+15559999",
        **extra,
    }
    return TwilioConfig.model_validate(fields)


async def _listed(sandbox: Sandbox) -> list[dict[str, object]]:
    listed: list[dict[str, object]] = (await sandbox.client.get("/_sandbox/messages")).json()
    return listed


# --- settings -------------------------------------------------------------------------------


def test_both_are_unset_by_default() -> None:
    twilio = Settings().twilio
    assert (twilio.api_key_sid, twilio.api_key_secret, twilio.messaging_service_sid) == (
        None,
        None,
        None,
    )


def test_the_settings_read_the_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONTINUUM_TWILIO__API_KEY_SID", KEY_SID)
    monkeypatch.setenv("CONTINUUM_TWILIO__API_KEY_SECRET", KEY_SECRET)
    monkeypatch.setenv("CONTINUUM_TWILIO__MESSAGING_SERVICE_SID", SERVICE)
    twilio = Settings().twilio
    assert twilio.api_key_sid == KEY_SID
    assert twilio.api_key_secret is not None
    assert twilio.api_key_secret.get_secret_value() == KEY_SECRET
    assert twilio.messaging_service_sid == SERVICE
    assert KEY_SECRET not in repr(twilio)


def test_empty_variables_mean_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("API_KEY_SID", "API_KEY_SECRET", "MESSAGING_SERVICE_SID"):
        monkeypatch.setenv(f"CONTINUUM_TWILIO__{name}", "")
    twilio = Settings().twilio
    assert (twilio.api_key_sid, twilio.api_key_secret, twilio.messaging_service_sid) == (
        None,
        None,
        None,
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        pytest.param(
            {"API_KEY_SID": "AC00000000000000000000000000000000", "API_KEY_SECRET": "s"},
            "CONTINUUM_TWILIO__API_KEY_SID: Value error, a Twilio API key SID starts with SK",
            id="api-key-not-SK",
        ),
        pytest.param(
            {"MESSAGING_SERVICE_SID": "PN00000000000000000000000000000000"},
            "CONTINUUM_TWILIO__MESSAGING_SERVICE_SID: Value error, a Twilio Messaging Service "
            "SID starts with MG (got 'PN00000000000000000000000000000000')",
            id="service-not-MG",
        ),
        pytest.param(
            {"API_KEY_SID": KEY_SID},
            "twilio API_KEY_SID is set but API_KEY_SECRET is not: set both or neither",
            id="sid-without-secret",
        ),
        pytest.param(
            {"API_KEY_SECRET": "s3cr3t-value"},
            "twilio API_KEY_SECRET is set but API_KEY_SID is not: set both or neither",
            id="secret-without-sid",
        ),
    ],
)
def test_a_bad_value_is_refused_clearly(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(f"CONTINUUM_TWILIO__{name}", value)
    with pytest.raises(ValidationError) as info:
        Settings()
    described = describe_error(info.value)
    assert message in described
    assert "s3cr3t-value" not in described


def test_continuum_exits_2_on_a_bad_api_key_sid(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CONTINUUM_TWILIO__API_KEY_SID", "AK123")
    monkeypatch.setenv("CONTINUUM_TWILIO__API_KEY_SECRET", "s3cr3t-value")
    assert main(["flows", "validate"]) == 2
    err = capsys.readouterr().err
    assert "CONTINUUM_TWILIO__API_KEY_SID" in err
    assert "starts with SK" in err
    assert "s3cr3t-value" not in err
    assert "AK123" not in err


def test_the_settings_model_checks_too() -> None:
    with pytest.raises(ValidationError, match="starts with MG"):
        TwilioSettings(messaging_service_sid="MX1")


# --- against the sandbox fake ------------------------------------------------------------


async def test_an_api_key_sends_and_the_url_names_the_account(sandbox: Sandbox) -> None:
    config = _config(sandbox, api_key_sid=KEY_SID, api_key_secret=SecretStr(KEY_SECRET))
    seen: list[httpx.Request] = []
    client = sandbox.client
    client.event_hooks["request"].append(lambda request: _record(seen, request))
    result = await TwilioSms(config, client).send(OutboundMessage("m1", "+15550001", "keyed"))
    assert result.status == "queued"
    (request,) = seen
    assert request.url.path == f"/2010-04-01/Accounts/{sandbox.auth[0]}/Messages.json"
    pair = base64.b64encode(f"{KEY_SID}:{KEY_SECRET}".encode()).decode()
    assert request.headers["Authorization"] == f"Basic {pair}"
    (item,) = await _listed(sandbox)
    assert (item["provider"], item["from"], item["body"]) == ("twilio", "+15559999", "keyed")


async def _record(seen: list[httpx.Request], request: httpx.Request) -> None:
    seen.append(request)


async def test_a_wrong_api_key_secret_is_refused_401(sandbox: Sandbox) -> None:
    config = _config(sandbox, api_key_sid=KEY_SID, api_key_secret=SecretStr("not-the-secret"))
    with pytest.raises(RejectedWithReason) as info:
        await TwilioSms(config, sandbox.client).send(OutboundMessage("m1", "+15550001", "x"))
    assert (info.value.ext_code, info.value.status_code) == ("20003", 401)
    assert await _listed(sandbox) == []


async def test_an_api_key_for_another_account_is_404(sandbox: Sandbox) -> None:
    path = f"/2010-04-01/Accounts/AC{'9' * 32}/Messages.json"
    form = {"To": "+15550001", "From": "+15559999", "Body": "x"}
    resp = await sandbox.client.post(path, data=form, auth=(KEY_SID, KEY_SECRET))
    assert (resp.status_code, resp.json()["code"]) == (404, 20404)


async def test_a_messaging_service_send_takes_the_services_sender(sandbox: Sandbox) -> None:
    config = _config(sandbox, messaging_service_sid=SERVICE, from_number=None)
    msg = OutboundMessage("m1", "+15550001", "via service", status_callback="http://hooks/s")
    result = await TwilioSms(config, sandbox.client).send(msg)
    assert result.status == "queued"  # Twilio's "accepted"
    assert result.raw["messaging_service_sid"] == SERVICE
    assert result.raw["from"] is None
    (item,) = await _listed(sandbox)
    assert (item["from"], item["to"], item["channel"]) == (SERVICE_SENDER, "+15550001", "sms")
    await sandbox.wait_until(lambda: len(sandbox.webhooks.hooks) == 3)
    assert {hook.form["From"] for hook in sandbox.webhooks.hooks} == {SERVICE_SENDER}


async def test_an_explicit_sender_goes_as_from_despite_the_service(sandbox: Sandbox) -> None:
    config = _config(sandbox, messaging_service_sid=SERVICE)
    msg = OutboundMessage("m1", "+15550001", "mine", sender="+15557777")
    result = await TwilioSms(config, sandbox.client).send(msg)
    assert result.raw["from"] == "+15557777"
    assert result.raw["messaging_service_sid"] is None
    (item,) = await _listed(sandbox)
    assert item["from"] == "+15557777"


async def test_an_unknown_messaging_service_is_21701(sandbox: Sandbox) -> None:
    config = _config(sandbox, messaging_service_sid="MG" + "f" * 32)
    with pytest.raises(RejectedWithReason) as info:
        await TwilioSms(config, sandbox.client).send(OutboundMessage("m1", "+15550001", "x"))
    assert (info.value.ext_code, info.value.status_code) == ("21701", 400)
    assert await _listed(sandbox) == []


async def test_the_fast_route_accepts_both_too(sandbox: Sandbox) -> None:
    """The urlencoded Messages.json post goes through fast.py's plain-ASGI route."""
    form = {"To": "+15550001", "MessagingServiceSid": SERVICE, "Body": "fast"}
    path = sandbox.messages_path
    resp = await sandbox.client.post(path, data=form, auth=(KEY_SID, KEY_SECRET))
    assert resp.status_code == 201, resp.text
    assert (resp.json()["status"], resp.json()["messaging_service_sid"]) == ("accepted", SERVICE)


async def test_no_secret_in_results_or_logs(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    config = _config(sandbox, api_key_sid=KEY_SID, api_key_secret=SecretStr(KEY_SECRET))
    token = sandbox.auth[1]
    with caplog.at_level(logging.DEBUG):
        result = await TwilioSms(config, sandbox.client).send(OutboundMessage("m", "+1555", "x"))
        with pytest.raises(RejectedWithReason) as info:
            await TwilioSms(config, sandbox.client).send(OutboundMessage("m", "+15005550001", "x"))
    texts = [repr(result), repr(config), str(info.value), repr(vars(info.value)), caplog.text]
    for secret in (KEY_SECRET, token):
        assert not [t for t in texts if secret in t], secret
