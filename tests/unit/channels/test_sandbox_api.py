"""The sandbox's Twilio Messages API: auth, validation, magic numbers, resource shape, listing."""

from __future__ import annotations

import re
from email.utils import parsedate_to_datetime

import httpx
import pytest
from pydantic import SecretStr
from sandbox_harness import Sandbox

from channels.base import OutboundMessage
from channels.errors import RejectedWithReason
from channels.sandbox import SandboxConfig, create_sandbox_app
from channels.sandbox.segments import count_segments
from channels.twilio.adapter import TwilioSms
from channels.twilio.settings import TwilioConfig

SID_RE = re.compile(r"^SM[0-9a-f]{32}$")
FORM = {"To": "+15550001", "From": "+15559999", "Body": "hello"}


async def test_healthz(sandbox: Sandbox) -> None:
    resp = await sandbox.client.get("/_sandbox/healthz")
    assert resp.json() == {"ok": True}


@pytest.mark.parametrize(
    "auth",
    [None, ("AC" + "1" * 32, "wrong-token"), ("AC" + "2" * 32, "unit-test-token")],
    ids=["none", "wrong-token", "wrong-user"],
)
async def test_bad_credentials_are_401(sandbox: Sandbox, auth: tuple[str, str] | None) -> None:
    sent_auth = httpx.USE_CLIENT_DEFAULT if auth is None else auth
    resp = await sandbox.client.post(sandbox.messages_path, data=FORM, auth=sent_auth)
    assert resp.status_code == 401
    assert resp.json()["code"] == 20003
    assert resp.json()["status"] == 401
    assert resp.headers["WWW-Authenticate"].startswith("Basic")


@pytest.mark.parametrize("header", ["Bearer abc", "Basic !!!", "Basic bm9jb2xvbg==", "Basic //79"])
async def test_malformed_authorization_is_401(sandbox: Sandbox, header: str) -> None:
    headers = {"Authorization": header}
    resp = await sandbox.client.post(sandbox.messages_path, data=FORM, headers=headers)
    assert resp.json()["code"] == 20003


async def test_other_account_in_path_is_404(sandbox: Sandbox) -> None:
    path = f"/2010-04-01/Accounts/AC{'9' * 32}/Messages.json"
    resp = await sandbox.client.post(path, data=FORM, auth=sandbox.auth)
    assert resp.status_code == 404
    assert resp.json()["code"] == 20404


@pytest.mark.parametrize(
    ("form", "code"),
    [
        ({"From": "+15559999", "Body": "x"}, 21604),
        ({"To": "+15550001", "Body": "x"}, 21603),
        ({"To": "+15550001", "From": "+15559999"}, 21602),
        ({**FORM, "To": "+15005550001"}, 21211),
        ({**FORM, "To": "+15005550009"}, 21614),
    ],
    ids=["no-to", "no-from", "no-body", "magic-invalid", "magic-not-mobile"],
)
async def test_validation_errors(sandbox: Sandbox, form: dict[str, str], code: int) -> None:
    resp = await sandbox.client.post(sandbox.messages_path, data=form, auth=sandbox.auth)
    assert resp.status_code == 400
    body = resp.json()
    assert body["code"] == code
    assert body["more_info"].endswith(str(code))
    assert body["message"]
    assert (await sandbox.client.get("/_sandbox/messages")).json() == []


async def test_send_returns_message_resource(sandbox: Sandbox) -> None:
    resp = await sandbox.client.post(sandbox.messages_path, data=FORM, auth=sandbox.auth)
    assert resp.status_code == 201
    body = resp.json()
    assert SID_RE.match(body["sid"])
    assert body["account_sid"] == sandbox.config.twilio_account_sid
    assert (body["to"], body["from"], body["body"]) == ("+15550001", "+15559999", "hello")
    assert (body["status"], body["direction"], body["api_version"]) == (
        "queued",
        "outbound-api",
        "2010-04-01",
    )
    assert body["num_segments"] == "1"
    assert body["price"] is None
    assert body["error_code"] is None
    assert body["error_message"] is None
    assert body["uri"] == sandbox.messages_path.replace(".json", f"/{body['sid']}.json")
    assert parsedate_to_datetime(body["date_created"]).tzinfo is not None


