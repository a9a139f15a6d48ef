"""Provider outcomes the dispatcher knows and has not yet made durable.

A provider call's result must reach the send ledger (Redis) and the audit topic. When Redis
fails just then, the batch is rewound; without this book the redelivery would find the entry
still ``pending`` and record ``provider_unknown``, though this process knows what happened.

So every outcome is first kept here, then written: the Redis write is retried for a bounded
time (``deadline_s``), and if it still fails the batch is rewound with the outcome kept. The
next batch this dispatcher handles, the redelivery among them, starts by writing every kept
outcome (it is rewound again while that fails), so the redelivered record finds the real state
and is not sent again. An outcome is forgotten only once its audit record is confirmed by the
broker. A process that dies loses the book: then ``pending`` means what it says.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from redis.exceptions import RedisError

from orchestrator.events import AuditRecord
from orchestrator.state.store import RedisStateStore
from orchestrator.workers.publisher import Publisher

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Outcome:
    """One provider call's result: the send ledger entry and its ledger record."""

    message_id: str
    entry: dict[str, Any]
    provider: str
    external_ids: tuple[str, ...]
    row: AuditRecord


class Outcomes:
    """The outcomes of one dispatcher, kept until they are durable."""

    def __init__(
        self,
        store: RedisStateStore,
        publisher: Publisher,
        *,
        deadline_s: float = 1.0,
        pause_s: float = 0.1,
    ) -> None:
        self._store, self._pub = store, publisher
        self._deadline_s, self._pause_s = deadline_s, pause_s
        self._kept: dict[str, Outcome] = {}
        self._written: set[str] = set()

    def __len__(self) -> int:
        return len(self._kept)

    async def record(self, outcome: Outcome) -> None:
        """Keep ``outcome`` and write it; raise (keeping it) if Redis stays down."""
        self._kept[outcome.message_id] = outcome
        await self._write(outcome, retry=True)

    async def write_kept(self) -> None:
        """Write every outcome kept from an earlier, rewound batch; raise if one fails."""
        self._written.clear()  # written before but unconfirmed: its audit may be lost
        for outcome in list(self._kept.values()):
            await self._write(outcome, retry=False)
            log.info("dispatch: recorded the kept outcome of %s", outcome.message_id)

    def confirmed(self) -> None:
        """The broker confirmed everything published so far: forget what was written."""
        for message_id in self._written:
            self._kept.pop(message_id, None)
        self._written.clear()

    async def _write(self, outcome: Outcome, *, retry: bool) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self._deadline_s if retry else 0.0)
        while True:
            try:
                await self._store.finish_send(
                    outcome.message_id, outcome.entry, outcome.provider, outcome.external_ids
                )
                break
            except (RedisError, OSError) as exc:
                if loop.time() + self._pause_s > deadline:
                    log.error(
                        "dispatch: could not record %s (%s); kept for the retried batch",
                        outcome.message_id,
                        exc,
                    )
                    raise
                await asyncio.sleep(self._pause_s)
        await self._pub.audit(outcome.row)
        self._written.add(outcome.message_id)
