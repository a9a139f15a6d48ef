"""What every worker shares: its dependencies, dead-lettering, and record positions."""

from __future__ import annotations

import base64
import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar, Protocol

from orchestrator.errors import BadRecord
from orchestrator.events import DEAD_LETTER, CloudEvent, DeadLetter
from orchestrator.ledger.records import audit
from orchestrator.metrics import Metrics
from orchestrator.settings import Settings
from orchestrator.state.store import RedisStateStore
from orchestrator.topics import Topics
from orchestrator.workers.publisher import Publisher

log = logging.getLogger(__name__)


class Record(Protocol):
    """The parts of a consumed Kafka record a worker reads (aiokafka's ConsumerRecord has them)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass(frozen=True, slots=True)
class Deps:
    """What a worker needs from the outside world, built once by the composition root."""

    settings: Settings
    topics: Topics
    store: RedisStateStore
    metrics: Metrics
    clock: Callable[[], datetime]
    new_id: Callable[[], str]


class BatchWorker:
    """A consumer of batches: does a batch's work durably, or raises to have it redelivered.

    Subclasses set ``name`` (consumer group and metrics label) and ``stage`` (pipeline stage),
    and implement :meth:`topics` and :meth:`handle`. Records that cannot be processed are
    passed to :meth:`reject`, which dead-letters them; the batch goes on.
    """

    name: ClassVar[str]
    stage: ClassVar[str]

    def __init__(self, deps: Deps, publisher: Publisher) -> None:
        self._deps = deps
        self._pub = publisher

    def topics(self) -> list[str]:
        """The topics this worker consumes."""
        raise NotImplementedError

    async def handle(self, records: Sequence[Record]) -> None:
        """Process a batch; durable when this returns."""
        raise NotImplementedError

    async def reject(self, record: Record, error: BadRecord) -> None:
        """Dead-letter one record (durable after :meth:`flush`)."""
        await dead_letter(self._deps, self._pub, self.stage, record, error)

    async def flush(self) -> None:
        """Wait for everything published so far to be acknowledged."""
        await self._pub.flush()

    def observe(
        self, outcomes: Sequence[tuple[str | None, str]], started: float, size: int
    ) -> None:
        """Count each (channel, outcome) and time each record: the batch's time so far, which is
        what each of its records spent in the stage (``size`` is kept for callers' sake)."""
        elapsed = time.perf_counter() - started
        for channel, outcome in outcomes:
            self._deps.metrics.observe(self.stage, channel, outcome, elapsed)


def position(record: Record) -> str:
    """Where a record sits: ``topic:partition:offset``; stable across redeliveries."""
    return f"{record.topic}:{record.partition}:{record.offset}"


async def dead_letter(
    deps: Deps, publisher: Publisher, stage: str, record: Record, error: BadRecord
) -> None:
    """Send a record that cannot be processed to the DLQ with the reason, audit and count it."""
    key = record.key.decode(errors="replace") if record.key is not None else None
    letter = DeadLetter(
        reason=error.reason,
        detail=error.detail,
        stage=stage,
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=key,
        original_b64=base64.b64encode(record.value or b"").decode(),
    )
    at = deps.clock()
    event = CloudEvent(
        specversion="1.0",
        id=f"dlq:{position(record)}",
        source=f"/continuum/{stage}",
        type=DEAD_LETTER,
        time=at,
        data=letter.model_dump(mode="json"),
    )
    await publisher.publish(deps.topics.dlq, event, key)
    # The value's digest joins the position: an embedded broker restarts its offsets at zero.
    digest = hashlib.sha256(record.value or b"").hexdigest()
    await publisher.audit(
        audit(
            "dead_lettered",
            error.reason,
            identity=(position(record), digest),
            at=at,
            address=key,
            reason=error.detail[:500],
            detail={
                "stage": stage,
                "topic": record.topic,
                "partition": record.partition,
                "offset": record.offset,
                "key": key,
            },
        )
    )
    deps.metrics.dlq_total.labels(stage, error.reason).inc()
    deps.metrics.stage_total.labels(stage, "other", "dead_lettered").inc()
    log.warning("dead-lettered %s from %s: %s", position(record), stage, error)
