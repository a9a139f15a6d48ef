"""Two lanes per outbound channel: marketing goes to ``outbound.<channel>.bulk``, the rest to
``outbound.<channel>``; each has its own dispatcher; the release loop puts a deferred send back
in its lane."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from prometheus_client import CollectorRegistry

from orchestrator.events import MESSAGE_SEND, CloudEvent
from orchestrator.media import MEDIA
from orchestrator.metrics import Metrics
from orchestrator.state.deferred import DeferredSend
from orchestrator.topics import Topics
from orchestrator.vocabulary import PURPOSES
from orchestrator.workers.dispatcher import BulkDispatcherWorker, DispatcherWorker
from orchestrator.workers.release import DeferredRelease
from tests.fakes import FakeDeferredSends, RecordingPublisher

NOW = datetime(2026, 12, 2, 12, tzinfo=UTC)


def test_marketing_goes_to_the_bulk_lane_and_the_rest_to_the_reply_lane() -> None:
    topics = Topics("p.")
    assert {p: topics.outbound_for("sms", p) for p in PURPOSES} == {
        "transactional": "p.outbound.sms",
        "service": "p.outbound.sms",
        "marketing": "p.outbound.sms.bulk",
    }
    assert topics.outbound_for("email", None) == "p.outbound.email"


def test_every_bulk_topic_is_created_and_names_its_channel() -> None:
    topics = Topics()
    everything = topics.all()
    for medium in MEDIA:
        assert topics.outbound_bulk(medium) in everything
        assert topics.channel_of(topics.outbound_bulk(medium)) == medium
        assert topics.channel_of(topics.outbound(medium)) == medium


def test_each_lane_has_its_own_consumer_group() -> None:
    assert (DispatcherWorker.name, BulkDispatcherWorker.name) == ("dispatcher", "dispatcher_bulk")


@pytest.mark.parametrize(
    ("purpose", "topic"),
    [("marketing", "continuum.outbound.sms.bulk"), ("service", "continuum.outbound.sms")],
)
async def test_a_released_send_goes_back_to_its_lane(purpose: str, topic: str) -> None:
    deferred, pub = FakeDeferredSends(), RecordingPublisher()
    data = {"message_id": "m1", "customer_id": "c1", "channel": "sms", "to": "+1555", "text": "x"}
    event = CloudEvent(
        specversion="1.0",
        id="m1",
        source="/t",
        type=MESSAGE_SEND,
        data={**data, "purpose": purpose},
    )
    await deferred.defer([DeferredSend("m1", "c1", "sms", NOW, event.to_bytes().decode())])
    release = DeferredRelease(deferred, pub, Topics(), lambda: NOW, Metrics(CollectorRegistry()))
    await release.release_due()
    assert [(t, k) for t, _, k in pub.published] == [(topic, "c1")]
