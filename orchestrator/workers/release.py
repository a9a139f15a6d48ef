"""Puts deferred sends back on their outbound topic when they are due, from any replica.

Deferred sends are those the contact policy held back, the dispatcher's retries after a
retryable provider failure (their record carries the attempt number in its ``dispatchattempt``
extension attribute, which is re-published as it is) and the sends a provider rate limit held
back (:mod:`orchestrator.workers.dispatch_limits`).

Every ``tick_s`` (1 s) the loop claims due sends (expired leases are requeued every 10 s) (see
:mod:`orchestrator.state.deferred`), re-publishes each original ``message.send`` record to
``outbound.<channel>`` (a marketing message to its bulk lane, ``outbound.<channel>.bulk``)
keyed by customer id, waits for the broker's confirmation and only then
acknowledges them. The dispatcher that consumes a released message runs the whole send-time
policy again: consent may have been revoked meanwhile, or a cap filled. A replica that dies
between publishing and acknowledging loses its lease and another publishes again; the send
ledger keeps the message from going twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from orchestrator.errors import BadRecord
from orchestrator.events import parse_envelope
from orchestrator.metrics import Metrics
from orchestrator.state.protocols import DeferredQueue, EventPublisher
from orchestrator.topics import Topics
from orchestrator.workers.polling import IDLE_WAIT_S, Every, idle_for, poll

log = logging.getLogger(__name__)

NAME = "release"


class DeferredRelease:
    """The release loop of one replica."""

    def __init__(
        self,
        deferred: DeferredQueue,
        publisher: EventPublisher,
        topics: Topics,
        clock: Callable[[], datetime],
        metrics: Metrics,
        *,
        tick_s: float = 1.0,
        limit: int = 500,
        lease_s: float = 30.0,
        backoff_s: float = 1.0,
    ) -> None:
        self._deferred, self._publisher, self._topics = deferred, publisher, topics
        self._clock, self._metrics = clock, metrics
        self._tick_s, self._limit, self._lease_s, self._backoff_s = (
            tick_s,
            limit,
            lease_s,
            backoff_s,
        )
        self._requeue, self._count = Every(timedelta(seconds=10)), Every(timedelta(seconds=10))

    async def run(self, stop: asyncio.Event) -> None:
        """Release due sends until ``stop`` is set; infrastructure errors are retried."""
        await poll(
            NAME,
            self._step,
            stop,
            self._metrics,
            tick_s=self._tick_s,
            backoff_s=self._backoff_s,
            idle_wait=self._idle_wait,
            doorbell=self._deferred.added,
        )

    async def _idle_wait(self) -> float:
        """Until the next deferred send is due, at most :data:`IDLE_WAIT_S`; sends deferred by
        this process ring the doorbell instead."""
        now = self._clock()
        wake = await self._deferred.next_due()
        return idle_for(wake, now, least_s=self._tick_s / 10, most_s=IDLE_WAIT_S)

    async def _step(self) -> bool:
        busy = await self.release_due()
        now = self._clock()
        if self._count.due(now):
            for state, count in (await self._deferred.counts(now)).items():
                self._metrics.deferred_sends.labels(state).set(count)
        return busy

    async def release_due(self) -> bool:
        """Re-publish one batch of due sends; True if there may be more due right now."""
        now = self._clock()
        if self._requeue.due(now):  # a dead replica's leases wait up to lease_s anyway
            await self._deferred.requeue_expired(now)
        due = await self._deferred.claim_due(now, self._limit, self._lease_s)
        if not due:
            return False
        for send in due:
            try:
                event = parse_envelope(send.value.encode())
            except BadRecord as exc:  # it was valid when deferred: only a bug gets here
                log.error("release: dropping unreadable deferred %s: %s", send.message_id, exc)
                continue
            purpose = (event.data or {}).get("purpose")
            topic = self._topics.outbound_for(send.channel, purpose)  # back in its lane
            await self._publisher.publish(topic, event, send.customer_id)
        await self._publisher.flush()
        await self._deferred.ack([s.message_id for s in due])
        log.info("release: %d deferred sends are back on their outbound topics", len(due))
        return len(due) >= self._limit
