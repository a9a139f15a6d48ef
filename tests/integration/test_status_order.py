"""Statuses never move backwards: a late receipt is recorded but leaves the status as it is."""

from __future__ import annotations

import uuid

import pytest

from channels.twilio.signature import compute_signature
from channels.twilio.webhooks import STATUS_PATH
from orchestrator.redis_client import make_redis
from orchestrator.state.message_status import advance
from tests.integration.helpers import Pipeline, eventually

CUSTOMER = "+15551230311"


@pytest.fixture(params=["redis", "cluster"])
def any_redis_url(request: pytest.FixtureRequest) -> str:
    name = "redis_url" if request.param == "redis" else "redis_cluster_url"
    return str(request.getfixturevalue(name))


async def test_a_status_applies_only_when_it_moves_the_message_forward(any_redis_url: str) -> None:
    redis = make_redis(any_redis_url)
    try:
        a, b = f"msg_{uuid.uuid4().hex}", f"msg_{uuid.uuid4().hex}"
        seen = await advance(
            redis,
            [
                (a, "unknown"),  # nothing known yet: unknown is the status
                (a, "sent"),
                (b, "delivered"),
                (a, "delivered"),
                (a, "sent"),  # late: recorded by the caller, not applied
                (a, "delivered"),  # a redelivered receipt changes nothing
                (b, "failed"),  # a failure after delivery does not undo it
                (a, "read"),
                (a, "bogus"),  # not a status: treated as unknown
            ],
        )
        assert [(v.applied, v.current) for v in seen] == [
            (True, "unknown"),
            (True, "sent"),
            (True, "delivered"),
            (True, "delivered"),
            (False, "delivered"),
            (False, "delivered"),
            (False, "delivered"),
            (True, "read"),
            (False, "read"),
        ]
        later = await advance(redis, [(b, "undelivered"), (b, "read")])
        assert [(v.applied, v.current) for v in later] == [(False, "delivered"), (True, "read")]
        assert 0 < await redis.ttl(f"ct:mstatus:{a}") <= 30 * 24 * 3600
    finally:
        await redis.aclose()


async def test_a_late_sent_after_delivered_is_recorded_as_stale(pipeline: Pipeline) -> None:
    resp = await pipeline.http.post(
        f"{pipeline.sandbox_url}/_sandbox/twilio/inbound",
        json={
            "url": f"{pipeline.api_url}/webhooks/twilio/inbound",
            "from": CUSTOMER,
            "to": "+15559990000",
            "body": "HELP",
        },
    )
    assert resp.json()["status_code"] == 200
    await eventually(
        lambda: pipeline.ledger_steps(CUSTOMER), lambda s: ("status_changed", "delivered") in s
    )
    sid = (await pipeline.sandbox_messages())[0]["sid"]

    url = pipeline.api_url + STATUS_PATH
    form = {"MessageSid": sid, "MessageStatus": "sent", "AccountSid": "AC" + "0" * 32}
    signature = compute_signature("sandbox-auth-token", url, form)
    late = await pipeline.http.post(url, data=form, headers={"X-Twilio-Signature": signature})
    assert late.status_code == 204

    trail = await eventually(
        lambda: pipeline.ledger(CUSTOMER), lambda t: any(r.step == "status_stale" for r in t)
    )
    stale = next(r for r in trail if r.step == "status_stale")
    assert stale.outcome == "sent"
    assert stale.detail["current"] == "delivered"
    assert "does not move back" in (stale.reason or "")
    changed = [r.outcome for r in trail if r.step == "status_changed"]
    assert changed[-1] == "delivered"  # the late receipt did not become a status change
    metrics = (await pipeline.http.get(f"{pipeline.api_url}/metrics")).text
    assert 'continuum_stage_total{channel="sms",outcome="stale",stage="status"} 1.0' in metrics
