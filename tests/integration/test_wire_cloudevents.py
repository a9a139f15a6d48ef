"""Both content modes of the CloudEvents Kafka binding through the running pipeline.

The records are made by the official SDK (``cloudevents.core.bindings.kafka``), as Knative's or
Debezium's would be: binary mode puts the attributes in ``ce_*`` headers and the data alone in
the value.
"""

from __future__ import annotations

from cloudevents.core.bindings import kafka as ce_kafka
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

from orchestrator.events import MESSAGE_RECEIVED
from tests.integration.helpers import Pipeline, eventually

BINARY_SENDER = "+15551230011"
STRUCTURED_SENDER = "+15551230012"


def _sms(event_id: str, sender: str) -> CloudEvent:
    return CloudEvent(
        attributes={
            "id": event_id,
            "source": "/knative/sms",
            "type": MESSAGE_RECEIVED,
            "datacontenttype": "application/json",
            "partitionkey": sender,
        },
        data={"channel": "sms", "from": sender, "to": "+15559990000", "text": "HELP"},
    )


async def test_binary_and_structured_records_from_the_sdk_are_both_answered(
    pipeline: Pipeline,
) -> None:
    topic = pipeline.service.topics.inbound("sms")
    for message in (
        ce_kafka.to_binary(_sms("KN1", BINARY_SENDER), JSONFormat()),
        ce_kafka.to_structured(_sms("KN2", STRUCTURED_SENDER), JSONFormat()),
    ):
        key = message.key.encode() if isinstance(message.key, str) else message.key
        await pipeline.producer.send_and_wait(
            topic, message.value, key=key, headers=list(message.headers.items())
        )

    sent = await eventually(pipeline.sandbox_messages, lambda m: len(m) == 2)
    assert sorted(m["to"] for m in sent) == [BINARY_SENDER, STRUCTURED_SENDER]
    assert all("Reply STOP" in m["body"] for m in sent)
    trail = await pipeline.ledger(BINARY_SENDER)
    received = [r for r in trail if r.step == "inbound_received"]
    assert [(r.event_id, r.detail["source"]) for r in received] == [("KN1", "/knative/sms")]
    assert not [r for r in trail if r.step == "dead_lettered"]
