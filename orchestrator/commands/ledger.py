"""``continuum ledger query``: a customer's trail or a time range, as a table, JSONL or CSV."""

from __future__ import annotations

import argparse
import sys

import asyncpg

from orchestrator.addresses import guess_channel, normalize_lookup
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
        records = await store.search(
            customer_id=args.customer,
            address=_canonical(args.address, args.channel),
            since=args.since,
            until=args.until,
            step=args.step,
            outcome=args.outcome,
            flow_id=args.flow,
            channel=args.channel,
            limit=args.limit,
        )
    except (OSError, asyncpg.PostgresError) as exc:
        raise ConfigError(f"cannot query the ledger database: {exc}") from None
    finally:
        await pool.close()
    write_records(records, args.format, sys.stdout)
    return 0


def _canonical(address: str | None, channel: str | None) -> str | None:
    """The address as the ledger stores it (E.164, lower-case email domain), however typed."""
    if address is None:
        return None
    return normalize_lookup(channel or guess_channel(address), address)
