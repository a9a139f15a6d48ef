"""Vonage's send (``POST /sms/json``): the exact signed form, and the adapter against the fake."""

from __future__ import annotations

from urllib.parse import parse_qsl

import httpx
import pytest
from pydantic import SecretStr
from sandbox_harness import Sandbox
from vonage_http_client.auth import Auth

import channels.vonage
from channels.base import OutboundMessage
from channels.errors import ChannelConfigInvalid
from channels.vonage import VonageSettings, VonageSms, verify
from channels.vonage.sandbox import SANDBOX_SIGNATURE_SECRET

HOOK = "https://continuum.test/webhooks/vonage/status"
MSG = OutboundMessage(
    message_id="msg-1", to="+447700900001", text="Hi & bye=now", status_callback=HOOK
)
OK = {"message-count": "1", "messages": [{"message-id": "0A01", "status": "0"}]}


async def test_a_signed_send_carries_no_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(channels.vonage.time, "time", lambda: 1_732_307_137.5)
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=OK)

    config = VonageSettings(
        api_key="abcd1234",
        api_secret=SecretStr("api-secret-1"),
        signature_secret=SecretStr("sig-secret-1"),
        base_url="https://rest.nexmo.com/",
    )
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        result = await VonageSms(config, http).send(MSG)
    assert result.external_ids == ("0A01",)
    [request] = seen
    assert str(request.url) == "https://rest.nexmo.com/sms/json"
    form = dict(parse_qsl(request.content.decode(), keep_blank_values=True))
    sig = form.pop("sig")
    assert form == {
        "api_key": "abcd1234",
        "from": "447700900000",
        "to": "447700900001",
        "text": "Hi & bye=now",
        "client-ref": "msg-1",
        "callback": HOOK,
        "status-report-req": "1",
        "timestamp": "1732307137",
    }
    oracle = Auth(api_key="abcd1234", signature_secret="sig-secret-1", signature_method="sha256")
    assert oracle.check_signature({**form, "sig": sig})
    assert "api-secret-1" not in request.content.decode()


async def test_without_a_signature_secret_the_api_secret_authenticates() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=OK)

    config = VonageSettings(signature_secret=SecretStr(""), base_url="https://rest.nexmo.com")
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        await VonageSms(config, http).send(MSG)
    form = dict(parse_qsl(seen[0].content.decode()))
    assert form["api_secret"] == config.api_secret.get_secret_value()
    assert "sig" not in form


async def test_no_key_or_no_secret_fails_before_io() -> None:
    async with httpx.AsyncClient(transport=httpx.MockTransport(lambda r: 1 / 0)) as http:
        for config in (
            VonageSettings(api_key=""),
            VonageSettings(api_secret=SecretStr(""), signature_secret=SecretStr("")),
        ):
            with pytest.raises(ChannelConfigInvalid):
                await VonageSms(config, http).send(MSG)


def _adapter(sandbox: Sandbox, http: httpx.AsyncClient, **update: object) -> VonageSms:
    return VonageSms(VonageSettings(base_url="http://sandbox").model_copy(update=update), http)


async def test_the_sandbox_accepts_the_send_and_posts_signed_receipts(sandbox: Sandbox) -> None:
    result = await _adapter(sandbox, sandbox.client).send(MSG)
    [listed] = (await sandbox.client.get("/_sandbox/messages")).json()
    assert listed["provider"] == "vonage"
    assert (listed["to"], listed["body"]) == ("447700900001", MSG.text)
    assert listed["sid"] == result.external_ids[0]
    await sandbox.wait_until(lambda: len(sandbox.webhooks.hooks) == 2)
    for hook, status in zip(sandbox.webhooks.hooks, ("accepted", "delivered"), strict=True):
        assert hook.url == HOOK
        assert verify(SANDBOX_SIGNATURE_SECRET, hook.form, hook.form["sig"])
        assert hook.form["status"] == status
        assert hook.form["messageId"] == listed["sid"]
        assert hook.form["client-ref"] == "msg-1"


async def test_the_sandbox_refuses_a_bad_signature_or_secret(sandbox: Sandbox) -> None:
    forged = _adapter(sandbox, sandbox.client, signature_secret=SecretStr("not-it"))
    with pytest.raises(ChannelConfigInvalid, match="status 14"):
        await forged.send(MSG)
    wrong = _adapter(
        sandbox, sandbox.client, signature_secret=SecretStr(""), api_secret=SecretStr("no")
    )
    with pytest.raises(ChannelConfigInvalid, match="status 4"):
        await wrong.send(MSG)
    assert (await sandbox.client.get("/_sandbox/messages")).json() == []


async def test_the_sandbox_simulates_a_signed_inbound_sms(sandbox: Sandbox) -> None:
    url = "https://continuum.test/webhooks/vonage/inbound"
    resp = await sandbox.client.post(
        "/_sandbox/vonage/inbound",
        json={"url": url, "from": "+447700900001", "to": "447700900000", "text": "where is it"},
    )
    assert resp.json()["status_code"] == 200
    [hook] = sandbox.webhooks.hooks
    assert verify(SANDBOX_SIGNATURE_SECRET, hook.form, hook.form["sig"])
    assert hook.form["msisdn"] == "447700900001"
    assert (hook.form["text"], hook.form["keyword"], hook.form["type"]) == (
        "where is it",
        "WHERE",
        "text",
    )
