"""A batch is committed, retried, or split so that one bad record cannot block a partition."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import ClassVar, cast

from prometheus_client import CollectorRegistry
from redis.exceptions import ConnectionError as RedisConnectionError

from orchestrator.errors import BadRecord, ShuttingDown
from orchestrator.events import AuditRecord, CloudEvent
from orchestrator.metrics import Metrics
from orchestrator.state.store import RedisStateStore
from orchestrator.topics import Topics
from orchestrator.workers.base import BatchWorker, Deps, Record
from orchestrator.workers.batch import Verdict, process
from orchestrator.workers.publisher import Publisher


@dataclass
class FakeRecord:
    topic: str = "t"
    partition: int = 0
    offset: int = 0
    key: bytes | None = None
    value: bytes | None = b"{}"
    headers: tuple[tuple[str, bytes], ...] = ()


class RecordingWorker(BatchWorker):
    """Handles records by value: b"bad" is rejected as invalid, b"bug" raises a programming
    error, b"down" an outage (b"down-once" only the first time); records what it publishes."""

    name: ClassVar[str] = "recording"
    stage: ClassVar[str] = "inbound"

    def __init__(self, outage_on_reject: bool = False) -> None:
        self._rejected = {}
        self.handled: list[bytes] = []
        self.rejected: list[tuple[bytes, BadRecord]] = []
        self.flushes = 0
        self._outage_on_reject = outage_on_reject
        self._outages = 0

    async def handle(self, records: Sequence[Record]) -> None:
        for record in records:
            if record.value == b"bad":
                await self.reject(record, BadRecord("invalid_data", "data: field required"))
        for record in records:
            if record.value == b"bug":
                raise KeyError("customer_id")
            if record.value == b"stop":
                raise ShuttingDown("stopping")
            if record.value == b"down" or (record.value == b"down-once" and not self._outages):
                self._outages += 1
                raise RedisConnectionError("connection refused")
        self.handled.extend(r.value or b"" for r in records if r.value != b"bad")

    async def dead_letter(self, record: Record, error: BadRecord) -> None:
        if self._outage_on_reject:
            raise RedisConnectionError("connection refused")
        self.rejected.append((record.value or b"", error))

    async def flush(self) -> None:
        self.flushes += 1


def records(*values: bytes) -> list[FakeRecord]:
    return [FakeRecord(offset=i, value=v) for i, v in enumerate(values)]


async def test_a_good_batch_is_committed_whole() -> None:
    worker = RecordingWorker()
    assert await process(worker, records(b"a", b"b")) is Verdict.COMMIT
    assert worker.handled == [b"a", b"b"]
    assert worker.rejected == []


async def test_an_outage_rewinds_the_batch_and_dead_letters_nothing() -> None:
    worker = RecordingWorker()
    assert await process(worker, records(b"a", b"down", b"b")) is Verdict.RETRY
    assert worker.rejected == []


async def test_a_record_that_breaks_the_worker_is_dead_lettered_and_the_rest_go_through() -> None:
    worker = RecordingWorker()
    assert await process(worker, records(b"a", b"bug", b"b")) is Verdict.COMMIT
    assert worker.handled == [b"a", b"b"]
    [(value, error)] = worker.rejected
    assert value == b"bug"
    assert error.reason == "processing_error"
    assert "KeyError" in error.detail
    assert worker.flushes == 1


async def test_an_outage_while_isolating_still_rewinds() -> None:
    worker = RecordingWorker()
    assert await process(worker, records(b"bug", b"down")) is Verdict.RETRY


async def test_an_outage_while_dead_lettering_rewinds_instead_of_losing_the_record() -> None:
    worker = RecordingWorker(outage_on_reject=True)
    assert await process(worker, records(b"bug")) is Verdict.RETRY


async def test_isolating_a_batch_publishes_each_dead_letter_once() -> None:
    # The first pass rejects b"bad", then b"bug" breaks the batch: the record-by-record pass
    # rejects b"bad" again, but only one dead letter per position is published.
    worker = RecordingWorker()
    assert await process(worker, records(b"a", b"bad", b"bug", b"b")) is Verdict.COMMIT
    assert [(v, e.reason) for v, e in worker.rejected] == [
        (b"bad", "invalid_data"),
        (b"bug", "processing_error"),
    ]
    assert worker.handled == [b"a", b"b"]


async def test_a_retried_batch_publishes_its_dead_letters_only_when_it_commits() -> None:
    worker = RecordingWorker()
    batch = records(b"bad", b"down-once")
    assert await process(worker, batch) is Verdict.RETRY
    assert worker.rejected == []
    assert await process(worker, batch) is Verdict.COMMIT
    assert [(v, e.reason) for v, e in worker.rejected] == [(b"bad", "invalid_data")]


async def test_a_batch_interrupted_by_stop_is_abandoned_without_dead_letters() -> None:
    worker = RecordingWorker()
    assert await process(worker, records(b"bad", b"stop")) is Verdict.ABANDON
    assert worker.rejected == []
    assert await process(worker, records(b"bug", b"bad", b"stop")) is Verdict.ABANDON
    assert worker.rejected == []


class RecordingPublisher:
    """Captures what a worker publishes, as the real Publisher would send it."""

    def __init__(self) -> None:
        self.published: list[tuple[str, CloudEvent]] = []
        self.audits: list[AuditRecord] = []

    async def publish(self, topic: str, event: CloudEvent, key: str | bytes | None) -> None:
        self.published.append((topic, event))

    async def audit(self, record: AuditRecord) -> None:
        self.audits.append(record)

    async def flush(self) -> None:
        pass


class RejectingWorker(BatchWorker):
    """The real dead-lettering path: b"bad" is rejected, b"bug" breaks the batch."""

    name: ClassVar[str] = "rejecting"
    stage: ClassVar[str] = "inbound"

    async def handle(self, records: Sequence[Record]) -> None:
        for record in records:
            if record.value == b"bad":
                await self.reject(record, BadRecord("not_json", "value is not JSON"))
        if any(r.value == b"bug" for r in records):
            raise ValueError("Maximum serialization depth exceeded")


async def test_one_dead_letter_per_position_is_published_when_a_batch_is_isolated() -> None:
    pub = RecordingPublisher()
    deps = Deps(
        topics=Topics(),
        store=cast(RedisStateStore, None),
        metrics=Metrics(CollectorRegistry()),
        clock=lambda: datetime(2026, 11, 22, tzinfo=UTC),
        new_id=lambda: "cus_1",
    )
    worker = RejectingWorker(deps, cast(Publisher, pub))
    batch = records(b"a", b"bad", b"bug", b"b", b"bad")
    assert await process(worker, batch) is Verdict.COMMIT
    ids = [event.id for topic, event in pub.published if topic == deps.topics.dlq]
    assert ids == ["dlq:t:0:1", "dlq:t:0:2", "dlq:t:0:4"]
    assert [r.outcome for r in pub.audits] == ["not_json", "processing_error", "not_json"]
    assert (
        deps.metrics.registry.get_sample_value(
            "continuum_dlq_total", {"stage": "inbound", "reason": "not_json"}
        )
        == 2
    )
