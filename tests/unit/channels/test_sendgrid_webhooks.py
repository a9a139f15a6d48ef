"""SendGrid's webhooks on their own: the signed event batch (mapping, replay window, sg_event_id
dedupe, 400 for a non-array), and Inbound Parse (basic auth, sender, text, Message-ID)."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from channels.sendgrid import (
    EVENTS_PATH,
    INBOUND_PATH,
    SendGridSettings,
    event_report,
    parse_inbound,
    sendgrid_webhooks,
    sign,
)
from channels.sendgrid.sandbox import SANDBOX_INBOUND_SECRET, SANDBOX_PRIVATE_KEY_PEM
from channels.webhooks import InboundMessage
from tests.unit.channels.recording import RecordingContext


@pytest.fixture
def ctx() -> RecordingContext:
    return RecordingContext()


@pytest.fixture
async def client(ctx: RecordingContext) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    app.include_router(sendgrid_webhooks(SendGridSettings(), ctx))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as http:
        yield http


def signed(events: Any, at: float | None = None) -> dict[str, Any]:
    raw = json.dumps(events).encode()
    stamp = str(int(time.time() if at is None else at))
    headers = {
        "X-Twilio-Email-Event-Webhook-Signature": sign(SANDBOX_PRIVATE_KEY_PEM, stamp, raw),
        "X-Twilio-Email-Event-Webhook-Timestamp": stamp,
        "Content-Type": "application/json",
    }
    return {"content": raw, "headers": headers}


def ev(kind: str, **extra: Any) -> dict[str, Any]:
    return {"event": kind, "sg_message_id": "MSGID.filter-1", "email": "a@b.org", **extra}


@pytest.mark.parametrize(
    ("event", "status", "code"),
    [
        (ev("processed"), "sent", None),
        (ev("deferred"), "queued", None),
        (ev("delivered"), "delivered", None),
        (ev("open"), "read", None),
        (ev("bounce", type="bounce", status="5.1.1"), "failed", "5.1.1"),
        (ev("bounce", type="blocked"), "undelivered", None),
        (ev("dropped", reason="Bounced Address"), "failed", None),
        (ev("spamreport"), "delivered", "spamreport"),
        (ev("unsubscribe"), "delivered", "unsubscribe"),
        (ev("group_resubscribe"), "unknown", None),
    ],
)
def test_events_map_to_statuses(event: dict[str, Any], status: str, code: str | None) -> None:
    report = event_report(event)
    assert report is not None
    assert (report.external_id, report.status, report.error_code) == ("MSGID", status, code)


def test_our_custom_arg_names_the_message_before_sendgrids_id() -> None:
    report = event_report(ev("delivered", continuum_message_id="m-7"))
    assert report is not None
    assert report.external_id == "m-7"
    assert event_report({"event": "delivered"}) is None


async def test_a_batch_is_published_event_by_event_and_deduped(
    client: httpx.AsyncClient, ctx: RecordingContext
) -> None:
    batch = [ev("processed", sg_event_id="e1"), ev("delivered", sg_event_id="e2")]
    assert (await client.post(EVENTS_PATH, **signed(batch))).status_code == 200
    assert [r.status for r in ctx.reports] == ["sent", "delivered"]
    again = (await client.post(EVENTS_PATH, **signed(batch[1:]))).status_code
    assert again == 200
    assert len(ctx.reports) == 2
    assert ("sendgrid_events", "replay") in ctx.counts


async def test_bad_signature_old_timestamp_and_non_array_are_refused(
    client: httpx.AsyncClient, ctx: RecordingContext
) -> None:
    good = signed([ev("delivered")])
    tampered = {**good, "content": good["content"].replace(b"delivered", b"delivereD")}
    assert (await client.post(EVENTS_PATH, **tampered)).status_code == 403
    old = signed([ev("delivered")], at=time.time() - 301)
    assert (await client.post(EVENTS_PATH, **old)).status_code == 403
    assert (await client.post(EVENTS_PATH, **signed({"event": "x"}))).status_code == 400
    assert ctx.reports == []
    outcomes = [o for _, o in ctx.counts]
    assert outcomes == ["bad_signature", "replay", "invalid"]


FORM = {
    "from": "Ann Example <Ann@Example.ORG>",
    "to": "help@continuum.example",
    "subject": "hi",
    "text": "HELP me",
    "headers": "Message-ID: <abc@mail.example>\r\nIn-Reply-To: <x@y>\r\nSubject: hi\r\n",
    "envelope": json.dumps({"to": ["help@continuum.example"], "from": "ann@example.org"}),
}


def test_inbound_parse_takes_the_envelope_sender_text_and_message_id() -> None:
    msg = parse_inbound(FORM)
    assert msg == InboundMessage(
        id="<abc@mail.example>",
        sender="ann@example.org",
        recipient="help@continuum.example",
        text="HELP me",
        sender_field="envelope",
    )


def test_inbound_parse_falls_back_to_from_stripped_html_and_a_generated_id() -> None:
    form = {
        "from": "Ann <ann@example.org>",
        "to": "Help <help@c.example>",
        "html": "<p>Hi<br>there</p><style>p{}</style>",
    }
    msg = parse_inbound(form)
    assert (msg.sender, msg.recipient, msg.text, msg.sender_field) == (
        "ann@example.org",
        "help@c.example",
        "Hi\nthere",
        "from",
    )
    assert msg.id.endswith("@continuum.generated>")
    with pytest.raises(ValueError, match="missing from"):
        parse_inbound({"to": "help@c.example", "text": "x"})


def basic(password: str) -> dict[str, str]:
    token = base64.b64encode(f"sendgrid:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


async def test_inbound_needs_the_secret_in_basic_auth(
    client: httpx.AsyncClient, ctx: RecordingContext
) -> None:
    files = {k: (None, v) for k, v in FORM.items()}
    assert (await client.post(INBOUND_PATH, files=files)).status_code == 401
    wrong = await client.post(INBOUND_PATH, files=files, headers=basic("nope"))
    assert wrong.status_code == 401
    form_encoded = await client.post(INBOUND_PATH, data=FORM, headers=basic(SANDBOX_INBOUND_SECRET))
    assert form_encoded.status_code == 400
    ok = await client.post(INBOUND_PATH, files=files, headers=basic(SANDBOX_INBOUND_SECRET))
    assert ok.status_code == 200
    assert [m.sender for m in ctx.inbound] == ["ann@example.org"]
    assert [o for _, o in ctx.counts] == ["bad_signature", "bad_signature", "invalid", "accepted"]
