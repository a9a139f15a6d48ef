"""Cross-channel fallback through the real sandbox, Kafka, Redis and PostgreSQL.

A customer known on SMS and WhatsApp (one phone number) asks for a notification that a flow
sends on ``[whatsapp, sms]``. When Meta fails the WhatsApp message with 131026 (the fake's
magic UNDELIVERABLE recipient), the status worker sends the SMS fallback once; when no receipt
comes at all (the SILENT recipient), the receipt check at ``receipt_timeout`` sends it.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from channels.meta import WEBHOOK_PATH
from channels.meta.sandbox import SILENT, UNDELIVERABLE
from channels.twilio.webhooks import INBOUND_PATH as TWILIO_INBOUND
from orchestrator.delivery.fallback import RECEIPT_TIMEOUT
from orchestrator.settings import Settings
from orchestrator.state.receipt_checks import ReceiptChecks
from tests.integration.helpers import Pipeline, eventually

REPO = Path(__file__).resolve().parents[2]
FLOWS = """\
spec_version: 1
id: fb-{name}
version: 1
stage: support
owner: tests
trigger: {{type: message, match: keyword, words: [{word}]}}
steps:
  - id: notify
    type: send
    channel: [whatsapp, sms]
    purpose: service
    receipt_timeout: {timeout}
    template: "Your parcel is on its way"
"""


@pytest.fixture
async def pipe(settings: Settings, tmp_path: Path) -> AsyncIterator[Pipeline]:
    """The default media (sms Twilio, whatsapp Meta) and two flows: NOTIFY falls back after
    30 s without a receipt (a failed receipt comes long before), QUIET after 2 s."""
    for name in ("policy.yaml", "vars.yaml"):
        shutil.copy(REPO / "flows" / name, tmp_path / name)
    (tmp_path / "notify.yaml").write_text(FLOWS.format(name="notify", word="NOTIFY", timeout="30s"))
    (tmp_path / "quiet.yaml").write_text(FLOWS.format(name="quiet", word="QUIET", timeout="2s"))
    async with Pipeline.running(settings.model_copy(update={"flows_dir": tmp_path})) as running:
        yield running


async def _known_on_both(pipe: Pipeline, number: str, keyword: str) -> None:
    """The customer texts (no flow matches), then writes ``keyword`` on WhatsApp."""
    http, sandbox, api = pipe.http, pipe.sandbox_url, pipe.api_url
    twilio = {"url": api + TWILIO_INBOUND, "from": number, "to": "+15559990000", "body": "hi"}
    assert (await http.post(f"{sandbox}/_sandbox/twilio/inbound", json=twilio)).status_code == 200
    await eventually(
        lambda: pipe.ledger_steps(number), lambda s: ("inbound_received", "accepted") in s
    )
    meta = {"url": api + WEBHOOK_PATH, "from": number, "text": keyword}
    assert (await http.post(f"{sandbox}/_sandbox/meta/inbound", json=meta)).status_code == 200


async def _sent(pipe: Pipeline, channel: str) -> list[dict[str, Any]]:
    resp = await pipe.http.get(f"{pipe.sandbox_url}/_sandbox/messages", params={"channel": channel})
    listed: list[dict[str, Any]] = resp.json()
    return listed


@pytest.mark.timeout(90)
async def test_whatsapp_131026_falls_back_to_sms_once(pipe: Pipeline, redis: Redis) -> None:
    number = "+" + UNDELIVERABLE
    await _known_on_both(pipe, number, "NOTIFY")

    [sms] = await eventually(lambda: _sent(pipe, "sms"), lambda m: len(m) == 1, timeout=30)
    assert sms["body"] == "Your parcel is on its way"
    assert sms["to"] == number
    [wa] = await _sent(pipe, "whatsapp")
    assert wa["callbacks"][-1] == "failed"

    rows = await eventually(
        lambda: pipe.ledger(number),
        lambda rs: any(
            (r.step, r.outcome, r.channel) == ("status_changed", "delivered", "sms") for r in rs
        ),
        timeout=30,
    )
    [fell] = [r for r in rows if r.step == "fallback_sent"]
    assert (fell.outcome, fell.channel, fell.reason) == ("sms", "whatsapp", "permanent:131026")
    original = fell.message_id
    assert original is not None
    assert fell.detail["fallback_id"] == f"{original}.fb1"
    accepted = [r for r in rows if r.step == "provider_accepted"]
    assert [r.message_id for r in accepted] == [original, f"{original}.fb1"]
    failed = next(r for r in rows if r.step == "status_changed" and r.outcome == "failed")
    assert failed.detail["error_code"] == "131026"
    assert failed.detail["fallback_to"] == "sms"
    delivered = [r for r in rows if r.step == "status_changed" and r.outcome == "delivered"]
    assert [r.channel for r in delivered] == ["sms"]
    assert delivered[0].detail["time_to_delivered_s"] >= 0

    # the receipt_timeout check of the WhatsApp message is due 30 s after it was accepted; it
    # finds the message failed, but its fallback in the send ledger already: nothing more
    checks = ReceiptChecks(redis)
    await eventually(
        checks.pending,
        lambda pending: not any(c.kind == RECEIPT_TIMEOUT for c in pending),
        timeout=45,
    )
    assert len(await _sent(pipe, "sms")) == 1
    metrics = (await pipe.http.get(f"{pipe.api_url}/metrics")).text
    assert 'continuum_fallbacks_total{channel="whatsapp",reason="permanent"} 1.0' in metrics
    assert 'reason="receipt_timeout"} 1.0' not in metrics
    assert 'continuum_time_to_delivered_seconds_count{channel="sms",provider="sms.twilio"}' in (
        metrics
    )


@pytest.mark.timeout(60)
async def test_no_receipt_within_receipt_timeout_falls_back(pipe: Pipeline) -> None:
    number = "+" + SILENT
    await _known_on_both(pipe, number, "QUIET")

    [sms] = await eventually(lambda: _sent(pipe, "sms"), lambda m: len(m) == 1, timeout=30)
    assert sms["body"] == "Your parcel is on its way"
    [wa] = await _sent(pipe, "whatsapp")
    assert wa["callbacks"] == []

    rows = await eventually(
        lambda: pipe.ledger(number),
        lambda rs: any(r.step == "fallback_sent" for r in rs),
        timeout=15,
    )
    [fell] = [r for r in rows if r.step == "fallback_sent"]
    assert (fell.outcome, fell.channel, fell.reason) == ("sms", "whatsapp", RECEIPT_TIMEOUT)
