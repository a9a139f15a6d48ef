"""A send the policy turned into an approved WhatsApp template goes out as that template."""

from __future__ import annotations

import json
from typing import Any

import httpx

from channels.meta import MetaSettings, MetaWhatsApp
from orchestrator.settings import Settings
from tests.unit.sends import bare_dispatcher, message_send

ANSWER = {"messaging_product": "whatsapp", "messages": [{"id": "wamid.1"}]}


async def _sent_body(**cmd: Any) -> dict[str, Any]:
    bodies: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return httpx.Response(200, json=ANSWER)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        adapter = MetaWhatsApp(MetaSettings(), http)
        worker = bare_dispatcher(Settings(), {"whatsapp": adapter})
        send = message_send(channel="whatsapp", to="+15551230001", text="Renew today", **cmd)
        result = await worker._call(adapter, send)
    assert result.external_ids == ("wamid.1",)
    [body] = bodies
    return body


async def test_the_policy_s_approved_template_is_what_meta_is_sent() -> None:
    body = await _sent_body(template_name="renewal_reminder_v1", language="es")
    assert body["type"] == "template"
    assert body["template"]["name"] == "renewal_reminder_v1"
    assert body["template"]["language"] == {"code": "es"}


async def test_without_a_template_the_text_is_sent() -> None:
    body = await _sent_body()
    assert body["type"] == "text"
    assert body["text"]["body"] == "Renew today"
