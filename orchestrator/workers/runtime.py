"""Runs a worker on its own faststream broker: batches in, work made durable, then one commit.

Each worker gets its own broker (its own connections), so that the workers of one process join
their consumer groups concurrently instead of one after another.

Failure handling:
- bad records never reach here: workers dead-letter them and carry on;
- an infrastructure failure (Redis, PostgreSQL or the broker unreachable) rewinds the batch
  (``nack``) and retries it after a growing pause, so nothing is skipped and nothing is lost.

Stopping (:meth:`WorkerRunner.drain`): the worker's ``stopping`` event is set, so it starts no new
work; the batch in flight gets a grace period to finish (and is committed if it does), and is
abandoned uncommitted if not. From then on nothing more is committed: the consumer's position
may be past records it never processed, and only a commit would make that stick. The next
owner of the partitions redoes everything after the last commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from aiokafka import ConsumerRebalanceListener, TopicPartition
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage

from orchestrator.metrics import Metrics
from orchestrator.settings import Settings
from orchestrator.topics import Topics
from orchestrator.workers import polling
from orchestrator.workers.base import BatchWorker
from orchestrator.workers.batch import Verdict, process
from orchestrator.workers.pacing import Pace, Pacer, fetch_without_pause

log = logging.getLogger(__name__)

RETRY_PAUSE_MAX_S = 30.0
# How often aiokafka's fetch routine wakes when nothing happened: its default while records flow,
# rarely while idle (5 wake-ups a second per consumer were most of an idle process's CPU).
BUSY_FETCHER_WAKE_MS, IDLE_FETCHER_WAKE_MS = 200, 5000


def make_broker(settings: Settings, client_id: str) -> KafkaBroker:
    """A broker connection with Continuum's producer settings (acks=all, small linger)."""
    return KafkaBroker(
        settings.kafka_bootstrap,
        client_id=client_id,
        acks="all",
        linger_ms=2,
        enable_idempotence=False,  # Tansu refuses the idempotent producer; ids dedupe instead
        logger=None,
    )


def make_pacer(settings: Settings) -> Pacer:
    """The consumers' pace: the configured waits while records flow, the idle ones after
    ``idle_after_s``, asleep ``sleep_after_s`` later (:mod:`orchestrator.workers.pacing`)."""
    k = settings.kafka
    return Pacer(
        busy=Pace(k.fetch_max_wait_ms, k.batch_timeout_ms, BUSY_FETCHER_WAKE_MS),
        idle=Pace(k.idle_fetch_max_wait_ms, k.idle_batch_timeout_ms, IDLE_FETCHER_WAKE_MS),
        hot_s=k.idle_after_s,
        sleep_after_s=k.sleep_after_s,
        probe_s=k.sleep_probe_s,
    )


class _Membership(ConsumerRebalanceListener):  # type: ignore[misc]
    """Knows whether the consumer is currently a settled member of its group.

    A member can be settled with no partitions (more replicas than partitions): it is still
    consuming, as far as readiness goes.
    """

    def __init__(self) -> None:
        self.joined = False

    async def on_partitions_revoked(self, revoked: object) -> None:
        self.joined = False

    async def on_partitions_assigned(self, assigned: object) -> None:
        self.joined = True


class WorkerRunner:
    """One worker bound to one broker; knows whether it is consuming yet."""

    def __init__(
        self,
        worker: BatchWorker,
        broker: KafkaBroker,
        settings: Settings,
        metrics: Metrics,
        pacer: Pacer | None = None,
    ):
        self.worker = worker
        self.broker = broker
        self._settings = settings
        self._metrics = metrics
        self._failures = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._batch_task: asyncio.Task[object] | None = None
        self._membership = _Membership()
        metrics.worker_up.labels(worker.name).set_function(lambda: float(self.consuming))
        kafka = settings.kafka
        self._group = f"{kafka.group_prefix}.{worker.name}"
        self._subscriber = broker.subscriber(
            *worker.topics(),
            batch=True,
            group_id=self._group,
            ack_policy=AckPolicy.MANUAL,
            auto_offset_reset="earliest",
            max_records=kafka.max_batch,
            batch_timeout_ms=kafka.batch_timeout_ms,
            fetch_max_wait_ms=kafka.fetch_max_wait_ms,
            consumer_timeout_ms=BUSY_FETCHER_WAKE_MS,
            session_timeout_ms=kafka.session_timeout_ms,
            heartbeat_interval_ms=max(1000, kafka.session_timeout_ms // 3),
            listener=self._membership,
        )
        self._subscriber(self._on_batch)
        fetch_without_pause(self._subscriber)
        self._pacer = pacer or make_pacer(settings)  # shared by the workers of a Service
        external = Topics(kafka.topic_prefix).external()
        topics = worker.topics()
        self._pacer.attach(self._subscriber, topics, sleeps=not external.intersection(topics))

    @property
    def consuming(self) -> bool:
        """True while the consumer is a settled member of its group."""
        return self._membership.joined

    async def drain(self, grace_s: float) -> bool:
        """Take no new batch; wait up to ``grace_s`` for the one in flight, then cancel it (it
        stays uncommitted). True if it finished by itself."""
        self.worker.stopping.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), grace_s)
        if self._idle.is_set():
            return True
        log.warning("%s: batch still running after %.1fs; cancelled", self.worker.name, grace_s)
        if self._batch_task is not None:
            self._batch_task.cancel()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), 1.0)
        return False

    async def _on_batch(self, msg: KafkaMessage) -> None:
        if self.worker.stopping.is_set():
            return  # fetched after stop was asked: left uncommitted for the next owner
        self._idle.clear()
        self._batch_task = asyncio.current_task()
        try:
            await self._run(msg)
        finally:
            self._batch_task = None
            self._idle.set()

    async def _run(self, msg: KafkaMessage) -> None:
        records = msg.raw_message
        if not isinstance(records, tuple):
            records = (records,)
        self._pacer.records_seen()
        started = time.perf_counter()
        verdict = await process(self.worker, records)
        if verdict is Verdict.ABANDON or (
            verdict is Verdict.RETRY and self.worker.stopping.is_set()
        ):
            log.info("%s: stopping; the batch is left uncommitted", self.worker.name)
            return
        if verdict is Verdict.RETRY:
            await self._retry_later(msg)
            return
        await self._commit(msg)
        self._failures = 0
        self._metrics.batch_seconds.labels(self.worker.name).observe(time.perf_counter() - started)
        self._metrics.observe_lag(self._group, self.worker.name, records, self._highwater)

    async def _commit(self, msg: KafkaMessage) -> None:
        """Commit the batch's offsets: its work is durable. (The crash tests replace this
        method to die just before it: tests/integration/crash_before_commit.py.)"""
        await msg.ack()

    def _highwater(self, topic: str, partition: int) -> int | None:
        consumer = self._subscriber.consumer
        if consumer is None:
            return None
        end = consumer.highwater(TopicPartition(topic, partition))
        return int(end) if end is not None else None

    async def _retry_later(self, msg: KafkaMessage) -> None:
        self._failures += 1
        pause = min(RETRY_PAUSE_MAX_S, 0.2 * 2 ** min(self._failures, 10))
        log.error("%s: rewinding the batch; retrying in %.1fs", self.worker.name, pause)
        self._metrics.batch_retries.labels(self.worker.name).inc()
        await polling.pause(self.worker.stopping, pause)
        if self.worker.stopping.is_set():
            return  # no rewind needed: nothing more is committed by this consumer
        await msg.nack()