async def test_media_only_message_is_listed_then_cleared(sandbox: Sandbox) -> None:
    form = {"To": "+15550001", "From": "+15559999", "MediaUrl": ["https://m/a", "https://m/b"]}
    resp = await sandbox.client.post(sandbox.messages_path, data=form, auth=sandbox.auth)
    assert resp.status_code == 201
    assert resp.json()["num_media"] == "2"
    listed = (await sandbox.client.get("/_sandbox/messages")).json()
    assert len(listed) == 1
    item = listed[0]
    assert item["sid"] == resp.json()["sid"]
    assert (item["provider"], item["to"], item["from"], item["body"]) == (
        "twilio",
        "+15550001",
        "+15559999",
        "",
    )
    assert item["media_urls"] == ["https://m/a", "https://m/b"]
    assert item["created_at"]
    assert item["received_at"] > 1.7e9  # Unix seconds of the request's arrival (continuum bench)
    cleared = await sandbox.client.delete("/_sandbox/messages")
    assert cleared.json() == {"ok": True, "deleted": 1}
    assert (await sandbox.client.get("/_sandbox/messages")).json() == []


async def test_messages_listed_in_order(sandbox: Sandbox) -> None:
    for text in ("one", "two", "three"):
        data = {**FORM, "Body": text}
        await sandbox.client.post(sandbox.messages_path, data=data, auth=sandbox.auth)
    listed = (await sandbox.client.get("/_sandbox/messages")).json()
    assert [m["body"] for m in listed] == ["one", "two", "three"]


async def test_twilio_adapter_against_sandbox(sandbox: Sandbox) -> None:
    sid, token = sandbox.auth
    config = TwilioConfig(
        account_sid=sid,
        auth_token=SecretStr(token),
        base_url="http://sandbox",
        from_number="+15559999",
    )
    adapter = TwilioSms(config, sandbox.client)
    result = await adapter.send(OutboundMessage(message_id="m1", to="+15550001", text="Hi ☺"))
    assert SID_RE.match(result.external_ids[0])
    assert result.status == "queued"
    with pytest.raises(RejectedWithReason) as info:
        await adapter.send(OutboundMessage(message_id="m2", to="+15005550001", text="x"))
    assert info.value.ext_code == "21211"


async def test_runtime_http_needs_start() -> None:
    app = create_sandbox_app(SandboxConfig())
    with pytest.raises(RuntimeError, match="not started"):
        _ = app.state.sandbox.http
    async with app.router.lifespan_context(app):
        assert isinstance(app.state.sandbox.http, httpx.AsyncClient)
    with pytest.raises(RuntimeError, match="not started"):
        _ = app.state.sandbox.http


@pytest.mark.parametrize(
    ("text", "segments"),
    [("", 1), ("a" * 160, 1), ("a" * 161, 2), ("{" * 80, 1), ("{" * 81, 2), ("☺" * 70, 1),
     ("☺" * 71, 2), ("🎉" * 35, 1), ("é" * 160, 1)],
)  # fmt: skip
def test_count_segments(text: str, segments: int) -> None:
    assert count_segments(text) == segments


async def test_a_multipart_send_is_answered_by_the_fastapi_route_alike(sandbox: Sandbox) -> None:
    fast = await sandbox.client.post(sandbox.messages_path, data=FORM, auth=sandbox.auth)
    multipart = await sandbox.client.post(
        sandbox.messages_path, data=FORM, files={"unused": b""}, auth=sandbox.auth
    )
    assert fast.status_code == multipart.status_code == 201
    assert multipart.headers["content-type"] == fast.headers["content-type"]
    differ = {"sid", "uri", "subresource_uris", "date_created", "date_updated"}
    strip = lambda r: {k: v for k, v in r.json().items() if k not in differ}  # noqa: E731
    assert strip(fast) == strip(multipart)
    denied = await sandbox.client.post(sandbox.messages_path, data=FORM, files={"u": b""})
    assert (denied.status_code, denied.json()["code"]) == (401, 20003)


async def test_an_oversized_send_is_413_not_read_whole(sandbox: Sandbox) -> None:
    big = {**FORM, "Body": "x" * (2 << 20)}
    resp = await sandbox.client.post(sandbox.messages_path, data=big, auth=sandbox.auth)
    assert resp.status_code == 413
    assert [m for m in (await sandbox.client.get("/_sandbox/messages")).json()] == []
