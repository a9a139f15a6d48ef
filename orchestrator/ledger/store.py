"""The ledger in PostgreSQL: idempotent batch inserts, and ordered queries.

An unreachable database leaves as :class:`~orchestrator.errors.InfraUnavailable`
(:mod:`orchestrator.infra`); any other refusal (``asyncpg.PostgresError``, a value it cannot
encode) is about the data and leaves as asyncpg raised it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg
import orjson

from orchestrator.events import AuditRecord
from orchestrator.infra import translated
from orchestrator.ledger.storable import storable_row

SCHEMA = """
CREATE TABLE IF NOT EXISTS ledger (
    seq          bigserial PRIMARY KEY,
    record_id    text        NOT NULL UNIQUE,
    occurred_at  timestamptz NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    step         text        NOT NULL,
    outcome      text        NOT NULL,
    customer_id  text,
    channel      text,
    address      text,
    event_id     text,
    message_id   text,
    flow_id      text,
    flow_version integer,
    flow_step    text,
    provider     text,
    external_id  text,
    reason       text,
    detail       jsonb       NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS ledger_customer_time ON ledger (customer_id, occurred_at);
CREATE INDEX IF NOT EXISTS ledger_address_time ON ledger (address, occurred_at);
CREATE INDEX IF NOT EXISTS ledger_message ON ledger (message_id);
"""

COLUMNS = (
    "record_id",
    "occurred_at",
    "step",
    "outcome",
    "customer_id",
    "channel",
    "address",
    "event_id",
    "message_id",
    "flow_id",
    "flow_version",
    "flow_step",
    "provider",
    "external_id",
    "reason",
    "detail",
)

_INSERT = (
    f"INSERT INTO ledger ({', '.join(COLUMNS)}) "  # noqa: S608 - constants only, values bound
    f"VALUES ({', '.join(f'${i}' for i in range(1, len(COLUMNS) + 1))}) "
    "ON CONFLICT (record_id) DO NOTHING"
)


@translated("postgres")
class LedgerStore:
    """Reads and writes the ``ledger`` table through an asyncpg pool."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def migrate(self) -> None:
        """Create the table and indexes if they are missing."""
        async with self._pool.acquire() as conn, conn.transaction():
            # Several processes may start at once: one creates, the others wait and find it.
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext('continuum.ledger.migrate'))")
            await conn.execute(SCHEMA)

    async def insert(self, records: Sequence[AuditRecord]) -> None:
        """Insert a batch in one transaction; a record id already stored is skipped."""
        if not records:
            return
        rows = [_row(r) for r in records]
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.executemany(_INSERT, rows)

    async def query(
        self,
        *,
        customer_id: str | None = None,
        address: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 10_000,
    ) -> list[AuditRecord]:
        """Records about one customer (or every customer an address resolved to), in order."""
        if (customer_id is None) == (address is None):
            raise ValueError("give exactly one of customer_id or address")
        if customer_id is not None:
            who = "customer_id = $1"
        else:
            who = (
                "(address = $1 OR customer_id IN (SELECT DISTINCT customer_id FROM ledger "
                "WHERE address = $1 AND customer_id IS NOT NULL))"
            )
        sql = (
            f"SELECT {', '.join(COLUMNS)} FROM ledger WHERE {who} "  # noqa: S608 - constants only
            "AND ($2::timestamptz IS NULL OR occurred_at >= $2) "
            "AND ($3::timestamptz IS NULL OR occurred_at < $3) "
            "ORDER BY occurred_at, seq LIMIT $4"
        )
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(sql, customer_id or address, since, until, limit)
        return [_record(row) for row in rows]

    async def search(
        self,
        *,
        customer_id: str | None = None,
        address: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        step: str | None = None,
        outcome: str | None = None,
        flow_id: str | None = None,
        channel: str | None = None,
        limit: int = 10_000,
    ) -> list[AuditRecord]:
        """Records matching every filter given, in order; any customer when neither is given.

        ``address`` matches as in :meth:`query`: the address, and every customer it resolved to.
        """
        where: list[str] = []
        values: list[object] = []
        if customer_id is not None:
            values.append(customer_id)
            where.append(f"customer_id = ${len(values)}")
        if address is not None:
            values.append(address)
            n = len(values)
            where.append(
                f"(address = ${n} OR customer_id IN (SELECT DISTINCT customer_id FROM ledger "  # noqa: S608
                f"WHERE address = ${n} AND customer_id IS NOT NULL))"
            )
        filters = (
            ("occurred_at >=", since),
            ("occurred_at <", until),
            ("step =", step),
            ("outcome =", outcome),
            ("flow_id =", flow_id),
            ("channel =", channel),
        )
        for test, value in filters:
            if value is not None:
                values.append(value)
                where.append(f"{test} ${len(values)}")
        values.append(limit)
        sql = (
            f"SELECT {', '.join(COLUMNS)} FROM ledger "  # noqa: S608 - constants only, values bound
            f"WHERE {' AND '.join(where) or 'TRUE'} ORDER BY occurred_at, seq LIMIT ${len(values)}"
        )
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(sql, *values)
        return [_record(row) for row in rows]


def _row(r: AuditRecord) -> tuple[Any, ...]:
    doc = storable_row(r.model_dump(mode="python"))
    values = [doc.get(c) for c in COLUMNS]
    values[-1] = orjson.dumps(doc["detail"]).decode()
    return tuple(values)


def _record(row: asyncpg.Record) -> AuditRecord:
    doc = dict(row)
    detail = doc.get("detail")
    doc["detail"] = orjson.loads(detail) if isinstance(detail, str | bytes) else (detail or {})
    return AuditRecord.model_validate({k: v for k, v in doc.items() if v is not None})
