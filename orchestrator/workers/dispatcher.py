"""Dispatcher: the contact policy, the send ledger, the channel adapter, the result.

The policy is checked again at send time (:mod:`orchestrator.workers.send_guard`): a message
whose consent was revoked while it waited is blocked, one that may not go yet is deferred and
put back on its topic when due (:mod:`orchestrator.workers.release`), and caps and the loop
guard are counted atomically in Redis.

The send ledger (Redis, keyed by the deterministic message id) refuses a second send of the same
message. A send that was claimed but whose result was never recorded (the process died during
the provider call) is recorded as ``unknown`` and never sent again: a duplicate message to a
customer is worse than a missing one we can see in the ledger.

Sends run concurrently across customers, at most ``dispatch.concurrency`` at once (their Redis
calls within the client's pool; the provider HTTP pool keeps that many connections alive:
``channels._http.pool_limits``), and each customer's messages go in order. A send waiting
between retryable attempts gives its slot up until it tries again, so the rest of the batch
goes on; the batch still commits only once that send has its outcome (issue 11
moves retries off the batch).

On stop, no new send is started; sends in flight get the runner's grace period to finish and be
recorded. A send waiting between retryable attempts (none of which can have delivered it) gives
its claim back, so the next owner sends it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

from channels.base import ChannelAdapter, OutboundMessage, SendResult
from channels.errors import OutcomeUnknown, SendError, Throttled
from orchestrator.engine.model import CustomerState
from orchestrator.errors import BadRecord, ShuttingDown
from orchestrator.events import MESSAGE_SEND, MessageSend, parse_data, parse_envelope
from orchestrator.ledger.records import audit
from orchestrator.policy.spec import Policy
from orchestrator.settings import CHANNELS
from orchestrator.state.deferred import DeferredSends
from orchestrator.state.policy_counters import PolicyCounters
from orchestrator.workers import polling
from orchestrator.workers.base import BatchWorker, Deps, Record
from orchestrator.workers.outcomes import Outcome, Outcomes
from orchestrator.workers.publisher import Publisher
from orchestrator.workers.resend import refuse_resend
from orchestrator.workers.send_guard import SendGuard, command_fields

log = logging.getLogger(__name__)

_STEPS = {
    "accepted": "provider_accepted",
    "rejected": "provider_rejected",
    "unknown": "provider_unknown",
}


class DispatcherWorker(BatchWorker):
    """Consumes ``continuum.outbound.<channel>`` and calls the adapter for each channel."""

    name: ClassVar[str] = "dispatcher"
    stage: ClassVar[str] = "dispatch"

    def __init__(
        self,
        deps: Deps,
        publisher: Publisher,
        adapters: Mapping[str, ChannelAdapter],
        status_callbacks: Mapping[str, str],
        *,
        policy: Callable[[], Policy],
        counters: PolicyCounters,
        deferred: DeferredSends,
    ) -> None:
        super().__init__(deps, publisher)
        self._outcomes = Outcomes(deps.store, publisher)
        self._adapters = adapters
        self._callbacks = status_callbacks
        self._limit = asyncio.Semaphore(deps.settings.dispatch.concurrency)
        self._guard = SendGuard(deps, publisher, policy, counters, deferred)

    def topics(self) -> list[str]:
        """One outbound topic per channel."""
        return [self._deps.topics.outbound(c) for c in CHANNELS]

    async def handle(self, records: Sequence[Record]) -> None:
        """Send one batch: customers in parallel, each customer's messages in order."""
        await self._outcomes.write_kept()  # outcomes of a rewound batch first (outcomes.py)
        per_customer: dict[str, list[tuple[Record, MessageSend]]] = defaultdict(list)
        for record in records:
            try:
                cmd = self._decode(record)
            except BadRecord as exc:
                await self.reject(record, exc)
                continue
            per_customer[cmd.customer_id].append((record, cmd))
        states = await self._deps.store.load_states(list(per_customer))
        # Every send runs to its end before a failure rewinds the batch, so that each outcome
        # is recorded, or kept for the retry, and none is abandoned half way.
        results = await asyncio.gather(
            *(self._send_all(items, states[cid]) for cid, items in per_customer.items()),
            return_exceptions=True,
        )
        failure = next((r for r in results if isinstance(r, BaseException)), None)
        if failure is not None and not isinstance(failure, ShuttingDown):
            raise failure
        # Stopping too: the outcomes of the sends that were made must reach the ledger now, as
        # the next owner of the batch will only find them in the send ledger.
        await self._pub.flush()
        self._outcomes.confirmed()
        if failure is not None:
            raise failure

    def _decode(self, record: Record) -> MessageSend:
        event = parse_envelope(record.value or b"", record.headers)
        if event.type != MESSAGE_SEND:
            raise BadRecord("wrong_type", f"expected {MESSAGE_SEND}, got {event.type!r}")
        return parse_data(event, MessageSend)

    async def _send_all(self, items: list[tuple[Record, MessageSend]], st: CustomerState) -> None:
        for record, cmd in items:
            async with self._limit:  # bounds Redis and provider calls in flight alike
                await self._send_one(record, cmd, st)

    async def _send_one(self, record: Record, cmd: MessageSend, state: CustomerState) -> None:
        if self.stopping.is_set():
            raise ShuttingDown("stopping: the send is left to the next owner")
        started, now = time.perf_counter(), self._deps.clock()
        verdict = await self._guard.check(cmd, state, now)
        if verdict.action == "defer":
            await self._guard.defer(record, cmd, verdict, now)
            self._observe(cmd, "deferred", started)
            return
        adapter = self._adapters.get(cmd.channel)
        provider = adapter.channel_type if adapter else None
        entry = {
            "state": "pending",
            "message_id": cmd.message_id,
            "customer_id": cmd.customer_id,
            "channel": cmd.channel,
            "to": cmd.to,
            "provider": provider,
        }
        if verdict.action == "block":
            claim = await self._guard.block(cmd, verdict, entry, now)
        else:
            claim = await self._deps.store.claim_send(cmd.message_id, entry)
        if not claim.claimed:
            previous = claim.previous or {}
            outcome = await refuse_resend(
                self._deps, self._pub, self._guard, record, cmd, previous, now
            )
            self._observe(cmd, outcome, started)
            return
        if verdict.action == "block":
            self._observe(cmd, "blocked", started)
            return
        if adapter is None:
            await self._finish(
                cmd,
                entry,
                "rejected",
                "no_adapter",
                started,
                reason=f"no adapter is configured for channel {cmd.channel!r}",
            )
            return
        try:
            result = await self._call(adapter, cmd)
        except ShuttingDown:
            await self._deps.store.release_send(cmd.message_id)  # no attempt can have delivered
            raise
        except SendError as exc:
            if isinstance(exc, OutcomeUnknown):
                outcome = "unknown"
            else:
                outcome = "failed" if exc.retryable else "rejected"
            await self._finish(
                cmd,
                entry,
                outcome,
                exc.code,
                started,
                reason=str(exc),
                ext_code=getattr(exc, "ext_code", None),
            )
            return
        await self._finish(cmd, entry, "accepted", result.status, started, result=result)

    async def _call(self, adapter: ChannelAdapter, cmd: MessageSend) -> SendResult:
        msg = OutboundMessage(
            message_id=cmd.message_id,
            to=cmd.to,
            text=cmd.text,
            sender=cmd.sender,
            attachments=tuple(cmd.attachments),
            status_callback=self._callbacks.get(adapter.channel_type),
        )
        settings = self._deps.settings.dispatch
        for attempt in range(1, settings.attempts + 1):
            began = time.perf_counter()
            try:
                result = await adapter.send(msg)
            except SendError as exc:
                self._deps.metrics.provider_seconds.labels(adapter.channel_type, exc.code).observe(
                    time.perf_counter() - began
                )
                if not exc.retryable or attempt == settings.attempts:
                    raise
                pause = settings.backoff_s * 2 ** (attempt - 1)
                if isinstance(exc, Throttled) and exc.retry_after:
                    pause = max(pause, min(exc.retry_after, 30.0))
                self._limit.release()  # no slot held while waiting: other customers go on
                try:
                    await polling.pause(self.stopping, pause)
                finally:
                    await self._limit.acquire()
                if self.stopping.is_set():
                    raise ShuttingDown("stopping between attempts") from exc
                continue
            self._deps.metrics.provider_seconds.labels(adapter.channel_type, "ok").observe(
                time.perf_counter() - began
            )
            return result
        raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover

    async def _finish(
        self,
        cmd: MessageSend,
        entry: dict[str, Any],
        state: str,
        code: str,
        started: float,
        *,
        result: SendResult | None = None,
        reason: str | None = None,
        ext_code: str | None = None,
    ) -> None:
        external_ids = result.external_ids if result else ()
        done = {**entry, "state": state, "code": code, "external_ids": list(external_ids)}
        step = _STEPS.get(state, "provider_failed")
        row = audit(
            step,
            code,
            identity=(cmd.message_id,),
            at=self._deps.clock(),
            **command_fields(cmd),
            provider=entry["provider"],
            external_id=external_ids[0] if external_ids else None,
            reason=reason,
            detail={"provider_error_code": ext_code} if ext_code else {},
        )
        provider = entry["provider"] or "none"
        await self._outcomes.record(
            Outcome(cmd.message_id, done, provider, tuple(external_ids), row)
        )
        self._observe(cmd, state, started)

    def _observe(self, cmd: MessageSend, outcome: str, started: float) -> None:
        self._deps.metrics.observe(self.stage, cmd.channel, outcome, time.perf_counter() - started)
