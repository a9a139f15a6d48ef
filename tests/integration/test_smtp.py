"""SMTP email end to end: an inbound email event published straight to the inbound topic gets
its reply out through SMTP to the sandbox's SMTP server, listed with provider ``smtp``."""

from __future__ import annotations

from collections.abc import AsyncIterator

import orjson
import pytest

from channels.sendgrid import INBOUND_PATH
from orchestrator.settings import Settings
from tests.integration.helpers import Pipeline, eventually

CUSTOMER = "ada@example.com"
OUR_ADDRESS = "support@continuum.test"


def email_event(event_id: str, sender: str, text: str) -> bytes:
    """An inbound email as a client publishes it to ``continuum.inbound.email``."""
    return orjson.dumps(
        {
            "specversion": "1.0",
            "id": event_id,
            "source": "/channels/email/inbound",
            "type": "message.received",
            "time": "2026-12-02T12:00:00Z",
            "datacontenttype": "application/json",
            "data": {
                "channel": "email",
                "from": sender,
                "to": OUR_ADDRESS,
                "text": text,
                "attachments": [],
                "locale": "en-US",
            },
        }
    )


@pytest.fixture
async def smtp_pipeline(settings: Settings) -> AsyncIterator[Pipeline]:
    """The pipeline with email sent through SMTP to the sandbox's SMTP server."""
    data = settings.model_dump()
    data["channels"] = {"email": "smtp"}
    data["smtp"] = {"host": "127.0.0.1", "port": settings.sandbox.smtp_port}
    async with Pipeline.running(Settings.model_validate(data)) as pipe:
        yield pipe


async def test_an_inbound_email_gets_its_reply_by_smtp(smtp_pipeline: Pipeline) -> None:
    pipe = smtp_pipeline
    topic = pipe.service.topics.inbound("email")
    await pipe.produce(topic, email_event("email-in-1", CUSTOMER, "HELP"), CUSTOMER)

    sent = await eventually(pipe.sandbox_messages, lambda m: len(m) == 1)
    assert sent[0]["provider"] == "smtp"
    assert sent[0]["to"] == CUSTOMER
    assert "Reply STOP" in sent[0]["body"]
    steps = await eventually(
        lambda: pipe.ledger_steps(CUSTOMER), lambda s: ("provider_accepted", "sent") in s
    )
    assert steps[0] == ("inbound_received", "accepted")
    [accepted] = [r for r in await pipe.ledger(CUSTOMER) if r.step == "provider_accepted"]
    # the external id is our Message-ID, made from our message id: what the server received
    assert accepted.external_id == sent[0]["sid"] == f"<{accepted.message_id}@continuum.test>"
    assert accepted.customer_id is not None


@pytest.fixture
async def smtp_parse_pipeline(settings: Settings) -> AsyncIterator[Pipeline]:
    """SMTP sends; SendGrid is listed too, for its Inbound Parse route (SMTP has none)."""
    data = settings.model_dump()
    data["channels"] = {"email": "smtp,sendgrid"}
    data["smtp"] = {"host": "127.0.0.1", "port": settings.sandbox.smtp_port}
    async with Pipeline.running(Settings.model_validate(data)) as pipe:
        yield pipe


async def test_a_reply_to_our_email_reaches_the_customers_conversation(
    smtp_parse_pipeline: Pipeline,
) -> None:
    pipe = smtp_parse_pipeline
    inbound = f"{pipe.sandbox_url}/_sandbox/smtp/inbound"
    email = {"url": pipe.api_url + INBOUND_PATH, "from": f"Ada <{CUSTOMER}>", "to": OUR_ADDRESS}
    first = await pipe.http.post(inbound, json={**email, "subject": "hi", "body": "HELP"})
    assert first.json()["status_code"] == 200
    [ours] = await eventually(pipe.sandbox_messages, lambda m: len(m) == 1)
    assert (ours["provider"], ours["to"]) == ("smtp", CUSTOMER)

    reply = {**email, "subject": "Re: hi", "text": "thanks!", "in_reply_to": ours["id"]}
    second = await pipe.http.post(inbound, json=reply)
    assert second.json()["status_code"] == 200
    trail = await eventually(
        lambda: pipe.ledger(CUSTOMER),
        lambda t: (
            [(r.step, r.outcome) for r in t].count(("inbound_received", "accepted")) == 2
            and ("customer_resolved", "existing") in [(r.step, r.outcome) for r in t]
        ),
    )
    [accepted] = [r for r in trail if r.step == "provider_accepted"]
    assert accepted.external_id == ours["id"]  # the Message-ID the reply names
    received = [r for r in trail if r.step == "inbound_received"]
    # one customer, one conversation: the reply is the customer's who got our email
    assert {r.customer_id for r in received} == {accepted.customer_id}
