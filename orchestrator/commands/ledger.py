"""``continuum ledger query``: one customer's trail, as a table, JSON lines or CSV."""

from __future__ import annotations

import argparse
import sys

import asyncpg

from orchestrator.errors import ConfigError
from orchestrator.ledger.export import write_records
from orchestrator.ledger.store import LedgerStore
from orchestrator.settings import Settings


async def query(settings: Settings, args: argparse.Namespace) -> int:
    """Print matching records in order; exit 0 even when there are none."""
    try:
        pool = await asyncpg.create_pool(settings.database, min_size=1, max_size=1, timeout=5)
    except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
        raise ConfigError(f"cannot reach the ledger database: {exc}") from None
    try:
        store = LedgerStore(pool)
        await store.migrate()
        records = await store.query(
            customer_id=args.customer,
            address=args.address,
            since=args.since,
            until=args.until,
            limit=args.limit,
        )
    finally:
        await pool.close()
    write_records(records, args.format, sys.stdout)
    return 0
