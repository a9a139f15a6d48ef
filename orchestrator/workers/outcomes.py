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
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redis.exceptions import RedisError

from orchestrator.doorbell import Doorbell
from orchestrator.events import AuditRecord
from orchestrator.state.deferred import DeferredSend
from orchestrator.state.protocols import EventPublisher, Rider, StateStore
from orchestrator.state.store import FinishedSend

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one claimed send ended, for the send ledger and the ledger.

    ``entry`` is the send ledger's new entry; None releases the claim (no attempt can have
    delivered the message), and ``retry`` then puts its record back in the deferred queue.
    ``row`` is its ledger record, if it has one.
    """

    message_id: str
    entry: dict[str, Any] | None
    provider: str
    external_ids: tuple[str, ...]
    row: AuditRecord | None
    retry: DeferredSend | None = None


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
    ) -> None:
        self._store, self._pub, self._doorbell = store, publisher, deferred
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
        finished = [
            FinishedSend(o.message_id, o.entry, o.provider, o.external_ids)
            for o in outcomes
            if o.entry is not None
        ]
        released = [o.message_id for o in outcomes if o.entry is None]
        deferred = [o.retry for o in outcomes if o.retry is not None]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self._deadline_s if retry else 0.0)
        while True:
            try:
                taken = await self._store.settle_sends(
                    finished, released=released, deferred=deferred, rider=rider
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
