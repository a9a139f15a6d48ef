"""Dispatcher: the contact policy, the send ledger, the channel adapter, the result.

The policy is checked again at send time (:mod:`orchestrator.workers.send_guard`): a message
whose consent was revoked while it waited is blocked, one that may not go yet is deferred and
put back on its topic when due (:mod:`orchestrator.workers.release`), and caps and the loop
guard are counted atomically in Redis.

The send ledger (Redis, keyed by the deterministic message id) refuses a second send of the same
message. A send that was claimed but whose result was never recorded (the process died during
the provider call) is recorded as ``unknown`` and never sent again: a duplicate message to a
customer is worse than a missing one we can see in the ledger.

A batch goes in phases, with a fixed number of Redis round trips whatever its size:

1. decode; **load** the customers' states (round trip 1);
2. the pure send-time rules on each message (:func:`orchestrator.policy.send_time.check`);
3. **admit** the messages that may go (caps and the loop guard, one script per message), and in
   the same pipeline claim the blocked ones as ``blocked`` and keep the deferred ones (2);
4. **claim** the admitted ones as ``pending``, and claim as ``blocked`` or keep as deferred the
   ones a full counter stopped; in the same pipeline, take from the provider rate limits
   (:mod:`orchestrator.workers.dispatch_limits`: a refused send's claim is released in 6 and
   its record deferred to when its bucket has room, no attempt used) (3);
5. the provider calls, concurrently across customers, each customer's messages in order;
6. **settle**: every outcome, released claim, retry, breaker record and receipt check in one
   pipeline (4)
   (:class:`~orchestrator.workers.outcomes.Outcomes`); then the audit records are confirmed and
   the batch commits.

Four, not the issue's two, because each depends on the answer of the one before: the verdict
that decides whether a message is counted needs the state (a message blocked or deferred must
not count against a cap, and a consent granted in the same decision must be seen); a message
over a cap must be neither counted nor claimed, so its claim waits for the admission; a claim
must be durable before its provider call; and the outcome exists only after the call. The
counters, the state and the send ledger entry live in different slots on a cluster, so no
script can join two of these steps. A batch that starts after a rewind first writes the kept
outcomes (one more). See docs/performance.md ("Redis round trips").

Sends run concurrently across customers, at most ``dispatch.concurrency`` at once (the provider
HTTP pool keeps that many connections alive: ``channels._http.pool_limits``), and each
customer's messages go in order. A retryable failure (could not connect, 5xx, 429; not an
unknown outcome) does not hold the batch: the claim is released and the original record goes to
the deferred queue, due after a delay with full jitter under ``dispatch.backoff_s`` doubled per
attempt (at most ``dispatch.backoff_max_s``; a 429's ``Retry-After`` honoured as the least delay
up to ``dispatch.retry_after_max_s``: :mod:`orchestrator.delivery.backoff`), with a
``provider_attempt`` ledger row (the attempt, the error, the next due time), carrying the
attempt number in the CloudEvent extension attribute ``dispatchattempt``; the release loop puts
it back on its topic and the next attempt runs the whole send-time policy again. After
``dispatch.attempts`` attempts it is ``failed`` (a ``provider_failed`` row).
A retried message may so go after a later message of the same customer.

Each medium's providers form a failover chain (``chains``), each with a circuit breaker shared
in Redis: read in round trip 1, recorded in the settle (:mod:`orchestrator.workers.breakers`).
A send goes by the first provider whose breaker lets it through; a known failure (could not
connect, 5xx; not a 429) moves it at once to the next (a ``provider_failover`` row); while every
breaker is open it waits in the deferred queue, no attempt used
(:mod:`orchestrator.delivery.failover`, :mod:`orchestrator.workers.failover`; docs/delivery.md).
A send refused permanently (WhatsApp 131026, a landline: :func:`orchestrator.delivery.fallback.
permanent`) with fallback channels left is tried once on the next (a ``message.send`` of its
own, ``<id>.fb1``: :mod:`orchestrator.workers.fallbacks`), published after the outcomes are
recorded. An accepted send gets its receipt checks (:mod:`orchestrator.state.receipt_checks`:
the step's ``receipt_timeout`` and ``status.overdue_s``), scheduled in the settle pipeline.

On stop, no new send is started (their claims are released, so the next owner sends them);
sends in flight get the runner's grace period to finish and be recorded.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar

from channels.base import ChannelAdapter, SendResult
from channels.errors import ContactStopped, OutcomeUnknown, SendError, Throttled
from orchestrator.delivery import failover, fallback
from orchestrator.delivery.backoff import Draw, no_jitter, retry_delay
from orchestrator.engine.customer_view import Staged
from orchestrator.errors import BadRecord, ShuttingDown
from orchestrator.events import (
    MESSAGE_SEND,
    CloudEvent,
    MessageSend,
    StatusForFlows,
    dumps,
    flow_status,
    parse_data,
    parse_envelope,
    present,
)
from orchestrator.infra import unavailable
from orchestrator.ledger.records import audit
from orchestrator.media import MEDIA
from orchestrator.policy.send_time import Counter, SendCheck
from orchestrator.policy.spec import Policy
from orchestrator.settings import BreakerSettings, DispatchSettings
from orchestrator.state.deferred import DeferredSend, queue_deferrals
from orchestrator.state.protocols import Counters, DeferredQueue, EventPublisher
from orchestrator.state.rate_limits import Grant
from orchestrator.state.receipt_checks import ReceiptCheck, ReceiptChecks
from orchestrator.state.riders import together
from orchestrator.state.store import SendClaim, queue_claims, read_claims
from orchestrator.workers.base import BatchWorker, Deps, Record
from orchestrator.workers.breakers import Breakers
from orchestrator.workers.dispatch_limits import DispatchLimits
from orchestrator.workers.failover import failover_row, wait_for_provider
from orchestrator.workers.fallbacks import publish_fallback, tell_flows
from orchestrator.workers.outcomes import Outcome, Outcomes
from orchestrator.workers.resend import refuse_resend
from orchestrator.workers.send_guard import SendGuard, command_fields
from orchestrator.workers.status import hand_back

log = logging.getLogger(__name__)

ATTEMPT = "dispatchattempt"
"""The CloudEvent extension attribute of a retried ``message.send``: its attempt number (the
first attempt has none)."""
_STEPS = {
    "accepted": "provider_accepted",
    "rejected": "provider_rejected",
    "unknown": "provider_unknown",
}


@dataclass(slots=True)
class _Send:
    """One ``message.send`` through the phases of a batch."""

    record: Record
    event: CloudEvent
    cmd: MessageSend
    attempt: int
    entry: dict[str, Any]
    verdict: SendCheck = field(default_factory=lambda: SendCheck("send", "", ""))
    counters: list[Counter] = field(default_factory=list)
    claim: SendClaim | None = None
    grant: Grant | None = None  # the rate limits' answer (None: not asked)


class DispatcherWorker(BatchWorker):
    """Consumes ``continuum.outbound.<channel>`` and calls the adapter for each channel."""

    name: ClassVar[str] = "dispatcher"
    stage: ClassVar[str] = "dispatch"

    def __init__(
        self,
        deps: Deps,
        publisher: EventPublisher,
        adapters: Mapping[str, ChannelAdapter],
        status_callbacks: Mapping[str, str],
        *,
        policy: Callable[[], Policy],
        counters: Counters,
        deferred: DeferredQueue,
        settings: DispatchSettings | None = None,
        flows: Callable[[str], Staged | None] = lambda _: None,
        draw: Draw = random.uniform,
        chains: Mapping[str, Sequence[ChannelAdapter]] | None = None,
        breakers: BreakerSettings | None = None,
        receipts: ReceiptChecks | None = None,
        overdue_s: float = 0.0,
        limits: DispatchLimits | None = None,
    ) -> None:
        super().__init__(deps, publisher)
        self._limits = limits
        # Each medium's providers in failover order (providers.build_adapters); without
        # ``chains``, each medium's one adapter.
        self._chains = {m: tuple(c) for m, c in (chains or {}).items() if c} or {
            m: (a,) for m, a in adapters.items()
        }
        self._breakers = Breakers(breakers or BreakerSettings(), deps.metrics)
        self._settings = settings or DispatchSettings()
        self._draw = draw
        self._outcomes = Outcomes(deps.store, publisher, deferred=deferred.added)
        self._adapters = adapters
        self._callbacks = status_callbacks
        self._limit = asyncio.Semaphore(self._settings.concurrency)
        self._guard = SendGuard(deps, publisher, policy, flows)
        self._counters, self._deferred = counters, deferred
        self._labels: dict[str, str] = {}  # this batch's stage outcome per message id
        self._stopped: list[tuple[MessageSend, ContactStopped, str]] = []  # opted-out refusals
        self._receipts, self._overdue_s = receipts, overdue_s
        self._fallbacks: list[tuple[MessageSend, MessageSend, str, str]] = []  # see _finish
        self._failures: list[tuple[MessageSend, str, str]] = []  # (cmd, provider, code)
        self._checks: list[ReceiptCheck] = []  # this batch's accepted sends' receipt checks

    def topics(self) -> list[str]:
        """One outbound topic per channel (the reply lane)."""
        return [self._deps.topics.outbound(c) for c in MEDIA]

    async def handle(self, records: Sequence[Record]) -> None:
        """Send one batch: the phases of the module docstring."""
        early = await self._outcomes.write_kept()  # a rewound batch's outcomes (outcomes.py)
        started = time.perf_counter()
        sends, repeats = await self._decode_all(records)
        if not sends:
            if early:
                await hand_back(self._pub, self._deps.topics.status, early)
                await self._pub.flush()
            return
        self._labels, self._stopped = {}, []
        self._fallbacks, self._checks, self._failures = [], [], []
        now = self._deps.clock()
        reading = self._breakers.reading(
            ([a.channel_type for a in self._chains.get(s.cmd.channel, ())] for s in sends), now
        )
        states = await self._deps.store.load_states(
            [s.cmd.customer_id for s in sends], rider=reading
        )
        for s in sends:
            s.verdict, s.counters = self._guard.verdict(s.cmd, states[s.cmd.customer_id], now)
        await self._admit_and_claim(sends, now)
        settled = await self._record_verdicts(sends, now, started)
        go = self._going(sends, settled, now, started)
        # Every send runs to its end before a failure rewinds the batch, so that each outcome
        # is recorded, or kept for the retry, and none is abandoned half way.
        done: list[tuple[_Send, Outcome, str]] = []
        results = await asyncio.gather(
            *(self._send_all(items, done) for items in go.values()), return_exceptions=True
        )
        checks = self._receipts.riding(self._checks) if self._receipts is not None else None
        early += await self._outcomes.record_all(  # the receipt checks ride along
            settled + [outcome for _, outcome, _ in done],
            together(self._breakers.recording(self._deps.clock()), checks),
        )
        if self._limits is not None:  # a provider's 429 empties its buckets for every dispatcher
            throttled = [(s.cmd, s.entry["provider"], outcome.row) for s, outcome, _ in done]
            await self._limits.feed_throttles(throttled, self._deps.clock())
        await self._tell_flows_stopped()
        await self._after_outcomes()
        await hand_back(self._pub, self._deps.topics.status, early)
        for s, _, label in done:
            if label != "released":
                self._observe(s.cmd, label, started)
        for s in repeats:  # refused as the duplicates they are, with what the first became
            previous = {**s.entry, "state": self._labels.get(s.cmd.message_id, "pending")}
            label, _ = await refuse_resend(self._pub, self._guard, s.record, s.cmd, previous, now)
            self._observe(s.cmd, label, started)
        failure = next((r for r in results if isinstance(r, BaseException)), None)
        if failure is not None and not isinstance(failure, ShuttingDown):
            raise failure
        # Stopping too: the outcomes of the sends that were made must reach the ledger now, as
        # the next owner of the batch will only find them in the send ledger.
        await self._pub.flush()
        self._outcomes.confirmed()
        if failure is not None:
            raise failure

    def _going(
        self, sends: list[_Send], settled: list[Outcome], now: datetime, started: float
    ) -> dict[str, list[_Send]]:
        """The claimed sends to make now, by customer; the ones the rate limits refused are
        deferred instead (their outcomes added to ``settled``)."""
        go: dict[str, list[_Send]] = defaultdict(list)
        for s in sends:
            if s.verdict.action == "send" and s.claim is not None and s.claim.claimed:
                if self._limits is not None and s.grant is not None and not s.grant.ok:
                    provider = self._planned(s)
                    settled.append(self._limits.deferral(s.record, s.cmd, s.grant, provider, now))
                    self._observe(s.cmd, "rate_limited", started)
                    continue
                go[s.cmd.customer_id].append(s)
        return go

    async def _decode_all(self, records: Sequence[Record]) -> tuple[list[_Send], list[_Send]]:
        """The batch's sends, and its repeats (a message id seen earlier in this batch: a
        producer retry); a bad record is dead-lettered."""
        sends: list[_Send] = []
        repeats: list[_Send] = []
        seen: set[str] = set()
        for record in records:
            try:
                s = self._decode(record)
            except BadRecord as exc:
                await self.reject(record, exc)
                continue
            (repeats if s.cmd.message_id in seen else sends).append(s)
            seen.add(s.cmd.message_id)
        return sends, repeats

    def _decode(self, record: Record) -> _Send:
        event = parse_envelope(record.value or b"", record.headers)
        if event.type != MESSAGE_SEND:
            raise BadRecord("wrong_type", f"expected {MESSAGE_SEND}, got {event.type!r}")
        cmd = parse_data(event, MessageSend)
        attempt = (event.model_extra or {}).get(ATTEMPT, 1)
        if type(attempt) is not int or attempt < 1:
            raise BadRecord("bad_attempt", f"{ATTEMPT} must be a positive integer: {attempt!r}")
        adapter = self._adapters.get(cmd.channel)
        entry = {
            "state": "pending",
            "message_id": cmd.message_id,
            "customer_id": cmd.customer_id,
            "channel": cmd.channel,
            "to": cmd.to,
            "provider": adapter.channel_type if adapter else None,
        }
        return _Send(record, event, cmd, attempt, entry)

    async def _admit_and_claim(self, sends: list[_Send], now: datetime) -> None:
        """Round trips 2 and 3: admissions with the first claims and deferrals, then the
        claims and deferrals that depend on the admissions. Sets each send's final verdict and
        its claim (None for a deferred message)."""
        going = [s for s in sends if s.verdict.action == "send"]
        admit = [(s.cmd.customer_id, s.cmd.message_id, s.counters) for s in going]
        early = [s for s in sends if s.verdict.action != "send"]
        with unavailable("redis"):  # the pipelines are executed here, not in a store
            async with self._deps.store.pipeline() as pipe:
                todo = self._counters.queue(pipe, admit, now)
                admitted_at = len(pipe)
                self._queue_verdicts(pipe, early, now)
                raw = await pipe.execute(raise_on_error=False) if len(pipe) else []
            _raise_first(raw[admitted_at:])
            self._read_claims(early, raw[admitted_at:])
            admissions = self._counters.read(admit, todo, raw[:admitted_at])
            if admissions is None:  # the server had lost the script: one more round trip
                admissions = await self._counters.admit_many(admit, now)
            for s, admission in zip(going, admissions, strict=True):
                s.verdict = self._guard.admitted(s.verdict, admission)
            async with self._deps.store.pipeline() as pipe:
                self._queue_verdicts(pipe, going, now)
                claimed_at = len(pipe)
                sending = [s for s in going if s.verdict.action == "send"]
                if self._limits is not None:  # the rate limits' takes ride in the same trip
                    pairs = [(s.cmd, self._planned(s)) for s in sending]
                    takes = self._limits.queue(pipe, pairs, now)
                raw = await pipe.execute(raise_on_error=False) if len(pipe) else []
            _raise_first(raw[:claimed_at])
            self._read_claims(going, raw[:claimed_at])
            if self._limits is not None:
                grants = await self._limits.read(takes, raw[claimed_at:])
                for s, grant in zip(sending, grants, strict=True):
                    s.grant = grant
        if any(s.verdict.action == "defer" for s in sends):
            self._deferred.added.ring()

    def _planned(self, s: _Send) -> str | None:
        """The provider ``s`` should go by, as the breakers read in round trip 1 stand: the
        first of its chain whose breaker lets a send through (its rate buckets are the ones
        taken from), else the first of the chain."""
        names = [a.channel_type for a in self._chains.get(s.cmd.channel, ())]
        choice = failover.choose(names, self._breakers.views, ())
        return choice.provider or s.entry["provider"]

    def _queue_verdicts(self, pipe: Any, sends: list[_Send], now: datetime) -> None:
        """Claims (``pending`` or ``blocked``) in verdict order, then one deferral script."""
        claims = [
            (
                s.cmd.message_id,
                self._guard.blocked_entry(s.entry, s.verdict)
                if s.verdict.action == "block"
                else s.entry,
            )
            for s in sends
            if s.verdict.action != "defer"
        ]
        queue_claims(pipe, claims)
        deferred = [
            self._guard.deferral(s.record, s.cmd, s.verdict, now)
            for s in sends
            if s.verdict.action == "defer"
        ]
        queue_deferrals(pipe, deferred)

    @staticmethod
    def _read_claims(sends: list[_Send], raw: Sequence[Any]) -> None:
        claimed = [s for s in sends if s.verdict.action != "defer"]
        for s, claim in zip(claimed, read_claims(raw[: len(claimed)]), strict=True):
            s.claim = claim

    async def _record_verdicts(
        self, sends: list[_Send], now: datetime, started: float
    ) -> list[Outcome]:
        """The ledger records of the deferred, the blocked and the refused messages; the
        ``unknown`` outcomes of refused ones found ``pending``, to write with the batch's."""
        settled: list[Outcome] = []
        for s in sends:
            if s.verdict.action == "defer":
                await self._guard.record(s.cmd, s.verdict, now)
                self._observe(s.cmd, "deferred", started)
                continue
            if s.claim is not None and not s.claim.claimed:  # every other one was claimed
                label, outcome = await refuse_resend(
                    self._pub,
                    self._guard,
                    s.record,
                    s.cmd,
                    s.claim.previous or {},
                    now,
                    stored=True,
                )
                if outcome is not None:
                    settled.append(outcome)
                self._observe(s.cmd, label, started)
            elif s.verdict.action == "block":
                await self._guard.record(s.cmd, s.verdict, now)
                self._observe(s.cmd, "blocked", started)
        return settled

    async def _send_all(self, items: list[_Send], done: list[tuple[_Send, Outcome, str]]) -> None:
        """One customer's sends in order; on stop, the claims of those not started are
        released and :class:`ShuttingDown` raised."""
        for i, s in enumerate(items):
            async with self._limit:  # bounds the provider calls in flight
                if self.stopping.is_set():
                    for rest in items[i:]:
                        release = Outcome(rest.cmd.message_id, None, "none", (), None)
                        done.append((rest, release, "released"))
                    raise ShuttingDown("stopping: the send is left to the next owner")
                done.append(await self._attempt(s))

    async def _attempt(self, s: _Send) -> tuple[_Send, Outcome, str]:
        cmd = s.cmd
        chain = self._chains.get(cmd.channel, ())
        if not chain:
            reason = f"no adapter is configured for channel {cmd.channel!r}"
            return self._finish(s, "rejected", "no_adapter", reason=reason)
        names = [a.channel_type for a in chain]
        tried: list[str] = []
        exc: SendError | None = None  # the last call's error
        while True:  # at most once per provider of the chain (failover.choose skips the tried)
            choice = failover.choose(names, self._breakers.views, tried)
            if choice.provider is None:
                if not tried:  # every breaker is open: wait for the first to half-open
                    at = self._deps.clock()
                    due_ms = choice.retry_ms or int(at.timestamp() * 1000)
                    wait = wait_for_provider(cmd, s.attempt, s.record.value, names, due_ms, at)
                    return s, wait, "deferred"
                break
            adapter = chain[names.index(choice.provider)]
            self._breakers.take(choice.provider)
            if exc is not None:
                source = tried[-1]
                row = failover_row(cmd, s.attempt, source, choice.provider, exc, self._deps.clock())
                await self._pub.audit(row)
                self._deps.metrics.failovers_total.labels(source, choice.provider).inc()
            s.entry["provider"] = adapter.channel_type  # the one that accepts is on the entry
            try:
                result = await self._call(adapter, cmd)
            except SendError as error:
                exc = error
                if not failover.moves(exc):
                    break
                tried.append(choice.provider)
                continue
            return self._finish(s, "accepted", result.status, result=result)
        assert exc is not None  # noqa: S101 (the loop ends on an error, or on a failover's)
        ext_code = getattr(exc, "ext_code", None)
        if isinstance(exc, ContactStopped):
            self._stopped.append((cmd, exc, s.entry["provider"] or adapter.channel_type))
        if isinstance(exc, OutcomeUnknown):
            state = "unknown"
        elif not exc.retryable:
            state = "rejected"
        elif s.attempt < self._settings.attempts:
            return self._retry(s, exc, ext_code)
        else:
            state = "failed"
        return self._finish(s, state, exc.code, reason=str(exc), ext_code=ext_code)

    async def _after_outcomes(self) -> None:
        """Once the outcomes are recorded: publish the fallbacks of permanently refused sends
        (telling their flows the send failed and fell back), tell flows of the sends that
        failed for good here (refused with no fallback left, or out of attempts: ``final``).
        The accepted sends' receipt checks were scheduled with the outcomes, in their round
        trip."""
        now = self._deps.clock()
        for cmd, next_cmd, provider, code in self._fallbacks:
            await publish_fallback(
                self._pub,
                self._deps.topics,
                self._deps.metrics,
                cmd,
                next_cmd,
                provider=provider,
                at=now,
            )
            await self._tell_failed(cmd, provider, code, fallback_to=next_cmd.channel)
        for cmd, provider, code in self._failures:  # the outcome is final: flows may branch
            await self._tell_failed(cmd, provider, code, final=True)

    async def _tell_failed(
        self,
        cmd: MessageSend,
        provider: str,
        code: str,
        *,
        final: bool = False,
        fallback_to: str | None = None,
    ) -> None:
        """Tell the customer's flows that ``cmd`` failed here: it fell back (``fallback_to``),
        or that is its ``final`` outcome."""
        status = StatusForFlows(
            status="failed",
            channel=cmd.channel,
            customer_id=cmd.customer_id,
            message_id=cmd.message_id,
            external_id=cmd.message_id,
            error_code=code,
            provider=provider,
            address=cmd.to,
            final=final,
            fallback_to=fallback_to,
            fallback_from=cmd.fallback_from,
        )
        event_id = f"{cmd.message_id}:{'final' if final else 'fallback'}"
        await tell_flows(self._pub, self._deps.topics, event_id, "/continuum/dispatch", status)

    def _plan_after(self, s: _Send, state: str, code: str, ext_code: str | None) -> None:
        """What :meth:`_after_outcomes` does for this outcome: a fallback of a permanently
        refused send, or the receipt checks of an accepted one."""
        cmd, provider = s.cmd, s.entry["provider"] or "none"
        if state in ("rejected", "failed"):
            next_cmd = None
            if state == "rejected" and fallback.permanent(cmd.channel, state, ext_code):
                next_cmd = fallback.next_command(cmd, fallback.permanent_reason(ext_code))
            if next_cmd is not None:
                self._fallbacks.append((cmd, next_cmd, provider, ext_code or code))
            elif not any(c is cmd for c, _, _ in self._stopped):  # those are told as opt-outs
                self._failures.append((cmd, provider, ext_code or code))
            return
        if state != "accepted" or self._receipts is None:
            return
        if not fallback.expects_receipts(s.entry["provider"]):
            return
        now = self._deps.clock()
        command = cmd.model_dump_json(exclude_none=True)
        if cmd.receipt_timeout_s and cmd.alternates:
            due = now + timedelta(seconds=cmd.receipt_timeout_s)
            self._checks.append(ReceiptCheck(fallback.RECEIPT_TIMEOUT, due, now, provider, command))
        if self._overdue_s > 0:
            due = now + timedelta(seconds=self._overdue_s)
            self._checks.append(ReceiptCheck("overdue", due, now, provider, command))

    async def _tell_flows_stopped(self) -> None:
        """The sends a provider refused because the recipient opted out (Twilio 21610, Meta
        131050): each customer's engine opts them out as it does on such a receipt."""
        for cmd, stop, provider in self._stopped:
            status = StatusForFlows(
                status="failed",
                channel=cmd.channel,
                customer_id=cmd.customer_id,
                message_id=cmd.message_id,
                external_id=cmd.message_id,
                error_code=getattr(stop, "ext_code", None) or stop.code,
                opted_out=True,
                opt_out_purpose=stop.purpose,
                provider=provider,
                address=cmd.to,
            )
            event = flow_status(f"{cmd.message_id}:{stop.code}", "/continuum/dispatch", status)
            await self._pub.publish(self._deps.topics.customer, event, cmd.customer_id)

    async def _call(self, adapter: ChannelAdapter, cmd: MessageSend) -> SendResult:
        """One provider call (retries are deferred sends: :meth:`_retry`)."""
        msg = cmd.outbound(self._callbacks.get(adapter.channel_type))
        began = time.perf_counter()
        try:
            result = await adapter.send(msg)
        except SendError as exc:
            self._deps.metrics.provider_seconds.labels(adapter.channel_type, exc.code).observe(
                time.perf_counter() - began
            )
            self._breakers.note(adapter.channel_type, failover.result_of(exc))
            raise
        self._deps.metrics.provider_seconds.labels(adapter.channel_type, "ok").observe(
            time.perf_counter() - began
        )
        self._breakers.note(adapter.channel_type, "success")
        return result

    def _retry(self, s: _Send, exc: SendError, ext_code: str | None) -> tuple[_Send, Outcome, str]:
        """Release the claim and defer the original record to the next attempt's due time."""
        settings = self._settings
        retry_after = exc.retry_after if isinstance(exc, Throttled) else None
        pause = retry_delay(
            s.attempt,
            settings.backoff_s,
            settings.backoff_max_s,
            retry_after,
            self._draw if settings.jitter else no_jitter,
            settings.retry_after_max_s,
        )
        now = self._deps.clock()
        due = now + timedelta(seconds=pause)
        value = dumps({**present(s.event), ATTEMPT: s.attempt + 1}).decode()
        cmd = s.cmd
        retry = DeferredSend(cmd.message_id, cmd.customer_id, cmd.channel, due, value)
        detail: dict[str, Any] = {"attempt": s.attempt, "next_due": due.isoformat()}
        if ext_code:
            detail["provider_error_code"] = ext_code
        if retry_after:
            detail["retry_after_s"] = retry_after
        row = audit(
            "provider_attempt",
            exc.code,
            identity=(cmd.message_id, str(s.attempt)),
            at=now,
            **command_fields(cmd),
            provider=s.entry["provider"],
            reason=str(exc),
            detail=detail,
        )
        provider = s.entry["provider"] or "none"
        return s, Outcome(cmd.message_id, None, provider, (), row, retry), "retried"

    def _finish(
        self,
        s: _Send,
        state: str,
        code: str,
        *,
        result: SendResult | None = None,
        reason: str | None = None,
        ext_code: str | None = None,
    ) -> tuple[_Send, Outcome, str]:
        cmd, entry = s.cmd, s.entry
        external_ids = result.external_ids if result else ()
        done = {**entry, "state": state, "code": code, "external_ids": list(external_ids)}
        if state == "accepted":  # what the status worker needs: time to delivered, fallback
            done["accepted_at"] = self._deps.clock().isoformat()
            if cmd.fallback_from:
                done["fallback_from"] = cmd.fallback_from
            if cmd.alternates:
                done["command"] = cmd.model_dump(mode="json", exclude_none=True)
        self._plan_after(s, state, code, ext_code)
        step = _STEPS.get(state, "provider_failed")
        detail: dict[str, Any] = {"provider_error_code": ext_code} if ext_code else {}
        identity: tuple[str, ...] = (cmd.message_id,)
        if step == "provider_failed":  # one record per failed attempt
            identity, detail = (cmd.message_id, str(s.attempt)), {**detail, "attempt": s.attempt}
        row = audit(
            step,
            code,
            identity=identity,
            at=self._deps.clock(),
            **command_fields(cmd),
            provider=entry["provider"],
            external_id=external_ids[0] if external_ids else None,
            reason=reason,
            detail=detail,
        )
        provider = entry["provider"] or "none"
        outcome = Outcome(cmd.message_id, done, provider, tuple(external_ids), row, command=s.event)
        return s, outcome, state

    def _observe(self, cmd: MessageSend, outcome: str, started: float) -> None:
        self._labels.setdefault(cmd.message_id, outcome)
        self._deps.metrics.observe(self.stage, cmd.channel, outcome, time.perf_counter() - started)


class BulkDispatcherWorker(DispatcherWorker):
    """The bulk lane: consumes ``continuum.outbound.<channel>.bulk`` (marketing) in a consumer
    group of its own, so that a bulk batch never holds a reply batch; built like the
    dispatcher, and run beside it by the ``dispatcher`` role."""

    name: ClassVar[str] = "dispatcher_bulk"

    def topics(self) -> list[str]:
        """One bulk outbound topic per channel."""
        return [self._deps.topics.outbound_bulk(c) for c in MEDIA]


def _raise_first(results: Sequence[Any]) -> None:
    """Raise the first error among a pipeline's results (run with ``raise_on_error=False``)."""
    for result in results:
        if isinstance(result, Exception):
            raise result
