"""The generic webhook's sandbox fake: it checks our signature, lists what it accepted, posts a
signed delivered status back, and simulates a signed inbound message."""

from __future__ import annotations

import json

from sandbox_harness import Sandbox, wait_until
from standardwebhooks.webhooks import Webhook

from channels.base import OutboundMessage
from channels.generic import GenericSettings, GenericWebhook
from channels.generic.sandbox import SANDBOX_SECRET, SEND_PATH

HOOKS = "http://continuum.test"


async def test_a_signed_send_is_listed_and_answered_with_a_signed_delivered_status(
    sandbox: Sandbox,
) -> None:
    client, recorder = sandbox.client, sandbox.webhooks
    config = GenericSettings(url=f"http://sandbox{SEND_PATH}")
    msg = OutboundMessage("m-1", "crm-1", "Hi", status_callback=f"{HOOKS}/webhooks/generic/status")
    result = await GenericWebhook(config, client).send(msg)
    assert result.status == "sent"

    listed = (await client.get("/_sandbox/messages")).json()
    assert [(m["sid"], m["provider"], m["to"], m["body"]) for m in listed] == [
        ("m-1", "generic", "crm-1", "Hi")
    ]
    await wait_until(lambda: len(recorder.requests) == 1)
    (status,) = recorder.requests
    assert str(status.url) == f"{HOOKS}/webhooks/generic/status"
    event = Webhook(SANDBOX_SECRET).verify(status.content, dict(status.headers))
    assert event["type"] == "message.status"
    assert event["data"] == {"message_id": "m-1", "status": "delivered"}


async def test_a_send_with_a_wrong_signature_is_refused_and_not_listed(
    sandbox: Sandbox,
) -> None:
    client = sandbox.client
    body = json.dumps({"type": "message.sent", "data": {"to": "a", "text": "b"}})
    headers = {"webhook-id": "m", "webhook-timestamp": "1", "webhook-signature": "v1,AAAA"}
    resp = await client.post(SEND_PATH, content=body, headers=headers)
    assert resp.status_code == 401
    assert (await client.get("/_sandbox/messages")).json() == []


async def test_the_inbound_simulator_posts_a_signed_message_received(
    sandbox: Sandbox,
) -> None:
    client, recorder = sandbox.client, sandbox.webhooks
    url = f"{HOOKS}/webhooks/generic/inbound"
    resp = await client.post(
        "/_sandbox/generic/inbound", json={"url": url, "from": "crm-1", "text": "HELP"}
    )
    assert resp.json()["status_code"] == 200  # what the recorder answers
    (posted,) = recorder.requests
    event = Webhook(SANDBOX_SECRET).verify(posted.content, dict(posted.headers))
    assert event["type"] == "message.received"
    assert event["data"] == {"from": "crm-1", "to": "continuum", "text": "HELP"}
    assert posted.headers["webhook-id"] == resp.json()["id"]
