"""Addresses as typed by people and systems: one canonical spelling, one customer, one consent."""

from __future__ import annotations

import orjson

from channels.twilio.signature import compute_signature
from channels.twilio.webhooks import INBOUND_PATH
from orchestrator.events import AuditRecord
from tests.integration.helpers import Pipeline, eventually, sms_event

CANONICAL = "+15551230001"
TYPED = "+1 (555) 123-0001"


def _customers(trail: list[AuditRecord], step: str) -> list[str | None]:
    return [r.customer_id for r in trail if r.step == step]


async def test_two_spellings_are_one_customer_and_a_stop_from_one_covers_the_other(
    pipeline: Pipeline,
) -> None:
    topic = pipeline.service.topics.inbound("sms")
    await pipeline.produce(topic, sms_event("SMa1", TYPED, "HELP"), TYPED)
    sent = await eventually(pipeline.sandbox_messages, lambda m: len(m) == 1)
    assert sent[0]["to"] == CANONICAL

    await pipeline.produce(topic, sms_event("SMa2", CANONICAL, "STOP"), CANONICAL)
    sent = await eventually(pipeline.sandbox_messages, lambda m: len(m) == 2)
    assert sent[1]["to"] == CANONICAL  # the one opt-out confirmation

    await pipeline.produce(topic, sms_event("SMa3", TYPED, "HELP"), TYPED)
    trail = await eventually(
        lambda: pipeline.ledger(CANONICAL),
        lambda t: any(r.step == "decision" and r.event_id == "sms:SMa3" for r in t),
    )
    resolved = _customers(trail, "customer_resolved")
    assert len(resolved) == 3
    assert len(set(resolved)) == 1
    assert [r.outcome for r in trail if r.step == "customer_resolved"] == [
        "created",
        "existing",
        "existing",
    ]
    received = [r for r in trail if r.step == "inbound_received"]
    assert {r.address for r in received} == {CANONICAL}
    assert received[0].detail["from_as_sent"] == TYPED
    assert await pipeline.ledger(TYPED) == []  # nothing stored under the typed spelling
    assert len(await pipeline.sandbox_messages()) == 2  # opted out: no answer to the 2nd HELP


async def test_a_sender_that_is_not_a_phone_number_is_dead_lettered(pipeline: Pipeline) -> None:
    topic = pipeline.service.topics.inbound("sms")
    await pipeline.produce(topic, sms_event("SMh1", "hello", "HELP"), "hello")
    await pipeline.produce(topic, sms_event("SMh2", CANONICAL, "HELP"), CANONICAL)

    await eventually(pipeline.sandbox_messages, lambda m: len(m) == 1)
    letters = await pipeline.read_topic(pipeline.service.topics.dlq, count=1)
    data = orjson.loads(letters[0].value)["data"]
    assert data["reason"] == "invalid_address"
    assert "'hello'" in data["detail"]
    metrics = (await pipeline.http.get(f"{pipeline.api_url}/metrics")).text
    assert 'continuum_dlq_total{reason="invalid_address",stage="inbound"} 1.0' in metrics


async def test_the_inbound_webhook_normalises_and_refuses_the_sender(pipeline: Pipeline) -> None:
    url = pipeline.api_url + INBOUND_PATH

    async def post(sid: str, sender: str) -> int:
        form = {"MessageSid": sid, "From": sender, "To": "+15559990000", "Body": "HELP"}
        sig = compute_signature("sandbox-auth-token", url, form)
        resp = await pipeline.http.post(url, data=form, headers={"X-Twilio-Signature": sig})
        if resp.status_code == 400:
            assert resp.json()["detail"].startswith("invalid_address: From:")
        return resp.status_code

    assert await post("SMw1", "hello") == 400
    assert await post("SMw2", TYPED) == 200
    records = await pipeline.read_topic(pipeline.service.topics.inbound("sms"), count=1)
    assert records[0].key == CANONICAL.encode()
    assert orjson.loads(records[0].value)["data"]["from"] == CANONICAL
    metrics = (await pipeline.http.get(f"{pipeline.api_url}/metrics")).text
    assert 'continuum_webhook_total{outcome="invalid",route="twilio_inbound"} 1.0' in metrics


def _delayed(event_id: str, address: str) -> bytes:
    return orjson.dumps(
        {
            "specversion": "1.0",
            "id": event_id,
            "source": "/orders",
            "type": "event.order.delayed",
            "data": {
                "customer": {"channel": "sms", "address": address},
                "order_id": "55501",
                "eta": "2026-11-30",
            },
        }
    )


async def test_a_business_event_for_a_new_address_reaches_the_customer_on_it(
    pipeline: Pipeline,
) -> None:
    address = "+1 555 123 0077"
    await pipeline.produce(pipeline.service.topics.events, _delayed("ord-1", address), address)

    # Addressed on the identity the event named (quiet hours may hold it: that is policy's call).
    trail = await eventually(
        lambda: pipeline.ledger("+15551230077"),
        lambda t: any(r.step == "message_queued" for r in t),
    )
    queued = [r for r in trail if r.step == "message_queued"]
    assert [(r.channel, r.address) for r in queued] == [("sms", "+15551230077")]
    received = [r for r in trail if r.step == "event_received"]
    assert [(r.channel, r.address) for r in received] == [("sms", "+15551230077")]
    assert not [r for r in trail if r.outcome == "unreachable" or r.reason == "unreachable"]


async def test_a_business_event_for_an_invalid_address_is_dead_lettered(
    pipeline: Pipeline,
) -> None:
    await pipeline.produce(pipeline.service.topics.events, _delayed("ord-2", "hello"), "hello")
    letters = await pipeline.read_topic(pipeline.service.topics.dlq, count=1)
    data = orjson.loads(letters[0].value)["data"]
    assert (data["reason"], data["stage"]) == ("invalid_address", "events")
