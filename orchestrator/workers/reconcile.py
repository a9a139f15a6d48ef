"""Asks providers about sends whose outcome is unknown, beside the dispatcher, from any replica.

Every ``reconcile.tick_s`` the loop leases up to ``reconcile.batch`` due sends from the index
(:mod:`orchestrator.state.unknown_sends`: a send is due ``reconcile.delay_s`` after its outcome
was recorded, then every ``reconcile.interval_s``) and asks each one's adapter, when it can be
asked (:class:`channels.base.Reconcilable`), for the messages it may be. The pure
:func:`orchestrator.delivery.reconcile.match` picks ours, excluding provider ids already
mapped to another send (one round trip):

- **found**: the send ledger records it ``accepted`` with the provider's id, mapped
  (``ct:ext:<provider>:<id>``) so that its receipts match, and it leaves the index, all in one
  round trip; receipts that came meanwhile (parked by the status worker) are handed back; a
  ``provider_reconciled`` row (outcome ``accepted``) goes to the ledger;
- **not found** or **ambiguous**: looked at again later, until ``reconcile.keep_s`` after the
  outcome; then a ``provider_reconciled`` row with outcome ``not_sent`` (or ``ambiguous``)
  and the send stays unknown, listed for the operator (``continuum dispatch resend
  --unknown``);
- a provider that cannot be asked (no ``find_sent``), or a record that cannot be read: the
  send stays unknown and is not looked at again;
- the look-up failed: retryable (could not connect, 5xx, 429): looked at again after an
  interval, or the provider's ``Retry-After`` if longer, until ``reconcile.keep_s``; permanent
  (SendGrid's Email Activity add-on missing, a refused query) or past ``keep_s``: a
  ``provider_reconciled`` row with outcome ``error`` and the send stays unknown, listed.

``continuum_reconcile_total{provider,result}`` counts the looks and ``continuum_sends_unknown``
the sends still unknown.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from channels.base import ChannelAdapter, FoundSend, Reconcilable
from channels.errors import SendError, Throttled
from orchestrator.delivery.reconcile import Match, look_after_error, match, next_look
from orchestrator.errors import BadRecord
from orchestrator.events import MessageSend, parse_data, parse_envelope
from orchestrator.ledger.records import audit
from orchestrator.metrics import Metrics
from orchestrator.settings import ReconcileSettings
from orchestrator.state.protocols import EventPublisher, StateStore
from orchestrator.state.store import FinishedSend
from orchestrator.state.unknown_sends import UnknownSend, UnknownSends
from orchestrator.topics import Topics
from orchestrator.workers.polling import Every, poll
from orchestrator.workers.send_guard import command_fields
from orchestrator.workers.status import hand_back

log = logging.getLogger(__name__)

NAME = "reconcile"
STEP = "provider_reconciled"
_CONCURRENCY = 8


class Reconciler:
    """The reconcile loop of one replica."""

    def __init__(
        self,
        index: UnknownSends,
        store: StateStore,
        adapters: Mapping[str, ChannelAdapter],  # by provider (``channel_type``: ``sms.twilio``)
        publisher: EventPublisher,
        topics: Topics,
        clock: Callable[[], datetime],
        metrics: Metrics,
        settings: ReconcileSettings | None = None,
    ) -> None:
        self._index, self._store, self._adapters = index, store, adapters
        self._pub, self._topics, self._clock, self._metrics = publisher, topics, clock, metrics
        self._settings = settings or ReconcileSettings()
        self._requeue, self._count = Every(timedelta(seconds=30)), Every(timedelta(seconds=10))
        self._limit = asyncio.Semaphore(_CONCURRENCY)
        self._errors: dict[str, SendError] = {}  # this look's, by message id

    async def run(self, stop: asyncio.Event) -> None:
        """Reconcile due sends until ``stop`` is set; infrastructure errors are retried."""
        await poll(NAME, self._step, stop, self._metrics, tick_s=self._settings.tick_s, backoff_s=1)

    async def _step(self) -> bool:
        now = self._clock()
        busy = await self.reconcile_due()
        if self._count.due(now):
            self._metrics.sends_unknown.set(await self._index.count())
        return busy

    async def reconcile_due(self) -> bool:
        """Look at one batch of due sends; True if there may be more due right now."""
        s = self._settings
        now = self._clock()
        if self._requeue.due(now):
            await self._index.requeue_expired(now)
        due = await self._index.claim_due(now, s.batch, s.lease_s)
        if not due:
            return False
        self._errors = {}
        looks = await asyncio.gather(*(self._look(u) for u in due))
        asked = [(u, cmd, found) for u, (cmd, found) in zip(due, looks, strict=True) if cmd]
        pairs = [(u.provider, f.external_id) for u, _, found in asked for f in found or ()]
        owners = await self._store.lookup_external(pairs)
        taken: dict[str, set[str]] = {}  # provider id -> the sends it is already mapped to
        for (_, ext), owner in zip(pairs, owners, strict=True):
            if owner is not None:
                taken.setdefault(ext, set()).add(str(owner.get("message_id")))
        finished: list[FinishedSend] = []
        rows: list[Any] = []
        again: list[tuple[UnknownSend, datetime]] = []
        stop: list[str] = [u.message_id for u, (cmd, _) in zip(due, looks, strict=True) if not cmd]
        for u, cmd, found in asked:
            if found is None:  # the provider could not be asked now
                error = self._errors[u.message_id]
                retry_after = error.retry_after if isinstance(error, Throttled) else None
                when = look_after_error(
                    u.recorded_at,
                    now,
                    retryable=error.retryable,
                    retry_after_s=retry_after,
                    interval_s=s.interval_s,
                    keep_s=s.keep_s,
                )
                if when is not None:
                    again.append((u, when))
                    continue
                stop.append(u.message_id)
                rows.append(self._row(u, cmd, "error", Match("not_found"), now, str(error)))
                continue
            others = {x for x, ids in taken.items() if ids - {u.message_id}}
            verdict = match(
                u.message_id, cmd.to, cmd.text, u.since, u.recorded_at, found, taken=others
            )
            self._metrics.reconcile_total.labels(u.provider, verdict.result).inc()
            if verdict.found is not None:
                finished.append(self._known(u, cmd, verdict.found))
                rows.append(self._row(u, cmd, "accepted", verdict, now))
                continue
            when = next_look(u.recorded_at, now, interval_s=s.interval_s, keep_s=s.keep_s)
            if when is not None:
                again.append((u, when))
                continue
            stop.append(u.message_id)
            outcome = "not_sent" if verdict.result == "not_found" else verdict.result
            self._metrics.reconcile_total.labels(u.provider, outcome).inc()
            rows.append(self._row(u, cmd, outcome, verdict, now))
        taken_back = await self._store.settle_sends(
            finished, known=[f.message_id for f in finished]
        )
        await self._index.look_again(again)
        await self._index.give_up(stop)
        for row in rows:
            await self._pub.audit(row)
        await hand_back(self._pub, self._topics.status, taken_back)
        await self._pub.flush()
        if finished:
            log.info("reconcile: %d unknown sends found at their provider", len(finished))
        return len(due) >= s.batch

    async def _look(self, u: UnknownSend) -> tuple[MessageSend | None, Sequence[FoundSend] | None]:
        """The send's command and what its provider has (None: ask again later); no command
        when the send cannot be reconciled (unreadable, or its provider cannot be asked)."""
        try:
            cmd = parse_data(parse_envelope(u.value.encode()), MessageSend)
        except BadRecord as exc:  # it was valid when sent: only a bug gets here
            log.error("reconcile: unreadable unknown send %s: %s", u.message_id, exc)
            return None, None
        adapter = self._adapters.get(u.provider)
        if adapter is None or not isinstance(adapter, Reconcilable):
            self._metrics.reconcile_total.labels(u.provider, "unsupported").inc()
            return None, None
        try:
            async with self._limit:
                return cmd, await adapter.find_sent(cmd.outbound(None), u.since, u.recorded_at)
        except SendError as exc:
            self._metrics.reconcile_total.labels(u.provider, "error").inc()
            log.warning("reconcile: could not ask %s about %s: %s", u.provider, u.message_id, exc)
            self._errors[u.message_id] = exc
            return cmd, None

    @staticmethod
    def _known(u: UnknownSend, cmd: MessageSend, found: FoundSend) -> FinishedSend:
        entry = {
            "state": "accepted",
            "message_id": cmd.message_id,
            "customer_id": cmd.customer_id,
            "channel": cmd.channel,
            "to": cmd.to,
            "provider": u.provider,
            "code": "reconciled",
            "external_ids": [found.external_id],
        }
        return FinishedSend(cmd.message_id, entry, u.provider, (found.external_id,))

    @staticmethod
    def _row(
        u: UnknownSend,
        cmd: MessageSend,
        outcome: str,
        verdict: Match,
        at: datetime,
        error: str | None = None,
    ) -> Any:
        found = verdict.found
        reasons = {
            "accepted": "the provider has the message: its send is accepted",
            "not_sent": "the provider never got the message: it stays unknown for the operator",
            "ambiguous": "several of the provider's messages fit: it stays unknown",
            "error": f"the provider could not be asked ({error}): it stays unknown for the "
            "operator",
        }
        return audit(
            STEP,
            outcome,
            identity=(cmd.message_id,),
            at=at,
            **command_fields(cmd),
            provider=u.provider,
            external_id=found.external_id if found else None,
            reason=reasons.get(outcome),
            detail={
                "candidates": verdict.candidates,
                **({"status": found.status} if found else {}),
            },
        )
