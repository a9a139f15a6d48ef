"""Sandbox fault injection over real HTTP, seen through the real adapters.

The sandbox app is served by uvicorn on a free loopback port, with a small receiver app
standing in for Continuum's webhooks; Twilio, Vonage, Meta and SendGrid adapters send to it as
they would to the providers. Each fault kind is shown to have the effect a real provider's
misbehaviour has: the adapter raises the SendError the dispatcher acts on (``Throttled`` with
``retry_after``, ``OutcomeUnknown``, ``RejectedWithReason`` with the provider's code), or the
receipts go missing, come late or report the failure.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
from fastapi import FastAPI, Request, Response

from channels.base import ChannelAdapter, OutboundMessage
from channels.errors import (
    ConnectionFailed,
    OutcomeUnknown,
    RejectedWithReason,
    ResponseStatus,
    SendError,
    Throttled,
)
from channels.generic import GenericSettings, GenericWebhook
from channels.meta import MetaWhatsApp
from channels.meta.settings import MetaSettings
from channels.meta.webhooks import parse as parse_meta
from channels.sandbox import SandboxConfig, create_sandbox_app
from channels.sendgrid import SendGridEmail, SendGridSettings, event_report
from channels.twilio.adapter import TwilioSms, parse_status_callback
from channels.twilio.settings import TwilioSettings
from channels.vonage import VonageSettings, VonageSms
from orchestrator.cli import main
from orchestrator.http_server import HttpServer

TO = {"twilio": "+15550001111", "vonage": "+447700900123", "meta": "+15550002222"}
TO["sendgrid"] = "ann@example.com"
GENERIC_TO = "customer-42"


@dataclass
class Receiver:
    """Continuum's webhooks, played by an app that records every post, in arrival order."""

    posts: list[tuple[str, bytes]] = field(default_factory=list)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/hooks/{name}")
        async def hook(name: str, request: Request) -> Response:
            self.posts.append((name, await request.body()))
            return Response(status_code=200)

        return app

    def twilio(self, sid: str) -> list[dict[str, str]]:
        forms = [dict(parse_qsl(body.decode())) for name, body in self.posts if name == "twilio"]
        return [form for form in forms if form.get("MessageSid") == sid]

    def json_posts(self, name: str) -> list[Any]:
        return [json.loads(body) for n, body in self.posts if n == name]


@dataclass
class Rig:
    """The served sandbox, the receiver, one adapter per provider and an admin client."""

    url: str
    hooks_url: str
    receiver: Receiver
    http: httpx.AsyncClient
    adapters: dict[str, ChannelAdapter]

    async def fault(self, **rule: Any) -> dict[str, Any]:
        resp = await self.http.post(f"{self.url}/_sandbox/faults", json=rule)
        assert resp.status_code == 201, resp.text
        body: dict[str, Any] = resp.json()
        return body

    async def faults(self) -> list[dict[str, Any]]:
        listed: list[dict[str, Any]] = (await self.http.get(f"{self.url}/_sandbox/faults")).json()
        return listed

    async def messages(self, provider: str) -> list[dict[str, Any]]:
        resp = await self.http.get(f"{self.url}/_sandbox/messages", params={"provider": provider})
        found: list[dict[str, Any]] = resp.json()
        return found

    async def send(self, provider: str, text: str = "hello", msg_id: str = "m1") -> Any:
        per_message = ("twilio", "vonage", "generic")
        callback = f"{self.hooks_url}/{provider}" if provider in per_message else None
        to = GENERIC_TO if provider == "generic" else TO[provider]
        msg = OutboundMessage(message_id=msg_id, to=to, text=text, status_callback=callback)
        return await self.adapters[provider].send(msg)

    async def refused(self, provider: str, text: str = "hello") -> SendError:
        with pytest.raises(SendError) as caught:
            await self.send(provider, text)
        return caught.value


async def eventually(check: Callable[[], Awaitable[Any] | Any], within_s: float = 5.0) -> Any:
    """Poll ``check`` until it returns something truthy; fail at the deadline."""
    deadline = time.monotonic() + within_s
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        assert time.monotonic() < deadline, "condition not met before the deadline"
        await asyncio.sleep(0.01)


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    receiver = Receiver()
    hooks_server = HttpServer(receiver.app(), "127.0.0.1", 0, "receiver")
    await hooks_server.start()
    hooks_url = f"{hooks_server.url}/hooks"
    config = SandboxConfig(
        status_delay_s=0.01,
        console_webhooks={"meta": f"{hooks_url}/meta", "sendgrid": f"{hooks_url}/sendgrid"},
        fault_seed=1,
    )
    server = HttpServer(create_sandbox_app(config), "127.0.0.1", 0, "sandbox")
    await server.start()
    url = server.url
    try:
        async with httpx.AsyncClient(timeout=httpx.Timeout(5.0, read=0.5)) as http:
            adapters: dict[str, ChannelAdapter] = {
                "twilio": TwilioSms(TwilioSettings(base_url=url), http),
                "vonage": VonageSms(VonageSettings(base_url=url), http),
                "meta": MetaWhatsApp(MetaSettings(base_url=url), http),
                "sendgrid": SendGridEmail(SendGridSettings(base_url=url), http),
                "generic": GenericWebhook(GenericSettings(url=f"{url}/generic/messages"), http),
            }
            yield Rig(url, hooks_url, receiver, http, adapters)
    finally:
        await server.stop()
        await hooks_server.stop()


