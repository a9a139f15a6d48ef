"""SendGrid email end to end through the sandbox: an Inbound Parse post gets the HELP flow's
reply out through SendGrid's ``POST /v3/mail/send``, and the signed events coming back to the
Event Webhook land in the ledger as statuses; a spam report opts the customer out."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from channels.sendgrid import EVENTS_PATH, INBOUND_PATH
from channels.sendgrid.sandbox import SANDBOX_API_KEY
from orchestrator.settings import Settings
from tests.integration.helpers import Pipeline, eventually

CUSTOMER = "ann@example.org"
OUR_ADDRESS = "help@continuum.example"


@pytest.fixture
async def sendgrid_pipeline(settings: Settings) -> AsyncIterator[Pipeline]:
    """The pipeline with email sent through SendGrid (the sandbox's fake)."""
    data = settings.model_dump()
    data["channels"] = {"email": "sendgrid"}
    data["sendgrid"] = {"base_url": f"http://127.0.0.1:{settings.sandbox.port}"}
    async with Pipeline.running(Settings.model_validate(data)) as pipe:
        # SendGrid has one Event Webhook URL per account, set as an operator would.
        resp = await pipe.http.patch(
            f"{pipe.sandbox_url}/v3/user/webhooks/event/settings",
            json={"enabled": True, "url": pipe.api_url + EVENTS_PATH},
            headers={"Authorization": f"Bearer {SANDBOX_API_KEY}"},
        )
        assert resp.status_code == 200
        yield pipe


async def test_inbound_email_gets_its_reply_through_sendgrid(sendgrid_pipeline: Pipeline) -> None:
    pipe = sendgrid_pipeline
    resp = await pipe.http.post(
        f"{pipe.sandbox_url}/_sandbox/sendgrid/inbound",
        json={
            "url": pipe.api_url + INBOUND_PATH,
            "from": f"Ann Example <{CUSTOMER}>",
            "to": OUR_ADDRESS,
            "subject": "help please",
            "text": "HELP",
        },
    )
    assert resp.status_code == 200
    assert resp.json()["status_code"] == 200

    sent = await eventually(pipe.sandbox_messages, lambda m: len(m) == 1)
    assert (sent[0]["provider"], sent[0]["channel"]) == ("sendgrid", "email")
    assert sent[0]["to"] == CUSTOMER
    assert "Reply STOP" in sent[0]["body"]
    assert sent[0]["status_callback"] == pipe.api_url + EVENTS_PATH
    steps = await eventually(
        lambda: pipe.ledger_steps(CUSTOMER), lambda s: ("status_changed", "delivered") in s
    )
    assert steps[0] == ("inbound_received", "accepted")
    assert ("status_changed", "sent") in steps  # SendGrid's processed event


async def test_webhooks_refuse_a_bad_signature_and_a_wrong_inbound_secret(
    sendgrid_pipeline: Pipeline,
) -> None:
    pipe = sendgrid_pipeline
    resp = await pipe.http.post(
        pipe.api_url + EVENTS_PATH,
        content=b'[{"event":"delivered","sg_message_id":"x.y"}]',
        headers={
            "X-Twilio-Email-Event-Webhook-Signature": "MEUCIQ==",
            "X-Twilio-Email-Event-Webhook-Timestamp": "1764680000",
        },
    )
    assert resp.status_code == 403
    resp = await pipe.http.post(
        f"{pipe.sandbox_url}/_sandbox/sendgrid/inbound",
        json={
            "url": pipe.api_url.replace("://", "://sendgrid:wrong@") + INBOUND_PATH,
            "from": CUSTOMER,
            "to": OUR_ADDRESS,
            "text": "HELP",
        },
    )
    assert resp.json()["status_code"] == 401
    assert await pipe.sandbox_messages() == []


async def test_a_spam_report_opts_the_customer_out_and_the_next_email_is_blocked(
    sendgrid_pipeline: Pipeline,
) -> None:
    pipe = sendgrid_pipeline

    async def write(text: str) -> None:
        resp = await pipe.http.post(
            f"{pipe.sandbox_url}/_sandbox/sendgrid/inbound",
            json={
                "url": pipe.api_url + INBOUND_PATH,
                "from": CUSTOMER,
                "to": OUR_ADDRESS,
                "text": text,
            },
        )
        assert resp.json()["status_code"] == 200

    await write("HELP")
    [sent] = await eventually(pipe.sandbox_messages, lambda m: len(m) == 1)
    await eventually(
        lambda: pipe.ledger_steps(CUSTOMER), lambda s: ("status_changed", "delivered") in s
    )
    # the customer marks the reply as spam: SendGrid posts a signed spamreport event
    spam = {"id": sent["id"], "event": "spamreport"}
    resp = await pipe.http.post(f"{pipe.sandbox_url}/_sandbox/sendgrid/events", json=spam)
    assert resp.json()["status_code"] == 200
    trail = await eventually(
        lambda: pipe.ledger(CUSTOMER),
        lambda t: any((r.step, r.outcome) == ("decision", "opt_out") for r in t),
    )
    [opt_out] = [r for r in trail if (r.step, r.outcome) == ("decision", "opt_out")]
    assert opt_out.detail["rule"] == "provider.opt_out"
    assert opt_out.detail["provider_event"] == "spamreport"
    assert opt_out.detail["provider"] == "email.sendgrid"
    assert (opt_out.channel, opt_out.address) == ("email", CUSTOMER)
    # the spam report comes after delivery: its status is stale, yet it was forwarded
    [report] = [r for r in trail if r.detail.get("provider_status") == "spamreport"]
    assert (report.step, report.detail["opted_out"]) == ("status_stale", True)

    await write("HELP")  # a second email to the customer is refused by consent
    trail = await eventually(
        lambda: pipe.ledger(CUSTOMER),
        lambda t: any((r.step, r.outcome) == ("decision", "policy_blocked") for r in t),
    )
    [blocked] = [r for r in trail if (r.step, r.outcome) == ("decision", "policy_blocked")]
    assert blocked.detail["rule"] == "consent.transactional"
    assert "provider:spamreport:email" in (blocked.reason or "")
    assert len(await pipe.sandbox_messages()) == 1  # no confirmation, no second reply
