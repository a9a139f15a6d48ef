"""The README's cross-channel customer, through the real sandbox, API, Kafka, Redis and
PostgreSQL: a conversation started by SMS continues on WhatsApp (one phone number, one
customer), an email address is linked through the API, and an email in gets its answer by
email; the ledger shows the one customer across the three channels."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr

from channels.meta import WEBHOOK_PATH
from channels.sendgrid import INBOUND_PATH as SENDGRID_INBOUND
from channels.twilio.webhooks import INBOUND_PATH as TWILIO_INBOUND
from orchestrator.settings import Settings
from tests.integration.helpers import Pipeline, eventually

TOKEN = "operator-token-for-tests"
NUMBER, EMAIL = "+15551230031", "bea@example.com"


@pytest.fixture
async def pipe(settings: Settings) -> AsyncIterator[Pipeline]:
    """The default media (sms Twilio, whatsapp Meta, email SendGrid) and an operator token."""
    api = settings.api.model_copy(update={"operator_token": SecretStr(TOKEN)})
    assert settings.channels["whatsapp"] == ("meta",)
    assert settings.channels["email"] == ("sendgrid",)
    async with Pipeline.running(settings.model_copy(update={"api": api})) as running:
        yield running


async def test_one_conversation_across_sms_whatsapp_and_email(pipe: Pipeline) -> None:
    http, sandbox, api = pipe.http, pipe.sandbox_url, pipe.api_url

    async def sent(channel: str) -> list[dict[str, object]]:
        resp = await http.get(f"{sandbox}/_sandbox/messages", params={"channel": channel})
        listed: list[dict[str, object]] = resp.json()
        return listed

    twilio = {"url": api + TWILIO_INBOUND, "from": NUMBER, "to": "+15559990000"}
    resp = await http.post(
        f"{sandbox}/_sandbox/twilio/inbound", json={**twilio, "body": "where is my order"}
    )
    assert resp.json()["status_code"] == 200
    [question] = await eventually(lambda: sent("sms"), lambda m: len(m) == 1)
    assert "order number" in str(question["body"])

    # the same number on WhatsApp is the same customer: the flow's question gets its answer
    meta = {"url": api + WEBHOOK_PATH, "from": NUMBER, "text": "12340"}
    assert (await http.post(f"{sandbox}/_sandbox/meta/inbound", json=meta)).status_code == 200
    [answer] = await eventually(lambda: sent("whatsapp"), lambda m: len(m) == 1)
    assert answer["provider"] == "meta"
    assert "12340 has shipped" in str(answer["body"])

    rows = await pipe.ledger(NUMBER)
    [customer] = {r.customer_id for r in rows if r.customer_id}
    auth = {"Authorization": f"Bearer {TOKEN}"}
    link = {"channel": "email", "address": "bea@Example.com"}
    resp = await http.post(f"{api}/v1/customers/{customer}/identities", json=link, headers=auth)
    assert resp.status_code == 202, resp.text
    await eventually(
        lambda: pipe.ledger(EMAIL), lambda t: any(r.step == "identity_linked" for r in t)
    )

    email = {
        "url": api + SENDGRID_INBOUND,
        "from": f"Bea <{EMAIL}>",
        "to": "support@example.com",
        "subject": "my order",
        "text": "HELP",
    }
    assert (await http.post(f"{sandbox}/_sandbox/sendgrid/inbound", json=email)).status_code == 200
    [reply] = await eventually(lambda: sent("email"), lambda m: len(m) == 1)
    assert (reply["provider"], reply["to"]) == ("sendgrid", EMAIL)

    # one customer, one trail: in and out on the three channels, delivered on each
    def across(trail: list[tuple[str, str | None]], step: str) -> set[str | None]:
        return {channel for s, channel in trail if s == step}

    async def trail() -> list[tuple[str, str | None]]:
        rows = await pipe.service.ledger.query(customer_id=customer)
        return [(r.step, r.channel) for r in rows]

    media = {"sms", "whatsapp", "email"}
    steps = await eventually(
        trail,
        lambda t: (
            across(t, "inbound_received") == media
            and across(t, "provider_accepted") == media
            and {c for s, c in t if s == "status_changed"} >= media
        ),
        timeout=30,
    )
    assert ("identity_linked", "email") in steps
