"""Runs a worker on its own faststream broker: batches in, work made durable, then one commit.

Each worker gets its own broker (its own connections), so that the workers of one process join
their consumer groups concurrently instead of one after another.

Failure handling:
- bad records never reach here: workers dead-letter them and carry on;
- an infrastructure failure (Redis, PostgreSQL or the broker unreachable) rewinds the batch
  (``nack``) and retries it after a growing pause, so nothing is skipped and nothing is lost.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time

from aiokafka import ConsumerRebalanceListener, TopicPartition
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage

from orchestrator.metrics import Metrics
from orchestrator.settings import Settings
from orchestrator.workers.base import BatchWorker
from orchestrator.workers.batch import Verdict, process
from orchestrator.workers.polling import Pace, Pacer

log = logging.getLogger(__name__)

CRASH_EXIT_CODE = 86
RETRY_PAUSE_MAX_S = 30.0


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
    """The consumers' pace: the configured waits while records flow, the idle ones otherwise."""
    k = settings.kafka
    return Pacer(
        busy=Pace(k.fetch_max_wait_ms, k.batch_timeout_ms),
        idle=Pace(k.idle_fetch_max_wait_ms, k.idle_batch_timeout_ms),
        hot_s=k.idle_after_s,
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
            session_timeout_ms=kafka.session_timeout_ms,
            heartbeat_interval_ms=max(1000, kafka.session_timeout_ms // 3),
            listener=self._membership,
        )
        self._subscriber(self._on_batch)
        self._pacer = pacer or make_pacer(settings)  # shared by the workers of a Service
        self._pacer.attach(self._subscriber)

    @property
    def consuming(self) -> bool:
        """True while the consumer is a settled member of its group."""
        return self._membership.joined

    async def _on_batch(self, msg: KafkaMessage) -> None:
        records = msg.raw_message
        if not isinstance(records, tuple):
            records = (records,)
        self._pacer.records_seen()
        started = time.perf_counter()
        if await process(self.worker, records) is Verdict.RETRY:
            await self._retry_later(msg)
            return
        if self._settings.crash_before_commit == self.worker.name:
            log.critical("crash_before_commit=%s: exiting before the commit", self.worker.name)
            os._exit(CRASH_EXIT_CODE)
        await msg.ack()
        self._failures = 0
        self._metrics.batch_seconds.labels(self.worker.name).observe(time.perf_counter() - started)
        self._metrics.observe_lag(self._group, self.worker.name, records, self._highwater)

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
        await asyncio.sleep(pause)
        await msg.nack()
