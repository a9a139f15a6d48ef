"""Ledger sink: ``continuum.audit`` into PostgreSQL in batches, idempotent on record id."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import ClassVar

import asyncpg

from orchestrator.errors import BadRecord
from orchestrator.events import AUDIT_PREFIX, AuditRecord, parse_data, parse_envelope
from orchestrator.ledger.store import LedgerStore
from orchestrator.workers.base import BatchWorker, Deps, Record
from orchestrator.workers.publisher import Publisher


class LedgerSinkWorker(BatchWorker):
    """Writes each batch of audit records in one transaction, then commits the offsets."""

    name: ClassVar[str] = "ledger"
    stage: ClassVar[str] = "ledger"

    def __init__(self, deps: Deps, publisher: Publisher, ledger: LedgerStore) -> None:
        super().__init__(deps, publisher)
        self._ledger = ledger

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
        try:
            await self._ledger.insert(batch)
        except (asyncpg.PostgresConnectionError, asyncpg.InterfaceError) as exc:
            raise ConnectionError(f"ledger database unavailable: {exc}") from exc
        await self._pub.flush()
        self.observe([(r.channel, "stored") for r in batch], started, len(records))
