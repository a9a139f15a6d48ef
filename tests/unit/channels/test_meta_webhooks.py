"""Meta's webhook on its own: the hub.challenge GET, the signature, batches of messages and
statuses, interactive replies, the status mapping, and 400 for a signed body that is malformed."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from channels.meta import HEADER, STATUS_MAP, WEBHOOK_PATH, MetaSettings, meta_webhooks, sign
from tests.unit.channels.recording import RecordingContext

SECRET = "unit-meta-app-secret"
TOKEN = "unit-verify-token"


@pytest.fixture
def ctx() -> RecordingContext:
    return RecordingContext()


@pytest.fixture
async def client(ctx: RecordingContext) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    config = MetaSettings.model_validate({"app_secret": SECRET, "verify_token": TOKEN})
    app.include_router(meta_webhooks(config, ctx))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as http:
        yield http


def webhook(value: dict[str, Any]) -> dict[str, Any]:
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": "1065"},
        **value,
    }
    change = {"field": "messages", "value": value}
    return {"object": "whatsapp_business_account", "entry": [{"id": "1022", "changes": [change]}]}


async def post(client: httpx.AsyncClient, payload: Any, secret: str = SECRET) -> httpx.Response:
    body = json.dumps(payload).encode()
    return await client.post(WEBHOOK_PATH, content=body, headers={HEADER: sign(secret, body)})


def text(mid: str, sender: str, body: str) -> dict[str, Any]:
    return {"from": sender, "id": mid, "timestamp": "1", "type": "text", "text": {"body": body}}


async def test_the_verification_get_echoes_the_challenge(
    client: httpx.AsyncClient, ctx: RecordingContext
) -> None:
    query = {"hub.mode": "subscribe", "hub.verify_token": TOKEN, "hub.challenge": "1158201444"}
    resp = await client.get(WEBHOOK_PATH, params=query)
    assert resp.status_code == 200
    assert resp.text == "1158201444"
    assert resp.headers["content-type"].startswith("text/plain")
    assert ctx.counts == [("meta_verify", "accepted")]


@pytest.mark.parametrize(
    "query",
    [
        {"hub.mode": "subscribe", "hub.verify_token": TOKEN + "x", "hub.challenge": "1"},
        {"hub.mode": "unsubscribe", "hub.verify_token": TOKEN, "hub.challenge": "1"},
        {"hub.mode": "subscribe", "hub.challenge": "1"},
        {"hub.mode": "subscribe", "hub.verify_token": TOKEN},
    ],
    ids=["wrong-token", "wrong-mode", "no-token", "no-challenge"],
)
async def test_the_verification_get_refuses_anything_else(
    client: httpx.AsyncClient, ctx: RecordingContext, query: dict[str, str]
) -> None:
    resp = await client.get(WEBHOOK_PATH, params=query)
    assert resp.status_code == 403
    assert "verify_token" in resp.json()["detail"]
    assert ctx.counts == [("meta_verify", "bad_token")]


async def test_the_published_vector_verifies() -> None:
    """The verification request of the vectors file, against settings holding its token."""
    from test_meta_signature import DOC  # the same file the signature tests read

    req = DOC["verification_request"]
    app = FastAPI()
    config = MetaSettings.model_validate({"verify_token": req["verify_token"]})
    app.include_router(meta_webhooks(config, RecordingContext()))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api.test"
    ) as http:
        resp = await http.get(WEBHOOK_PATH, params=req["query"])
    assert (resp.status_code, resp.text) == (req["expect_status"], req["expect_body"])


async def test_a_batch_publishes_every_message_and_status_then_answers_200(
    client: httpx.AsyncClient, ctx: RecordingContext
) -> None:
    payload = webhook(
        {
            "contacts": [{"profile": {"name": "Kerry"}, "wa_id": "16315551181"}],
            "messages": [
                text("wamid.1", "16315551181", "HELP"),
                {
                    "from": "16315551181",
                    "id": "wamid.2",
                    "timestamp": "1",
                    "type": "interactive",
                    "interactive": {
                        "type": "button_reply",
                        "button_reply": {"id": "yes", "title": "Yes"},
                    },
                },
                {
                    "from": "5511987654321",
                    "id": "wamid.3",
                    "timestamp": "1",
                    "type": "interactive",
                    "interactive": {
                        "type": "list_reply",
                        "list_reply": {
                            "id": "where",
                            "title": "Where is my order",
                            "description": "x",
                        },
                    },
                },
                {
                    "from": "16315551181",
                    "id": "wamid.4",
                    "timestamp": "1",
                    "type": "button",
                    "button": {"payload": "STOP", "text": "Stop promotions"},
                },
                {
                    "from": "16315551181",
                    "id": "wamid.5",
                    "timestamp": "1",
                    "type": "reaction",
                    "reaction": {"message_id": "wamid.0", "emoji": "+1"},
                },
            ],
            "statuses": [
                {"id": "wamid.out1", "status": "delivered", "timestamp": "2", "recipient_id": "1"},
                {"id": "wamid.out2", "status": "read", "timestamp": "2", "recipient_id": "1"},
            ],
        }
    )
    resp = await post(client, payload)
    assert resp.status_code == 200
    assert [(m.id, m.sender, m.recipient, m.text) for m in ctx.inbound] == [
        ("wamid.1", "+16315551181", "+15550783881", "HELP"),
        ("wamid.2", "+16315551181", "+15550783881", "Yes"),
        ("wamid.3", "+5511987654321", "+15550783881", "Where is my order"),
        ("wamid.4", "+16315551181", "+15550783881", "Stop promotions"),
    ]  # the reaction says nothing and is not published
    assert [(r.external_id, r.status) for r in ctx.reports] == [
        ("wamid.out1", "delivered"),
        ("wamid.out2", "read"),
    ]
    assert ctx.counts[-1] == ("meta_webhook", "accepted")
    assert ctx.counts.count(("meta_inbound", "accepted")) == 4


@pytest.mark.parametrize(
    ("raw", "mapped"),
    [*STATUS_MAP.items(), ("deleted", "unknown"), ("warning", "unknown")],
)
async def test_statuses_map(
    client: httpx.AsyncClient, ctx: RecordingContext, raw: str, mapped: str
) -> None:
    status = {"id": "wamid.s", "status": raw, "timestamp": "2", "recipient_id": "1"}
    assert (await post(client, webhook({"statuses": [status]}))).status_code == 200
    (report,) = ctx.reports
    assert (report.status, report.provider_status, report.error_code) == (mapped, raw, None)


async def test_a_failed_status_carries_the_first_error_code(
    client: httpx.AsyncClient, ctx: RecordingContext
) -> None:
    status = {
        "id": "wamid.f",
        "status": "failed",
        "timestamp": "2",
        "recipient_id": "1",
        "errors": [
            {"code": 131047, "title": "Re-engagement message", "message": "Re-engagement message"},
            {"code": 131026, "title": "Message undeliverable"},
        ],
    }
    assert (await post(client, webhook({"statuses": [status]}))).status_code == 200
    (report,) = ctx.reports
    assert report.status == "failed"
    assert report.error_code == "131047"
    assert report.error_message == "Re-engagement message"


@pytest.mark.parametrize(
    "headers",
    [{}, {HEADER: "sha1=abc"}, {HEADER: sign("another-secret", b"x")}],
    ids=["missing", "other-prefix", "other-secret"],
)
async def test_a_bad_signature_is_refused_before_anything_is_published(
    client: httpx.AsyncClient, ctx: RecordingContext, headers: dict[str, str]
) -> None:
    body = json.dumps(webhook({"messages": [text("wamid.1", "1", "HELP")]})).encode()
    resp = await client.post(WEBHOOK_PATH, content=body, headers=headers)
    assert resp.status_code == 403
    assert ctx.inbound == []
    assert ctx.counts == [("meta_webhook", "bad_signature")]


async def test_a_body_changed_after_signing_is_refused(
    client: httpx.AsyncClient, ctx: RecordingContext
) -> None:
    body = json.dumps(webhook({"messages": [text("wamid.1", "1", "HELP")]})).encode()
    tampered = body.replace(b"HELP", b"HELO")
    resp = await client.post(WEBHOOK_PATH, content=tampered, headers={HEADER: sign(SECRET, body)})
    assert resp.status_code == 403
    assert ctx.inbound == []


@pytest.mark.parametrize(
    "payload",
    [
        "not json",
        {"object": "page", "entry": []},
        {"object": "whatsapp_business_account", "entry": {}},
        webhook({"messages": [{"from": "1", "type": "text", "text": {"body": "x"}}]}),
        webhook({"messages": [{"id": "wamid.1", "type": "text", "text": {"body": "x"}}]}),
        webhook({"statuses": [{"id": "wamid.1"}]}),
    ],
    ids=["not-json", "other-object", "entry-not-list", "no-id", "no-from", "no-status"],
)
async def test_a_signed_malformed_body_is_400_and_publishes_nothing(
    client: httpx.AsyncClient, ctx: RecordingContext, payload: Any
) -> None:
    resp = await post(client, payload)
    assert resp.status_code == 400
    assert resp.json()["detail"]
    assert ctx.inbound == []
    assert ctx.reports == []
    assert ctx.counts == [("meta_webhook", "invalid")]


async def test_a_broker_failure_mid_batch_answers_503_so_meta_retries(
    client: httpx.AsyncClient, ctx: RecordingContext
) -> None:
    ctx.fail_after = 1
    payload = webhook({"messages": [text("wamid.1", "1", "a"), text("wamid.2", "1", "b")]})
    resp = await post(client, payload)
    assert resp.status_code == 503
    assert resp.headers["Retry-After"] == "1"
    assert ("meta_webhook", "accepted") not in ctx.counts


async def test_other_fields_are_acknowledged_and_ignored(
    client: httpx.AsyncClient, ctx: RecordingContext
) -> None:
    payload = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "account_update", "value": {"x": 1}}]}],
    }
    assert (await post(client, payload)).status_code == 200
    assert ctx.inbound == []
    assert ctx.reports == []
