"""What every worker shares: its dependencies, dead-lettering, and record positions."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar, Protocol

from orchestrator.errors import BadRecord
from orchestrator.events import DEAD_LETTER, AuditRecord, CloudEvent, DeadLetter, new_event
from orchestrator.ledger.records import audit
from orchestrator.metrics import Metrics
from orchestrator.state.protocols import EventPublisher, StateStore
from orchestrator.topics import Topics

log = logging.getLogger(__name__)


class Record(Protocol):
    """The parts of a consumed Kafka record a worker reads (aiokafka's ConsumerRecord has them)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]]


@dataclass(frozen=True, slots=True)
class Deps:
    """What every worker needs from the outside world, built once by the composition root.

    Settings are not among them: each worker takes its own section of them (``InboundSettings``,
    ``DispatchSettings``, ``StatusSettings``), so what a worker can be tuned by is in its
    signature.
    """

    topics: Topics
    store: StateStore
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

    def __init__(self, deps: Deps, publisher: EventPublisher) -> None:
        self._deps = deps
        self._pub = publisher
        self._rejected: dict[str, tuple[Record, BadRecord]] = {}
        self.stopping = asyncio.Event()  # set by the runner on stop: start nothing new

    def topics(self) -> list[str]:
        """The topics this worker consumes."""
        raise NotImplementedError

    async def handle(self, records: Sequence[Record]) -> None:
        """Process a batch; durable when this returns."""
        raise NotImplementedError

    async def reject(self, record: Record, error: BadRecord) -> None:
        """Mark one record for the DLQ; the first reason given for a position wins.

        Nothing is published yet: :func:`orchestrator.workers.batch.process` publishes the
        batch's dead letters once, when it knows the batch will be committed, so a batch that is
        retried or isolated record by record never publishes a dead letter twice.
        """
        self._rejected.setdefault(position(record), (record, error))

    def discard_rejected(self) -> None:
        """Forget the dead letters of a pass that will not be committed."""
        self._rejected.clear()

    async def publish_rejected(self) -> int:
        """Publish the dead letters of the pass, wait for the broker, and return how many."""
        rejected, self._rejected = self._rejected, {}
        for record, error in rejected.values():
            await self.dead_letter(record, error)
        await self.flush()
        return len(rejected)

    async def dead_letter(self, record: Record, error: BadRecord) -> None:
        """Publish one dead letter and its ``dead_lettered`` audit record, and count it."""
        letter, row = dead_letter_of(self._deps.clock(), self.stage, record, error)
        key = record.key[:KEY_KEPT_MAX] if record.key is not None else None
        await self._pub.publish(self._deps.topics.dlq, letter, key)  # keyed as the original
        await self.audit_dead_letter(row)
        self._deps.metrics.dlq_total.labels(self.stage, error.reason).inc()
        self._deps.metrics.stage_total.labels(self.stage, "other", "dead_lettered").inc()
        log.warning("dead-lettered %s from %s: %s", position(record), self.stage, error)

    async def audit_dead_letter(self, row: AuditRecord) -> None:
        """Send the ``dead_lettered`` row to the ledger (through ``continuum.audit``)."""
        await self._pub.audit(row)

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


KEY_TEXT_MAX = 1024  # characters of a key kept as text; the whole key is in ``key_b64``
ADDRESS_MAX = 320  # the longest address a ledger row keeps (as MessageReceived.sender)
# A dead letter must fit in one Kafka request (1 MiB by default) or it is retried for ever: the
# original value and key are kept whole up to these sizes, and beyond them cut, with the size
# and SHA-256 of the whole (the record itself stays at its position until retention).
VALUE_KEPT_MAX = 512 * 1024
KEY_KEPT_MAX = 64 * 1024


def key_text(key: bytes | None) -> tuple[str | None, bool]:
    """A record key as text, and whether that text is exactly the key's bytes.

    Bytes that are not UTF-8 are replaced (so the text is lossy, and ``False`` is returned), and
    a very long key is cut: the caller keeps the original in base64 when it matters.
    """
    if key is None:
        return None, True
    try:
        text, exact = key.decode(), True
    except UnicodeDecodeError:
        text, exact = key.decode(errors="replace"), False
    if len(text) > KEY_TEXT_MAX:
        return text[:KEY_TEXT_MAX], False
    return text, exact


def dead_letter_of(
    at: datetime, stage: str, record: Record, error: BadRecord
) -> tuple[CloudEvent, AuditRecord]:
    """The ``continuum.dead_letter`` event for ``record`` and its ``dead_lettered`` audit row.

    Both are deterministic (the id is the position; the row's id adds the value's digest, since
    an embedded broker restarts its offsets at zero), so a redelivery produces the same ones.
    """
    key, exact = key_text(record.key)
    raw_key = record.key[:KEY_KEPT_MAX] if record.key is not None else None
    key_b64 = base64.b64encode(raw_key).decode() if raw_key is not None else None
    value = record.value or b""
    digest = hashlib.sha256(value).hexdigest()
    cut = len(value) > VALUE_KEPT_MAX
    letter = DeadLetter(
        reason=error.reason,
        detail=error.detail,
        stage=stage,
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=key,
        key_b64=key_b64,
        original_b64=base64.b64encode(value[:VALUE_KEPT_MAX]).decode(),
        original_size=len(value) if cut else None,
        original_sha256=digest if cut else None,
        headers=[(name, base64.b64encode(raw).decode()) for name, raw in record.headers or ()],
    )
    event = new_event(
        DEAD_LETTER, f"dlq:{position(record)}", f"/continuum/{stage}", letter, time=at
    )
    detail: dict[str, object] = {
        "stage": stage,
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "key": key,
    }
    if not exact:
        detail["key_b64"] = key_b64
    row = audit(
        "dead_lettered",
        error.reason,
        identity=(position(record), digest),
        at=at,
        address=key[:ADDRESS_MAX] if key is not None else None,
        reason=error.detail[:500],
        detail=detail,
    )
    return event, row
