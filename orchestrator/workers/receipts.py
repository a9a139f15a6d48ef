"""The receipt-check loop: messages with no delivery receipt in time, from any replica.

The dispatcher schedules the checks when a provider accepts a message
(:mod:`orchestrator.state.receipt_checks`). Every ``tick_s`` (or when the earliest is due, or
this process scheduled one) the loop claims the due checks, reads each message's current status
(:func:`orchestrator.state.message_status.current`, one round trip) and does what
:func:`orchestrator.delivery.fallback.check_due` says:

- ``receipt_timeout`` and not delivered: the next fallback channel is sent
  (:mod:`orchestrator.workers.fallbacks`; reason ``receipt_timeout``), unless the send ledger
  has it already (a permanent failure sent it first);
- ``overdue`` and no delivery receipt at all: a ``delivery_overdue`` ledger row,
  ``continuum_delivery_overdue_total``, and a ``message.status`` ``delivery_overdue`` to the
  customer's flows (a ``status`` trigger may name it).

Then it waits for the broker's confirmation and acknowledges the checks. A replica that dies in
between loses its lease and another handles them again: the fallback's derived id and the
ledger's record ids keep that from doing anything twice (the flows' status event has a
deterministic id too, and the engine drops an event it has applied).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from orchestrator.delivery import fallback
from orchestrator.engine.spec import OVERDUE
from orchestrator.events import StatusForFlows
from orchestrator.ledger.records import audit
from orchestrator.metrics import Metrics, channel_label
from orchestrator.redis_client import RedisClient
from orchestrator.state import keys, message_status
from orchestrator.state.protocols import EventPublisher
from orchestrator.state.receipt_checks import ReceiptCheck, ReceiptChecks
from orchestrator.topics import Topics
from orchestrator.workers.fallbacks import publish_fallback, tell_flows
from orchestrator.workers.polling import IDLE_WAIT_S, Every, idle_for, poll
from orchestrator.workers.send_guard import command_fields

log = logging.getLogger(__name__)

NAME = "receipts"
SOURCE = "/continuum/receipts"


class ReceiptCheckLoop:
    """The receipt-check loop of one replica."""

    def __init__(
        self,
        checks: ReceiptChecks,
        redis: RedisClient,
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
        self._checks, self._redis, self._pub, self._topics = checks, redis, publisher, topics
        self._clock, self._metrics = clock, metrics
        self._tick_s, self._limit, self._lease_s, self._backoff_s = (
            tick_s,
            limit,
            lease_s,
            backoff_s,
        )
        self._requeue = Every(timedelta(seconds=10))

    async def run(self, stop: asyncio.Event) -> None:
        """Handle due checks until ``stop`` is set; infrastructure errors are retried."""
        await poll(
            NAME,
            self.handle_due,
            stop,
            self._metrics,
            tick_s=self._tick_s,
            backoff_s=self._backoff_s,
            idle_wait=self._idle_wait,
            doorbell=self._checks.added,
        )

    async def _idle_wait(self) -> float:
        now = self._clock()
        wake = await self._checks.next_due()
        return idle_for(wake, now, least_s=self._tick_s / 10, most_s=IDLE_WAIT_S)

    async def handle_due(self) -> bool:
        """Handle one batch of due checks; True if there may be more due right now."""
        now = self._clock()
        if self._requeue.due(now):
            await self._checks.requeue_expired(now)
        due = await self._checks.claim_due(now, self._limit, self._lease_s)
        if not due:
            return False
        cmds = [c.cmd for c in due]
        statuses = await message_status.current(self._redis, [c.message_id for c in cmds])
        gone = await self._fallbacks_sent([fallback.fallback_id(c) for c in cmds])
        for check, current, sent in zip(due, statuses, gone, strict=True):
            next_cmd = None if sent else fallback.next_command(check.cmd, fallback.RECEIPT_TIMEOUT)
            match fallback.check_due(check.kind, current, next_cmd is not None):
                case "fallback" if next_cmd is not None:
                    await publish_fallback(
                        self._pub,
                        self._topics,
                        self._metrics,
                        check.cmd,
                        next_cmd,
                        provider=check.provider,
                        at=now,
                    )
                case "overdue":
                    await self._overdue(check, current, now)
                case _:
                    pass
        await self._pub.flush()
        await self._checks.ack([c.check_id for c in due])
        return len(due) >= self._limit

    async def _fallbacks_sent(self, fallback_ids: list[str]) -> list[bool]:
        """Whether each fallback is in the send ledger already (a permanent failure sent it
        before the receipt timeout): one round trip."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for fallback_id in fallback_ids:
                pipe.exists(keys.send_key(fallback_id))
            found = await pipe.execute()
        return [bool(n) for n in found]

    async def _overdue(self, check: ReceiptCheck, current: str | None, now: datetime) -> None:
        """Flag a message with no delivery receipt: ledger row, metric, status to its flows."""
        cmd = check.cmd
        waited = (now - check.accepted_at).total_seconds()
        await self._pub.audit(
            audit(
                "delivery_overdue",
                current or "none",
                identity=(cmd.message_id,),
                at=now,
                **command_fields(cmd),
                provider=check.provider,
                reason=f"no delivery receipt {waited:.0f} s after the provider accepted it",
                detail={"accepted_at": check.accepted_at.isoformat(), "waited_s": round(waited)},
            )
        )
        self._metrics.delivery_overdue_total.labels(
            channel_label(cmd.channel), check.provider
        ).inc()
        status = StatusForFlows(
            status=OVERDUE,
            channel=cmd.channel,
            customer_id=cmd.customer_id,
            message_id=cmd.message_id,
            external_id=cmd.message_id,
            provider=check.provider,
            address=cmd.to,
            fallback_from=cmd.fallback_from,
        )
        await tell_flows(self._pub, self._topics, f"{cmd.message_id}:{OVERDUE}", SOURCE, status)
