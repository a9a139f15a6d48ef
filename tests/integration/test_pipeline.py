"""One customer message all the way through, on a real broker, Redis and PostgreSQL."""

from __future__ import annotations

import base64

import orjson

from tests.integration.helpers import Pipeline, eventually, sms_event

CUSTOMER = "+15551230001"

FULL_TRAIL = [
    ("inbound_received", "accepted"),
    ("customer_resolved", "created"),
    ("decision", "flow_matched"),
    ("decision", "flow_ended"),
    ("message_queued", "queued"),
    ("provider_accepted", "queued"),
    ("status_changed", "queued"),
    ("status_changed", "sent"),
    ("status_changed", "delivered"),
]


async def test_one_sms_gives_one_reply_a_delivered_status_and_an_ordered_trail(
    pipeline: Pipeline,
) -> None:
    topic = pipeline.service.topics.inbound("sms")
    await pipeline.produce(topic, sms_event("SM8f1c", CUSTOMER, "HELP"), CUSTOMER)

    sent = await eventually(pipeline.sandbox_messages, lambda m: len(m) == 1)
    assert sent[0]["to"] == CUSTOMER
    assert sent[0]["from"] == "+15559990000"
    assert "Reply STOP to opt out" in sent[0]["body"]

    steps = await eventually(lambda: pipeline.ledger_steps(CUSTOMER), lambda s: len(s) >= 9)
    assert steps == FULL_TRAIL
    trail = await pipeline.ledger(CUSTOMER)
    assert len({r.customer_id for r in trail}) == 1
    decision = trail[2]
    assert (decision.flow_id, decision.flow_version) == ("help", 1)
    queued = trail[4]
    assert queued.flow_step == "reply"
    assert queued.detail["text"] == sent[0]["body"]
    assert trail[5].external_id == sent[0]["sid"]
    assert {r.message_id for r in trail[4:]} == {queued.message_id}


async def test_second_message_from_the_same_address_is_the_same_customer(
    pipeline: Pipeline,
) -> None:
    topic = pipeline.service.topics.inbound("sms")
    await pipeline.produce(topic, sms_event("SM1", CUSTOMER, "HELP"), CUSTOMER)
    await eventually(pipeline.sandbox_messages, lambda m: len(m) == 1)
    await pipeline.produce(topic, sms_event("SM2", CUSTOMER, "where is my order?"), CUSTOMER)
    sent = await eventually(pipeline.sandbox_messages, lambda m: len(m) == 2)

    assert "Reply STOP to opt out" in sent[0]["body"]
    assert "What's your order number?" in sent[1]["body"]
    trail = await eventually(
        lambda: pipeline.ledger(CUSTOMER),
        lambda t: (
            [r.outcome for r in t if r.step == "customer_resolved"] == ["created", "existing"]
        ),
    )
    assert len({r.customer_id for r in trail}) == 1


async def test_a_duplicate_inbound_id_gives_one_reply(pipeline: Pipeline) -> None:
    topic = pipeline.service.topics.inbound("sms")
    record = sms_event("SMdup", CUSTOMER, "HELP")
    await pipeline.produce(topic, record, CUSTOMER)
    await pipeline.produce(topic, record, CUSTOMER)

    steps = await eventually(
        lambda: pipeline.ledger_steps(CUSTOMER),
        lambda s: ("inbound_duplicate", "dropped") in s and ("status_changed", "delivered") in s,
    )
    assert steps.count(("inbound_received", "accepted")) == 1
    assert len(await pipeline.sandbox_messages()) == 1


async def test_garbage_goes_to_the_dlq_and_the_next_good_message_is_processed(
    pipeline: Pipeline,
) -> None:
    topic = pipeline.service.topics.inbound("sms")
    garbage = [
        b"\x00\xffnot json at all",
        b'{"hello": "not a cloudevent"}',
        sms_event("SMbad", CUSTOMER, "hi")[:-2] + b',"attachments": 5}}',
    ]
    for value in garbage:
        await pipeline.produce(topic, value, CUSTOMER)
    await pipeline.produce(topic, sms_event("SMgood", CUSTOMER, "HELP"), CUSTOMER)

    sent = await eventually(pipeline.sandbox_messages, lambda m: len(m) == 1)
    assert "Reply STOP" in sent[0]["body"]

    letters = await pipeline.read_topic(pipeline.service.topics.dlq, count=3)
    data = [orjson.loads(r.value)["data"] for r in letters]
    assert sorted(d["reason"] for d in data) == ["invalid_data", "not_cloudevent", "not_json"]
    assert sorted(base64.b64decode(d["original_b64"]) for d in data) == sorted(garbage)
    assert {d["topic"] for d in data} == {topic}
    assert all(d["stage"] == "inbound" and isinstance(d["offset"], int) for d in data)

    metrics = (await pipeline.http.get(f"{pipeline.api_url}/metrics")).text
    assert 'continuum_dlq_total{reason="not_json",stage="inbound"} 1.0' in metrics
    steps = await eventually(
        lambda: pipeline.ledger_steps(CUSTOMER),
        lambda s: len([o for st, o in s if st == "dead_lettered"]) == 3,
    )
    dead = sorted(o for st, o in steps if st == "dead_lettered")
    assert dead == ["invalid_data", "not_cloudevent", "not_json"]


async def test_a_channel_without_an_adapter_is_recorded_as_rejected(pipeline: Pipeline) -> None:
    address = "+15551230002"
    event = orjson.loads(sms_event("WH1", address, "HELP"))
    event["data"]["channel"] = "webhook"  # the generic webhook is off unless configured
    await pipeline.produce(pipeline.service.topics.inbound("webhook"), orjson.dumps(event), address)

    steps = await eventually(lambda: pipeline.ledger_steps(address), lambda s: len(s) >= 6)
    assert steps[-1] == ("provider_rejected", "no_adapter")
    assert await pipeline.sandbox_messages() == []
