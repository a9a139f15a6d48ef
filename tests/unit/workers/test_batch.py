"""A batch is committed, retried, or split so that one bad record cannot block a partition."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from redis.exceptions import ConnectionError as RedisConnectionError

from orchestrator.errors import BadRecord
from orchestrator.workers.base import BatchWorker, Record
from orchestrator.workers.batch import Verdict, process


@dataclass
class FakeRecord:
    topic: str = "t"
    partition: int = 0
    offset: int = 0
    key: bytes | None = None
    value: bytes | None = b"{}"


class RecordingWorker(BatchWorker):
    """Handles records by value: b"bug" raises a programming error, b"down" an outage."""

    name: ClassVar[str] = "recording"
    stage: ClassVar[str] = "inbound"

    def __init__(self, outage_on_reject: bool = False) -> None:
        self.handled: list[bytes] = []
        self.rejected: list[tuple[bytes, BadRecord]] = []
        self.flushes = 0
        self._outage_on_reject = outage_on_reject

    async def handle(self, records: Sequence[Record]) -> None:
        for record in records:
            if record.value == b"bug":
                raise KeyError("customer_id")
            if record.value == b"down":
                raise RedisConnectionError("connection refused")
        self.handled.extend(r.value or b"" for r in records)

    async def reject(self, record: Record, error: BadRecord) -> None:
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