async def test_without_faults_every_provider_sends(rig: Rig) -> None:
    for provider in TO:
        result = await rig.send(provider)
        assert result.external_ids
        assert len(await rig.messages(provider)) == 1


@pytest.mark.parametrize("provider", sorted(TO))
async def test_throttle_is_a_429_with_retry_after_then_the_count_expires(
    rig: Rig, provider: str
) -> None:
    await rig.fault(id="busy", provider=provider, kind="throttle", retry_after=2, count=2)
    for _ in range(2):
        error = await rig.refused(provider)
        assert type(error) is Throttled
        assert error.retry_after == 2.0
    assert (await rig.send(provider)).external_ids  # used up: the third goes through
    assert len(await rig.messages(provider)) == 1
    [listed] = await rig.faults()
    assert (listed["fired"], listed["expired"]) == (2, True)


@pytest.mark.parametrize("provider", sorted(TO))
async def test_error_is_a_5xx_in_the_providers_shape_and_nothing_is_accepted(
    rig: Rig, provider: str
) -> None:
    await rig.fault(provider=provider, kind="error", status=502)
    error = await rig.refused(provider)
    assert type(error) is ConnectionFailed
    assert error.status_code == 502
    assert await rig.messages(provider) == []


async def test_down_refuses_every_provider_under_a_star(rig: Rig) -> None:
    await rig.fault(provider="*", kind="down")
    for provider in TO:
        error = await rig.refused(provider)
        assert type(error) is ConnectionFailed
        assert error.status_code == 503
    assert (await rig.faults())[0]["fired"] == len(TO)
    await rig.http.delete(f"{rig.url}/_sandbox/faults")
    assert (await rig.send("twilio")).external_ids  # back up


async def test_a_match_on_to_or_text_picks_the_sends_it_is_about(rig: Rig) -> None:
    await rig.fault(provider="twilio", kind="down", match={"text": "order"})
    assert (await rig.send("twilio", "hello")).external_ids
    assert type(await rig.refused("twilio", "where is my order")) is ConnectionFailed


async def test_latency_delays_the_answer(rig: Rig) -> None:
    await rig.fault(provider="twilio", kind="latency", seconds=0.3)
    started = time.monotonic()
    assert (await rig.send("twilio")).external_ids
    assert time.monotonic() - started >= 0.3


async def test_timeout_accepts_the_message_but_the_client_hears_nothing(rig: Rig) -> None:
    # The adapters' client gives up reading after 0.5 s; the sandbox answers after 2 s.
    await rig.fault(provider="twilio", kind="timeout", seconds=2, count=1)
    error = await rig.refused("twilio", "are you there")
    assert type(error) is OutcomeUnknown
    [accepted] = await rig.messages("twilio")  # reconciliation finds it: it was sent
    assert accepted["body"] == "are you there"
    delivered = await eventually(lambda: rig.receiver.twilio(accepted["sid"])[-1:])
    assert delivered[0]["MessageStatus"] == "delivered"


@pytest.mark.parametrize(
    ("provider", "code", "ext_code"),
    [
        pytest.param("twilio", "21614", "21614", id="twilio-landline"),
        pytest.param("twilio", None, "21211", id="twilio-default"),
        pytest.param("vonage", None, "3", id="vonage"),
        pytest.param("meta", "131026", "131026", id="meta-undeliverable"),
        pytest.param("sendgrid", None, "400", id="sendgrid"),
    ],
)
async def test_reject_at_send_is_the_permanent_error_with_its_code(
    rig: Rig, provider: str, code: str | None, ext_code: str
) -> None:
    rule = {"provider": provider, "kind": "reject", **({"code": code} if code else {})}
    await rig.fault(**rule)
    error = await rig.refused(provider)
    assert type(error) is RejectedWithReason
    assert not error.retryable
    assert error.ext_code == ext_code
    assert await rig.messages(provider) == []


