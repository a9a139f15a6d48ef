"""A provider that refuses a send because the recipient opted out (Twilio 21610, Meta 131050)
makes the dispatcher tell the customer's flows, as a receipt with ``opted_out`` would; and what a
message carries besides its text reaches the adapter."""

from __future__ import annotations

import json
from typing import Any, ClassVar

import httpx

from channels.base import OutboundMessage, SendResult
from channels.errors import MarketingStopped, RejectedWithReason, SendError
from channels.meta import MetaSettings, MetaWhatsApp
from channels.sendgrid import SendGridEmail, SendGridSettings
from orchestrator.events import CloudEvent
from orchestrator.settings import Settings
from orchestrator.workers.dispatcher import _Send
from orchestrator.workers.status import hand_back
from tests.unit.sends import bare_dispatcher, message_send


class Refusing:
    """An adapter whose provider refuses every send with ``error``."""

    channel_type: ClassVar[str] = "whatsapp.meta"
    channel: ClassVar[str] = "whatsapp"
    secret_fields: ClassVar[tuple[str, ...]] = ()

    def __init__(self, error: SendError) -> None:
        self.error = error

    async def send(self, msg: OutboundMessage) -> SendResult:
        raise self.error


class Recorder:
    """The publisher's ``publish``, kept."""

    def __init__(self) -> None:
        self.published: list[tuple[str, CloudEvent, str]] = []

    async def publish(self, topic: str, event: CloudEvent, key: str) -> None:
        self.published.append((topic, event, key))


async def _attempt(error: SendError) -> tuple[str, list[tuple[str, CloudEvent, str]]]:
    worker = bare_dispatcher(Settings(), {"whatsapp": Refusing(error)})
    recorder = Recorder()
    worker._pub = recorder  # type: ignore[assignment]
    none: Any = None
    cmd = message_send(channel="whatsapp", to="+15551230001", purpose="marketing")
    entry = {"state": "pending", "message_id": cmd.message_id, "provider": "whatsapp.meta"}
    _, _, state = await worker._attempt(_Send(none, none, cmd, 1, entry))
    await worker._tell_flows_stopped()
    return state, recorder.published


async def test_a_refusal_for_an_opted_out_recipient_is_told_to_the_customer_s_flows() -> None:
    state, published = await _attempt(MarketingStopped("meta error 131050: stopped marketing"))
    assert state == "rejected"
    [(topic, event, key)] = published
    assert (topic, key) == (Settings().kafka.topic_prefix + "customer", "c1")
    assert event.type == "message.status"
    assert event.id == "msg_1:contact_stopped"
    assert event.data is not None
    assert {k: event.data[k] for k in ("status", "channel", "opted_out", "opt_out_purpose")} == {
        "status": "failed",
        "channel": "whatsapp",
        "opted_out": True,
        "opt_out_purpose": "marketing",
    }
    assert (event.data["address"], event.data["provider"]) == ("+15551230001", "whatsapp.meta")


async def test_any_other_refusal_tells_the_flows_nothing() -> None:
    state, published = await _attempt(RejectedWithReason("131026", "undeliverable"))
    assert state == "rejected"
    assert published == []


async def test_buttons_reach_meta_as_an_interactive_message() -> None:
    bodies: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return httpx.Response(200, json={"messages": [{"id": "wamid.1"}]})

    buttons = {"kind": "buttons", "buttons": [{"id": "y", "title": "Yes"}]}
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        adapter = MetaWhatsApp(MetaSettings(), http)
        worker = bare_dispatcher(Settings(), {"whatsapp": adapter})
        cmd = message_send(channel="whatsapp", text="Call you?", content=buttons)
        await worker._call(adapter, cmd)
    [body] = bodies
    assert body["type"] == "interactive"
    assert body["interactive"]["action"]["buttons"] == [
        {"type": "reply", "reply": {"id": "y", "title": "Yes"}}
    ]
    assert body["interactive"]["body"] == {"text": "Call you?"}


async def test_an_email_s_subject_and_html_reach_sendgrid() -> None:
    bodies: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return httpx.Response(202, headers={"X-Message-Id": "sg1"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        adapter = SendGridEmail(SendGridSettings(), http)
        worker = bare_dispatcher(Settings(), {"email": adapter})
        cmd = message_send(
            channel="email", to="ada@example.com", subject="Late", html="<p>Late</p>"
        )
        await worker._call(adapter, cmd)
    [body] = bodies
    assert body["subject"] == "Late"
    assert {"type": "text/html", "value": "<p>Late</p>"} in body["content"]


async def test_receipts_parked_before_their_send_was_recorded_go_back_to_the_status_topic() -> None:
    worker = bare_dispatcher(Settings())
    recorder = Recorder()
    worker._pub = recorder  # type: ignore[assignment]
    receipt = CloudEvent(
        specversion="1.0",
        id="st1",
        source="/channels/sms/twilio",
        type="message.status",
        data={"provider": "sms.twilio", "external_id": "SM1", "status": "delivered"},
        latematch="true",
    )
    await hand_back(worker._pub, worker._deps.topics.status, [receipt.to_bytes(), b"not json"])
    [(topic, event, key)] = recorder.published  # the unreadable one is dropped, and logged
    assert (topic, key) == (Settings().kafka.topic_prefix + "status", "SM1")
    assert (event.id, (event.model_extra or {}).get("latematch")) == ("st1", "true")
