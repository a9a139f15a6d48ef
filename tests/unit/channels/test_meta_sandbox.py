"""The Meta sandbox fake, wired to the real Meta webhook routes: bearer auth and Meta's error
bodies, the listing, the callback URL set through the hub.challenge check, the signed statuses
sent → delivered → read, and the inbound simulator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from sandbox_harness import SANDBOX_CONFIG, wait_until
from test_meta_webhooks import RecordingContext

from channels.base import OutboundMessage
from channels.errors import ChannelConfigInvalid, RejectedWithReason
from channels.meta import WEBHOOK_PATH, MetaSettings, MetaWhatsApp, meta_webhooks
from channels.meta.sandbox import SANDBOX_PHONE_NUMBER_ID
from channels.sandbox import create_sandbox_app

HOOK = f"http://continuum.test{WEBHOOK_PATH}"


@dataclass
class Wired:
    client: httpx.AsyncClient
    ctx: RecordingContext
    config: MetaSettings


@pytest.fixture
async def wired() -> AsyncIterator[Wired]:
    """A started sandbox whose webhooks reach Meta's routes (with the sandbox's secrets)."""
    ctx = RecordingContext()
    api = FastAPI()
    config = MetaSettings(base_url="http://sandbox")
    api.include_router(meta_webhooks(config, ctx))
    to_api = httpx.ASGITransport(app=api)
    async with httpx.AsyncClient(transport=to_api, base_url="http://continuum.test") as hooks:
        app = create_sandbox_app(SANDBOX_CONFIG, http=hooks)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as client:
                yield Wired(client, ctx, config)


async def test_a_send_is_listed_and_its_statuses_come_back_signed(wired: Wired) -> None:
    configured = await wired.client.post("/_sandbox/meta/webhook", json={"url": HOOK})
    assert configured.json() == {"verified": True, "status_code": 200}
    result = await MetaWhatsApp(wired.config, wired.client).send(
        OutboundMessage("m-1", "+447700900001", "Hi there")
    )
    (wamid,) = result.external_ids
    assert wamid.startswith("wamid.")
    assert result.raw["contacts"] == [{"input": "447700900001", "wa_id": "447700900001"}]

    listed = (await wired.client.get("/_sandbox/messages")).json()
    assert [(m["sid"], m["provider"], m["to"], m["from"], m["body"]) for m in listed] == [
        (wamid, "meta", "447700900001", "15550783881", "Hi there")
    ]
    await wait_until(lambda: len(wired.ctx.reports) == 3)
    assert [(r.external_id, r.status) for r in wired.ctx.reports] == [
        (wamid, "sent"),
        (wamid, "delivered"),
        (wamid, "read"),
    ]  # each one passed the signature check of the real route
    listed = (await wired.client.get("/_sandbox/messages")).json()
    assert listed[0]["callbacks"] == ["sent", "delivered", "read"]


async def test_the_callback_url_is_kept_only_when_verification_passes(wired: Wired) -> None:
    refused = await wired.client.post(
        "/_sandbox/meta/webhook", json={"url": HOOK, "verify_token": "wrong"}
    )
    assert refused.json() == {"verified": False, "status_code": 403}
    await MetaWhatsApp(wired.config, wired.client).send(OutboundMessage("m", "+1555", "x"))
    listed = (await wired.client.get("/_sandbox/messages")).json()
    assert listed[0]["status_callback"] is None  # nowhere to post statuses to


async def test_templates_and_interactive_messages_are_listed_readably(wired: Wired) -> None:
    adapter = MetaWhatsApp(wired.config, wired.client)
    contents = [
        {"kind": "template", "name": "order_update", "language": "en_US", "params": ["A12"]},
        {"kind": "buttons", "buttons": [{"id": "y", "title": "Yes"}, {"id": "n", "title": "No"}]},
        {"kind": "list", "sections": [{"rows": [{"id": "a", "title": "Track"}]}]},
    ]
    for content in contents:
        await adapter.send(OutboundMessage("m", "+1555", "Arrived?", content=content))
    bodies = [m["body"] for m in (await wired.client.get("/_sandbox/messages")).json()]
    assert bodies == [
        "template order_update (en_US): A12",
        "Arrived? [Yes | No]",
        "Arrived? [Track]",
    ]


async def test_a_wrong_token_gets_metas_401_code_190(wired: Wired) -> None:
    config = wired.config.model_copy(update={"access_token": SecretStr("not-the-token")})
    with pytest.raises(ChannelConfigInvalid, match="190"):
        await MetaWhatsApp(config, wired.client).send(OutboundMessage("m", "+1555", "x"))
    resp = await wired.client.post(
        f"/v21.0/{SANDBOX_PHONE_NUMBER_ID}/messages", json={"messaging_product": "whatsapp"}
    )
    assert resp.status_code == 401
    err = resp.json()["error"]
    assert (err["code"], err["type"]) == (190, "OAuthException")
    assert err["fbtrace_id"]
    assert (await wired.client.get("/_sandbox/messages")).json() == []


async def test_a_malformed_send_gets_metas_code_100(wired: Wired) -> None:
    headers = {"Authorization": f"Bearer {wired.config.access_token.get_secret_value()}"}
    path = f"/v21.0/{SANDBOX_PHONE_NUMBER_ID}/messages"
    bodies = [
        {"to": "1555", "type": "text", "text": {"body": "x"}},
        {"messaging_product": "whatsapp", "to": "nobody", "type": "text", "text": {"body": "x"}},
        {"messaging_product": "whatsapp", "to": "1555", "type": "text", "text": {}},
        {"messaging_product": "whatsapp", "to": "1555", "type": "sticker", "sticker": {}},
    ]
    for body in bodies:
        resp = await wired.client.post(path, json=body, headers=headers)
        assert resp.status_code == 400, body
        assert resp.json()["error"]["code"] == 100
    other = await wired.client.post("/v21.0/999/messages", json=bodies[0], headers=headers)
    assert other.json()["error"]["error_subcode"] == 33
    with pytest.raises(RejectedWithReason) as caught:
        await MetaWhatsApp(
            wired.config.model_copy(update={"phone_number_id": "999"}), wired.client
        ).send(OutboundMessage("m", "+1555", "x"))
    assert caught.value.ext_code == "100"
    assert (await wired.client.get("/_sandbox/messages")).json() == []


async def test_the_inbound_simulator_posts_a_signed_message(wired: Wired) -> None:
    resp = await wired.client.post(
        "/_sandbox/meta/inbound", json={"url": HOOK, "from": "+447700900001", "text": "Olá"}
    )
    assert resp.json()["status_code"] == 200
    (msg,) = wired.ctx.inbound
    assert (msg.id, msg.sender, msg.recipient, msg.text) == (
        resp.json()["id"],
        "+447700900001",
        "+15550783881",
        "Olá",
    )
    # the URL it posted to is now the app's callback URL: statuses of a reply go there
    await MetaWhatsApp(wired.config, wired.client).send(OutboundMessage("m", "+447700900001", "x"))
    await wait_until(lambda: len(wired.ctx.reports) == 3)
