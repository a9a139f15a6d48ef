"""Meta WhatsApp end to end through the sandbox: the callback URL passes Meta's hub.challenge
check, a customer's HELP on the signed webhook gets the HELP flow's reply out through the
Cloud API fake, and its statuses (sent, delivered, read) come back signed into the ledger."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from channels.meta import HEADER, WEBHOOK_PATH, sign
from channels.meta.sandbox import SANDBOX_APP_SECRET, SANDBOX_VERIFY_TOKEN
from orchestrator.settings import Settings
from tests.integration.helpers import Pipeline, eventually

CUSTOMER = "+447700900001"


@pytest.fixture
async def meta_pipeline(settings: Settings) -> AsyncIterator[Pipeline]:
    """The pipeline with whatsapp sent through Meta (the sandbox's fake)."""
    data = settings.model_dump()
    data["channels"] = {"whatsapp": "meta"}
    data["meta"] = {"base_url": f"http://127.0.0.1:{settings.sandbox.port}"}
    async with Pipeline.running(Settings.model_validate(data)) as pipe:
        yield pipe


async def test_the_callback_url_answers_metas_verification(meta_pipeline: Pipeline) -> None:
    pipe = meta_pipeline
    url = pipe.api_url + WEBHOOK_PATH
    query = {"hub.mode": "subscribe", "hub.verify_token": SANDBOX_VERIFY_TOKEN}
    ok = await pipe.http.get(url, params={**query, "hub.challenge": "1158201444"})
    assert (ok.status_code, ok.text) == (200, "1158201444")
    wrong = {**query, "hub.verify_token": "guess", "hub.challenge": "1"}
    assert (await pipe.http.get(url, params=wrong)).status_code == 403
    # and the sandbox, as Meta's dashboard does, verifies it before keeping it
    resp = await pipe.http.post(f"{pipe.sandbox_url}/_sandbox/meta/webhook", json={"url": url})
    assert resp.json() == {"verified": True, "status_code": 200}


async def test_help_on_whatsapp_gets_its_reply_through_meta(meta_pipeline: Pipeline) -> None:
    pipe = meta_pipeline
    resp = await pipe.http.post(
        f"{pipe.sandbox_url}/_sandbox/meta/inbound",
        json={"url": pipe.api_url + WEBHOOK_PATH, "from": CUSTOMER, "text": "HELP"},
    )
    assert resp.status_code == 200
    assert resp.json()["status_code"] == 200

    sent = await eventually(pipe.sandbox_messages, lambda m: len(m) == 1)
    assert (sent[0]["provider"], sent[0]["channel"]) == ("meta", "whatsapp")
    assert sent[0]["to"] == CUSTOMER.lstrip("+")
    assert "STOP" in sent[0]["body"]
    assert sent[0]["status_callback"] == pipe.api_url + WEBHOOK_PATH
    steps = await eventually(
        lambda: pipe.ledger_steps(CUSTOMER), lambda s: ("status_changed", "read") in s
    )
    assert steps[0] == ("inbound_received", "accepted")
    assert ("status_changed", "delivered") in steps
    listed = await eventually(
        pipe.sandbox_messages, lambda m: m[0]["callbacks"] == ["sent", "delivered", "read"]
    )
    assert listed[0]["status"] == "read"


async def test_the_webhook_refuses_a_bad_signature(meta_pipeline: Pipeline) -> None:
    pipe = meta_pipeline
    body = json.dumps({"object": "whatsapp_business_account", "entry": []}).encode()
    url = pipe.api_url + WEBHOOK_PATH
    forged = await pipe.http.post(url, content=body, headers={HEADER: sign("guess", body)})
    missing = await pipe.http.post(url, content=body)
    good = await pipe.http.post(url, content=body, headers={HEADER: sign(SANDBOX_APP_SECRET, body)})
    assert [forged.status_code, missing.status_code, good.status_code] == [403, 403, 200]
    metrics = (await pipe.http.get(f"{pipe.api_url}/metrics")).text
    assert 'continuum_webhook_total{outcome="bad_signature",route="meta_webhook"} 2.0' in metrics
