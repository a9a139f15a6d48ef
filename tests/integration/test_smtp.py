"""SMTP email end to end: an inbound email event published straight to the inbound topic gets
its reply out through SMTP to the sandbox's SMTP server, listed with provider ``smtp``."""

from __future__ import annotations

from collections.abc import AsyncIterator

import orjson
import pytest

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
