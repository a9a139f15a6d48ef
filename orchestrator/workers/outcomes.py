"""Provider outcomes the dispatcher knows and has not yet made durable.

A provider call's result (or, after a retryable failure, the released claim and the retry in
the deferred queue) must reach the send ledger (Redis) and the audit topic. When Redis
fails just then, the batch is rewound; without this book the redelivery would find the entry
still ``pending`` and record ``provider_unknown``, though this process knows what happened.

So every outcome is first kept here, then written (a batch's outcomes together, in one round
trip: :meth:`RedisStateStore.settle_sends`): the Redis write is retried for a bounded
time (``deadline_s``), and if it still fails the batch is rewound with the outcome kept. The
next batch this dispatcher handles, the redelivery among them, starts by writing every kept
outcome (it is rewound again while that fails), so the redelivered record finds the real state
and is not sent again. An outcome is forgotten only once its audit record is confirmed by the
broker. A process that dies loses the book: then ``pending`` means what it says.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from redis.exceptions import RedisError

from orchestrator.doorbell import Doorbell
from orchestrator.events import AuditRecord, CloudEvent, dumps, present
from orchestrator.state.deferred import DeferredSend
from orchestrator.state.protocols import EventPublisher, Rider, StateStore
from orchestrator.state.store import FinishedSend
from orchestrator.state.unknown_sends import UnknownSend

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one claimed send ended, for the send ledger and the ledger.

    ``entry`` is the send ledger's new entry; None releases the claim (no attempt can have
    delivered the message), and ``retry`` then puts its record back in the deferred queue.
    ``row`` is its ledger record, if it has one. ``command`` is the ``message.send`` event:
    an outcome whose entry is ``unknown`` and that has one is added to the index of unknown
    sends in the same round trip (:mod:`orchestrator.state.unknown_sends`), for the reconciler.
    """

    message_id: str
    entry: dict[str, Any] | None
    provider: str
    external_ids: tuple[str, ...]
    row: AuditRecord | None
    retry: DeferredSend | None = None
    command: CloudEvent | None = None


def unknown_send(outcome: Outcome, now: datetime) -> UnknownSend | None:
    """The index entry of an ``unknown`` outcome that carries its command, else None."""
    entry, event = outcome.entry, outcome.command
    if entry is None or entry.get("state") != "unknown" or event is None:
        return None
    return UnknownSend(
        message_id=outcome.message_id,
        customer_id=str(entry.get("customer_id") or ""),
        channel=str(entry.get("channel") or ""),
        provider=str(entry.get("provider") or outcome.provider),
        since=event.time or now,
        recorded_at=now,
        value=dumps(present(event)).decode(),
    )


def _ids(outcome: Outcome, unknown: bool) -> tuple[str, ...]:
    """The provider ids mapped to a send: for an unknown one, our message id, so that a receipt
    of a provider that echoes it (SendGrid's custom args) finds the send and makes it known
    (:mod:`orchestrator.workers.unknown_outcomes`); its parked receipts are taken back too."""
    return (outcome.external_ids or (outcome.message_id,)) if unknown else outcome.external_ids


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Outcomes:
    """The outcomes of one dispatcher, kept until they are durable."""

    def __init__(
        self,
        store: StateStore,
        publisher: EventPublisher,
        *,
        deadline_s: float = 1.0,
        pause_s: float = 0.1,
        deferred: Doorbell | None = None,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self._store, self._pub, self._doorbell = store, publisher, deferred
        self._clock = clock
        self._deadline_s, self._pause_s = deadline_s, pause_s
        self._kept: dict[str, Outcome] = {}
        self._written: set[str] = set()

    def __len__(self) -> int:
        return len(self._kept)

    async def record(self, outcome: Outcome) -> None:
        """Keep ``outcome`` and write it; raise (keeping it) if Redis stays down."""
        await self.record_all([outcome])

    async def record_all(
        self, outcomes: Sequence[Outcome], rider: Rider | None = None
    ) -> list[bytes]:
        """Keep ``outcomes`` and write them in one round trip, with ``rider``'s commands (the
        breakers' records); raise (keeping them) if Redis stays down. Give back the receipts
        that came before these sends were recorded."""
        for outcome in outcomes:
            self._kept[outcome.message_id] = outcome
        return await self._write(outcomes, retry=True, rider=rider)

    async def write_kept(self) -> list[bytes]:
        """Write every outcome kept from an earlier, rewound batch; raise if that fails. Give
        back the receipts that came before those sends were recorded."""
        self._written.clear()  # written before but unconfirmed: its audit may be lost
        kept = list(self._kept.values())
        taken = await self._write(kept, retry=False)
        for outcome in kept:
            log.info("dispatch: recorded the kept outcome of %s", outcome.message_id)
        return taken

    def confirmed(self) -> None:
        """The broker confirmed everything published so far: forget what was written."""
        for message_id in self._written:
            self._kept.pop(message_id, None)
        self._written.clear()

    async def _write(
        self, outcomes: Sequence[Outcome], *, retry: bool, rider: Rider | None = None
    ) -> list[bytes]:
        if not outcomes:
            return []
        now = self._clock()
        unknown = {u.message_id: u for o in outcomes if (u := unknown_send(o, now)) is not None}
        finished = [
            FinishedSend(o.message_id, o.entry, o.provider, _ids(o, o.message_id in unknown))
            for o in outcomes
            if o.entry is not None
        ]
        released = [o.message_id for o in outcomes if o.entry is None]
        deferred = [o.retry for o in outcomes if o.retry is not None]
        more: dict[str, Any] = {"unknown": list(unknown.values())} if unknown else {}
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self._deadline_s if retry else 0.0)
        while True:
            try:
                taken = await self._store.settle_sends(
                    finished, released=released, deferred=deferred, rider=rider, **more
                )
                break
            except (RedisError, OSError) as exc:
                if loop.time() + self._pause_s > deadline:
                    log.error(
                        "dispatch: could not record %d outcomes (%s); kept for the retried batch",
                        len(outcomes),
                        exc,
                    )
                    raise
                await asyncio.sleep(self._pause_s)
        if deferred and self._doorbell is not None:
            self._doorbell.ring()
        for outcome in outcomes:
            if outcome.row is not None:
                await self._pub.audit(outcome.row)
            self._written.add(outcome.message_id)
        return taken
