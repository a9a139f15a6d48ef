"""Vonage SMS end to end through the sandbox: an inbound SMS on Vonage's signed webhook gets its
reply out through Vonage's ``POST /sms/json``, and the delivery receipt lands in the ledger."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest

from channels.vonage import INBOUND_PATH, STATUS_PATH, sign
from channels.vonage.sandbox import SANDBOX_SIGNATURE_SECRET
from orchestrator.settings import Settings
from tests.integration.helpers import Pipeline, eventually

CUSTOMER = "+447700900001"
OUR_NUMBER = "447700900000"


@pytest.fixture
async def vonage_pipeline(settings: Settings) -> AsyncIterator[Pipeline]:
    """The pipeline with sms sent through Vonage (the sandbox's fake), not Twilio."""
    data = settings.model_dump()
    data["channels"] = {"sms": "vonage"}
    data["vonage"] = {"base_url": f"http://127.0.0.1:{settings.sandbox.port}"}
    async with Pipeline.running(Settings.model_validate(data)) as pipe:
        yield pipe


async def test_inbound_sms_gets_its_reply_through_vonage(vonage_pipeline: Pipeline) -> None:
    pipe = vonage_pipeline
    resp = await pipe.http.post(
        f"{pipe.sandbox_url}/_sandbox/vonage/inbound",
        json={
            "url": pipe.api_url + INBOUND_PATH,
            "from": CUSTOMER,
            "to": OUR_NUMBER,
            "text": "HELP",
        },
    )
    assert resp.status_code == 200
    assert resp.json()["status_code"] == 200

    sent = await eventually(pipe.sandbox_messages, lambda m: len(m) == 1)
    assert sent[0]["provider"] == "vonage"
    assert sent[0]["to"] == CUSTOMER.lstrip("+")  # Vonage takes digits, no '+'
    assert sent[0]["from"] == OUR_NUMBER
    assert "Reply STOP" in sent[0]["body"]
    assert sent[0]["status_callback"] == pipe.api_url + STATUS_PATH
    steps = await eventually(
        lambda: pipe.ledger_steps(CUSTOMER), lambda s: ("status_changed", "delivered") in s
    )
    assert steps[0] == ("inbound_received", "accepted")


async def test_webhooks_refuse_bad_signatures_and_replays(vonage_pipeline: Pipeline) -> None:
    pipe = vonage_pipeline
    params = {
        "msisdn": CUSTOMER.lstrip("+"),
        "to": OUR_NUMBER,
        "messageId": "0A00000000000001",
        "text": "HELP",
        "type": "text",
        "keyword": "HELP",
        "message-timestamp": "2026-12-02 06:00:00",
        "nonce": "aaaaaaaa-bbbb-cccc-dddd-0123456789ab",
    }
    stale = {**params, "timestamp": str(int(time.time()) - 3600)}
    stale["sig"] = sign(SANDBOX_SIGNATURE_SECRET, stale)
    forged = {**params, "timestamp": str(int(time.time()))}
    forged["sig"] = sign("not-the-secret", forged)
    unsigned = {**params, "timestamp": str(int(time.time()))}
    codes = []
    for form in (stale, forged, unsigned):
        for path in (INBOUND_PATH, STATUS_PATH):
            codes.append((await pipe.http.post(pipe.api_url + path, data=form)).status_code)
    assert codes == [403] * 6
    metrics = (await pipe.http.get(f"{pipe.api_url}/metrics")).text
    assert 'continuum_webhook_total{outcome="replay",route="vonage_inbound"} 1.0' in metrics
    assert 'continuum_webhook_total{outcome="bad_signature",route="vonage_status"} 2.0' in metrics