async def test_reject_at_receipt_twilio_accepts_then_reports_undelivered(rig: Rig) -> None:
    await rig.fault(provider="twilio", kind="reject", at="receipt", code="30006")
    sid = (await rig.send("twilio")).external_ids[0]
    forms = await eventually(lambda: [f for f in rig.receiver.twilio(sid) if "ErrorCode" in f])
    report = parse_status_callback(forms[0])
    assert (report.status, report.error_code) == ("undelivered", "30006")
    assert [f["MessageStatus"] for f in rig.receiver.twilio(sid)] == [
        "queued",
        "sent",
        "undelivered",
    ]


async def test_reject_at_receipt_meta_reports_failed_with_131026(rig: Rig) -> None:
    await rig.fault(provider="meta", kind="reject", at="receipt")
    wamid = (await rig.send("meta")).external_ids[0]

    def failed() -> list[Any]:
        reports = [r for p in rig.receiver.json_posts("meta") for r in parse_meta(p)[1]]
        return [r for r in reports if r.external_id == wamid and r.status == "failed"]

    [report] = await eventually(failed)
    assert report.error_code == "131026"


async def test_reject_at_receipt_sendgrid_bounces(rig: Rig) -> None:
    await rig.fault(provider="sendgrid", kind="reject", at="receipt")
    await rig.send("sendgrid", msg_id="mail-1")

    def bounced() -> list[Any]:
        events = [e for batch in rig.receiver.json_posts("sendgrid") for e in batch]
        reports = [event_report(e) for e in events]
        return [r for r in reports if r is not None and r.provider_status == "bounce"]

    [report] = await eventually(bounced)
    assert (report.external_id, report.status, report.error_code) == ("mail-1", "failed", "5.1.1")


async def test_drop_receipt_accepts_and_never_reports(rig: Rig) -> None:
    await rig.fault(provider="twilio", kind="drop_receipt", count=1)
    dropped = (await rig.send("twilio", msg_id="m1")).external_ids[0]
    normal = (await rig.send("twilio", msg_id="m2")).external_ids[0]
    # the later message's receipts all came: the earlier one's would have come before them
    await eventually(
        lambda: [f for f in rig.receiver.twilio(normal) if f["MessageStatus"] == "delivered"]
    )
    assert rig.receiver.twilio(dropped) == []
    assert len(await rig.messages("twilio")) == 2


async def test_delay_receipt_sends_the_receipts_later(rig: Rig) -> None:
    await rig.fault(provider="vonage", kind="delay_receipt", seconds=0.5, count=1)
    late = (await rig.send("vonage", msg_id="late")).external_ids[0]
    early = (await rig.send("vonage", msg_id="early")).external_ids[0]

    def order() -> list[str]:
        forms = [dict(parse_qsl(b.decode())) for n, b in rig.receiver.posts if n == "vonage"]
        return [f["messageId"] for f in forms if f.get("status") == "delivered"]

    assert await eventually(lambda: order() if len(order()) == 2 else None) == [early, late]


@pytest.mark.usefixtures("restore_logging")
async def test_the_cli_adds_lists_and_clears_faults(
    rig: Rig, monkeypatch: pytest.MonkeyPatch, tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CONTINUUM_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CONTINUUM_SANDBOX__PORT", rig.url.rsplit(":", 1)[1])
    argv = ["sandbox", "fault", "add", "--provider", "twilio", "--kind", "throttle"]
    argv += ["--retry-after", "2", "--count", "3", "--id", "cli", "--to", TO["twilio"]]
    assert await asyncio.to_thread(main, argv) == 0
    error = await rig.refused("twilio")
    assert isinstance(error, Throttled)
    assert error.retry_after == 2.0
    assert await asyncio.to_thread(main, ["sandbox", "fault", "list"]) == 0
    assert await asyncio.to_thread(main, ["sandbox", "fault", "clear"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("added cli  twilio  throttle")
    assert out[1] == "cli  twilio  throttle  to='+15550001111'  p=1.0  fired 1/3  retry_after=2"
    assert out[2] == "cleared 1 fault(s)"
    assert await rig.faults() == []


async def test_the_generic_webhooks_far_end_fails_in_its_own_shape(rig: Rig) -> None:
    await rig.fault(provider="generic", kind="throttle", retry_after=3, count=1)
    await rig.fault(provider="generic", kind="reject", code="no_such_customer", count=1)
    await rig.fault(provider="generic", kind="reject", at="receipt", code="unreachable")
    throttled = await rig.refused("generic")
    assert type(throttled) is Throttled
    assert throttled.retry_after == 3.0
    refused = await rig.refused("generic")
    assert type(refused) is ResponseStatus  # the business's 4xx carries no code Continuum knows
    assert refused.status_code == 422
    await rig.send("generic", msg_id="g1")

    def failed() -> list[Any]:
        posts = [p["data"] for p in rig.receiver.json_posts("generic")]
        return [d for d in posts if d.get("status") == "failed"]

    [status] = await eventually(failed)
    assert status["error_code"] == "unreachable"
