"""Ledger sink: ``continuum.audit`` into PostgreSQL in batches, idempotent on record id.

Text PostgreSQL cannot hold (NUL, lone surrogates) is escaped on the way in, with the original
kept (:mod:`orchestrator.ledger.storable`). A record the database still refuses (a hostile
producer's integer out of range, say) is dead-lettered like any other, with one difference:
its ``dead_lettered`` row is written straight to the ledger, never to ``continuum.audit``. A
dead letter of the sink therefore cannot come back to the sink, and so cannot produce another.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import ClassVar

import asyncpg

from orchestrator.errors import BadRecord
from orchestrator.events import AUDIT_PREFIX, AuditRecord, parse_data, parse_envelope
from orchestrator.ledger.store import LedgerStore
from orchestrator.state.protocols import EventPublisher
from orchestrator.workers.base import BatchWorker, Deps, Record

log = logging.getLogger(__name__)

# What the database says about a row it will not store (an unreachable database is an
# InfraUnavailable from the store, retried).
_REFUSED = (asyncpg.PostgresError, ValueError, TypeError, OverflowError)


class LedgerSinkWorker(BatchWorker):
    """Writes each batch of audit records in one transaction, then commits the offsets."""

    name: ClassVar[str] = "ledger"
    stage: ClassVar[str] = "ledger"

    def __init__(self, deps: Deps, publisher: EventPublisher, ledger: LedgerStore) -> None:
        super().__init__(deps, publisher)
        self._ledger = ledger
        self._rows: list[AuditRecord] = []

    def topics(self) -> list[str]:
        """The audit topic."""
        return [self._deps.topics.audit]

    async def handle(self, records: Sequence[Record]) -> None:
        """Store one batch; durable when this returns."""
        started = time.perf_counter()
        batch: list[AuditRecord] = []
        for record in records:
            try:
                event = parse_envelope(record.value or b"", record.headers)
                if not event.type.startswith(AUDIT_PREFIX):
                    raise BadRecord("wrong_type", f"expected audit.*, got {event.type!r}")
                batch.append(parse_data(event, AuditRecord))
            except BadRecord as exc:
                await self.reject(record, exc)
        await self._ledger.insert(batch)
        self.observe([(r.channel, "stored") for r in batch], started, len(records))

    async def publish_rejected(self) -> int:
        """Publish the dead letters, then write their ``dead_lettered`` rows straight into the
        ledger (see the module docstring), in one statement when the database takes them all.

        If the database refuses even such a row, the DLQ record alone keeps the original.
        """
        self._rows = []
        count = await super().publish_rejected()
        rows, self._rows = self._rows, []
        try:
            await self._ledger.insert(rows)
        except _REFUSED:
            for row in rows:
                try:
                    await self._ledger.insert([row])
                except _REFUSED as exc:
                    log.error("ledger: dead_lettered row %s refused: %s", row.record_id, exc)
        return count

    async def audit_dead_letter(self, row: AuditRecord) -> None:
        """Keep the row for :meth:`publish_rejected`; it never goes to ``continuum.audit``."""
        self._rows.append(row)
