"""The HTTP API against a running pipeline: health, readiness, metrics and Twilio webhooks."""

from __future__ import annotations

from channels.twilio.signature import compute_signature
from channels.twilio.webhooks import STATUS_PATH
from tests.integration.helpers import Pipeline, eventually

CUSTOMER = "+15551234567"


async def test_health_and_readiness(pipeline: Pipeline) -> None:
    assert (await pipeline.http.get(f"{pipeline.api_url}/healthz")).json() == {"status": "ok"}
    ready = await pipeline.http.get(f"{pipeline.api_url}/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {
        "kafka": "ok",
        "redis": "ok",
        "postgres": "ok",
        "workers": "ok",
    }


async def test_status_webhook_rejects_a_bad_signature(pipeline: Pipeline) -> None:
    url = pipeline.api_url + STATUS_PATH
    form = {"MessageSid": "SMx", "MessageStatus": "delivered", "AccountSid": "AC0"}
    unsigned = await pipeline.http.post(url, data=form)
    forged = await pipeline.http.post(url, data=form, headers={"X-Twilio-Signature": "AAAA"})
    wrong_key = compute_signature("not-the-token", url, form)
    other_key = await pipeline.http.post(url, data=form, headers={"X-Twilio-Signature": wrong_key})
    assert [r.status_code for r in (unsigned, forged, other_key)] == [403, 403, 403]

    metrics = (await pipeline.http.get(f"{pipeline.api_url}/metrics")).text
    assert 'continuum_webhook_total{outcome="bad_signature",route="twilio_status"} 3.0' in metrics


async def test_signed_status_for_an_unknown_message_is_recorded_unmatched(
    pipeline: Pipeline,
) -> None:
    url = pipeline.api_url + STATUS_PATH
    form = {
        "MessageSid": "SMunknown",
        "MessageStatus": "failed",
        "ErrorCode": "30003",
        "AccountSid": "AC00000000000000000000000000000000",
    }
    sig = compute_signature("sandbox-auth-token", url, form)
    resp = await pipeline.http.post(url, data=form, headers={"X-Twilio-Signature": sig})
    assert resp.status_code == 204
    metrics_url = f"{pipeline.api_url}/metrics"
    await eventually(
        lambda: pipeline.http.get(metrics_url),
        lambda r: (
            'continuum_stage_total{channel="other",outcome="unmatched",stage="status"} 1.0'
            in r.text
        ),
    )


async def test_inbound_webhook_from_the_sandbox_gets_a_reply(pipeline: Pipeline) -> None:
    resp = await pipeline.http.post(
        f"{pipeline.sandbox_url}/_sandbox/twilio/inbound",
        json={
            "url": f"{pipeline.api_url}/webhooks/twilio/inbound",
            "from": CUSTOMER,
            "to": "+15559990000",
            "body": "HELP",
        },
    )
    assert resp.status_code == 200
    assert resp.json()["status_code"] == 200

    sent = await eventually(pipeline.sandbox_messages, lambda m: len(m) == 1)
    assert sent[0]["to"] == CUSTOMER
    assert "Reply STOP" in sent[0]["body"]
    steps = await eventually(
        lambda: pipeline.ledger_steps(CUSTOMER), lambda s: ("status_changed", "delivered") in s
    )
    assert steps[0] == ("inbound_received", "accepted")


async def test_inbound_webhook_rejects_a_bad_signature(pipeline: Pipeline) -> None:
    resp = await pipeline.http.post(
        f"{pipeline.api_url}/webhooks/twilio/inbound",
        data={"MessageSid": "SM1", "From": CUSTOMER, "To": "+15559990000", "Body": "HELP"},
        headers={"X-Twilio-Signature": "bogus"},
    )
    assert resp.status_code == 403
    assert "X-Twilio-Signature" in resp.json()["detail"]
