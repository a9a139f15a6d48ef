"""SendGrid's sandbox fake: bearer auth and SendGrid's error bodies, 202 + X-Message-Id, the
Event Webhook URL learnt from its settings API, signed event batches, and the Inbound Parse and
events simulators."""

from __future__ import annotations

import base64
import json
from email.parser import BytesParser
from email.policy import HTTP

from sandbox_harness import Sandbox, wait_until
from sendgrid.helpers.eventwebhook import EventWebhook

from channels.base import OutboundMessage
from channels.sendgrid import SendGridEmail, SendGridSettings, event_report, parse_inbound
from channels.sendgrid.sandbox import SANDBOX_API_KEY, SANDBOX_INBOUND_SECRET, SANDBOX_PUBLIC_KEY
from channels.webhooks import StatusReport

EVENTS = "http://continuum.test/webhooks/sendgrid/events"
BEARER = {"Authorization": f"Bearer {SANDBOX_API_KEY}"}


async def test_a_send_is_listed_and_its_events_are_signed_to_the_configured_url(
    sandbox: Sandbox,
) -> None:
    client, recorder = sandbox.client, sandbox.webhooks
    resp = await client.patch(
        "/v3/user/webhooks/event/settings", json={"enabled": True, "url": EVENTS}, headers=BEARER
    )
    assert resp.json() == {"enabled": True, "url": EVENTS}
    config = SendGridSettings(base_url="http://sandbox")
    result = await SendGridEmail(config, client).send(OutboundMessage("m-1", "a@b.org", "Hi"))
    x_message_id, ours = result.external_ids
    assert ours == "m-1"

    listed = (await client.get("/_sandbox/messages")).json()
    assert [(m["sid"], m["provider"], m["to"], m["body"]) for m in listed] == [
        (x_message_id, "sendgrid", "a@b.org", "Hi")
    ]
    await wait_until(lambda: len(recorder.requests) == 2)
    kinds = []
    for post in recorder.requests:
        assert str(post.url) == EVENTS
        verified = EventWebhook(SANDBOX_PUBLIC_KEY).verify_signature(
            post.content.decode(),
            post.headers["X-Twilio-Email-Event-Webhook-Signature"],
            post.headers["X-Twilio-Email-Event-Webhook-Timestamp"],
        )
        assert verified
        (event,) = json.loads(post.content)
        assert event["sg_message_id"].split(".")[0] == x_message_id
        assert event["continuum_message_id"] == "m-1"
        kinds.append(event["event"])
    assert kinds == ["processed", "delivered"]


async def test_without_the_key_or_a_subject_sendgrids_errors_answer(sandbox: Sandbox) -> None:
    client = sandbox.client
    mail = {
        "personalizations": [{"to": [{"email": "a@b.org"}]}],
        "from": {"email": "x@y.org"},
        "content": [{"type": "text/plain", "value": "Hi"}],
    }
    unauthorized = await client.post("/v3/mail/send", json=mail)
    assert unauthorized.status_code == 401
    assert unauthorized.json()["errors"][0]["message"].startswith("The provided authorization")
    no_subject = await client.post("/v3/mail/send", json=mail, headers=BEARER)
    assert no_subject.status_code == 400
    assert no_subject.json()["errors"][0]["field"] == "subject"
    assert (await client.get("/_sandbox/messages")).json() == []


async def test_mail_sent_before_a_url_is_set_gets_no_events(sandbox: Sandbox) -> None:
    client = sandbox.client
    config = SendGridSettings(base_url="http://sandbox")
    await SendGridEmail(config, client).send(OutboundMessage("m-2", "a@b.org", "Hi"))
    await wait_until(lambda: sandbox.runtime.pending == 0)
    assert sandbox.webhooks.requests == []


async def test_a_recipients_spam_report_is_posted_signed_about_the_message(
    sandbox: Sandbox,
) -> None:
    client, recorder = sandbox.client, sandbox.webhooks
    unknown = await client.post("/_sandbox/sendgrid/events", json={"id": "x", "event": "open"})
    assert unknown.status_code == 404
    sendgrid = SendGridEmail(SendGridSettings(base_url="http://sandbox"), client)
    before = await sendgrid.send(OutboundMessage("m-3", "a@b.org", "Hi"))  # no events URL yet
    off = {"id": before.external_ids[0], "event": "spamreport"}
    assert (await client.post("/_sandbox/sendgrid/events", json=off)).status_code == 409
    await client.patch(
        "/v3/user/webhooks/event/settings", json={"enabled": True, "url": EVENTS}, headers=BEARER
    )
    result = await sendgrid.send(OutboundMessage("m-4", "a@b.org", "Hi"))
    await wait_until(lambda: len(recorder.requests) == 2)  # processed, delivered
    spam = {"id": result.external_ids[0], "event": "spamreport"}
    resp = await client.post("/_sandbox/sendgrid/events", json=spam)
    assert resp.json() == {**spam, "status_code": 200}
    post = recorder.requests[-1]
    assert EventWebhook(SANDBOX_PUBLIC_KEY).verify_signature(
        post.content.decode(),
        post.headers["X-Twilio-Email-Event-Webhook-Signature"],
        post.headers["X-Twilio-Email-Event-Webhook-Timestamp"],
    )
    (event,) = json.loads(post.content)
    assert event_report(event) == StatusReport(
        "m-4", "delivered", "spamreport", "spamreport", opted_out=True
    )


async def test_inbound_posts_a_multipart_parse_with_basic_auth(sandbox: Sandbox) -> None:
    resp = await sandbox.client.post(
        "/_sandbox/sendgrid/inbound",
        json={
            "url": "http://continuum.test/in",
            "from": "Ann <ann@b.org>",
            "to": "h@c.org",
            "subject": "s",
            "text": "HELP",
        },
    )
    assert resp.json()["status_code"] == 200
    (post,) = sandbox.webhooks.requests
    assert post.headers["Content-Type"].startswith("multipart/form-data")
    assert post.headers["Authorization"] == basic_auth("sendgrid", SANDBOX_INBOUND_SECRET)
    fields = multipart_fields(post.content, post.headers["Content-Type"])
    msg = parse_inbound(fields)
    assert (msg.id, msg.sender, msg.recipient, msg.text) == (
        resp.json()["id"],
        "ann@b.org",
        "h@c.org",
        "HELP",
    )


def basic_auth(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def multipart_fields(body: bytes, content_type: str) -> dict[str, str]:
    """The text fields of a multipart/form-data body (the standard library's parser)."""
    doc = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    return {
        str(part.get_param("name", header="content-disposition")): part.get_content()
        for part in doc.iter_parts()
    }
