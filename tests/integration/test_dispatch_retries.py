"""Retries off the batch: a retryable provider failure commits its batch at once.

The claim is released and the original record is kept in the deferred queue with its next
attempt number and due time; the release loop puts it back on its topic; the next attempt sends
it; after ``dispatch.attempts`` failures it is ``failed`` and nothing more is scheduled.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import ClassVar

import orjson
import pytest
from prometheus_client import CollectorRegistry

from channels.base import OutboundMessage, SendResult
from channels.errors import ConnectionFailed, Throttled
from orchestrator.delivery.backoff import no_jitter
from orchestrator.events import AuditRecord, CloudEvent
from orchestrator.metrics import Metrics
from orchestrator.policy.spec import Policy
from orchestrator.redis_client import RedisClient, make_redis
from orchestrator.settings import DispatchSettings
from orchestrator.state.deferred import DeferredSends
from orchestrator.state.policy_counters import PolicyCounters
from orchestrator.state.store import RedisStateStore
from orchestrator.topics import Topics
from orchestrator.workers.base import Deps
from orchestrator.workers.dispatcher import ATTEMPT, DispatcherWorker
from orchestrator.workers.release import DeferredRelease
from tests.integration.helpers import FakeRecord, RecordingPublisher
from tests.integration.test_redis_cluster_round_trips import (
    NOW,
    customer,
    ledger_state,
    send_record,
)

BACKOFF_S = 60.0  # long: a batch that waited for it would not end within the test's timeout


class FailingAdapter:
    """Fails the first ``failures`` calls retryably, then accepts."""

    channel_type: ClassVar[str] = "sms.twilio"
    channel: ClassVar[str] = "sms"
    secret_fields: ClassVar[tuple[str, ...]] = ()

    def __init__(self, failures: int, error: Exception | None = None) -> None:
        self.failures, self.calls = failures, 0
        self.error = error or ConnectionFailed("connection refused")

    async def send(self, msg: OutboundMessage) -> SendResult:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return SendResult(external_ids=(f"SM{msg.message_id}",), status="queued")


class AuditingPublisher(RecordingPublisher):
    """Keeps the audit records too."""

    def __init__(self) -> None:
        super().__init__()
        self.audits: list[AuditRecord] = []

    async def audit(self, record: AuditRecord) -> None:
        self.audits.append(record)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


class Rig:
    """A dispatcher and a release loop on one Redis, with a clock the test moves."""

    def __init__(
        self, client: RedisClient, adapter: FailingAdapter, attempts: int, backoff_s: float
    ) -> None:
        self.client, self.adapter, self.clock = client, adapter, Clock()
        self.store, self.deferred = RedisStateStore(client), DeferredSends(client)
        self.pub, self.released = AuditingPublisher(), RecordingPublisher()
        dispatch = DispatchSettings(attempts=attempts, backoff_s=backoff_s, backoff_max_s=3600)
        metrics = Metrics(CollectorRegistry())
        self.deps = Deps(
            topics=Topics(),
            store=self.store,
            metrics=metrics,
            clock=self.clock,
            new_id=lambda: "unused",
        )
        self.worker = DispatcherWorker(
            self.deps,
            self.pub,  # type: ignore[arg-type]
            {"sms": adapter},
            {},
            policy=Policy,
            counters=PolicyCounters(client),
            deferred=self.deferred,
            settings=dispatch,
            draw=no_jitter,  # the longest delay: the plain doubling
        )
        self.release = DeferredRelease(
            self.deferred,
            self.released,  # type: ignore[arg-type]
            self.deps.topics,
            self.clock,
            metrics,
        )

    async def dispatch(self, value: bytes, offset: int) -> None:
        record = FakeRecord(self.deps.topics.outbound("sms"), offset, value)
        await self.worker.handle([record])  # type: ignore[list-item]

    async def release_next(self) -> bytes:
        """Move the clock to the earliest deferred send and release it; its record."""
        due = await self.deferred.next_due()
        assert due is not None
        self.clock.now = due
        self.released.published.clear()
        await self.release.release_due()
        [(topic, event)] = self.released.published
        assert topic == self.deps.topics.outbound_bulk("sms")  # send_record's are marketing
        return event.to_bytes()

    def steps(self) -> list[tuple[str, str]]:
        return [(r.step, r.outcome) for r in self.pub.audits]


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[RedisClient]:
    redis = make_redis(redis_url)
    await redis.flushdb()
    try:
        yield redis
    finally:
        await redis.aclose()


async def rig(
    client: RedisClient, adapter: FailingAdapter, attempts: int = 3, backoff_s: float = BACKOFF_S
) -> Rig:
    r = Rig(client, adapter, attempts, backoff_s)
    await r.store.save_states([customer("cus_000001")])
    return r


FIRST = send_record(0, "msg_r1", "cus_000001", "Your order shipped").value


@pytest.mark.timeout(30)
async def test_a_retryable_failure_commits_the_batch_with_the_retry_scheduled(
    client: RedisClient,
) -> None:
    r = await rig(client, FailingAdapter(failures=1))

    await r.dispatch(FIRST, 0)  # returns without waiting the 60 s backoff

    assert r.adapter.calls == 1
    assert await ledger_state(client, "msg_r1") is None  # the claim was released
    [retry] = await r.deferred.pending()
    assert retry.due == NOW + timedelta(seconds=BACKOFF_S)
    assert orjson.loads(retry.value)[ATTEMPT] == 2
    [failed] = r.pub.audits
    assert (failed.step, failed.outcome) == ("provider_attempt", "connection_failed")
    assert failed.detail == {"attempt": 1, "next_due": retry.due.isoformat()}


@pytest.mark.timeout(30)
async def test_the_released_retry_is_sent_and_recorded_once_as_accepted(
    client: RedisClient,
) -> None:
    r = await rig(client, FailingAdapter(failures=1))
    await r.dispatch(FIRST, 0)

    again = await r.release_next()
    assert CloudEvent.model_validate_json(again).model_extra == {ATTEMPT: 2}
    await r.dispatch(again, 1)

    assert r.adapter.calls == 2
    assert await ledger_state(client, "msg_r1") == "accepted"
    assert r.steps() == [("provider_attempt", "connection_failed"), ("provider_accepted", "queued")]
    assert await r.deferred.pending() == []


@pytest.mark.timeout(30)
async def test_after_the_last_attempt_the_send_is_failed_and_no_retry_is_scheduled(
    client: RedisClient,
) -> None:
    r = await rig(client, FailingAdapter(failures=99), attempts=3)
    await r.dispatch(FIRST, 0)
    first_due = (await r.deferred.pending())[0].due
    await r.dispatch(await r.release_next(), 1)
    second_due = (await r.deferred.pending())[0].due
    assert second_due - r.clock.now == timedelta(seconds=2 * BACKOFF_S)  # doubled
    await r.dispatch(await r.release_next(), 2)

    assert r.adapter.calls == 3
    assert await ledger_state(client, "msg_r1") == "failed"
    assert await r.deferred.pending() == []
    assert r.steps() == [("provider_attempt", "connection_failed")] * 2 + [
        ("provider_failed", "connection_failed")
    ]
    assert [a.detail for a in r.pub.audits] == [
        {"attempt": 1, "next_due": first_due.isoformat()},
        {"attempt": 2, "next_due": second_due.isoformat()},
        {"attempt": 3},
    ]
    assert len({a.record_id for a in r.pub.audits}) == 3  # one record per attempt


@pytest.mark.timeout(30)
@pytest.mark.parametrize(("retry_after", "wait_s"), [(5.0, 5.0), (600.0, 30.0), (None, 0.5)])
async def test_a_throttled_send_waits_for_retry_after_up_to_30_s(
    client: RedisClient, retry_after: float | None, wait_s: float
) -> None:
    adapter = FailingAdapter(failures=1, error=Throttled("slow down", retry_after=retry_after))
    r = await rig(client, adapter, backoff_s=0.5)

    await r.dispatch(FIRST, 0)

    [retry] = await r.deferred.pending()
    assert retry.due == NOW + timedelta(seconds=wait_s)
