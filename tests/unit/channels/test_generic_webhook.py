"""The generic webhook's send, its inbound and status routes, and its sandbox fake."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from standardwebhooks.webhooks import Webhook

from channels.base import OutboundMessage
from channels.generic import INBOUND_PATH, STATUS_PATH, GenericSettings, GenericWebhook
from channels.generic import generic_webhooks as build_routes
from channels.generic.sandbox import SANDBOX_SECRET
from channels.generic.signature import sign
from channels.webhooks import InboundMessage, StatusReport
from tests.unit.channels.recording import RecordingContext

SECRET = "whsec_jnrc5dp8Dn0SyYFjINlV1SCBQa0xFrf3"
NOW = 1732307137.0


def _client(ctx: RecordingContext, now: float = NOW) -> httpx.AsyncClient:
    app = FastAPI()
    config = GenericSettings(url="https://crm.test/in", secret=SECRET)
    app.include_router(build_routes(config, ctx, clock=lambda: now))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://api.test")


def _signed(event: dict[str, Any], msg_id: str = "msg_1", stamp: int = int(NOW)) -> Any:
    body = json.dumps(event).encode()
    headers = {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": sign(SECRET, msg_id, stamp, body),
    }
    return {"content": body, "headers": headers}


INBOUND = {"type": "message.received", "data": {"from": "crm-contact-4711", "text": "HELP"}}


async def test_a_signed_inbound_message_is_handed_on_with_its_webhook_id() -> None:
    ctx = RecordingContext()
    async with _client(ctx) as client:
        resp = await client.post(INBOUND_PATH, **_signed(INBOUND, "msg_abc"))
    assert resp.status_code == 204
    assert ctx.inbound == [
        InboundMessage("msg_abc", "crm-contact-4711", "continuum", "HELP", sender_field="data.from")
    ]
    assert ctx.counts == [("generic_inbound", "accepted")]


@pytest.mark.parametrize("skew", [-301, 301])
async def test_a_timestamp_more_than_five_minutes_away_is_refused(skew: int) -> None:
    ctx = RecordingContext()
    async with _client(ctx) as client:
        resp = await client.post(INBOUND_PATH, **_signed(INBOUND, stamp=int(NOW) + skew))
    assert resp.status_code == 403
    assert ctx.inbound == []
    assert ctx.counts == [("generic_inbound", "bad_signature")]


@pytest.mark.parametrize("header", ["webhook-id", "webhook-timestamp", "webhook-signature"])
async def test_a_missing_header_or_a_wrong_signature_is_refused(header: str) -> None:
    ctx = RecordingContext()
    request = _signed(INBOUND)
    del request["headers"][header]
    async with _client(ctx) as client:
        missing = await client.post(INBOUND_PATH, **request)
        request = _signed(INBOUND)
        request["content"] += b" "
        tampered = await client.post(INBOUND_PATH, **request)
    assert (missing.status_code, tampered.status_code) == (403, 403)
    assert ctx.inbound == []


@pytest.mark.parametrize(
    "event",
    [
        {"type": "message.status", "data": {"from": "a", "text": "b"}},
        {"type": "message.received", "data": {"text": "no sender"}},
        {"type": "message.received", "data": "not an object"},
        ["not", "an", "event"],
    ],
)
async def test_a_signed_body_of_the_wrong_shape_is_a_400(event: Any) -> None:
    ctx = RecordingContext()
    async with _client(ctx) as client:
        resp = await client.post(INBOUND_PATH, **_signed(event))
    assert resp.status_code == 400
    assert resp.json()["detail"]
    assert ctx.counts == [("generic_inbound", "invalid")]


@pytest.mark.parametrize(("raw", "mapped"), [("delivered", "delivered"), ("lost", "unknown")])
async def test_a_status_is_mapped_into_the_status_model(raw: str, mapped: str) -> None:
    ctx = RecordingContext()
    event = {"type": "message.status", "data": {"message_id": "m-1", "status": raw}}
    async with _client(ctx) as client:
        resp = await client.post(STATUS_PATH, **_signed(event))
    assert resp.status_code == 204
    assert ctx.reports == [StatusReport("m-1", mapped, raw)]


async def test_send_posts_a_signed_message_sent_the_official_library_accepts() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"ok": True})

    config = GenericSettings(url="https://crm.test/in", secret=SECRET)
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        adapter = GenericWebhook(config, http)
        result = await adapter.send(
            OutboundMessage("m-9", "crm-contact-4711", "Hi", status_callback="http://api/s")
        )
    assert result.external_ids == ("m-9",)
    assert result.status == "sent"
    (request,) = seen
    assert request.headers["webhook-id"] == "m-9"
    event = Webhook(SECRET).verify(request.content, dict(request.headers))
    assert event["type"] == "message.sent"
    assert event["data"] == {
        "message_id": "m-9",
        "to": "crm-contact-4711",
        "text": "Hi",
        "status_url": "http://api/s",
    }


def test_the_sandbox_secret_is_the_default_and_a_valid_whsec_secret() -> None:
    assert GenericSettings().secret.get_secret_value() == SANDBOX_SECRET
    assert sign(SANDBOX_SECRET, "m", 1, b"{}").startswith("v1,")
